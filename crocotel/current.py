"""The current OpenTelemetry context and span, read in one step each.

``trace.get_current_span()`` takes five Python calls and an abstract-class check per
lookup, and every span start, log record and metric exemplar asks for it (about twenty
times per update in crocbot). Here the context is read straight from the SDK's context
variable when the runtime context is the default one (``contextvars``), and a span's class
is checked once per class, not once per lookup. Answers are the same as the API's:
anything that is not a span gives ``INVALID_SPAN``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

__all__ = ["SPAN_KEY", "current_context", "current_span"]

SPAN_KEY: str = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, context_api.Context())))
"""The key under which OpenTelemetry keeps the current span, learnt from its public API."""


def _context_reader() -> Callable[[], context_api.Context]:
    """The context variable's own ``get`` when the SDK keeps the context in one, else the API's."""
    runtime = getattr(context_api, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(variable, ContextVar):
        return variable.get
    return context_api.get_current


current_context: Callable[[], context_api.Context] = _context_reader()
"""The current context (``opentelemetry.context.get_current()``)."""

_IS_SPAN: dict[type, bool] = {}
_MAX_CLASSES = 64


def current_span(context: context_api.Context | None = None) -> trace.Span:
    """The span current in ``context`` (default: the current context), else ``INVALID_SPAN``."""
    span = (current_context() if context is None else context).get(SPAN_KEY)
    kind = span.__class__
    known = _IS_SPAN.get(kind)
    if known is None:
        known = isinstance(span, trace.Span)
        if len(_IS_SPAN) >= _MAX_CLASSES:
            _IS_SPAN.clear()
        _IS_SPAN[kind] = known
    return span if known else trace.INVALID_SPAN  # type: ignore[return-value]
