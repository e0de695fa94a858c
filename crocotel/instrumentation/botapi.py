"""The Bot API vocabulary shared by the aiogram and aiohttp instrumentations.

Everything here turns something a bot sees into a value from a small, fixed
set, so that it can be a metric label or a span name without letting users
(or a misbehaving bot) grow the number of series: update types, method names,
error kinds and classes of error descriptions.
"""

from __future__ import annotations

import threading

import re2

__all__ = [
    "OTHER",
    "UNKNOWN",
    "UPDATE_TYPES",
    "Capped",
    "description_class",
    "error_kind",
    "method_of_path",
]

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

# ``/bot<id>:<secret>/<method>`` at the end of a path, after any prefix a local Bot API server adds.
_METHOD_PATH = re2.compile(r"/bot[0-9]+(?::|%3[Aa])[^/]*/([A-Za-z][A-Za-z0-9_]{0,63})/?$")

_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    420: "flood",
    429: "too_many_requests",
}

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


def error_kind(error_code: int | None) -> str:
    """A bounded name for a Telegram error code (``conflict`` for 409); ``network`` when there is none."""
    if error_code is None:
        return "network"
    kind = _KINDS.get(error_code)
    if kind is not None:
        return kind
    if 500 <= error_code <= 599:
        return "server_error"
    return OTHER


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
