"""aiogram instrumentation: never hurts the bot, names handlers well, learns marked phones, undoes itself."""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from typing import Any

import pytest
from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.handlers import MessageHandler
from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpCounter, NoOpHistogram, NoOpMeter, NoOpUpDownCounter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crocotel.instrumentation._aiogram_names import names_of
from crocotel.instrumentation.aiogram import AiogramInstrumentor
from crocotel.redaction import Redactor
from crocotel.testing import BotApiStandIn
from tests.telegram_support import aiogram_traced, make_bot, make_dispatcher, message_update

RAISED: collections.Counter[str] = collections.Counter()
"""How often each broken part raised: proof the instrumentation really called it."""


class Boom(RuntimeError):
    """What broken telemetry raises (and counts in RAISED)."""

    def __init__(self, what: str) -> None:
        RAISED[what] += 1
        super().__init__(what)


class BrokenTracer(trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise Boom("tracer")

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        raise Boom("tracer")


class BrokenTracerProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return BrokenTracer()


class BrokenCounter(NoOpCounter):
    def add(self, *args: Any, **kwargs: Any) -> None:
        raise Boom("counter")


class BrokenUpDownCounter(NoOpUpDownCounter):
    def add(self, *args: Any, **kwargs: Any) -> None:
        raise Boom("up-down counter")


class BrokenHistogram(NoOpHistogram):
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise Boom("histogram")


class BrokenMeter(NoOpMeter):
    def create_counter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return BrokenCounter(name)

    def create_up_down_counter(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return BrokenUpDownCounter(name)

    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return BrokenHistogram(name)


class BrokenMeterProvider(metrics.MeterProvider):
    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> metrics.Meter:
        return BrokenMeter(name)


async def feed_all(texts: Sequence[str], standin: BotApiStandIn) -> list[str]:
    """Feed one update per text; returns what happened to each (``ok`` or the exception type)."""
    bot = make_bot(standin.url, standin.token)
    dispatcher = make_dispatcher()
    results = []
    for update_id, text in enumerate(texts, start=1):
        try:
            await dispatcher.feed_raw_update(bot, message_update(update_id, text))
            results.append("ok")
        except Exception as exc:
            results.append(type(exc).__name__)
    await bot.session.close()
    return results


@pytest.mark.parametrize("broken", ["tracer", "meter", "both"])
async def test_broken_telemetry_never_reaches_the_bot(broken: str) -> None:
    texts = ["/start", "hello", "/fail", "/oops"]
    async with BotApiStandIn() as standin:
        baseline = await feed_all(texts, standin)
        baseline_sent = [m["text"] for m in standin.sent]
    tracing = BrokenTracerProvider() if broken in ("tracer", "both") else TracerProvider()
    metering = BrokenMeterProvider() if broken in ("meter", "both") else metrics.NoOpMeterProvider()
    RAISED.clear()
    async with BotApiStandIn() as standin:
        with aiogram_traced(tracing, metering):
            results = await feed_all(texts, standin)
        sent = [m["text"] for m in standin.sent]
    assert baseline == ["ok", "ok", "ZeroDivisionError", "ok"]
    assert results == baseline and sent == baseline_sent == ["hi", "hello"]
    # the broken parts were really in the way: each update tried to start a span, or to record
    if broken != "meter":
        assert RAISED["tracer"] >= len(texts), RAISED
    if broken == "meter":
        assert RAISED["histogram"] + RAISED["counter"] + RAISED["up-down counter"] >= len(texts), RAISED


async def test_phone_numbers_telegram_marked_are_learnt() -> None:
    redactor = Redactor()
    text = "😀 ring 89161234567 please"  # the emoji takes two UTF-16 units: offsets count those
    entity = {"type": "phone_number", "offset": 8, "length": 11}
    assert redactor.text(f"log: {text}") == f"log: {text}"  # positive control: the rules miss it
    async with BotApiStandIn() as standin:
        bot = make_bot(standin.url, standin.token)
        dispatcher = make_dispatcher()
        with aiogram_traced(TracerProvider(), metrics.NoOpMeterProvider(), learn_phone=redactor.learn_phone):
            await dispatcher.feed_raw_update(bot, message_update(1, text, entities=[entity]))
        await bot.session.close()
        assert [m["text"] for m in standin.sent] == [text]  # the bot itself still sees the number
    assert redactor.text(f"log: {text}") == "log: 😀 ring [REDACTED:phone] please"


async def test_uninstrument_puts_aiogram_back() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with BotApiStandIn() as standin:
        with aiogram_traced(provider, metrics.NoOpMeterProvider()):
            await feed_all(["hello"], standin)
        traced = len(exporter.get_finished_spans())
        await feed_all(["hello"], standin)
    assert traced >= 3
    assert len(exporter.get_finished_spans()) == traced


class Greeter:
    async def greet(self, message: Any) -> None:
        """A bound method as a handler."""

    async def __call__(self, message: Any) -> None:
        """A callable instance as a handler."""


class EchoHandler(MessageHandler):
    async def handle(self) -> Any:
        return None


async def plain(message: Any, suffix: str) -> None:
    """A function as a handler."""


def handler_names(callback: Any, router: Router) -> tuple[str, str]:
    names = names_of(HandlerObject(callback=callback), router)
    return names.handler, names.router


def test_handlers_are_named_after_their_code() -> None:
    named = Router(name="admin")
    unnamed = Router()
    assert handler_names(plain, named) == ("plain", "admin")
    assert handler_names(plain, unnamed) == ("plain", __name__)  # never hex(id(router))
    assert handler_names(functools.partial(plain, suffix="!"), named)[0] == "plain"
    assert handler_names(Greeter().greet, named)[0] == "Greeter.greet"
    assert handler_names(Greeter(), named)[0] == "Greeter"
    assert handler_names(EchoHandler, named)[0] == "EchoHandler"

    def build() -> Any:
        async def on_text(message: Any) -> None:
            """Defined inside a function."""

        return on_text

    assert handler_names(build(), named)[0] == "test_handlers_are_named_after_their_code.build.on_text"


async def test_aiogram_session_carries_no_http_instrumentation_callbacks() -> None:
    """aiogram's calls are traced above the HTTP layer, so the session aiogram makes drops the
    trace configs the aiohttp-client instrumentation adds to every ClientSession (they would
    run six signals per request for nothing); other sessions keep them."""
    import aiohttp
    from aiogram.client.session.aiohttp import AiohttpSession
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    from crocotel.instrumentation import aiohttp_client

    http = AioHttpClientInstrumentor()
    http.instrument(**aiohttp_client.client_options(False))
    aiogram_instrumentor = AiogramInstrumentor()
    aiogram_instrumentor.instrument()
    try:
        aiogram_session = AiohttpSession()
        try:
            session = await aiogram_session.create_session()
            assert await aiogram_session.create_session() is session
            marked = [
                c for c in session._trace_configs if getattr(c, aiohttp_client.INSTRUMENTATION_MARK, False)
            ]
            assert marked == []
        finally:
            await aiogram_session.close()
        async with aiohttp.ClientSession() as other:
            assert len(other._trace_configs) == 1  # the upstream span config (crocotel counts in its hooks)
    finally:
        aiogram_instrumentor.uninstrument()
        http.uninstrument()
