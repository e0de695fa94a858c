"""A ``url_filter`` for opentelemetry-instrumentation-aiohttp-client.

The Bot API puts the token in the path (``/bot<token>/method``,
``/file/bot<token>/path``); the whole path segment after ``bot<digits>:`` is
replaced, even when it is not a full-size token (test tokens, truncated ones).
Query parameters with secret-looking names keep their name and lose their
value. Phone numbers and the rest are left to the exporters' redaction, which
may hash them.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

import re2

from crocotel.redaction.engine import ERROR, SECRET, Redactor
from crocotel.redaction.rules import BOT_TOKEN

__all__ = ["url_filter"]

# "/bot" + id + ":" + anything up to the end of the path segment.
_BOT_PATH = re2.compile(r"(/(?:file/)?bot)[0-9]+(?::|%3[Aa])[^/?#]*")
_ANY_TOKEN = re2.compile(BOT_TOKEN.pattern)
_TOKEN = "[REDACTED:bot_token]"
_KEYS = Redactor()  # for is_secret_key


def url_filter(url: object) -> str:
    """Return ``url`` as text with the bot token and query secrets replaced; never raises."""
    try:
        text = str(url)
        base, hash_mark, fragment = text.partition("#")
        path, question_mark, query = base.partition("?")
        path = _BOT_PATH.sub(r"\1" + _TOKEN, path)
        if query:
            query = "&".join(_param(part) for part in query.split("&"))
        # A token anywhere else (a query value, the fragment) by its shape.
        return str(_ANY_TOKEN.sub(_TOKEN, path + question_mark + query + hash_mark + fragment))
    except Exception:
        return ERROR


def _param(part: str) -> str:
    name, equals, value = part.partition("=")
    if equals and value and _KEYS.is_secret_key(unquote_plus(name)):
        return name + "=" + SECRET
    return part
