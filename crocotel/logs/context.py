"""Trace correlation for log records: the current span's ids as hex.

:mod:`crocotel.logs.records` takes them as each record is handed to handlers, in the logging
call's own thread and context, so they stay right when a record is formatted later or in
another thread (a ``QueueHandler``).
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from crocotel.current import current_context, current_span
from crocotel.span_context import fields_of

__all__ = ["NO_IDS", "Correlation", "correlation", "current_ids", "hex_ids"]

NO_IDS: tuple[str, str] = ("", "")

Correlation = tuple[Context | None, SpanContext, tuple[str, str]]
"""(the context it was taken in, the current span's context, its ids in hex or :data:`NO_IDS`)."""

# The last context seen with its span's context and hex ids. Logging several times under one
# context is the common case, and the span lookup plus formatting two big integers as hex costs
# more than this check. Holding the context keeps it (and its span) alive until the next one is
# seen: one at most.
_last: Correlation = (None, INVALID_SPAN_CONTEXT, NO_IDS)


def current_ids() -> tuple[str, str]:
    """(trace_id, span_id) of the current span in lower-case hex, or ("", "") when there is none.

    An invalid span context (all-zero ids, as in the no-op span) also gives ("", ""): a log line
    never claims a trace that does not exist.
    """
    return correlation()[2]


def correlation() -> Correlation:
    """The current span's context and its ids as :func:`current_ids` gives them, in one lookup."""
    global _last
    context = current_context()
    last = _last  # one read: the tuple is swapped whole, so threads never see half an update
    if context is last[0]:
        return last
    span_context = current_span(context).get_span_context()
    last = _last = (context, span_context, hex_ids(span_context))
    return last


def hex_ids(span: SpanContext) -> tuple[str, str]:
    """(trace_id, span_id) of ``span`` in lower-case hex, or ("", "") for an invalid one."""
    trace_id, span_id, _, _, _, valid = fields_of(span)
    return (f"{trace_id:032x}", f"{span_id:016x}") if valid else NO_IDS
