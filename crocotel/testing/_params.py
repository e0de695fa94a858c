"""Reading Bot API call parameters the way Telegram accepts them.

Telegram takes parameters from the query string and from a JSON,
form-urlencoded or multipart body, all on GET or POST. Form values arrive as
strings, with structured values (``reply_markup``, ``entities``...) as JSON
text; the helpers here turn both shapes into the same Python values so tests
can compare parameters without caring how the client encoded them.
"""

from __future__ import annotations

import contextlib
import json

from aiohttp import web

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

# Parameters that hold JSON-serialized objects or lists when sent as form fields.
JSON_VALUED = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "entities",
        "link_preview_options",
        "reply_markup",
        "reply_parameters",
    }
)

# Parameters that hold integers (text in form fields); chat_id may also be "@name".
INT_VALUED = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "limit",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "user_id",
    }
)

# Parameters that hold booleans ("true"/"false" in form fields).
BOOL_VALUED = frozenset(
    {
        "allow_sending_without_reply",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "protect_content",
    }
)


class ParamError(Exception):
    """A parameter problem Telegram reports as ``400 Bad Request: <description>``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _file_summary(field: web.FileField) -> dict[str, object]:
    """What we keep of an uploaded file: its name, type and size, not its bytes."""
    stream = field.file
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return {"file_name": field.filename, "content_type": field.content_type, "size": size}


async def read_params(request: web.Request) -> dict[str, object]:
    """Merge query-string and body parameters; body values win on a clash."""
    params: dict[str, object] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        raw = await request.read()
        if not raw.strip():
            return params
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParamError("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise ParamError("JSON object expected")
        params.update(body)
    elif request.content_type in _FORM_TYPES:
        form = await request.post()
        for name, value in form.items():
            params[name] = _file_summary(value) if isinstance(value, web.FileField) else value
    return params


def int_param(params: dict[str, object], name: str, default: int) -> int:
    """An integer parameter that may arrive as a JSON number or as text."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ParamError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, (str, float)):
        try:
            return int(value)
        except ValueError as exc:
            raise ParamError(f"{name} must be an integer") from exc
    raise ParamError(f"{name} must be an integer")


def chat_id_param(params: dict[str, object]) -> int | str:
    """``chat_id``: an integer, or ``@channelusername``; empty is an error like on Telegram."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise ParamError("chat_id is empty")
    if isinstance(value, str) and value.startswith("@"):
        return value
    return int_param(params, "chat_id", 0)


def _typed(name: str, value: str) -> object:
    """A form field's text as the type the parameter has in JSON (unchanged if it does not parse)."""
    if name in JSON_VALUED:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    elif name in INT_VALUED and value.lstrip("-").isdigit():
        return int(value)
    elif name in BOOL_VALUED and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def normalized(params: dict[str, object]) -> dict[str, object]:
    """A copy where text values of known JSON, integer and boolean parameters are decoded."""
    return {name: _typed(name, value) if isinstance(value, str) else value for name, value in params.items()}
