"""The three line formats crocotel writes to stdout: JSON (default), text and logfmt.

All share one shape: a timestamp, level, logger, message, the trace and span ids when the
record was made inside a span, the ``extra`` fields and the exception; all of it redacted.
A formatter never raises: on an internal error it writes a minimal line with an ``error``
field instead, because a logging call must never break the bot it is logging for.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from itertools import islice
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from crocotel.logs.context import record_ids
from crocotel.logs.fields import (
    RESERVED,
    STANDARD_COUNT,
    Clock,
    exc_info,
    exception_fields,
    extras,
    stacktrace,
)
from crocotel.logs.scrub import Scrubber, safe_str

# Field names of our own; an ``extra`` field with one of these names is written as ``extra.<name>``.
CORE_FIELDS = frozenset(
    {"timestamp", "level", "logger", "message", "trace_id", "span_id", "service.name", "exception", "error"}
)
_MAX_HEADS = 1024  # bound on the per-(level, logger) caches: logger names can be made at runtime
# Line breaks that JSON may carry raw but that some line splitters (str.splitlines, editors)
# honour: escaped, so one record is one line by any definition. They only occur in strings.
_UNICODE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _extra_key(key: str) -> str:
    return f"extra.{key}" if key in CORE_FIELDS else key


class CrocotelFormatter(logging.Formatter):
    """Shared part of the crocotel formatters: redaction, the clock, and the never-raise guard."""

    def __init__(
        self,
        *,
        service_name: str = "",
        redact: Callable[[str], str] | None = None,
        is_secret_key: Callable[[str], bool] | None = None,
        keyed: Callable[[object, str], object | None] | None = None,
    ) -> None:
        super().__init__()
        self.service_name = service_name
        self.scrubber = Scrubber(redact, is_secret_key, keyed)
        self.clock = Clock()

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (text: exception lines follow); never raises."""
        try:
            return self.render(record)
        except Exception as exc:
            return self.fallback(record, exc)

    def render(self, record: logging.LogRecord) -> str:
        """The record in this format; may raise, :meth:`format` guards it."""
        raise NotImplementedError

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """The minimal line written when :meth:`render` failed."""
        raise NotImplementedError

    def ascii_safe(self, line: str) -> str:
        """``line`` with every non-ASCII character escaped, for streams that cannot encode it."""
        return line.encode("ascii", "backslashreplace").decode("ascii")

    def message(self, record: logging.LogRecord) -> str:
        """The message with its arguments, redacted."""
        return self.scrubber.text(record.getMessage())

    def fallback_parts(self, record: logging.LogRecord, error: BaseException) -> tuple[str, str, str, str]:
        """(timestamp, level, message, error) for a fallback line, each obtained defensively.

        The message is the raw template (formatting it may be what failed), redacted; if even
        redaction fails the message is left out rather than written unredacted.
        """
        try:
            timestamp = self.clock.timestamp(record)
        except Exception:
            timestamp = ""
        level = safe_str(getattr(record, "levelname", ""))
        try:
            message = self.scrubber.text(safe_str(getattr(record, "msg", "")))
        except Exception:
            message = "<message withheld: redaction failed>"
        try:
            detail = self.scrubber.text(safe_str(error))
        except Exception:
            detail = ""
        return timestamp, level, message, f"crocotel formatter failed: {type(error).__name__}: {detail}"


