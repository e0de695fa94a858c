"""The three line formats crocotel writes to stdout: JSON (default), text and logfmt.

All share one shape: a timestamp, level, logger, message, the trace and span ids when the
record was made inside a span, the ``extra`` fields and the exception. Records arrive
redacted (:mod:`crocotel.logs.records` prepares each one before any handler; a record that
reaches a formatter some other way is prepared here first). A formatter never raises: on an
internal error it writes a minimal line with an ``error`` field instead, because a logging
call must never break the bot it is logging for.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from itertools import islice
from json.encoder import encode_basestring, encode_basestring_ascii

from crocotel.logs.fields import RESERVED, RESERVED_BUT_IDS, STANDARD_COUNT, Clock, extras_of
from crocotel.logs.plain import plain, safe_str
from crocotel.logs.records import RecordState, state_of

__all__ = [
    "CORE_FIELDS",
    "CrocotelFormatter",
    "JsonFormatter",
    "LogfmtFormatter",
    "TextFormatter",
    "logfmt_key",
    "logfmt_value",
    "one_line",
]

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
    """Shared part of the crocotel formatters: the clock, the head cache and the never-raise guard."""

    def __init__(self, *, service_name: str = "") -> None:
        super().__init__()
        self.service_name = service_name
        self.clock = Clock()
        self._heads: dict[tuple[str, str], str] = {}

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (text: exception lines follow); never raises."""
        try:
            return self.render(record, state_of(record))
        except Exception as exc:
            return self.fallback(record, exc)

    def render(self, record: logging.LogRecord, state: RecordState) -> str:
        """The record in this format; may raise, :meth:`format` guards it."""
        raise NotImplementedError

    def make_head(self, level: str, logger: str) -> str:
        """The fixed part of a line for one (level, logger) pair; cached by :meth:`head`."""
        raise NotImplementedError

    def head(self, record: logging.LogRecord) -> str:
        """:meth:`make_head` for the record's level and logger, from a bounded cache."""
        key = (record.levelname, record.name)
        head = self._heads.get(key)
        if head is None:
            head = self.make_head(safe_str(key[0]), safe_str(key[1]))
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = head
        return head

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """The minimal line written when :meth:`render` failed."""
        raise NotImplementedError

    def ascii_safe(self, line: str) -> str:
        """``line`` with every non-ASCII character escaped, for streams that cannot encode it."""
        return line.encode("ascii", "backslashreplace").decode("ascii")

    def fallback_parts(self, record: logging.LogRecord, error: BaseException) -> tuple[str, str, str, str]:
        """(timestamp, level, message, error) for a fallback line, each obtained defensively.

        The message is the raw template (formatting it may be what failed), redacted by
        :func:`crocotel.logs.records.prepare` like everything else on the record.
        """
        try:
            timestamp = self.clock.timestamp(record)
        except Exception:
            timestamp = ""
        level = safe_str(getattr(record, "levelname", ""))
        message = safe_str(getattr(record, "msg", ""))
        return timestamp, level, message, f"crocotel formatter failed: {type(error).__name__}"


