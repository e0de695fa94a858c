"""The python-telegram-bot wrappers: updates, handlers, jobs, errors and Bot API calls.

- ``Application.process_update``: the ``telegram.update {type}`` span (``_updates``),
  for polling and webhooks alike (both feed the update queue).
- ``BaseHandler.handle_update``: the ``telegram.handler {name}`` span around the
  handler whose check passed, named after its callback's code.
- ``Application.process_error``: whether an error handler took the exception,
  and the failure of a job.
- ``Job.run``: the ``telegram.job {name}`` span, the root of a trace of its own.
- ``BaseRequest.post``: the ``{method}`` CLIENT span per Bot API call
  (``_api_calls``), httpx's instrumentation suppressed below it;
  ``HTTPXRequest.do_request`` tells the HTTP status.

python-telegram-bot catches handler exceptions in ``process_update`` and
hands them to ``process_error``, so the outcome comes from what the handler
span saw, not from an exception leaving ``process_update``.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from crocotel import errors
from crocotel.escapes import note_escape
from crocotel.instrumentation._api_calls import ApiCalls, Failure, current_call
from crocotel.instrumentation._instruments import TelegramInstruments
from crocotel.instrumentation._updates import (
    ROOT,
    HandlerNames,
    UpdateSpans,
    close_span,
    current_update,
    enter_span,
    handler_names,
)
from crocotel.instrumentation._vocabulary import (
    ERROR_TYPE,
    GET_UPDATES,
    OTHER,
    UNKNOWN,
    UPDATE_TYPES,
    Capped,
    callback_names,
    description_class,
    error_type,
    method_of_path,
)

__all__ = ["PtbTracer"]

# The common update types first: the type is the first of these the Update has.
_FIRST = ("message", "callback_query", "edited_message", "inline_query", "channel_post", "my_chat_member")
_ORDER = (*_FIRST, *sorted(UPDATE_TYPES - set(_FIRST)))
_MAX_NAMED = 1024

_JOB: ContextVar[trace.Span | None] = ContextVar("crocotel_telegram_job", default=None)


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, (int, float)) else None


class PtbTracer:
    """The wrappers, sharing one tracer, one set of instruments and the delivered-update links."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        updates: UpdateSpans,
        calls: ApiCalls,
        errors: Any,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._updates = updates
        self._calls = calls
        self._errors = errors  # the telegram.error module
        self._handler_names = Capped(512)
        self._routers = Capped(128)
        self._jobs = Capped(128)
        self._named: dict[int, tuple[Any, HandlerNames]] = {}

    # -- updates -------------------------------------------------------------

    async def process_update(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Run ``process_update`` inside the update's span; telemetry failures never reach the bot."""
        try:
            update = args[0] if args else kwargs["update"]
            scope = self._begin(instance, update)
        except Exception:
            scope = None
        if scope is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._updates.end(scope, exc, True)
            raise
        self._updates.end(scope, None, True)
        return result

    def _begin(self, application: Any, update: Any) -> Any:
        update_id = getattr(update, "update_id", None)
        if not isinstance(update_id, int):
            return None  # an object put on the queue by the app itself, not a Telegram update
        update_type, event = UNKNOWN, None
        for name in _ORDER:
            event = getattr(update, name, None)
            if event is not None:
                update_type = name
                break
        token = getattr(application.bot, "token", "")
        bot_id = int(token.partition(":")[0]) if token[:1].isdigit() else 0
        return self._updates.begin(bot_id, update_id, update_type, event)

    # -- handlers ------------------------------------------------------------

    def _names(self, handler: Any) -> HandlerNames:
        known = self._named.get(id(handler))
        if known is not None and known[0] is handler:
            return known[1]
        qualname, module = callback_names(handler.callback)
        commands = getattr(handler, "commands", None)
        names = handler_names(
            self._handler_names(qualname),
            module,
            self._routers(module),
            frozenset(c.lower() for c in commands if isinstance(c, str)) if commands else frozenset(),
        )
        if len(self._named) >= _MAX_NAMED:
            self._named.clear()
        self._named[id(handler)] = (handler, names)
        return names

    async def handle_update(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Run the handler inside its span; telemetry failures never reach the bot."""
        state = current_update()
        if state is None:  # a handler called outside process_update
            return await wrapped(*args, **kwargs)
        try:
            names = self._names(instance)
            span = self._tracer.start_span(names.span_name, attributes=names.span_attributes)
            token = enter_span(span)
        except Exception:
            return await wrapped(*args, **kwargs)
        started = time.perf_counter()
        failed: str | None = None
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            failed = self._failed(span, state, names, exc, args, kwargs)
            raise
        else:
            with contextlib.suppress(Exception):
                self._ran(state, names, args, kwargs)
            return result
        finally:
            with contextlib.suppress(Exception):  # recorded while the span is current: its exemplar
                seconds = time.perf_counter() - started
                self._instruments.handler(names.handler, names.router, seconds, failed)
            close_span(span, token)

    def _ran(self, state: Any, names: HandlerNames, args: Any, kwargs: Any) -> None:
        state.handler = names
        if names.commands:
            update = args[0] if args else kwargs.get("update")
            text = getattr(getattr(update, "effective_message", None), "text", None)
            if isinstance(text, str) and text.startswith("/"):
                command = text.split(maxsplit=1)[0][1:].partition("@")[0].lower()
                state.command = command if command in names.commands else OTHER

    def _failed(
        self, span: trace.Span, state: Any, names: HandlerNames, exc: BaseException, args: Any, kwargs: Any
    ) -> str | None:
        try:
            if type(exc).__name__ == "ApplicationHandlerStop":  # flow control, not a failure
                self._ran(state, names, args, kwargs)
                return None
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
                self._ran(state, names, args, kwargs)
            return kind
        except Exception:  # telemetry must never break the bot
            return None

    async def process_error(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Note that an error handler took the update's exception, or that a job failed."""
        with contextlib.suppress(Exception):
            state = current_update()
            if state is not None and instance.error_handlers:
                state.error_handled = True
            job_span = _JOB.get()
            error = args[1] if len(args) > 1 else kwargs.get("error")
            if job_span is not None and isinstance(error, BaseException):
                note_escape(error, job_span)
                kind = error_type(error)
                job_span.record_exception(error)
                errors.report(error, "job", recorded=True)
                job_span.set_attribute(ERROR_TYPE, kind)
                job_span.set_status(Status(StatusCode.ERROR, kind))
        return await wrapped(*args, **kwargs)

    # -- jobs ----------------------------------------------------------------

    async def run_job(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Run a job-queue job as the root span of a trace of its own."""
        try:
            qualname, module = callback_names(instance.callback)
            name = self._jobs(qualname)
            span = self._tracer.start_span(
                f"telegram.job {name}",
                ROOT,
                attributes={"telegram.job": name, "code.function.name": f"{module}.{qualname}"},
            )
            token = enter_span(span)
            job_token = _JOB.set(span)
        except Exception:
            return await wrapped(*args, **kwargs)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            with contextlib.suppress(ValueError):
                _JOB.reset(job_token)
            close_span(span, token)

    # -- Bot API calls -------------------------------------------------------

    async def post(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Run one Bot API call inside its span; telemetry failures never reach the bot."""
        try:
            url = str(args[0] if args else kwargs["url"])
            # a URL without a method (tests, odd base URLs) still names its span
            method = method_of_path(url.partition("?")[0]) or url.rstrip("/").rsplit("/", 1)[-1] or UNKNOWN
            call = self._calls.start(method, url)
        except Exception:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._calls.failed(call, self._failure(exc, call.status))
            raise
        else:
            if call.method == GET_UPDATES and isinstance(result, list) and result:
                with contextlib.suppress(Exception):
                    bot_id = int(url.rpartition("/bot")[2].partition(":")[0])
                    self._calls.succeeded(call, bot_id, [int(u["update_id"]) for u in result])
            else:
                self._calls.succeeded(call)
            return result
        finally:
            self._calls.close(call)

    async def do_request(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Note the HTTP status of the answer for the call's span."""
        result = await wrapped(*args, **kwargs)
        with contextlib.suppress(Exception):
            call = current_call()
            if call is not None:
                call.status = int(result[0])
        return result

    def _failure(self, exc: BaseException, status: int | None) -> Failure:
        """What a python-telegram-bot exception out of ``BaseRequest.post`` says about the call."""
        kind = error_type(exc)
        errors = self._errors
        if not isinstance(exc, Exception):
            return Failure("cancelled", kind)
        description = description_class(getattr(exc, "message", None))
        if isinstance(exc, errors.RetryAfter):
            retry_after = _seconds(getattr(exc, "_retry_after", None))  # read without the deprecation warning
            if retry_after is None:
                retry_after = _seconds(getattr(exc, "retry_after", None))
            return Failure("error", kind, 429, retry_after, "too_many_requests")
        codes = (
            (errors.Conflict, 409),
            (errors.Forbidden, 403),
            (errors.BadRequest, 400),
            (errors.InvalidToken, 401),
            (errors.EndPointNotFound, 404),
            (errors.ChatMigrated, 400),
        )
        for cls, code in codes:
            if isinstance(exc, cls):
                return Failure("error", kind, status if status and status >= 400 else code, None, description)
        if status is not None and status >= 400:
            return Failure("error", kind, status, None, description)
        return Failure("network_error", kind)  # NetworkError, TimedOut, anything without an answer