class JsonFormatter(CrocotelFormatter):
    """One JSON object per line.

    Built as a string from cached pieces rather than through a dict and ``json.dumps``: only
    the message, the extra fields and the exception need encoding per record.
    ``ensure_ascii`` escapes non-ASCII characters, for streams that are not UTF-8.
    """

    def __init__(
        self,
        *,
        service_name: str = "",
        redact: Callable[[str], str] | None = None,
        is_secret_key: Callable[[str], bool] | None = None,
        keyed: Callable[[object, str], object | None] | None = None,
        ensure_ascii: bool = False,
    ) -> None:
        super().__init__(service_name=service_name, redact=redact, is_secret_key=is_secret_key, keyed=keyed)
        self._quote: Callable[[str], str] = encode_basestring_ascii if ensure_ascii else encode_basestring
        self._dumps = json.JSONEncoder(
            ensure_ascii=ensure_ascii, separators=(",", ":"), check_circular=False
        ).encode
        self._service = f',"service.name":{self._quote(service_name)}'
        self._heads: dict[tuple[str, str], str] = {}
        self._keys: dict[str, tuple[str, bool]] = {}

    def _head(self, record: logging.LogRecord) -> str:
        key = (record.levelname, record.name)
        head = self._heads.get(key)
        if head is None:
            quote = self._quote
            head = f'","level":{quote(safe_str(key[0]))},"logger":{quote(safe_str(key[1]))},"message":'
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = head
        return head

    def _key(self, key: str) -> tuple[str, bool]:
        """(``,"key":``, whether the key is secret) for an extra field; cached per key."""
        entry = self._keys.get(key)
        if entry is None:
            entry = (f",{self._quote(_extra_key(key))}:", self.scrubber.secret(key))
            if len(self._keys) < _MAX_HEADS:
                self._keys[key] = entry
        return entry

    def render(self, record: logging.LogRecord) -> str:
        """See :class:`JsonFormatter`. This is the hot path: calls and copies are kept out of it,"""
        quote = self._quote
        scrubber = self.scrubber
        text = scrubber.text
        clean = scrubber.clean
        fields = record.__dict__
        head = self._heads.get((record.levelname, record.name)) or self._head(record)
        message = record.getMessage()
        if scrubber.redact is not None:
            message = text(message)
        line = f'{{"timestamp":"{self.clock.timestamp(record)}{head}{quote(message)}'
        trace_id: Any = fields.get("trace_id")  # normally the factory's strings, see record_ids
        span_id: Any = fields.get("span_id")
        if trace_id.__class__ is not str or span_id.__class__ is not str:
            trace_id, span_id = record_ids(record)
        if trace_id:
            if trace_id.isalnum() and span_id.isalnum():  # always so for the factory's hex ids
                line += f',"trace_id":"{trace_id}","span_id":"{span_id}"'
            else:
                line += f',"trace_id":{quote(trace_id)},"span_id":{quote(span_id)}'
        line += self._service
        if len(fields) > STANDARD_COUNT:
            keys = self._keys
            for key, value in islice(fields.items(), STANDARD_COUNT, None):
                if key in RESERVED:
                    continue
                fragment, secret = keys.get(key) or self._key(key)
                if secret:
                    line += fragment + self._dumps(scrubber.field(key, value))
                elif value.__class__ is str:
                    line += fragment + quote(value if value in clean else text(value))
                else:
                    line += fragment + self._dumps(scrubber.field(key, value))
        if record.exc_info or record.stack_info:
            line += self._trouble(record)
        line += "}"
        if not line.isascii() and _UNICODE_BREAKS.search(line):
            line = _UNICODE_BREAKS.sub(_json_escape, line)
        return line

    def _trouble(self, record: logging.LogRecord) -> str:
        """The ``exception`` object and ``stack_info`` members, when the record has them."""
        quote = self._quote
        text = self.scrubber.text
        out = ""
        parts = exception_fields(record, text)
        if parts is not None:
            kind, message, trace = parts
            out += (
                f',"exception":{{"type":{quote(kind)},"message":{quote(message)},'
                f'"stacktrace":{quote(trace)}}}'
            )
        if record.stack_info:
            out += f',"stack_info":{quote(text(record.stack_info))}'
        return out

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """A minimal JSON object: timestamp, level, logger, redacted template and the error."""
        timestamp, level, message, detail = self.fallback_parts(record, error)
        return self._dumps(
            {
                "timestamp": timestamp,
                "level": level,
                "logger": safe_str(getattr(record, "name", "")),
                "message": message,
                "service.name": self.service_name,
                "error": detail,
            }
        )

    def ascii_safe(self, line: str) -> str:
        """The same object re-encoded with ``\\uXXXX`` escapes (valid JSON, unlike ``\\xNN``)."""
        try:
            return json.dumps(json.loads(line), ensure_ascii=True, separators=(",", ":"))
        except ValueError:
            return super().ascii_safe(line)