class JsonFormatter(CrocotelFormatter):
    """One JSON object per line.

    Built as a string from cached pieces rather than through a dict and ``json.dumps``: only
    the message, the extra fields and the exception need encoding per record.
    ``ensure_ascii`` escapes non-ASCII characters, for streams that are not UTF-8.
    """

    def __init__(self, *, service_name: str = "", ensure_ascii: bool = False) -> None:
        super().__init__(service_name=service_name)
        self._quote: Callable[[str], str] = encode_basestring_ascii if ensure_ascii else encode_basestring
        self._dumps = json.JSONEncoder(
            ensure_ascii=ensure_ascii, separators=(",", ":"), check_circular=False
        ).encode
        self._service = f',"service.name":{self._quote(service_name)}'
        self._keys: dict[str, str] = {}

    def make_head(self, level: str, logger: str) -> str:
        """``","level":…,"logger":…,"message":`` (the timestamp comes before it)."""
        quote = self._quote
        return f'","level":{quote(level)},"logger":{quote(logger)},"message":'

    def _key(self, key: str) -> str:
        """``,"key":`` for an extra field; cached per key."""
        fragment = self._keys.get(key)
        if fragment is None:
            fragment = f",{self._quote(_extra_key(key))}:"
            if len(self._keys) < _MAX_HEADS:
                self._keys[key] = fragment
        return fragment

    def render(self, record: logging.LogRecord, state: RecordState) -> str:
        """See :class:`JsonFormatter`. This is the hot path: calls and copies are kept out of it."""
        quote = self._quote
        fields = record.__dict__
        head = self._heads.get((record.levelname, record.name)) or self.head(record)
        line = f'{{"timestamp":"{self.clock.timestamp(record)}{head}{quote(state.message(record))}'
        trace_id = state.trace_id
        if trace_id:
            line += f',"trace_id":"{trace_id}","span_id":"{state.span_id}"'  # hex: nothing to escape
        line += self._service
        if len(fields) > STANDARD_COUNT:
            keys = self._keys
            reserved = RESERVED_BUT_IDS if state.app_ids else RESERVED
            for key, value in islice(fields.items(), STANDARD_COUNT, None):
                if key in reserved:
                    continue
                fragment = keys.get(key) or self._key(key)
                if value.__class__ is str:
                    line += fragment + quote(value)
                else:
                    line += fragment + self._dumps(plain(value))
        if state.exception is not None or record.stack_info:
            line += self._trouble(record, state)
        line += "}"
        if not line.isascii() and _UNICODE_BREAKS.search(line):
            line = _UNICODE_BREAKS.sub(_json_escape, line)
        return line

    def _trouble(self, record: logging.LogRecord, state: RecordState) -> str:
        """The ``exception`` object and ``stack_info`` members, when the record has them."""
        quote = self._quote
        out = ""
        if state.exception is not None:
            kind, message, trace = state.exception
            out += (
                f',"exception":{{"type":{quote(kind)},"message":{quote(message)},'
                f'"stacktrace":{quote(trace)}}}'
            )
        if record.stack_info:
            out += f',"stack_info":{quote(record.stack_info)}'
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

    def __init__(self, *, service_name: str = "") -> None:
        super().__init__(service_name=service_name)
        self._dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

    def _word(self, value: object) -> str:
        safe = plain(value)
        if type(safe) is str:
            return logfmt_value(safe)
        return logfmt_value(self._dumps(safe))

    def _extras(self, record: logging.LogRecord, state: RecordState) -> str:
        return "".join(
            f" {logfmt_key(_extra_key(key))}={self._word(value)}"
            for key, value in extras_of(record.__dict__, state.app_ids)
        )


class TextFormatter(_PlainFormatter):
    """A human-readable line: ``2026-11-29T05:01:02.345Z INFO  bot: handled [trace_id=… span_id=…] k=v``.

    Line breaks in the message are escaped so one record stays one line (a user's text cannot
    forge log lines); the traceback, if any, follows on the next lines as Python prints it.
    """

    def make_head(self, level: str, logger: str) -> str:
        """`` LEVEL logger: ``."""
        return f" {one_line(level):<5} {one_line(logger)}: "

    def render(self, record: logging.LogRecord, state: RecordState) -> str:
        """See :class:`TextFormatter`."""
        line = f"{self.clock.timestamp(record)}{self.head(record)}{one_line(state.message(record))}"
        if state.trace_id:
            line += f" [trace_id={state.trace_id} span_id={state.span_id}]"
        line += self._extras(record, state)
        if state.exception is not None:
            line += "\n" + state.exception[2]
        if record.stack_info:
            line += "\n" + record.stack_info
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

    def __init__(self, *, service_name: str = "") -> None:
        super().__init__(service_name=service_name)
        self._service = f" service.name={logfmt_value(service_name)}"

    def make_head(self, level: str, logger: str) -> str:
        """`` level=… logger=… message=``."""
        return f" level={logfmt_value(level)} logger={logfmt_value(logger)} message="

    def render(self, record: logging.LogRecord, state: RecordState) -> str:
        """See :class:`LogfmtFormatter`."""
        message = logfmt_value(state.message(record))
        line = f"timestamp={self.clock.timestamp(record)}{self.head(record)}{message}"
        if state.trace_id:
            line += f" trace_id={state.trace_id} span_id={state.span_id}"
        line += self._service + self._extras(record, state)
        if state.exception is not None:
            kind, message, trace = state.exception
            line += (
                f" exception.type={logfmt_value(kind)} exception.message={logfmt_value(message)}"
                f" exception.stacktrace={logfmt_value(trace)}"
            )
        if record.stack_info:
            line += f" stack_info={logfmt_value(record.stack_info)}"
        return line

    def fallback(self, record: logging.LogRecord, error: BaseException) -> str:
        """Timestamp, level, logger, the redacted template and ``error=…``, all quoted as needed."""
        timestamp, level, message, detail = self.fallback_parts(record, error)
        name = safe_str(getattr(record, "name", ""))
        return (
            f"timestamp={logfmt_value(timestamp)} level={logfmt_value(level)} logger={logfmt_value(name)}"
            f" message={logfmt_value(message)} error={logfmt_value(detail)}"
        )
