"""A span context's fields in one read: ``SpanContext`` is a tuple, and each of its properties a Python call.

The API builds every ``SpanContext`` as a tuple of (trace_id, span_id, is_remote,
trace_flags, trace_state, is_valid) and reads each field through a property, and
``TraceFlags.sampled`` through another. crocotel reads a context's fields a dozen
times per update (a span's parent at start, its ids when encoded, whether it is sampled
at its end, the ids of each log record and exemplar). :func:`fields_of` hands the context
itself back as that tuple when the installed API has that layout (checked once, at
import), and builds the tuple from the properties otherwise (another layout, a subclass).
"""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import SpanContext, TraceFlags, TraceState

__all__ = [
    "FLAGS",
    "IS_REMOTE",
    "SPAN_ID",
    "STATE",
    "TRACE_ID",
    "TUPLE_LAYOUT",
    "VALID",
    "Fields",
    "fields_of",
]

TRACE_ID: Final = 0
SPAN_ID: Final = 1
IS_REMOTE: Final = 2
FLAGS: Final = 3
STATE: Final = 4
VALID: Final = 5

Fields = tuple[int, int, bool, TraceFlags, TraceState, bool]
"""(trace_id, span_id, is_remote, trace_flags, trace_state, is_valid), indexed by the names above."""


def _indexed() -> type[SpanContext] | None:
    """``SpanContext`` if its instances hold their fields at the indexes above."""
    try:
        state = TraceState([("k", "v")])
        probe = SpanContext(3, 5, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
        by_property = (probe.trace_id, probe.span_id, probe.is_remote, probe.trace_flags, probe.trace_state)
        layout = isinstance(probe, tuple) and len(probe) == 6 and tuple(probe[:5]) == by_property
        return SpanContext if layout and probe[VALID] is probe.is_valid else None
    except Exception:
        return None


_INDEXED = _indexed()
TUPLE_LAYOUT: Final = _INDEXED is not None
"""Whether ``SpanContext(...)`` builds the tuple of :data:`Fields` (so one can be built as that tuple)."""


def fields_of(context: SpanContext) -> Fields:
    """The fields of ``context``: the context itself when the API built it as that tuple."""
    if context.__class__ is _INDEXED:
        return context
    return (
        context.trace_id,
        context.span_id,
        context.is_remote,
        context.trace_flags,
        context.trace_state,
        context.is_valid,
    )
