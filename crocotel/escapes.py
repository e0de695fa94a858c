"""The span an exception escaped from, for log lines written about it after that span ended.

A framework often reports an unhandled exception once the work that raised it is over:
aiogram logs "Cause exception while process update" after the update's span has closed, so
the line would carry no trace id, and the one line an operator finds first would not lead
to the failing trace. crocotel's instrumentation notes each exception leaving one of its
spans (the innermost: a note for the same exception from an outer span is ignored), and the
log path gives a record that has no current span the ids of the span its exception escaped
from.

The note lives in a context variable, not on the exception (which the application may
pickle, compare or print, and which built-in exception types give no weak reference to): it
is seen by the code that runs next in the same task or thread, where frameworks log it, and
holds one exception per task at most, the last to escape there.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry.trace import Span, SpanContext

__all__ = ["escaped_from", "note_escape"]

_LAST: ContextVar[tuple[BaseException, SpanContext] | None] = ContextVar("crocotel_last_escape", default=None)


def note_escape(exc: BaseException, span: Span) -> None:
    """Remember that ``exc`` left ``span``, unless an inner span was noted for it first; never raises."""
    try:
        last = _LAST.get()
        if last is not None and last[0] is exc:
            return
        context = span.get_span_context()
        if context.is_valid:
            _LAST.set((exc, context))
    except Exception:  # telemetry must never break the bot
        pass


def escaped_from(exc_info: Any) -> SpanContext | None:
    """The span context noted for the exception of a record's ``exc_info`` (a tuple, an
    exception or anything else a record may hold there) in this task or thread, or None."""
    last = _LAST.get()
    if last is None:
        return None
    exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else exc_info
    return last[1] if last[0] is exc else None
