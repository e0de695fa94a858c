"""aiogram instrumentation: never hurts the bot, names handlers well, learns marked phones, undoes itself."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

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
from tests.telegram_support import make_bot, make_dispatcher, message_update


class Boom(RuntimeError):
    """What broken telemetry raises."""


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


@contextlib.contextmanager
def instrumented(tracer_provider: Any, meter_provider: Any, **options: Any) -> Iterator[None]:
    instrumentor = AiogramInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider, trace_getupdates=False, **options
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


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


async def test_broken_telemetry_never_reaches_the_bot() -> None:
    texts = ["/start", "hello", "/fail", "/oops"]
    async with BotApiStandIn() as standin:
        baseline = await feed_all(texts, standin)
        baseline_sent = [m["text"] for m in standin.sent]
    async with BotApiStandIn() as standin:
        with instrumented(BrokenTracerProvider(), BrokenMeterProvider()):
            results = await feed_all(texts, standin)
        sent = [m["text"] for m in standin.sent]
    assert baseline == ["ok", "ok", "ZeroDivisionError", "ok"]
    assert results == baseline and sent == baseline_sent == ["hi", "hello"]


async def test_phone_numbers_telegram_marked_are_learnt() -> None:
    redactor = Redactor()
    text = "😀 ring 89161234567 please"  # the emoji takes two UTF-16 units: offsets count those
    entity = {"type": "phone_number", "offset": 8, "length": 11}
    assert redactor.text(f"log: {text}") == f"log: {text}"  # positive control: the rules miss it
    async with BotApiStandIn() as standin:
        bot = make_bot(standin.url, standin.token)
        dispatcher = make_dispatcher()
        with instrumented(TracerProvider(), metrics.NoOpMeterProvider(), learn_phone=redactor.learn_phone):
            await dispatcher.feed_raw_update(bot, message_update(1, text, entities=[entity]))
        await bot.session.close()
        assert [m["text"] for m in standin.sent] == [text]  # the bot itself still sees the number
    assert redactor.text(f"log: {text}") == "log: 😀 ring [REDACTED:phone] please"


async def test_uninstrument_puts_aiogram_back() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with BotApiStandIn() as standin:
        with instrumented(provider, metrics.NoOpMeterProvider()):
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
