"""The Bot API vocabulary shared by the aiogram, python-telegram-bot and aiohttp instrumentations.

Everything here turns something a bot sees into a value from a small, fixed
set, so that it can be a metric label or a span name without letting users
(or a misbehaving bot) grow the number of series: update types, method names,
exception types, classes of error descriptions, handler names from code. The
attribute keys every signal uses are here too, so spans, metrics and logs
say the same thing in the same words.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any
from urllib.parse import urlsplit

import re2

__all__ = [
    "API_ERROR_CODE",
    "API_METHOD",
    "API_OUTCOME",
    "API_RETRY_AFTER",
    "DATED",
    "ERROR_TYPE",
    "HANDLER",
    "OTHER",
    "ROUTER",
    "UNKNOWN",
    "UPDATE_OUTCOME",
    "UPDATE_TYPE",
    "UPDATE_TYPES",
    "Capped",
    "callback_names",
    "description_class",
    "error_type",
    "http_attributes",
    "method_of_path",
    "phone_entities",
]

# Attribute keys, the same on spans, metrics and log records.
UPDATE_TYPE = "telegram.update.type"
UPDATE_OUTCOME = "telegram.update.outcome"
HANDLER = "telegram.handler"
ROUTER = "telegram.router"
API_METHOD = "telegram.api.method"
API_OUTCOME = "telegram.api.outcome"
API_ERROR_CODE = "telegram.api.error_code"
API_RETRY_AFTER = "telegram.api.retry_after"
ERROR_TYPE = "error.type"

OTHER = "other"
UNKNOWN = "unknown"

UPDATE_TYPES: frozenset[str] = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
        "managed_bot",
        "guest_message",
        "subscription",
        "stopped_message_generation",
    }
)
"""The update types of the Bot API; anything else is reported as ``unknown``."""

CHAT_TYPES: frozenset[str] = frozenset({"private", "group", "supergroup", "channel", "sender"})

GET_UPDATES = "getUpdates"

# Message-like updates and the field that dates them (for telegram.update.lag).
DATED = {
    "message": "date",
    "channel_post": "date",
    "business_message": "date",
    "edited_message": "edit_date",
    "edited_channel_post": "edit_date",
    "edited_business_message": "edit_date",
}

TOKEN_MARKER = "[REDACTED:bot_token]"
_TOKEN_IN_PATH = re2.compile(r"/bot[0-9]+(?::|%3[Aa])[^/]*/")

# ``/bot<id>:<secret>/<method>`` at the end of a path, after any prefix a local Bot API server adds.
_METHOD_PATH = re2.compile(r"/bot[0-9]+(?::|%3[Aa])[^/]*/([A-Za-z][A-Za-z0-9_]{0,63})/?$")


# (substring of the lower-cased description, class); the first match wins.
_DESCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("terminated by other getupdates request", "polling_conflict"),
    ("can't use getupdates method while webhook is active", "webhook_active"),
    ("bot was blocked by the user", "bot_blocked"),
    ("user is deactivated", "user_deactivated"),
    ("bot was kicked", "bot_kicked"),
    ("bot is not a member", "bot_not_member"),
    ("bot can't initiate conversation", "cannot_initiate"),
    ("chat not found", "chat_not_found"),
    ("message is not modified", "message_not_modified"),
    ("message to edit not found", "message_not_found"),
    ("message to delete not found", "message_not_found"),
    ("message not found", "message_not_found"),
    ("message can't be edited", "message_not_editable"),
    ("message can't be deleted", "message_not_deletable"),
    ("query is too old", "query_too_old"),
    ("message is too long", "message_too_long"),
    ("message text is empty", "message_empty"),
    ("can't parse entities", "cannot_parse_entities"),
    ("not enough rights", "not_enough_rights"),
    ("have no rights", "not_enough_rights"),
    ("too many requests", "too_many_requests"),
    ("flood control", "too_many_requests"),
    ("retry after", "too_many_requests"),
    ("wrong file identifier", "wrong_file_id"),
    ("file is too big", "file_too_big"),
    ("unauthorized", "unauthorized"),
    ("not found", "not_found"),
    ("bad gateway", "server_error"),
    ("internal server error", "server_error"),
    ("gateway timeout", "server_error"),
    ("restart", "server_restarting"),
)


def method_of_path(path: str) -> str | None:
    """The Bot API method in a request path (``/bot<token>/sendMessage``), else None."""
    match = _METHOD_PATH.search(path)
    return match.group(1) if match is not None else None


def error_type(exc: BaseException | type[BaseException]) -> str:
    """``error.type`` of an exception: ``module.QualName`` of its class, bare for builtins.

    The same format as ``exception.type`` in crocotel's log records, so a
    span, a metric series and a log line about one failure carry one value.
    """
    cls = exc if isinstance(exc, type) else type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def http_attributes(url: str, method: str) -> dict[str, Any]:
    """The stable HTTP semconv attributes of a Bot API request to ``url``, token replaced."""
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        API_METHOD: method,
        "http.request.method": "POST",
        "url.full": _TOKEN_IN_PATH.sub(f"/bot{TOKEN_MARKER}/", url.partition("?")[0]),
    }
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    if port:
        attributes["server.port"] = port
    return attributes


def callback_names(callback: Any) -> tuple[str, str]:
    """(qualified name, module) of the code behind a handler or job callback, never of a wrapper."""
    target = inspect.unwrap(callback)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    method = getattr(target, "__func__", None)  # bound methods
    if method is not None:
        target = method
    if not (inspect.isfunction(target) or inspect.isclass(target) or inspect.isbuiltin(target)):
        target = type(target)  # a callable instance: name its class
    qualname = (
        getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or type(target).__name__
    )
    module = getattr(target, "__module__", None) or "unknown"
    return str(qualname).replace(".<locals>", ""), str(module)


def phone_entities(event: Any) -> list[str]:
    """The phone numbers Telegram marked (``phone_number`` entities) in a message's text and caption."""
    found: list[str] = []
    for text_field, entities_field in (("text", "entities"), ("caption", "caption_entities")):
        entities = getattr(event, entities_field, None)
        text = getattr(event, text_field, None)
        if not entities or not isinstance(text, str):
            continue
        encoded: bytes | None = None
        for entity in entities:
            if getattr(entity, "type", None) != "phone_number":
                continue
            if encoded is None:
                encoded = text.encode("utf-16-le")  # offsets count UTF-16 code units
            start, length = int(entity.offset), int(entity.length)
            found.append(encoded[start * 2 : (start + length) * 2].decode("utf-16-le", "replace"))
    return found


def description_class(description: str | None) -> str:
    """A bounded class for a Telegram error description (``bot_blocked``, ``chat_not_found``...)."""
    if not description:
        return UNKNOWN
    text = description.lower()
    for needle, name in _DESCRIPTIONS:
        if needle in text:
            return name
    return OTHER


class Capped:
    """Label values that come from code, capped at ``limit`` distinct ones; later ones become ``other``.

    Names of handlers, routers, methods and exception types come from the bot's
    code and are few, but nothing stops a bot from making them up at run time;
    the cap keeps the number of series bounded whatever happens.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        """``value`` if it is one of the first ``limit`` distinct values, else ``other``."""
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER
