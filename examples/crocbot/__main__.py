"""Run crocbot by long polling, or by webhook when ``WEBHOOK_URL`` is set.

Environment:
  BOT_TOKEN         the bot token (required)
  TELEGRAM_API_URL  Bot API base URL (default https://api.telegram.org)
  POLL_TIMEOUT      long-polling timeout in seconds (default 25)
  MAX_UPDATES       stop after this many updates (optional; for tests and demos)
  QUOTES_URL        the quote service /quote asks (optional)
  WEBHOOK_URL       receive updates at this URL instead of polling (optional)
  WEBHOOK_SECRET    the secret Telegram must send in X-Telegram-Bot-Api-Secret-Token
  WEBHOOK_HOST      address the webhook server listens on (default 127.0.0.1)
  WEBHOOK_PORT      its port (default 8080)

SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import TelegramObject
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from examples.crocbot import commands, echo, errors
from examples.crocbot.quotes import QuoteClient

log = logging.getLogger("crocbot")


class StopAfter:
    """Counts finished updates and sets ``done`` after ``limit`` of them (never, without a limit)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.count = 0
        self.done = asyncio.Event()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        finally:
            self.count += 1
            if self.limit is not None and self.count >= self.limit:
                self.done.set()


def build(token: str, api_url: str | None, quotes_url: str | None) -> tuple[Bot, Dispatcher]:
    """The bot and its dispatcher with every router included."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else AiohttpSession()
    bot = Bot(token, session=session)
    quotes = QuoteClient(quotes_url)
    dispatcher = Dispatcher(quotes=quotes)
    dispatcher.include_routers(commands.router, echo.router, errors.router)
    dispatcher.shutdown.register(quotes.close)
    return bot, dispatcher


async def run_polling(bot: Bot, dispatcher: Dispatcher, stop: StopAfter, poll_timeout: int) -> None:
    """Poll until ``stop`` says enough, or until SIGTERM/SIGINT (aiogram handles those)."""
    polling = asyncio.create_task(dispatcher.start_polling(bot, polling_timeout=poll_timeout))
    enough = asyncio.create_task(stop.done.wait())
    done, _ = await asyncio.wait({polling, enough}, return_when=asyncio.FIRST_COMPLETED)
    if enough in done and not polling.done():
        await dispatcher.stop_polling()
    enough.cancel()
    await polling


async def run_webhook(
    bot: Bot, dispatcher: Dispatcher, stop: StopAfter, url: str, secret: str | None
) -> None:
    """Serve the webhook until ``stop`` says enough, or until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.done.set)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(
        app, path=urlsplit(url).path or "/"
    )
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = os.environ.get("WEBHOOK_HOST", "127.0.0.1")
    port = int(os.environ.get("WEBHOOK_PORT", "8080"))
    await web.TCPSite(runner, host, port).start()
    try:
        await bot.set_webhook(url, secret_token=secret)
        log.info("webhook set, listening on %s:%d", host, port)
        await stop.done.wait()
        await bot.delete_webhook()
    finally:
        await runner.cleanup()


async def run(token: str, max_updates: int | None) -> None:
    """Start the bot in the mode the environment asks for."""
    bot, dispatcher = build(token, os.environ.get("TELEGRAM_API_URL"), os.environ.get("QUOTES_URL"))
    stop = StopAfter(max_updates)
    dispatcher.update.outer_middleware(stop)
    webhook_url = os.environ.get("WEBHOOK_URL")
    if webhook_url:
        await run_webhook(bot, dispatcher, stop, webhook_url, os.environ.get("WEBHOOK_SECRET") or None)
    else:
        await run_polling(bot, dispatcher, stop, int(os.environ.get("POLL_TIMEOUT", "25")))
    log.info("handled %d updates, stopping", stop.count)


def main() -> int:
    """Read the settings from the environment and run the bot; returns the exit code."""
    logging.basicConfig(level=logging.INFO)
    token = os.environ.get("BOT_TOKEN")
    if not token:
        log.error("BOT_TOKEN is not set")
        return 2
    max_updates_text = os.environ.get("MAX_UPDATES")
    asyncio.run(run(token, int(max_updates_text) if max_updates_text else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
