"""State shared between the instrumented layers of one bot process.

- ``IN_API_CALL`` is set while an aiogram Bot API span is current, so the
  aiohttp hooks below it leave the HTTP span alone instead of naming and
  counting the same call twice.
- ``DeliveredUpdates`` remembers which getUpdates call delivered each update,
  so the update's root span can link to it.
- ``settings()`` and ``redactor()`` reach what the configurator built, if anything.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanContext

if TYPE_CHECKING:
    from crocotel.config import Settings
    from crocotel.redaction import Redactor

IN_API_CALL: ContextVar[bool] = ContextVar("crocotel_in_bot_api_call", default=False)

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


def settings() -> Settings:
    """The settings the configurator used, or freshly read ones when crocotel was not configured."""
    from crocotel import bootstrap, config

    current = bootstrap.current()
    return current.settings if current is not None else config.load()


def redactor() -> Redactor | None:
    """The process's redactor, when crocotel is configured with redaction on."""
    from crocotel import bootstrap

    current = bootstrap.current()
    if current is None or not current.redaction.engine.enabled:
        return None
    return current.redaction.engine
