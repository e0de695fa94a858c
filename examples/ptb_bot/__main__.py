"""crocbot's commands on python-telegram-bot, by long polling, or by webhook when ``WEBHOOK_URL`` is set.

Environment:
  BOT_TOKEN         the bot token (required)
  TELEGRAM_API_URL  Bot API base URL (default https://api.telegram.org)
  POLL_TIMEOUT      long-polling timeout in seconds (default 25)
  MAX_UPDATES       stop after this many updates (optional; for tests and demos)
  QUOTES_URL        the quote service /quote asks (optional)
  JOB_INTERVAL      run the ``heartbeat`` job every this many seconds (optional)
  WEBHOOK_URL       receive updates at this URL instead of polling (optional)
  WEBHOOK_SECRET    the secret Telegram must send in X-Telegram-Bot-Api-Secret-Token
  WEBHOOK_HOST      address the webhook server listens on (default 127.0.0.1)
  WEBHOOK_PORT      its port (default 8080)

SIGTERM or SIGINT stops it cleanly (python-telegram-bot handles those).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from telegram import Update
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

log = logging.getLogger("ptb_bot")

GREETING = "Hello! I am crocbot. Send me any text and I will send it back. /help lists what else I can do."
HELP = (
    "/start - greeting\n"
    "/help - this list\n"
    "/quote - a quote from the quote service (slow)\n"
    "/divide a b - a divided by b\n"
    "any other text - I send it back"
)


class StopAfter(BaseUpdateProcessor):
    """Processes updates one at a time and stops the application after ``limit`` of them."""

    def __init__(self, limit: int | None, stop: Callable[[], None]) -> None:
        super().__init__(max_concurrent_updates=1)
        self.limit = limit
        self.count = 0
        self._stop = stop

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        finally:
            self.count += 1
            if self.limit is not None and self.count == self.limit:
                self._stop()

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message:
        await update.effective_message.reply_text(GREETING)


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message:
        await update.effective_message.reply_text(HELP)


async def quote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    url = context.bot_data.get("quotes_url")
    if not url:
        raise httpx.InvalidURL("QUOTES_URL is not set")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
        response.raise_for_status()
    log.info("quote fetched for chat %s", update.effective_chat.id if update.effective_chat else None)
    if update.effective_message:
        await update.effective_message.reply_text(str(response.json()["quote"]))


async def divide(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    parts = context.args or []
    if len(parts) != 2:
        raise ValueError("usage: /divide a b")
    a, b = (int(part) for part in parts)  # ValueError for words; the error handler answers it
    if update.effective_message:  # b == 0 raises ZeroDivisionError: the error handler only logs it
        await update.effective_message.reply_text(f"{a} / {b} = {a / b:g}")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message and message.text:
        log.info("echo to chat %s: %s", message.chat_id, message.text)  # crocotel redacts what must not show
        await message.reply_text(message.text)


async def heartbeat(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A job-queue job: checks that the Bot API still knows the bot."""
    me = await context.bot.get_me()
    log.info("heartbeat: still @%s", me.username)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Bad input gets a polite answer, a broken quote service an apology; everything else is logged."""
    error = context.error
    message = update.effective_message if isinstance(update, Update) else None
    if isinstance(error, ValueError) and message:
        await message.reply_text("Sorry, I did not understand that. Try /help.")
    elif isinstance(error, httpx.HTTPError) and message:
        log.warning("quote service failed: %s", type(error).__name__)
        await message.reply_text("The quote service is not answering, try again later.")
    else:
        log.error("update failed", exc_info=error)


def build(token: str, max_updates: int | None) -> Application:  # type: ignore[type-arg]
    """The application with every handler, the error handler and (optionally) the heartbeat job."""
    api_url = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    holder: list[Application] = []  # type: ignore[type-arg]
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .concurrent_updates(StopAfter(max_updates, lambda: holder[0].stop_running()))
    )
    application = builder.build()
    holder.append(application)
    application.bot_data["quotes_url"] = os.environ.get("QUOTES_URL")
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("help", show_help))
    application.add_handler(CommandHandler("quote", quote))
    application.add_handler(CommandHandler("divide", divide))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_error_handler(on_error)
    interval = os.environ.get("JOB_INTERVAL")
    if interval and application.job_queue is not None:
        application.job_queue.run_repeating(heartbeat, interval=float(interval), first=float(interval))
    return application


def main() -> int:
    """Read the settings from the environment and run the bot; returns the exit code."""
    logging.basicConfig(level=logging.INFO)
    token = os.environ.get("BOT_TOKEN")
    if not token:
        log.error("BOT_TOKEN is not set")
        return 2
    max_updates_text = os.environ.get("MAX_UPDATES")
    application = build(token, int(max_updates_text) if max_updates_text else None)
    webhook_url = os.environ.get("WEBHOOK_URL")
    if webhook_url:
        application.run_webhook(
            listen=os.environ.get("WEBHOOK_HOST", "127.0.0.1"),
            port=int(os.environ.get("WEBHOOK_PORT", "8080")),
            url_path=urlsplit(webhook_url).path.lstrip("/"),
            webhook_url=webhook_url,
            secret_token=os.environ.get("WEBHOOK_SECRET") or None,
        )
    else:
        application.run_polling(timeout=int(os.environ.get("POLL_TIMEOUT", "25")), poll_interval=0.0)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
