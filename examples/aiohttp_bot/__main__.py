"""An echo bot using long polling over plain aiohttp.

Environment:
  BOT_TOKEN         the bot token (required)
  TELEGRAM_API_URL  Bot API base URL (default https://api.telegram.org)
  POLL_TIMEOUT      long-polling timeout in seconds (default 25)
  MAX_UPDATES       stop after this many updates (optional; for tests and demos)

It answers ``/start`` with a greeting and echoes every other text message.
SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

import aiohttp

log = logging.getLogger("aiohttp_bot")

GREETING = "Hello! Send me any text and I will send it back."
MAX_BACKOFF = 30.0
# Network trouble, timeouts, and answers that are not JSON (a proxy's error page).
TRANSIENT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


class BotApiError(Exception):
    """The Bot API answered ``ok: false``."""

    def __init__(self, method: str, error_code: int, description: str, retry_after: float | None) -> None:
        super().__init__(f"{method} failed: {error_code} {description}")
        self.error_code = error_code
        self.retry_after = retry_after


class Bot:
    """Just enough of a Bot API client for this example."""

    def __init__(self, session: aiohttp.ClientSession, api_url: str, token: str) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/bot{token}"

    async def call(self, method: str, **params: Any) -> Any:
        """Call a Bot API method with a JSON body and return its ``result``."""
        async with self._session.post(f"{self._base}/{method}", json=params) as response:
            payload = await response.json(content_type=None)
        if not payload.get("ok"):
            retry_after = payload.get("parameters", {}).get("retry_after")
            raise BotApiError(
                method,
                payload.get("error_code", response.status),
                payload.get("description", ""),
                retry_after,
            )
        return payload["result"]


def reply_for(text: str) -> str:
    """What the bot answers to a text message."""
    if text.split(maxsplit=1)[0].split("@")[0] == "/start":
        return GREETING
    return text


async def handle_update(bot: Bot, update: dict[str, Any]) -> None:
    """Answer one update if it is a text message."""
    message = update.get("message") or {}
    chat_id = message.get("chat", {}).get("id")
    log.info("update %s from chat %s", update["update_id"], chat_id)
    text = message.get("text")
    if chat_id is not None and text:
        await bot.call("sendMessage", chat_id=chat_id, text=reply_for(text))


async def poll(bot: Bot, poll_timeout: int, max_updates: int | None) -> None:
    """Long-poll getUpdates and handle updates until ``max_updates`` were handled (or forever)."""
    offset = 0
    handled = 0
    failures = 0
    while max_updates is None or handled < max_updates:
        try:
            updates = await bot.call(
                "getUpdates", offset=offset, timeout=poll_timeout, allowed_updates=["message"]
            )
        except (*TRANSIENT_ERRORS, BotApiError) as exc:
            failures += 1
            delay = min(2.0**failures, MAX_BACKOFF)
            if isinstance(exc, BotApiError) and exc.retry_after:
                delay = float(exc.retry_after)
            log.warning("getUpdates failed (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            continue
        failures = 0
        for update in updates:
            offset = update["update_id"] + 1
            try:
                await handle_update(bot, update)
            except (*TRANSIENT_ERRORS, BotApiError):
                log.exception("could not answer update %s", update["update_id"])
            handled += 1
            if max_updates is not None and handled >= max_updates:
                break
    log.info("handled %d updates, stopping", handled)


async def run(token: str, api_url: str, poll_timeout: int, max_updates: int | None) -> None:
    """Start the bot and poll until done or until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)

    timeout = aiohttp.ClientTimeout(total=poll_timeout + 10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        bot = Bot(session, api_url, token)
        me = await bot.call("getMe")
        log.info("started as @%s", me.get("username"))
        polling = asyncio.create_task(poll(bot, poll_timeout, max_updates))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if polling in done:
            polling.result()  # re-raises if polling crashed
            return
        log.info("signal received, stopping")
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


def main() -> int:
    """Read the settings from the environment and run the bot; returns the exit code."""
    logging.basicConfig(level=logging.INFO)
    token = os.environ.get("BOT_TOKEN")
    if not token:
        log.error("BOT_TOKEN is not set")
        return 2
    api_url = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")
    poll_timeout = int(os.environ.get("POLL_TIMEOUT", "25"))
    max_updates_text = os.environ.get("MAX_UPDATES")
    max_updates = int(max_updates_text) if max_updates_text else None
    asyncio.run(run(token, api_url, poll_timeout, max_updates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
