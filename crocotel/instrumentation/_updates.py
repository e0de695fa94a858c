"""The ``telegram.update {type}`` span and its outcome, for any framework, and what handlers tell it.

A polled update starts a root span linked to the getUpdates call that
delivered it (a getUpdates call lasts up to a minute and delivers many
updates; as a parent it would glue unrelated updates into one trace). A
webhook update becomes a child of whatever span is current: the HTTP server
span of the webhook request, when there is one.

The outcome is ``handled``, ``unhandled`` (no handler matched) or ``error``.
An exception that an error handler caught still makes the outcome ``error``,
with its ``error.type`` and ``telegram.error.handled=true``: the user did not
get what they asked for, whatever the error handler answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from crocotel import errors
from crocotel.current import attach, current_context, detach
from crocotel.escapes import note_escape
from crocotel.instrumentation._context import SPAN_KEY, DeliveredUpdates, derive, with_span
from crocotel.instrumentation._instruments import TelegramInstruments
from crocotel.instrumentation._vocabulary import (
    CHAT_TYPES,
    DATED,
    ERROR_TYPE,
    HANDLER,
    OTHER,
    ROUTER,
    UNKNOWN,
    UPDATE_OUTCOME,
    UPDATE_TYPE,
    UPDATE_TYPES,
    phone_entities,
)
from crocotel.instrumentation._vocabulary import error_type as exception_type

__all__ = [
    "ROOT",
    "HandlerNames",
    "UpdateScope",
    "UpdateSpans",
    "UpdateState",
    "chat_type_of",
    "current_update",
    "enter_span",
]

_SPAN_NAMES = {t: f"telegram.update {t}" for t in (*UPDATE_TYPES, UNKNOWN)}
ROOT = context_api.Context()
"""An empty context: spans started in it begin a trace of their own."""


@dataclass(frozen=True)
class HandlerNames:
    """What spans and metrics call one handler, and the commands it was registered for."""

    handler: str
    router: str
    commands: frozenset[str]
    span_name: str
    span_attributes: dict[str, str]


def handler_names(qualname: str, module: str, router: str, commands: frozenset[str]) -> HandlerNames:
    """Names of a handler whose (already capped) code name is ``qualname``."""
    return HandlerNames(
        handler=qualname,
        router=router,
        commands=commands,
        span_name=f"telegram.handler {qualname}",
        span_attributes={HANDLER: qualname, ROUTER: router, "code.function.name": f"{module}.{qualname}"},
    )


class UpdateState:
    """What the handler spans tell the update span about the update being processed."""

    __slots__ = ("command", "error_handled", "error_type", "exception_recorded", "handler")

    def __init__(self) -> None:
        self.handler: HandlerNames | None = None
        self.command: str | None = None
        self.error_type: str | None = None
        self.error_handled = False
        self.exception_recorded = False


_STATE_KEY = context_api.create_key("crocotel-telegram-update")


def current_update() -> UpdateState | None:
    """The state of the update being processed, None outside an update."""
    state = current_context().get(_STATE_KEY)
    return state if isinstance(state, UpdateState) else None


class UpdateScope:
    """One update being processed: its span, state and the token to restore.

    The span and the state share one context: one switch per update.
    """

    __slots__ = ("context_token", "span", "started", "state", "update_type")

    def __init__(self, span: trace.Span, update_type: str) -> None:
        self.span = span
        self.update_type = update_type
        self.state = UpdateState()
        current = current_context()
        self.context_token = attach(derive(current, {SPAN_KEY: span, _STATE_KEY: self.state}))
        self.started = time.perf_counter()


class UpdateSpans:
    """Starts and ends update spans and records the update metrics."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        delivered: DeliveredUpdates,
        learn_phone: Callable[[str], None] | None,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._delivered = delivered
        self._learn_phone = learn_phone

    def begin(self, bot_id: int, update_id: int, update_type: str, event: Any) -> UpdateScope:
        """Start the span of one update (``update_type`` from ``UPDATE_TYPES`` or ``unknown``)."""
        attributes: dict[str, Any] = {
            "telegram.update.id": update_id,
            UPDATE_TYPE: update_type,
            "telegram.bot.id": bot_id,
        }
        chat_type = chat_type_of(event)
        if chat_type is not None:
            attributes["telegram.chat.type"] = chat_type
        delivered_by = self._delivered.take(bot_id, update_id)
        if delivered_by is not None:
            span = self._tracer.start_span(
                _SPAN_NAMES[update_type], ROOT, SpanKind.CONSUMER, attributes, [Link(delivered_by)]
            )
        else:
            span = self._tracer.start_span(_SPAN_NAMES[update_type], None, SpanKind.CONSUMER, attributes)
        try:
            self._instruments.update_started()
            date_field = DATED.get(update_type)
            if date_field is not None:
                self._dated(event, date_field, update_type)
        except Exception:  # metrics or phone learning failed: the span still goes on
            pass
        return UpdateScope(span, update_type)  # attaches the span: nothing may fail after this

    def _dated(self, event: Any, date_field: str, update_type: str) -> None:
        """Record the lag of a message-like update and learn the phone numbers Telegram marked."""
        date = getattr(event, date_field, None)
        if date is not None:
            stamp = date.timestamp() if hasattr(date, "timestamp") else float(date)
            self._instruments.lag(update_type, time.time() - stamp)
        if self._learn_phone is not None:
            for phone in phone_entities(event):
                self._learn_phone(phone)

    def end(self, scope: UpdateScope, exc: BaseException | None, unhandled: bool) -> None:
        """End the update's span with its outcome; never raises."""
        outcome = "handled"
        error_type: str | None = None
        try:
            state, span = scope.state, scope.span
            if exc is not None:
                note_escape(exc, span)
                outcome = "error"
                error_type = state.error_type or exception_type(exc)
                if not state.exception_recorded:
                    span.record_exception(exc)
                    errors.report(exc, "handler", recorded=True)
            elif state.error_type is not None:
                outcome = "error"
                error_type = state.error_type
            elif unhandled and state.handler is None:
                outcome = "unhandled"
            if span.is_recording():
                attributes: dict[str, Any] = {UPDATE_OUTCOME: outcome}  # one call: the span locks per call
                names = state.handler
                if names is not None:
                    attributes[HANDLER] = names.handler
                    attributes[ROUTER] = names.router
                if state.command is not None:
                    attributes["telegram.command"] = state.command
                if error_type is not None:
                    attributes[ERROR_TYPE] = error_type
                    attributes["telegram.error.handled"] = exc is None and state.error_handled
                    span.set_status(Status(StatusCode.ERROR, error_type))
                span.set_attributes(attributes)
        except Exception:  # telemetry must never break the bot
            pass
        finally:
            try:  # recorded while the span is current: its exemplar
                seconds = time.perf_counter() - scope.started
                self._instruments.update_finished(scope.update_type, outcome, error_type, seconds)
            except Exception:  # telemetry must never break the bot
                pass
            _close(scope)


def _close(scope: UpdateScope) -> None:
    """End the span and restore the context, whatever happens."""
    close_span(scope.span, scope.context_token)


def chat_type_of(event: Any) -> str | None:
    """The chat type of a message-like event, or of a callback query's message."""
    chat = getattr(event, "chat", None)
    if chat is None:
        chat = getattr(getattr(event, "message", None), "chat", None)
    chat_type = getattr(chat, "type", None)
    if chat_type is None:
        return None
    chat_type = str(getattr(chat_type, "value", chat_type))
    return chat_type if chat_type in CHAT_TYPES else OTHER


def enter_span(span: trace.Span) -> Token[context_api.Context]:
    """Make ``span`` current; ``close_span`` ends it and restores the context."""
    return attach(with_span(span))


def close_span(span: trace.Span, token: Token[context_api.Context]) -> None:
    """End a span and detach its context, whatever happens."""
    try:
        span.end()
    finally:
        detach(token)  # logs instead of raising
