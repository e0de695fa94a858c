"""Bot API calls made with plain aiohttp: what the distro adds to the aiohttp-client instrumentation.

The upstream instrumentation names every request span after its HTTP method
(``POST``). With the hooks here a request to ``/bot<token>/<method>`` gets the
method as span name and ``telegram.api.method``, its URL without the token
(``url_filter``), and counts in ``telegram.api.duration``. The request span
is the call's one CLIENT span, with the upstream HTTP attributes (stable
semconv, see the distro).

Long-poll ``getUpdates`` calls are mostly waiting; tracing each one buries
the spans that matter. Unless ``CROCOTEL_TRACE_GETUPDATES=true``, the tracer
handed to the instrumentation does not create their spans at all; a call that
fails still gets its span afterwards, with its real start time, and counts in
its metrics.

Requests made under a framework's Bot API span (aiogram, python-telegram-bot)
have their HTTP instrumentation suppressed by that span; these hooks leave
them alone too, so nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from crocotel.instrumentation._instruments import TelegramInstruments, instruments_for
from crocotel.instrumentation._vocabulary import (
    API_ERROR_CODE,
    API_METHOD,
    API_OUTCOME,
    ERROR_TYPE,
    Capped,
    error_type,
    method_of_path,
)

__all__ = ["INSTRUMENTATION_MARK", "BotApiHooks", "client_options"]

INSTRUMENTATION_MARK = "_is_instrumented_by_opentelemetry"
"""The attribute opentelemetry-instrumentation-aiohttp-client sets on the trace configs it adds."""

_URL_KEYS = ("url.full", "http.url")
_REMEMBERED_URLS = 512
_IN_FLIGHT_BOUND = 10_000
"""Bot API calls timed at once; past it the clocks are dropped (a hook's answer never came)."""
_UNSEEN = object()


def _is_poll(attributes: Attributes) -> bool:
    """Whether a client span's start attributes describe a getUpdates request."""
    if not attributes:
        return False
    for key in _URL_KEYS:
        url = attributes.get(key)
        if isinstance(url, str):
            path = url.partition("?")[0].rstrip("/")
            return path[path.rfind("/") + 1 :].lower() == "getupdates"
    return False


class _UntracedPoll(NonRecordingSpan):
    """A getUpdates request whose span was not created; keeps what a late span needs."""

    def __init__(
        self, tracer: trace.Tracer, context: context_api.Context | None, attributes: Attributes
    ) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.tracer = tracer
        self.parent = context
        self.start_attributes = dict(attributes or {})
        self.started_ns = time.time_ns()


class _PollSkippingTracer(trace.Tracer):
    """Delegates to the real tracer, except for getUpdates client spans, which it does not create."""

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        if kind is SpanKind.CLIENT and _is_poll(attributes):
            return _UntracedPoll(self._inner, context, attributes)
        return self._inner.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace.use_span(span, end_on_exit, record_exception, set_status_on_exception) as current:
            yield current


class _PollSkippingTracerProvider(trace.TracerProvider):
    """Hands out :class:`_PollSkippingTracer` around the global (or given) provider's tracers."""

    def __init__(self, inner: trace.TracerProvider | None = None) -> None:
        self._inner = inner

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        provider = self._inner if self._inner is not None else trace.get_tracer_provider()
        inner = provider.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        return _PollSkippingTracer(inner)


class BotApiHooks:
    """Hooks for opentelemetry-instrumentation-aiohttp-client: spans named, Bot API calls counted.

    ``request_hook`` names the span and starts the call's clock, ``response_hook`` (called
    for an answer and for a failure alike) notes the error code, counts and times the call
    and gives a failed poll its span. The upstream instrumentation calls both for every
    request it handles, spans sampled out or not created included, so the counts are right
    for those too; a request it leaves alone (suppressed under a framework's Bot API span,
    or excluded by ``OTEL_PYTHON_AIOHTTP_CLIENT_EXCLUDED_URLS``) is not counted here either.
    Counting in the hooks rather than in a trace config of crocotel's own spares aiohttp a
    second round of its seven request signals per call.
    """

    def __init__(self, instruments: TelegramInstruments | None = None) -> None:
        self._instruments = instruments
        self._methods = Capped(256)
        self._by_path: dict[str, str | None] = {}
        self._started: dict[int, tuple[str, float]] = {}  # id(span) -> (method, clock) while in flight

    @property
    def instruments(self) -> TelegramInstruments:
        if self._instruments is None:
            self._instruments = instruments_for()
        return self._instruments

    def method(self, url: Any) -> str | None:
        """The (capped) Bot API method of a request URL, else None.

        Asked twice per request (request and response hooks) for the same few paths: the
        answer is remembered per path instead of matching the pattern each time.
        """
        path = url.path
        known = self._by_path.get(path, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        method = method_of_path(path)
        capped = self._methods(method) if method is not None else None
        if len(self._by_path) >= _REMEMBERED_URLS:
            self._by_path.clear()
        self._by_path[path] = capped
        return capped

    def request_hook(self, span: Span, params: Any) -> None:
        """Name a Bot API request's span after its method and start its clock; never raises."""
        try:
            method = self.method(params.url)
            if method is None:
                return
            started = self._started
            if len(started) >= _IN_FLIGHT_BOUND:  # answers that never came (the request was dropped)
                started.clear()
            started[id(span)] = (method, time.perf_counter())
            if span.is_recording():
                span.update_name(method)
                span.set_attribute(API_METHOD, method)
        except Exception:  # telemetry must never break the request
            pass

    def response_hook(self, span: Span, params: Any) -> None:
        """Count and time a Bot API call, note a failure's error code, and give a failed poll its
        span; never raises."""
        try:
            call = self._started.pop(id(span), None)
            if call is None:
                return
            method, started = call
            response = getattr(params, "response", None)
            seconds = time.perf_counter() - started
            status: int | None = response.status if response is not None else None
            if status == 200:
                self.instruments.api_call(method, seconds, "ok")
                if span.is_recording():
                    span.set_attribute(API_OUTCOME, "ok")
                return
            if response is not None:  # as HTTP semconv says: the status code is the error type
                self.instruments.api_call(method, seconds, _outcome(status), status, str(status))
            else:
                exc = getattr(params, "exception", None)
                if isinstance(exc, BaseException) and not isinstance(exc, Exception):
                    self.instruments.api_call(method, seconds, "cancelled")
                else:
                    kind = error_type(exc) if isinstance(exc, BaseException) else "network"
                    self.instruments.api_call(method, seconds, "network_error", None, kind)
            if span.is_recording():
                span.set_attribute(API_OUTCOME, _outcome(status))
                if status is not None:
                    span.set_attribute(API_ERROR_CODE, status)
            if isinstance(span, _UntracedPoll):
                _late_poll_span(span, method, status, getattr(params, "exception", None))
        except Exception:  # telemetry must never break the request
            pass


def _late_poll_span(
    poll: _UntracedPoll, method: str, error_code: int | None, exc: BaseException | None
) -> None:
    """Create the span of a getUpdates request that failed, with its real start time."""
    attributes: dict[str, Any] = dict(poll.start_attributes)
    attributes[API_METHOD] = method
    attributes[API_OUTCOME] = _outcome(error_code)
    if error_code is not None:
        attributes[API_ERROR_CODE] = error_code
        attributes["http.response.status_code"] = error_code
        attributes[ERROR_TYPE] = str(error_code)
    if exc is not None:
        attributes[ERROR_TYPE] = error_type(exc)
    span = poll.tracer.start_span(
        method, poll.parent, SpanKind.CLIENT, attributes, start_time=poll.started_ns
    )
    span.set_status(Status(StatusCode.ERROR, str(error_code) if error_code is not None else "network error"))
    span.end()


def _outcome(status: int | None) -> str:
    """``error`` when Telegram answered with an error, ``network_error`` when it did not answer."""
    return "network_error" if status is None else "error"


def _remembered(url_filter: Callable[[Any], str]) -> Callable[[Any], str]:
    """``url_filter`` with its recent answers kept: a bot calls the same few URLs over and over."""
    remembered: dict[str, str] = {}

    def filtered(url: Any) -> str:
        text = str(url)
        found = remembered.get(text)
        if found is None:
            found = url_filter(text)
            if len(remembered) >= _REMEMBERED_URLS:
                remembered.clear()
            remembered[text] = found
        return found

    return filtered


def client_options(
    trace_getupdates: bool, url_filter: Callable[[Any], str] | None = None
) -> Mapping[str, Any]:
    """Keyword arguments for ``AioHttpClientInstrumentor().instrument()``."""
    hooks = BotApiHooks()
    if url_filter is not None:
        url_filter = _remembered(url_filter)
    options: dict[str, Any] = {
        "request_hook": hooks.request_hook,
        "response_hook": hooks.response_hook,
    }
    if url_filter is not None:
        options["url_filter"] = url_filter
    if not trace_getupdates:
        options["tracer_provider"] = _PollSkippingTracerProvider()
    return options
