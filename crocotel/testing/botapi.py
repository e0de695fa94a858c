"""A local stand-in for the Telegram Bot API, for tests, the demo and benchmarks.

It serves the real URL shapes (``/bot<token>/<method>``) on 127.0.0.1 so an
unmodified bot can point its API base URL at it. It keeps every call, queues
updates for long polling like Telegram does, and can be told to fail or slow
down chosen methods (``fail_next``, ``delay_next``, and the shortcuts
``flood_next`` for 429 with ``retry_after``, ``server_error_next`` for 5xx,
``conflict_next`` for 409 on getUpdates, ``block_chat`` for 403 "bot was
blocked by the user"). Like Telegram, it answers 409 to a long poll overtaken
by another getUpdates (two instances polling). After ``setWebhook`` it POSTs
updates to the bot instead, with the ``X-Telegram-Bot-Api-Secret-Token``
header, and runs a Bot API call returned in the webhook answer.

- ``BotApiStandIn``: the server, driven from its own event loop (async tests).
- ``BotApiThread``: the same on a loop in a daemon thread (sync tests, demo).
- ``python -m crocotel.testing.botapi [--port P] [--token T]``: serve it alone;
  prints the base URL as one line, stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from crocotel.testing._faults import CannedError
from crocotel.testing._params import ParamError
from crocotel.testing._standin import (
    BLOCKED,
    DEFAULT_TOKEN,
    POLLING_CONFLICT,
    WEBHOOK_CONFLICT,
    ApiError,
    BotApiStandIn,
    MethodHandler,
    bot_id_of,
)
from crocotel.testing._standin_thread import BotApiThread

__all__ = [
    "BLOCKED",
    "DEFAULT_TOKEN",
    "POLLING_CONFLICT",
    "WEBHOOK_CONFLICT",
    "ApiError",
    "BotApiStandIn",
    "BotApiThread",
    "CannedError",
    "MethodHandler",
    "ParamError",
    "main",
]


async def _serve(host: str, port: int, token: str) -> None:
    """Serve until SIGTERM or SIGINT, printing the base URL once listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(signum, stop.set)
    async with BotApiStandIn(token, host, port) as standin:
        print(standin.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m crocotel.testing.botapi [--host H] [--port P] [--token T]``."""
    parser = argparse.ArgumentParser(prog="python -m crocotel.testing.botapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free port)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the only bot token accepted")
    args = parser.parse_args(argv)
    try:
        bot_id_of(args.token)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
