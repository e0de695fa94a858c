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
from contextvars import ContextVar, Token

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

__all__ = ["SPAN_KEY", "attach", "current_context", "current_span", "detach"]

SPAN_KEY: str = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, context_api.Context())))
"""The key under which OpenTelemetry keeps the current span, learnt from its public API."""


def _context_variable() -> ContextVar[context_api.Context] | None:
    """The context variable the SDK keeps the current context in; None for another runtime context."""
    runtime = getattr(context_api, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(variable, ContextVar):
        return variable
    return None


_VARIABLE = _context_variable()

current_context: Callable[[], context_api.Context] = (
    _VARIABLE.get if _VARIABLE is not None else context_api.get_current
)
"""The current context (``opentelemetry.context.get_current()``)."""

attach: Callable[[context_api.Context], Token[context_api.Context]] = (
    _VARIABLE.set if _VARIABLE is not None else context_api.attach
)
"""Make a context current (``opentelemetry.context.attach()``)."""

_reset = _VARIABLE.reset if _VARIABLE is not None else context_api.detach


def detach(token: Token[context_api.Context]) -> None:
    """Restore the context before :func:`attach` (``opentelemetry.context.detach()``): a token that
    cannot be restored here (another context, used twice) is logged by the API, never raised."""
    try:
        _reset(token)
    except Exception:
        context_api.detach(token)  # fails the same way, and logs it


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
