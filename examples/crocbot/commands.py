"""Commands: /start, /help, /quote and /divide."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from examples.crocbot.quotes import QuoteClient

log = logging.getLogger(__name__)
router = Router(name="commands")

GREETING = "Hello! I am crocbot. Send me any text and I will send it back. /help lists what else I can do."
HELP = (
    "/start - greeting\n"
    "/help - this list\n"
    "/quote - a quote from the quote service (slow)\n"
    "/divide a b - a divided by b\n"
    "any other text - I send it back"
)


@router.message(CommandStart())
async def start(message: Message) -> None:
    await message.answer(GREETING)


@router.message(Command("help"))
async def show_help(message: Message) -> None:
    await message.answer(HELP)


@router.message(Command("quote"))
async def quote(message: Message, quotes: QuoteClient) -> None:
    text = await quotes.fetch()
    log.info("quote fetched for chat %s", message.chat.id)
    await message.answer(text)


@router.message(Command("divide"))
async def divide(message: Message, command: CommandObject) -> None:
    parts = (command.args or "").split()
    if len(parts) != 2:
        raise ValueError("usage: /divide a b")
    a, b = (int(part) for part in parts)  # ValueError for words; the error handler answers it
    await message.answer(f"{a} / {b} = {a / b:g}")  # b == 0 raises ZeroDivisionError: nobody catches it
