"""The ``telegram.update {type}`` span and its outcome, around aiogram's ``Dispatcher.feed_update``.

``feed_update`` is where polling and webhooks meet, so one wrapper covers
both. A polled update starts a root span linked to the getUpdates call that
delivered it (a getUpdates call lasts up to a minute and delivers many
updates; as a parent it would glue unrelated updates into one trace). A
webhook update becomes a child of whatever span is current: the HTTP server
span of the webhook request.

The outcome is ``handled``, ``unhandled`` (no handler matched) or ``error``.
An exception that an error handler caught still makes the outcome ``error``,
with its ``error.type`` and ``telegram.error.handled=true``: the user did not
get what they asked for, whatever the error handler answered.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from crocotel import errors
from crocotel.instrumentation import _context
from crocotel.instrumentation._aiogram_names import HandlerNames
from crocotel.instrumentation._context import DeliveredUpdates
from crocotel.instrumentation.botapi import CHAT_TYPES, OTHER, UNKNOWN, UPDATE_TYPES
from crocotel.instrumentation.instruments import TelegramInstruments

__all__ = ["CURRENT", "UpdateState", "UpdateTracer"]

# Message-like updates and the field that dates them (for telegram.update.lag).
_DATED = {
    "message": "date",
    "channel_post": "date",
    "business_message": "date",
    "edited_message": "edit_date",
    "edited_channel_post": "edit_date",
    "edited_business_message": "edit_date",
}
_SPAN_NAMES = {t: f"telegram.update {t}" for t in (*UPDATE_TYPES, UNKNOWN)}
_ROOT = context_api.Context()


class UpdateState:
    """What the handler spans tell the update span about the update being processed."""

    __slots__ = ("command", "error_type", "exception_recorded", "handler")

    def __init__(self) -> None:
        self.handler: HandlerNames | None = None
        self.command: str | None = None
        self.error_type: str | None = None
        self.exception_recorded = False


CURRENT: ContextVar[UpdateState | None] = ContextVar("crocotel_telegram_update", default=None)


class _Scope:
    """One update being processed: its span, state and the tokens to restore."""

    __slots__ = ("context_token", "span", "started", "state", "state_token", "update_type")

    def __init__(self, span: trace.Span, update_type: str) -> None:
        self.span = span
        self.update_type = update_type
        self.state = UpdateState()
        self.context_token = context_api.attach(trace.set_span_in_context(span))
        self.state_token = CURRENT.set(self.state)
        self.started = time.perf_counter()


class UpdateTracer:
    """Wraps ``Dispatcher.feed_update``."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        delivered: DeliveredUpdates,
        unhandled: object,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._delivered = delivered
        self._unhandled = unhandled

    async def feed_update(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Run ``feed_update`` inside the update's span; telemetry failures never reach the bot."""
        try:
            scope = self._begin(args, kwargs)
        except Exception:
            scope = None
        if scope is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._end(scope, None, exc)
            raise
        self._end(scope, result, None)
        return result

    def _begin(self, args: Any, kwargs: Any) -> _Scope:
        bot = args[0] if args else kwargs["bot"]
        update = args[1] if len(args) > 1 else kwargs["update"]
        try:
            update_type = update.event_type
        except Exception:  # aiogram raises for update types it does not know yet
            update_type = UNKNOWN
        if update_type not in UPDATE_TYPES:
            update_type = UNKNOWN
        event = getattr(update, update_type, None) if update_type != UNKNOWN else None
        bot_id = bot.id
        update_id = update.update_id
        attributes: dict[str, Any] = {
            "telegram.update.id": update_id,
            "telegram.update.type": update_type,
            "telegram.bot.id": bot_id,
        }
        chat_type = _chat_type(event)
        if chat_type is not None:
            attributes["telegram.chat.type"] = chat_type
        delivered_by = self._delivered.take(bot_id, update_id)
        if delivered_by is not None:
            span = self._tracer.start_span(
                _SPAN_NAMES[update_type], _ROOT, SpanKind.CONSUMER, attributes, [Link(delivered_by)]
            )
        else:
            span = self._tracer.start_span(_SPAN_NAMES[update_type], None, SpanKind.CONSUMER, attributes)
        try:
            self._instruments.update_started()
            date_field = _DATED.get(update_type)
            if date_field is not None:
                self._dated(event, date_field, update_type)
        except Exception:  # metrics or phone learning failed: the span still goes on
            pass
        return _Scope(span, update_type)  # attaches the span: nothing may fail after this

    def _dated(self, event: Any, date_field: str, update_type: str) -> None:
        """Record the lag of a message-like update and learn the phone numbers Telegram marked."""
        date = getattr(event, date_field, None)
        if date is not None:
            stamp = date.timestamp() if hasattr(date, "timestamp") else float(date)
            self._instruments.lag(update_type, time.time() - stamp)
        _learn_phones(event)

    def _end(self, scope: _Scope, result: Any, exc: BaseException | None) -> None:
        outcome = "handled"
        error_type: str | None = None
        try:
            state, span = scope.state, scope.span
            if exc is not None:
                outcome = "error"
                error_type = state.error_type or type(exc).__qualname__
                if not state.exception_recorded:
                    span.record_exception(exc)
                    errors.report(exc, "handler", recorded=True)
            elif state.error_type is not None:
                outcome = "error"
                error_type = state.error_type
            elif result is self._unhandled:
                outcome = "unhandled"
            if span.is_recording():
                span.set_attribute("telegram.update.outcome", outcome)
                names = state.handler
                if names is not None:
                    span.set_attribute("telegram.handler", names.handler)
                    span.set_attribute("telegram.router", names.router)
                if state.command is not None:
                    span.set_attribute("telegram.command", state.command)
                if error_type is not None:
                    span.set_attribute("error.type", error_type)
                    span.set_attribute("telegram.error.handled", exc is None)
                    span.set_status(Status(StatusCode.ERROR, error_type))
        except Exception:  # telemetry must never break the bot
            pass
        finally:
            _close(scope)
            with contextlib.suppress(Exception):
                seconds = time.perf_counter() - scope.started
                self._instruments.update_finished(scope.update_type, outcome, error_type, seconds)


def _close(scope: _Scope) -> None:
    """End the span and restore the context, whatever happens."""
    try:
        scope.span.end()
    finally:
        with contextlib.suppress(ValueError):  # a token from another context: nothing to restore
            CURRENT.reset(scope.state_token)
        context_api.detach(scope.context_token)  # logs instead of raising


def _chat_type(event: Any) -> str | None:
    """The chat type of a message-like event, or of a callback query's message."""
    chat = getattr(event, "chat", None)
    if chat is None:
        chat = getattr(getattr(event, "message", None), "chat", None)
    chat_type = getattr(chat, "type", None)
    if chat_type is None:
        return None
    return chat_type if chat_type in CHAT_TYPES else OTHER


def _learn_phones(event: Any) -> None:
    """Tell the redactor about the phone numbers Telegram itself marked in the text or caption."""
    for text_field, entities_field in (("text", "entities"), ("caption", "caption_entities")):
        entities = getattr(event, entities_field, None)
        if not entities:
            continue
        text = getattr(event, text_field, None)
        for entity in entities:
            if entity.type == "phone_number" and text:
                redactor = _context.redactor()
                if redactor is None:
                    return
                redactor.learn_phone(entity.extract_from(text))
