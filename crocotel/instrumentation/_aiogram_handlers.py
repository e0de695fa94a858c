"""The ``telegram.handler {name}`` span around the aiogram handler that actually ran.

aiogram calls ``HandlerObject.call`` only after a handler's filters passed,
so wrapping it times the handler itself, not the filters tried before it.
The dispatcher's own entry handler (``Dispatcher._listen_update``, registered
on the ``update`` observer) is not a user handler and is left alone, and so
are startup and shutdown hooks (they run outside any update). What the
handler span learns (its names, the command, an exception) goes to the
update's :class:`UpdateState` for the update span.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from crocotel import errors
from crocotel.escapes import note_escape
from crocotel.instrumentation._aiogram_names import names_of
from crocotel.instrumentation._instruments import TelegramInstruments
from crocotel.instrumentation._updates import (
    HandlerNames,
    UpdateState,
    close_span,
    current_update,
    enter_span,
)
from crocotel.instrumentation._vocabulary import ERROR_TYPE, OTHER, UNKNOWN, error_type

__all__ = ["HandlerTracer"]

_SKIP = "_crocotel_skip"


class HandlerTracer:
    """Wraps ``HandlerObject.call``."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        is_internal: Callable[[Any], bool],
        error_event: type,
        not_errors: tuple[type[BaseException], ...],
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._is_internal = is_internal
        self._error_event = error_event
        self._not_errors = not_errors

    def _names(self, handler: Any, kwargs: Any) -> HandlerNames | None:
        own = handler.__dict__
        skip = own.get(_SKIP)
        if skip is None:
            skip = own[_SKIP] = self._is_internal(handler.callback)
        if skip:
            return None
        return names_of(handler, kwargs.get("event_router"))

    def call(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """The handler's coroutine, inside its span when it is one of the application's.

        Not a coroutine function itself: a handler that gets no span (the dispatcher's own
        entry handler, which runs for every update, or one outside any update) returns
        aiogram's coroutine as it is, without a coroutine of ours wrapped around it.
        """
        state = current_update()
        if state is None:  # startup and shutdown hooks, or aiogram used without the dispatcher
            return wrapped(*args, **kwargs)
        try:
            names = self._names(instance, kwargs)
        except Exception:
            names = None
        if names is None:
            return wrapped(*args, **kwargs)
        return self._traced(wrapped, args, kwargs, state, names)

    async def _traced(
        self, wrapped: Any, args: Any, kwargs: Any, state: UpdateState, names: HandlerNames
    ) -> Any:
        """Run the handler inside its span; telemetry failures never reach the bot."""
        try:
            span = self._tracer.start_span(names.span_name, attributes=names.span_attributes)
            token = enter_span(span)
        except Exception:
            return await wrapped(*args, **kwargs)
        started = time.perf_counter()
        failed: str | None = None
        try:
            result = await wrapped(*args, **kwargs)
        except self._not_errors:  # SkipHandler, CancelHandler: aiogram moves on, nothing failed
            raise
        except BaseException as exc:
            failed = self._failed(span, state, names, exc, kwargs)
            raise
        else:
            self._ran(state, names, args, kwargs)
            return result
        finally:
            try:  # recorded while the span is current: its exemplar
                seconds = time.perf_counter() - started
                self._instruments.handler(names.handler, names.router, seconds, failed)
            except Exception:  # telemetry must never break the bot
                pass
            close_span(span, token)

    def _ran(self, state: UpdateState, names: HandlerNames, args: Any, kwargs: Any) -> None:
        """Tell the update which handler ran, which command it served, or which error it caught."""
        try:
            event = args[0] if args else None
            if isinstance(event, self._error_event):
                if state.error_type is None:
                    caught = getattr(event, "exception", None)
                    state.error_type = error_type(caught) if isinstance(caught, BaseException) else UNKNOWN
                state.error_handled = True
                return
            state.handler = names
            _note_command(state, names, kwargs)
        except Exception:  # telemetry must never break the bot
            pass

    def _failed(
        self, span: trace.Span, state: UpdateState, names: HandlerNames, exc: BaseException, kwargs: Any
    ) -> str | None:
        try:
            note_escape(exc, span)
            kind = error_type(exc)
            span.record_exception(exc)
            errors.report(exc, "handler", recorded=True)
            span.set_attribute(ERROR_TYPE, kind)
            span.set_status(Status(StatusCode.ERROR, kind))
            if state.error_type is None:
                state.error_type = kind
            state.exception_recorded = True
            if state.handler is None:
                state.handler = names
                _note_command(state, names, kwargs)
            return kind
        except Exception:  # telemetry must never break the bot
            return None


def _note_command(state: UpdateState, names: HandlerNames, kwargs: Any) -> None:
    """The command the handler served: registered ones by name, anything else (a pattern) as ``other``."""
    command = getattr(kwargs.get("command"), "command", None)
    if isinstance(command, str):
        command = command.lower()
        state.command = command if command in names.commands else OTHER
