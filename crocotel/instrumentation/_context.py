"""State shared between the instrumented layers of one bot process.

- ``derive()`` builds the context a span runs in: the span, and what the
  layers below it need (the update being processed, the Bot API call in
  flight, HTTP suppression), in one OpenTelemetry context, so each layer
  makes one context and one context-variable switch, not one per value.
- ``http_suppressed()`` says whether a Bot API span above has suppressed the
  HTTP instrumentation (OpenTelemetry's HTTP-suppression context key), so the
  aiohttp hooks below it leave the request alone instead of counting it twice.
- ``DeliveredUpdates`` remembers which getUpdates call delivered each update,
  so the update's root span can link to it.

Nothing here reaches into the bootstrap: instrumentors get their options as
``instrument()`` arguments (the distro passes them) and use the global providers.
"""

from __future__ import annotations

import threading

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanContext

from crocotel.current import SPAN_KEY, current_context

__all__ = ["SPAN_KEY", "SUPPRESS_HTTP", "DeliveredUpdates", "derive", "http_suppressed", "with_span"]

SUPPRESS_HTTP = _SUPPRESS_HTTP_INSTRUMENTATION_KEY
"""The context key that tells HTTP instrumentations to leave a request alone."""


def derive(parent: context_api.Context, values: dict[str, object]) -> context_api.Context:
    """``parent`` with ``values`` added, built as one new context.

    ``set_value`` and ``set_span_in_context`` copy the whole context twice per
    key; a Bot API call sets three.
    """
    return context_api.Context(parent, **values)


def with_span(span: trace.Span) -> context_api.Context:
    """The current context with ``span`` as its current span."""
    return derive(current_context(), {SPAN_KEY: span})


def http_suppressed() -> bool:
    """Whether the current context suppresses HTTP instrumentation."""
    return bool(current_context().get(_SUPPRESS_HTTP_INSTRUMENTATION_KEY))


_MAX_DELIVERED = 1024  # ten full getUpdates batches; older entries are dropped first


class DeliveredUpdates:
    """(bot id, update id) -> span context of the getUpdates call that delivered the update; bounded."""

    def __init__(self) -> None:
        self._spans: dict[tuple[int, int], SpanContext] = {}
        self._lock = threading.Lock()

    def put(self, bot_id: int, update_ids: list[int], span_context: SpanContext) -> None:
        """Remember the call that delivered these updates."""
        with self._lock:
            spans = self._spans
            for update_id in update_ids:
                spans[(bot_id, update_id)] = span_context
            while len(spans) > _MAX_DELIVERED:
                del spans[next(iter(spans))]

    def take(self, bot_id: int, update_id: int) -> SpanContext | None:
        """The delivering call of one update, forgotten once taken (None for webhook updates)."""
        if not self._spans:
            return None
        with self._lock:
            return self._spans.pop((bot_id, update_id), None)
