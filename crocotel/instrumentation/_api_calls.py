"""One ``{method}`` CLIENT span per Bot API call, whatever library makes it (aiogram, python-telegram-bot).

The span carries the Bot API method and the HTTP attributes of the request
(stable semconv: ``http.request.method``, ``server.address``, ``server.port``,
``url.full`` with the token replaced, ``http.response.status_code``,
``error.type``), and the HTTP instrumentation below it (aiohttp-client,
httpx) is suppressed with OpenTelemetry's HTTP-suppression context key, as
botocore's instrumentation does: one call, one span, one metric record.

A failed call carries ``telegram.api.error_code``,
``telegram.api.description_class`` (a bounded class of Telegram's
description, such as ``bot_blocked``), ``telegram.api.retry_after`` and
``error.type``.

Long-poll ``getUpdates`` calls are not traced while they wait (unless
``trace_getupdates``): the span is created afterwards, with its real start
time, only if the call delivered updates (the update spans link to it) or
failed (409 conflict, network errors); an empty poll leaves no span, only
its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from crocotel.current import attach, current_context, detach
from crocotel.instrumentation._context import SPAN_KEY, SUPPRESS_HTTP, DeliveredUpdates, derive
from crocotel.instrumentation._instruments import TelegramInstruments
from crocotel.instrumentation._vocabulary import (
    API_ERROR_CODE,
    API_OUTCOME,
    API_RETRY_AFTER,
    ERROR_TYPE,
    GET_UPDATES,
    Capped,
    http_attributes,
)

__all__ = ["ApiCall", "ApiCalls", "Failure", "current_call"]

_MAX_URLS = 512


class Failure:
    """What one failed call tells: outcome, ``error.type``, code, retry_after, class of its description."""

    __slots__ = ("code", "description", "error_type", "outcome", "retry_after")

    def __init__(
        self,
        outcome: str,
        error_type: str,
        code: int | None = None,
        retry_after: float | None = None,
        description: str = "",
    ) -> None:
        self.outcome = outcome
        self.error_type = error_type
        self.code = code
        self.retry_after = retry_after
        self.description = description

    def annotate(self, span: trace.Span) -> None:
        """Put the failure on a span."""
        span.set_attribute(API_OUTCOME, self.outcome)
        span.set_attribute(ERROR_TYPE, self.error_type)
        if self.code is not None:
            span.set_attribute(API_ERROR_CODE, self.code)
            span.set_attribute("http.response.status_code", self.code)
        if self.description:
            span.set_attribute("telegram.api.description_class", self.description)
        if self.retry_after is not None:
            span.set_attribute(API_RETRY_AFTER, self.retry_after)
        span.set_status(Status(StatusCode.ERROR, self.description or self.error_type))


class ApiCall:
    """One Bot API call in flight: its span (None for an untraced poll) and what the HTTP layer saw."""

    __slots__ = ("attributes", "method", "span", "started", "started_ns", "status", "token")

    def __init__(self, method: str, attributes: dict[str, Any], span: trace.Span | None) -> None:
        self.method = method
        self.attributes = attributes
        self.span = span
        self.status: int | None = None
        self.started_ns = time.time_ns()
        self.started = time.perf_counter()
        self.token: Token[context_api.Context] | None = None


_CALL_KEY = context_api.create_key("crocotel-bot-api-call")


def current_call() -> ApiCall | None:
    """The call in flight, for the library's HTTP layer to report the status code into."""
    call = current_context().get(_CALL_KEY)
    return call if isinstance(call, ApiCall) else None


class ApiCalls:
    """Spans and metrics of Bot API calls; every public method is safe to call from a wrapper."""

    def __init__(
        self,
        tracer: trace.Tracer,
        instruments: TelegramInstruments,
        delivered: DeliveredUpdates,
        trace_polls: bool,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._delivered = delivered
        self._trace_polls = trace_polls
        self._methods = Capped(256)
        self._attributes: dict[tuple[str, str], dict[str, Any]] = {}

    def start(self, method: str, url: str) -> ApiCall:
        """Begin a call to ``url`` (token included; it never leaves this function).

        The call's context holds its span, the call itself and HTTP
        suppression: one context and one switch per call.
        """
        method = self._methods(method)
        key = (url, method)
        attributes = self._attributes.get(key)
        if attributes is None:
            if len(self._attributes) >= _MAX_URLS:
                self._attributes.clear()
            attributes = self._attributes[key] = http_attributes(url, method)
        parent = current_context()
        if method != GET_UPDATES or self._trace_polls:
            span = self._tracer.start_span(method, parent, SpanKind.CLIENT, attributes)
            call = ApiCall(method, attributes, span)
            values: dict[str, object] = {SPAN_KEY: span, SUPPRESS_HTTP: True, _CALL_KEY: call}
        else:
            call = ApiCall(method, attributes, None)
            values = {SUPPRESS_HTTP: True, _CALL_KEY: call}
        call.token = attach(derive(parent, values))
        return call

    def succeeded(self, call: ApiCall, bot_id: int | None = None, update_ids: Sequence[int] = ()) -> None:
        """The call returned; ``update_ids`` are what a getUpdates delivered."""
        try:
            self._instruments.api_call(call.method, time.perf_counter() - call.started, "ok")
            span = call.span
            if span is None and not update_ids:
                return  # an empty poll: no span
            if span is None:
                span = self._late_span(call)
            attributes: dict[str, Any] = {"http.response.status_code": call.status or 200, API_OUTCOME: "ok"}
            if update_ids:
                attributes["telegram.updates.count"] = len(update_ids)
            span.set_attributes(attributes)  # one call: the span locks per call
            if update_ids and bot_id is not None:
                self._delivered.put(bot_id, list(update_ids), span.get_span_context())
            if call.span is None:
                span.end()
        except Exception:  # telemetry must never break the bot
            pass

    def failed(self, call: ApiCall, failure: Failure) -> None:
        """The call raised."""
        try:
            if failure.code is None and call.status is not None and call.status >= 400:
                failure.code = call.status
            seconds = time.perf_counter() - call.started
            self._instruments.api_call(
                call.method,
                seconds,
                failure.outcome,
                failure.code,
                failure.error_type if failure.outcome != "cancelled" else None,
                failure.retry_after,
            )
            if failure.outcome == "cancelled":
                return  # polling stopped, a task cancelled: not an error of the call
            if call.span is None:
                late = self._late_span(call)
                failure.annotate(late)
                late.end()
            else:
                failure.annotate(call.span)
        except Exception:  # telemetry must never break the bot
            pass

    @staticmethod
    def close(call: ApiCall) -> None:
        """End the span and restore the context, whatever happens; then let go of the token.

        The call's context outlives the call: asyncio keeps a copy of the current context in
        every timer scheduled during the request (aiohttp's timeouts), and a cancelled timer
        stays in the loop until its time comes or the loop purges cancelled timers, a hundred
        or more at a time. Through the call, that copy held the token, and through the token
        the context before the call (the handler's span) and the task's whole context: a
        dozen objects per call that lived long enough for the garbage collector to move them
        to its oldest generation, bringing its full collections on sooner.
        """
        try:
            if call.span is not None:
                call.span.end()
        finally:
            token, call.token = call.token, None
            if token is not None:
                detach(token)  # logs instead of raising

    def _late_span(self, call: ApiCall) -> trace.Span:
        return self._tracer.start_span(
            call.method, kind=SpanKind.CLIENT, attributes=call.attributes, start_time=call.started_ns
        )
