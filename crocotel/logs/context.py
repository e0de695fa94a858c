"""Trace correlation for log records: the current span's ids as hex, stamped at the logging call.

The ids are taken in a log record factory, so they belong to the context of the code that
called ``logger.info`` even when the record is formatted later or in another thread
(a ``QueueHandler``), and so an application's own ``%(trace_id)s`` formats work too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context, get_current
from opentelemetry.trace import get_current_span

NO_IDS: tuple[str, str] = ("", "")

# The last context seen and its hex ids. Logging several times under one context is the common
# case, and the span lookup plus formatting two big integers as hex costs more than this check.
# Holding the context keeps it (and its span) alive until the next one is seen: one at most.
_last: tuple[Context | None, tuple[str, str]] = (None, NO_IDS)


def current_ids() -> tuple[str, str]:
    """(trace_id, span_id) of the current span in lower-case hex, or ("", "") when there is none.

    An invalid span context (all-zero ids, as in the no-op span) also gives ("", ""): a log line
    never claims a trace that does not exist.
    """
    global _last
    context = get_current()
    last = _last  # one read: the tuple is swapped whole, so threads never see half an update
    if context is last[0]:
        return last[1]
    span = get_current_span(context).get_span_context()
    ids = (f"{span.trace_id:032x}", f"{span.span_id:016x}") if span.is_valid else NO_IDS
    _last = (context, ids)
    return ids


def record_ids(record: logging.LogRecord) -> tuple[str, str]:
    """The ids stamped on ``record`` by :class:`TraceIdFactory`, else the current ones.

    Records made before the factory was installed, or by code that bypasses it, fall back to the
    context active now, which is right whenever the handler runs in the logging call.
    """
    fields = record.__dict__
    trace_id = fields.get("trace_id")
    if trace_id is None:
        return current_ids()
    if not trace_id or not isinstance(trace_id, str):
        return NO_IDS
    span_id = fields.get("span_id")
    return trace_id, span_id if isinstance(span_id, str) else ""


class TraceIdFactory:
    """A log record factory that calls the previous one and adds ``trace_id`` and ``span_id``.

    Both are strings, empty outside a span, so ``%(trace_id)s`` never fails and never shows zeros.
    ``active`` is switched off on uninstall when another factory was chained on top of this one
    and it cannot simply be taken out of the chain. The factory installed is the bound method
    :meth:`make` (cheaper to call than an instance's ``__call__``).
    """

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.active = True

    def make(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        """Make the record with the previous factory, then stamp the ids on it."""
        record = self.previous(*args, **kwargs)
        if self.active:
            record.trace_id, record.span_id = current_ids()
        return record


def install_factory() -> TraceIdFactory:
    """Chain a :class:`TraceIdFactory` onto the current record factory and return it."""
    factory = TraceIdFactory(logging.getLogRecordFactory())
    logging.setLogRecordFactory(factory.make)
    return factory


def uninstall_factory(factory: TraceIdFactory) -> None:
    """Take ``factory`` out: restore its predecessor if it is still on top, else make it a pass-through."""
    factory.active = False
    if logging.getLogRecordFactory() == factory.make:
        logging.setLogRecordFactory(factory.previous)
