"""Error handlers: bad input gets a polite answer, a broken quote service an apology."""

from __future__ import annotations

import logging

import aiohttp
from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

log = logging.getLogger(__name__)
router = Router(name="errors")


@router.error(ExceptionTypeFilter(ValueError))
async def bad_input(event: ErrorEvent) -> None:
    message = event.update.message
    if message is not None:
        await message.answer("Sorry, I did not understand that. Try /help.")


@router.error(ExceptionTypeFilter(aiohttp.ClientError))
async def service_down(event: ErrorEvent) -> None:
    log.warning("quote service failed: %s", type(event.exception).__name__)
    message = event.update.message
    if message is not None:
        await message.answer("The quote service is not answering, try again later.")
