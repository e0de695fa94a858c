"""The bounded Bot API vocabulary, and the aiohttp hooks' behaviour on odd input."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yarl
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN, SpanKind

from crocotel.instrumentation._vocabulary import (
    OTHER,
    UPDATE_TYPES,
    Capped,
    description_class,
    error_type,
    http_attributes,
    method_of_path,
)
from crocotel.instrumentation.aiohttp_client import BotApiHooks, client_options
from crocotel.logs.fields import exception_type


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/bot123456789:AAE-secret/sendMessage", "sendMessage"),
        ("/bot123456789%3AAAE-secret/getUpdates", "getUpdates"),
        ("/prefix/bot42:x/getMe/", "getMe"),
        ("/bot123:abc/", None),
        ("/file/bot123:abc/photos/file_1.jpg", None),
        ("/api/v1/users", None),
        ("/bot123:abc/send Message", None),
    ],
)
def test_method_of_path(path: str, method: str | None) -> None:
    assert method_of_path(path) == method


def test_error_type_is_one_format_with_the_logs() -> None:
    from aiogram.exceptions import TelegramForbiddenError
    from telegram.error import RetryAfter

    for exc in (ZeroDivisionError(), TelegramForbiddenError(None, "no"), RetryAfter(3)):  # type: ignore[arg-type]
        assert error_type(exc) == exception_type(exc)  # what the log records say
    assert error_type(ZeroDivisionError()) == "ZeroDivisionError"
    assert error_type(RetryAfter(3)) == "telegram.error.RetryAfter"
    assert error_type(TelegramForbiddenError) == "aiogram.exceptions.TelegramForbiddenError"


def test_http_attributes_have_no_token() -> None:
    url = "https://api.telegram.org/bot123456789:AAE-secret-part/sendMessage"
    assert http_attributes(url, "sendMessage") == {
        "telegram.api.method": "sendMessage",
        "http.request.method": "POST",
        "url.full": "https://api.telegram.org/bot[REDACTED:bot_token]/sendMessage",
        "server.address": "api.telegram.org",
        "server.port": 443,
    }
    local = http_attributes("http://127.0.0.1:8081/prefix/bot1%3Ax/getMe?x=1", "getMe")
    assert local["url.full"] == "http://127.0.0.1:8081/prefix/bot[REDACTED:bot_token]/getMe"
    assert local["server.port"] == 8081


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "Conflict: terminated by other getUpdates request; make sure that only one bot ...",
            "polling_conflict",
        ),
        ("Forbidden: bot was blocked by the user", "bot_blocked"),
        ("Bad Request: chat not found", "chat_not_found"),
        ("Bad Request: message is not modified: specified new message content ...", "message_not_modified"),
        ("Too Many Requests: retry after 35", "too_many_requests"),
        ("Bad Request: something brand new about user 12345", OTHER),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_description_classes(description: str | None, expected: str) -> None:
    assert description_class(description) == expected


def test_update_types_are_the_fixed_list() -> None:
    assert len(UPDATE_TYPES) == 27 and "message" in UPDATE_TYPES and "callback_query" in UPDATE_TYPES


def test_capped_names_turn_into_other_past_the_limit() -> None:
    capped = Capped(2)
    assert [capped(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]


def test_hooks_never_raise_and_leave_other_requests_alone() -> None:
    hooks = BotApiHooks()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span("GET", kind=SpanKind.CLIENT)
    hooks.request_hook(span, SimpleNamespace(url=yarl.URL("http://example.com/api/v1/users")))
    hooks.request_hook(span, object())  # not aiohttp's params at all
    hooks.response_hook(span, object())
    hooks.response_hook(INVALID_SPAN, SimpleNamespace(url=None, response=None))
    span.end()
    assert exporter.get_finished_spans()[0].name == "GET"


def test_long_polls_get_no_span_and_others_do() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    options = client_options(trace_getupdates=False)
    wrapped = type(options["tracer_provider"])(provider).get_tracer("aiohttp")
    poll = wrapped.start_span(
        "POST", kind=SpanKind.CLIENT, attributes={"http.url": "http://x/bot1:a/getUpdates"}
    )
    send = wrapped.start_span(
        "POST", kind=SpanKind.CLIENT, attributes={"http.url": "http://x/bot1:a/sendMessage"}
    )
    assert not poll.is_recording() and send.is_recording()
    with wrapped.start_as_current_span("work") as current:
        assert current.is_recording()
    poll.end()
    send.end()
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["POST", "work"]
    assert "tracer_provider" not in client_options(trace_getupdates=True)


async def test_plain_aiohttp_calls_are_counted_once_each_with_their_outcome() -> None:
    """Through the upstream instrumentation's hooks: an answer, an error, a refused connection, a
    cancelled call, a call whose span is sampled out and a poll whose span is not made all count
    once, and a request made under a framework's Bot API span (HTTP suppressed) not at all."""
    import asyncio

    import aiohttp
    from opentelemetry import context as context_api
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from crocotel.instrumentation._context import SUPPRESS_HTTP
    from crocotel.instrumentation._instruments import instruments_for
    from crocotel.testing import BotApiThread

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    hooks = BotApiHooks(instruments_for(meters))
    exporter = InMemorySpanExporter()
    traced = TracerProvider()
    traced.add_span_processor(SimpleSpanProcessor(exporter))
    options = client_options(trace_getupdates=False)
    options = {**options, "request_hook": hooks.request_hook, "response_hook": hooks.response_hook}
    counts: dict[tuple[str, str, object], int] = {}
    with BotApiThread() as api:
        for provider in (traced, TracerProvider(sampler=ALWAYS_OFF)):
            instrumentor = AioHttpClientInstrumentor()
            tracing = {**options, "tracer_provider": type(options["tracer_provider"])(provider)}
            instrumentor.instrument(**tracing)
            try:
                api.fail_next("sendMessage", 400, "Bad Request: chat not found")
                api.delay_next("getChat", 5)
                async with aiohttp.ClientSession() as session:
                    for method in ("sendMessage", "sendMessage", "getUpdates"):
                        async with session.post(
                            api.method_url(method), json={"chat_id": 1, "text": "x"}
                        ) as r:
                            await r.read()
                    slow = asyncio.ensure_future(session.post(api.method_url("getChat"), json={}))
                    await asyncio.sleep(0.3)
                    slow.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await slow
                    token = context_api.attach(context_api.set_value(SUPPRESS_HTTP, True))
                    try:
                        async with session.post(api.method_url("getMe")) as r:
                            await r.read()
                    finally:
                        context_api.detach(token)
                with pytest.raises(aiohttp.ClientError):
                    async with aiohttp.ClientSession() as session:  # nothing listens there
                        await session.post(f"http://127.0.0.1:9/bot{api.token}/getMe")
            finally:
                instrumentor.uninstrument()
    data = reader.get_metrics_data()
    for metric in (m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics):
        if metric.name == "telegram.api.duration":
            for point in metric.data.data_points:
                a = point.attributes or {}
                key = (str(a["telegram.api.method"]), str(a["telegram.api.outcome"]), a.get("error.type"))
                counts[key] = point.count
    assert counts == {  # both passes: traced, then every span sampled out
        ("sendMessage", "ok", None): 2,
        ("sendMessage", "error", "400"): 2,
        ("getUpdates", "ok", None): 2,
        ("getChat", "cancelled", None): 2,
        ("getMe", "network_error", "aiohttp.client_exceptions.ClientConnectorError"): 2,
    }
    # traced: no span for the answered poll nor for the suppressed getMe; the refused one has its span
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["getChat", "getMe", "sendMessage", "sendMessage"]
