"""The ``{method}`` CLIENT span around each aiogram Bot API call (``BaseSession.__call__``).

The span sits above aiogram's request middlewares and the HTTP request, so
the aiohttp-client span becomes its child. A failed call carries
``telegram.api.error_code``, ``telegram.api.description_class`` (a bounded
class of Telegram's description, such as ``bot_blocked``),
``telegram.api.retry_after`` and ``error.type``.

Long-poll ``getUpdates`` calls are not traced while they wait (unless
``CROCOTEL_TRACE_GETUPDATES=true``): the span is created afterwards, with its
real start time, only if the call delivered updates (the update spans link
to it) or failed (409 conflict, network errors); an empty poll leaves no
span, only its metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from crocotel.instrumentation._context import IN_API_CALL, DeliveredUpdates
from crocotel.instrumentation.botapi import GET_UPDATES, Capped, description_class
from crocotel.instrumentation.instruments import TelegramInstruments

__all__ = ["ApiTracer"]

_STATUS = "_crocotel_error_code"
_MAX_ANSWER_TYPES = 256
# Error codes by aiogram exception class, for answers whose status we did not see.
_CODES = {
    "TelegramBadRequest": 400,
    "TelegramMigrateToChat": 400,
    "TelegramUnauthorizedError": 401,
    "TelegramForbiddenError": 403,
    "TelegramNotFound": 404,
    "TelegramConflictError": 409,
    "TelegramEntityTooLarge": 413,
    "TelegramRetryAfter": 429,
    "TelegramServerError": 500,
    "RestartingTelegram": 500,
}


class _Failure:
    """What one failed call tells: outcome, code, retry_after and the class of its description."""

    __slots__ = ("code", "description", "error_type", "outcome", "retry_after")

    def __init__(self, exc: BaseException, network_error: type) -> None:
        self.error_type = type(exc).__qualname__
        self.code: int | None = None
        self.retry_after: int | None = None
        self.description = ""
        if isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
            self.outcome = "cancelled"
        elif isinstance(exc, network_error):
            self.outcome = "network_error"
        else:
            self.outcome = "error"
            code = getattr(exc, _STATUS, None)
            self.code = code if isinstance(code, int) else _CODES.get(type(exc).__name__)
            retry_after = getattr(exc, "retry_after", None)
            self.retry_after = retry_after if isinstance(retry_after, int) else None
            self.description = description_class(getattr(exc, "message", None))

    def annotate(self, span: trace.Span) -> None:
        """Put the failure on a span."""
        span.set_attribute("error.type", self.error_type)
        if self.code is not None:
            span.set_attribute("telegram.api.error_code", self.code)
        if self.description:
            span.set_attribute("telegram.api.description_class", self.description)
        if self.retry_after is not None:
            span.set_attribute("telegram.api.retry_after", self.retry_after)
        span.set_status(Status(StatusCode.ERROR, self.description or self.error_type))


class ApiTracer:
    """Wraps ``BaseSession.__call__`` (the span) and ``BaseSession.check_response`` (the status code)."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        delivered: DeliveredUpdates,
        trace_polls: bool,
        network_error: type,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._delivered = delivered
        self._trace_polls = trace_polls
        self._network_error = network_error
        self._methods = Capped(256)
        self._attributes: dict[str, dict[str, str]] = {}
        self._answer_types: set[type] = set()

    def check_response(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Keep the HTTP status on the exception aiogram raises for an error answer.

        It also keeps the class of each successful answer alive. aiogram
        parses answers with ``Response[T]``, a generic pydantic model that
        pydantic caches only weakly; when the garbage collector frees it, the
        next call builds it again (about a millisecond of schema work). The
        more a process allocates, the more often that happens, and telemetry
        allocates: without this, instrumenting a busy bot made aiogram rebuild
        ``Response[Message]`` for one reply in six. There is one class per
        result type, a few dozen at most.
        """
        try:
            response = wrapped(*args, **kwargs)
        except Exception as exc:
            status = kwargs.get("status_code", args[2] if len(args) > 2 else None)
            if isinstance(status, int):
                with contextlib.suppress(Exception):  # an exception type that takes no attributes
                    setattr(exc, _STATUS, status)
            raise
        answer_type = type(response)
        if answer_type not in self._answer_types and len(self._answer_types) < _MAX_ANSWER_TYPES:
            self._answer_types.add(answer_type)
        return response

    async def call(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        """Run one Bot API call inside its span; telemetry failures never reach the bot."""
        try:
            bot = args[0] if args else kwargs["bot"]
            method = self._methods(str((args[1] if len(args) > 1 else kwargs["method"]).__api_method__))
        except Exception:
            return await wrapped(*args, **kwargs)
        if method == GET_UPDATES and not self._trace_polls:
            return await self._untraced_poll(wrapped, args, kwargs, bot)
        try:
            attributes = self._attributes.get(method)
            if attributes is None:
                attributes = self._attributes[method] = {"telegram.api.method": method}
            span = self._tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attributes)
            token = context_api.attach(trace.set_span_in_context(span))
        except Exception:
            return await wrapped(*args, **kwargs)
        flag = IN_API_CALL.set(True)
        started = time.perf_counter()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._failed(method, started, exc, span)
            raise
        else:
            self._succeeded(method, started, bot, result, span)
            return result
        finally:
            IN_API_CALL.reset(flag)
            try:
                span.end()
            finally:
                context_api.detach(token)

    async def _untraced_poll(self, wrapped: Any, args: Any, kwargs: Any, bot: Any) -> Any:
        started_ns = time.time_ns()
        started = time.perf_counter()
        flag = IN_API_CALL.set(True)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self._failed(GET_UPDATES, started, exc, None, started_ns)
            raise
        finally:
            IN_API_CALL.reset(flag)
        self._succeeded(GET_UPDATES, started, bot, result, None, started_ns)
        return result

    def _late_span(self, started_ns: int) -> trace.Span:
        return self._tracer.start_span(
            GET_UPDATES,
            kind=SpanKind.CLIENT,
            attributes={"telegram.api.method": GET_UPDATES},
            start_time=started_ns,
        )

    def _succeeded(
        self,
        method: str,
        started: float,
        bot: Any,
        result: Any,
        span: trace.Span | None,
        started_ns: int = 0,
    ) -> None:
        try:
            self._instruments.api_call(method, time.perf_counter() - started, "ok")
            if method != GET_UPDATES or not result:
                return
            late = span is None
            if late:
                span = self._late_span(started_ns)
            assert span is not None
            span.set_attribute("telegram.updates.count", len(result))
            self._delivered.put(bot.id, [update.update_id for update in result], span.get_span_context())
            if late:
                span.end()
        except Exception:  # telemetry must never break the bot
            pass

    def _failed(
        self,
        method: str,
        started: float,
        exc: BaseException,
        span: trace.Span | None,
        started_ns: int = 0,
    ) -> None:
        try:
            failure = _Failure(exc, self._network_error)
            seconds = time.perf_counter() - started
            self._instruments.api_call(method, seconds, failure.outcome, failure.code, failure.retry_after)
            if failure.outcome == "cancelled":
                return  # polling stopped, a task cancelled: not an error of the call
            if method == GET_UPDATES:
                self._instruments.polling_error(failure.code)
            if span is None:
                late = self._late_span(started_ns)
                failure.annotate(late)
                late.end()
            else:
                failure.annotate(span)
        except Exception:  # telemetry must never break the bot
            pass
