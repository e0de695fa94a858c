"""aiogram's ``Dispatcher.feed_update`` as the ``telegram.update {type}`` span of ``_updates``.

``feed_update`` is where polling and webhooks meet, so one wrapper covers both.
"""

from __future__ import annotations

from typing import Any

from crocotel.instrumentation._updates import UpdateSpans
from crocotel.instrumentation._vocabulary import UNKNOWN, UPDATE_TYPES

__all__ = ["UpdateTracer"]


class UpdateTracer:
    """Wraps ``Dispatcher.feed_update``."""

    def __init__(self, spans: UpdateSpans, unhandled: object) -> None:
        self._spans = spans
        self._unhandled = unhandled

    async def feed_update(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Run ``feed_update`` inside the update's span; telemetry failures never reach the bot."""
        try:
            bot = args[0] if args else kwargs["bot"]
            update = args[1] if len(args) > 1 else kwargs["update"]
            try:
                update_type = update.event_type
            except Exception:  # aiogram raises for update types it does not know yet
                update_type = UNKNOWN
            if update_type not in UPDATE_TYPES:
                update_type = UNKNOWN
            event = getattr(update, update_type, None) if update_type != UNKNOWN else None
            scope = self._spans.begin(bot.id, update.update_id, update_type, event)
        except Exception:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._spans.end(scope, exc, False)
            raise
        self._spans.end(scope, None, result is self._unhandled)
        return result
