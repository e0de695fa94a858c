"""The echo: any text that is not a command comes back as it is."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import Message

log = logging.getLogger(__name__)
router = Router()  # no name on purpose: most routers in the wild have none


@router.message(F.text & ~F.text.startswith("/"))
async def echo(message: Message) -> None:
    log.info("echoing %d characters", len(message.text or ""))
    await message.answer(message.text or "")
