"""Builders for the Bot API objects the stand-in sends (User, Chat, Message, Update).

Kept apart from the server so the shapes are easy to read and compare with the
Bot API reference; only the fields bots commonly read are filled in.
"""

from __future__ import annotations

import time
import zlib

JsonObject = dict[str, object]

_SUPERGROUP_ID_BOUND = -1_000_000_000_000


def bot_user(bot_id: int) -> JsonObject:
    """The bot's own User, as getMe returns it."""
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Stand-in Bot",
        "username": f"standin_{bot_id}_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def human_user(user_id: int) -> JsonObject:
    """A human sender with obviously synthetic names."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Test",
        "last_name": f"User{user_id}",
        "username": f"test_user_{user_id}",
        "language_code": "en",
    }


def chat(chat_id: int | str) -> JsonObject:
    """A Chat whose type follows Telegram's id ranges (``@name`` means a channel)."""
    if isinstance(chat_id, str):
        username = chat_id.lstrip("@")
        fake_id = _SUPERGROUP_ID_BOUND - zlib.crc32(username.encode()) % 1_000_000_000
        return {"id": fake_id, "type": "channel", "title": f"Channel {username}", "username": username}
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Test", "last_name": f"User{chat_id}"}
    if chat_id <= _SUPERGROUP_ID_BOUND:
        return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {-chat_id}"}
    return {"id": chat_id, "type": "group", "title": f"Group {-chat_id}"}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JsonObject]:
    """The ``bot_command`` entity Telegram adds when a message starts with ``/``."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def text_message(
    message_id: int,
    chat_obj: JsonObject,
    sender: JsonObject,
    text: str,
    entities: list[JsonObject] | None = None,
) -> JsonObject:
    """A text Message; ``entities`` are included only when non-empty."""
    message: JsonObject = {
        "message_id": message_id,
        "from": sender,
        "chat": chat_obj,
        "date": int(time.time()),
        "text": text,
    }
    if entities:
        message["entities"] = entities
    return message