# Characters that would break a line apart or hide in it: controls, line and paragraph
# separators, and lone surrogates (which no UTF-8 stream can write).
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")
# What forces a logfmt value into quotes: the above plus spaces of any kind, '=', '"' and '\'.
_NEEDS_QUOTES = re.compile(
    '[\x00-\x20"=\\\\\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
)
# What is escaped inside a quoted logfmt value.
_QUOTED_ESCAPES = re.compile('["\\\\\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]')
_BAD_KEY = re.compile(
    '[\x00-\x20"=\\\\\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
)
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or f"\\u{ord(char):04x}"


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\u001b``)."""
    if text.isprintable():
        return text
    return _CONTROL.sub(_escape_char, text)


def logfmt_value(text: str) -> str:
    """A logfmt value: bare when safe, else double-quoted with ``\\`` escapes; always one line."""
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return f'"{_QUOTED_ESCAPES.sub(_escape_char, text)}"'


def logfmt_key(key: str) -> str:
    """A logfmt key: characters that would end or split it become ``_``."""
    return _BAD_KEY.sub("_", key) if key else "_"


class _PlainFormatter(CrocotelFormatter):
    """Shared by text and logfmt: how one extra value is written as a bare or quoted word."""

    def __init__(
        self,
        *,
        service_name: str = "",
        redact: Callable[[str], str] | None = None,
        is_secret_key: Callable[[str], bool] | None = None,
        keyed: Callable[[object, str], object | None] | None = None,
    ) -> None:
        super().__init__(service_name=service_name, redact=redact, is_secret_key=is_secret_key, keyed=keyed)
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
        self._heads: dict[tuple[str, str], str] = {}

    def _word(self, key: str, value: object) -> str:
        safe = self.scrubber.field(key, value)
        if type(safe) is str:
            return logfmt_value(safe)
        return logfmt_value(self._dumps(safe))

    def _extras(self, record: logging.LogRecord) -> str:
        return "".join(
            f" {logfmt_key(_extra_key(key))}={self._word(key, value)}" for key, value in extras(record)
        )


class TextFormatter(_PlainFormatter):
    """A human-readable line: ``2026-11-29T05:01:02.345Z INFO  bot: handled [trace_id=… span_id=…] k=v``.

    Line breaks in the message are escaped so one record stays one line (a user's text cannot
    forge log lines); the traceback, if any, follows on the next lines as Python prints it.
    """

    def _head(self, record: logging.LogRecord) -> str:
        key = (record.levelname, record.name)
        head = self._heads.get(key)
        if head is None:
            head = f" {one_line(safe_str(key[0])):<5} {one_line(safe_str(key[1]))}: "
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = head
        return head

    def render(self, record: logging.LogRecord) -> str:
        """See :class:`TextFormatter`."""
        line = f"{self.clock.timestamp(record)}{self._head(record)}{one_line(self.message(record))}"
        trace_id, span_id = record_ids(record)
        if trace_id:
            line += f" [trace_id={one_line(trace_id)} span_id={one_line(span_id)}]"
        line += self._extras(record)
        info = exc_info(record)
        if info is not None:
            line += "\n" + self.scrubber.text(stacktrace(record, info))
        if record.stack_info:
            line += "\n" + self.scrubber.text(record.stack_info)
        return line

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """Timestamp, level, logger, the redacted template and ``error=…``."""
        timestamp, level, message, detail = self.fallback_parts(record, error)
        name = one_line(safe_str(getattr(record, "name", "")))
        return f"{timestamp} {one_line(level):<5} {name}: {one_line(message)} error={logfmt_value(detail)}"


class LogfmtFormatter(_PlainFormatter):
    """``key=value`` pairs on one line, with the same field names as the JSON format.

    Values with spaces, quotes, ``=`` or control characters are double-quoted with ``\\"``,
    ``\\\\``, ``\\n``, ``\\r``, ``\\t`` and ``\\uXXXX`` escapes, so every line parses back exactly.
    The exception is flattened to ``exception.type``, ``exception.message``, ``exception.stacktrace``.
    """

    def __init__(
        self,
        *,
        service_name: str = "",
        redact: Callable[[str], str] | None = None,
        is_secret_key: Callable[[str], bool] | None = None,
        keyed: Callable[[object, str], object | None] | None = None,
    ) -> None:
        super().__init__(service_name=service_name, redact=redact, is_secret_key=is_secret_key, keyed=keyed)
        self._service = f" service.name={logfmt_value(service_name)}"

    def _head(self, record: logging.LogRecord) -> str:
        key = (record.levelname, record.name)
        head = self._heads.get(key)
        if head is None:
            head = f" level={logfmt_value(safe_str(key[0]))} logger={logfmt_value(safe_str(key[1]))} message="
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = head
        return head

    def render(self, record: logging.LogRecord) -> str:
        """See :class:`LogfmtFormatter`."""
        message = logfmt_value(self.message(record))
        line = f"timestamp={self.clock.timestamp(record)}{self._head(record)}{message}"
        trace_id, span_id = record_ids(record)
        if trace_id:
            line += f" trace_id={logfmt_value(trace_id)} span_id={logfmt_value(span_id)}"
        line += self._service + self._extras(record)
        parts = exception_fields(record, self.scrubber.text)
        if parts is not None:
            kind, message, trace = parts
            line += (
                f" exception.type={logfmt_value(kind)} exception.message={logfmt_value(message)}"
                f" exception.stacktrace={logfmt_value(trace)}"
            )
        if record.stack_info:
            line += f" stack_info={logfmt_value(self.scrubber.text(record.stack_info))}"
        return line

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """Timestamp, level, logger, the redacted template and ``error=…``, all quoted as needed."""
        timestamp, level, message, detail = self.fallback_parts(record, error)
        name = safe_str(getattr(record, "name", ""))
        return (
            f"timestamp={logfmt_value(timestamp)} level={logfmt_value(level)} logger={logfmt_value(name)}"
            f" message={logfmt_value(message)} error={logfmt_value(detail)}"
        )
