"""What a log record says, in the pieces every output needs: time, extras, exception.

Kept apart from the formatters so the JSON, text, logfmt and OTLP outputs agree on which
attributes are ``extra`` fields and how an exception is described.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable
from itertools import islice
from types import TracebackType
from typing import Any

from crocotel.logs.plain import safe_str

__all__ = [
    "RESERVED",
    "RESERVED_BUT_IDS",
    "STANDARD_COUNT",
    "Clock",
    "exc_info",
    "exception_message",
    "exception_type",
    "extras_of",
    "stacktrace",
]

# Attributes every LogRecord has, plus what formatters and known record factories add to it;
# anything else on a record came from ``extra=`` (or a filter) and is written as a field.
_SAMPLE = logging.LogRecord("", 0, "", 0, "", (), None)
STANDARD_COUNT = len(_SAMPLE.__dict__)
RESERVED = frozenset(_SAMPLE.__dict__) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12+
    "_crocotel",  # crocotel.logs.records.STATE
    "trace_id",  # stamped by crocotel.logs.records (unless the application's extra has them)
    "span_id",
    "otelTraceID",  # opentelemetry-instrumentation-logging's record factory
    "otelSpanID",
    "otelTraceSampled",
    "otelServiceName",
}
del _SAMPLE
# The same, for records whose ``trace_id``/``span_id`` came from the application's ``extra``.
RESERVED_BUT_IDS = RESERVED - {"trace_id", "span_id"}

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def extras_of(fields: dict[str, Any], app_ids: bool = False) -> Iterable[tuple[str, Any]]:
    """The ``extra`` fields of a record's ``__dict__`` in the order they were given.

    ``Logger.makeRecord`` adds extras after the standard attributes, so the scan starts past
    them; the reserved check drops what formatters and factories add. ``app_ids``: the
    application's own ``trace_id``/``span_id`` are extras too. Most records have none once
    prepared (only crocotel's and the logging instrumentation's fields past the standard
    ones): that answer comes from one set comparison in C, three times per record.
    """
    if len(fields) <= STANDARD_COUNT:
        return ()
    reserved = RESERVED_BUT_IDS if app_ids else RESERVED
    if fields.keys() <= reserved:
        return ()
    return ((k, v) for k, v in islice(fields.items(), STANDARD_COUNT, None) if k not in reserved)


def exc_info(record: logging.LogRecord) -> ExcInfo | None:
    """The record's exception triple, or None (also for ``exc_info=(None, None, None)``)."""
    info = record.exc_info
    if not info or info[0] is None or info[1] is None:
        return None
    return info


def exception_type(exc: BaseException) -> str:
    """``module.QualName`` of the exception's class, bare for builtins (``ValueError``)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, never raising."""
    return safe_str(exc)


def stacktrace(info: ExcInfo) -> str:
    """The formatted traceback, as ``logging.Formatter.formatException`` writes it."""
    try:
        return "".join(traceback.format_exception(*info)).rstrip("\n")
    except Exception:
        return f"{exception_type(info[1])}: {exception_message(info[1])}"


# ".000Z" to ".999Z": a table lookup is cheaper than formatting the milliseconds every time.
_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))


class Clock:
    """RFC 3339 UTC timestamps with milliseconds from ``record.created``.

    The part up to the seconds is cached: records arrive many per second, and ``time.strftime``
    costs more than the rest of the timestamp. The cache is one tuple, replaced whole, so
    concurrent threads never read a second from one update and a prefix from another.
    """

    def __init__(self) -> None:
        self._cache: tuple[int, str] = (-1, "")

    def timestamp(self, record: logging.LogRecord) -> str:
        """For example ``2026-11-29T05:01:02.345Z`` (milliseconds truncated, like ``record.msecs``)."""
        created = record.created
        second = int(created)
        cache = self._cache
        if cache[0] != second:
            cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._cache = cache
        return cache[1] + _MILLIS[int((created - second) * 1000)]
