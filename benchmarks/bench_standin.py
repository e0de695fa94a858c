"""Timings the stand-in tests used to assert, as ratios against baselines measured in the same run.

- long-poll wake-up: an update pushed while a poll waits, until the poll answers, against a
  plain getMe round trip on the same connection pool;
- ``delay_next``: a delayed getMe against the delay asked for (about 1), and the next,
  undelayed, getMe against the same delay (far below 1);
- the example bot (examples/aiohttp_bot) stopping on SIGTERM in the middle of a 25 s long
  poll, against that poll's timeout.

Every measured call is checked (status, the pushed update came back, exit status 0), so a
broken stand-in cannot look fast. Prints one JSON line at the end.

    .venv/bin/python benchmarks/bench_standin.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crocotel.testing import BotApiStandIn, BotApiThread  # noqa: E402

POLL_TIMEOUT_S = 25
DELAY_S = 0.5


async def _call(
    session: aiohttp.ClientSession, standin: BotApiStandIn, method: str, **params: object
) -> object:
    async with session.post(standin.method_url(method), json=params) as response:
        assert response.status == 200, f"{method} answered {response.status}"
        payload = await response.json()
        return payload["result"]


async def _stand_in_timings(rounds: int) -> dict[str, float]:
    async with BotApiStandIn() as standin, aiohttp.ClientSession() as session:
        await _call(session, standin, "getMe")  # warm the connection pool
        round_trips, wake_ups = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            await _call(session, standin, "getMe")
            round_trips.append(time.perf_counter() - started)

            poll = asyncio.create_task(_call(session, standin, "getUpdates", timeout=20))
            await standin.wait_polling()
            started = time.perf_counter()
            update_id = standin.push_message("wake up")
            updates = await asyncio.wait_for(poll, 10)
            wake_ups.append(time.perf_counter() - started)
            assert isinstance(updates, list) and updates[0]["update_id"] == update_id
            await _call(session, standin, "getUpdates", offset=update_id + 1)  # confirm it

        standin.delay_next("getMe", DELAY_S)
        started = time.perf_counter()
        await _call(session, standin, "getMe")
        delayed = time.perf_counter() - started
        started = time.perf_counter()
        await _call(session, standin, "getMe")
        undelayed = time.perf_counter() - started
    round_trip = statistics.median(round_trips)
    wake_up = statistics.median(wake_ups)
    return {
        "getme_round_trip_ms": round(round_trip * 1e3, 2),
        "long_poll_wake_up_ms": round(wake_up * 1e3, 2),
        "wake_up_vs_round_trip": round(wake_up / round_trip, 2),
        "delayed_call_vs_delay": round(delayed / DELAY_S, 3),
        "next_call_vs_delay": round(undelayed / DELAY_S, 3),
    }


def _sigterm_stop_seconds() -> float:
    """SIGTERM to exit of the example bot while the stand-in holds its long poll open."""
    with BotApiThread() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_"))}
        env.update(BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url, POLL_TIMEOUT=str(POLL_TIMEOUT_S))
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.aiohttp_bot"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            api.wait_polling(timeout=30)
            started = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=POLL_TIMEOUT_S * 2)
            stopped = time.perf_counter() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert code == 0, f"the bot exited with {code}"
        assert api.waiting_polls == 1, "the poll had ended: the bot waited it out"
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stops", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, float] = asyncio.run(_stand_in_timings(args.rounds))
    stop = statistics.median(_sigterm_stop_seconds() for _ in range(args.stops))
    result["bot_sigterm_stop_s"] = round(stop, 3)
    result["bot_sigterm_stop_vs_poll_timeout"] = round(stop / POLL_TIMEOUT_S, 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
