"""Span contexts read by index: ``SpanContext`` is a tuple, and each of its properties a Python call.

The API builds every ``SpanContext`` as a tuple of (trace_id, span_id, is_remote,
trace_flags, trace_state, is_valid) and reads each field through a property, and
``TraceFlags.sampled`` through another. crocotel reads a context's fields a dozen
times per update (a span's parent at start, its ids when encoded, whether it is sampled
at its end, the ids of each log record and exemplar); by index each read is one step
in C. :data:`INDEXED` is ``SpanContext`` when the installed API has that layout
(checked once, at import), else None: readers check ``context.__class__ is INDEXED``
and otherwise read the properties, as they do for any subclass.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags, TraceState

__all__ = ["FLAGS", "INDEXED", "IS_REMOTE", "SPAN_ID", "STATE", "TRACE_ID", "VALID"]

TRACE_ID, SPAN_ID, IS_REMOTE, FLAGS, STATE, VALID = range(6)


def _indexed() -> type[SpanContext] | None:
    """``SpanContext`` if its instances hold their fields at the indexes above."""
    try:
        state = TraceState([("k", "v")])
        probe = SpanContext(3, 5, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
        fields = (probe.trace_id, probe.span_id, probe.is_remote, probe.trace_flags, probe.trace_state)
        layout = isinstance(probe, tuple) and len(probe) == 6 and tuple(probe[:5]) == fields
        return SpanContext if layout and probe[VALID] is probe.is_valid else None
    except Exception:
        return None


INDEXED: Any = _indexed()  # Any: narrowing to it must not type the fields by the tuple
