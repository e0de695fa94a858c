"""Every wrap crocotel makes is exact (a later patch still takes effect) and reversible (classes restored)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiogram.client.session.base import BaseSession
from aiogram.dispatcher.dispatcher import Dispatcher
from aiogram.dispatcher.event.handler import CallableObject, FilterObject, HandlerObject
from opentelemetry import metrics
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crocotel.instrumentation import aiohttp_client
from crocotel.instrumentation.aiogram import AiogramInstrumentor
from crocotel.instrumentation.wraps import Wraps, active_wraps
from crocotel.redaction.urls import url_filter
from crocotel.testing import BotApiStandIn
from tests.telegram_support import (
    aiogram_traced,
    make_bot,
    make_dispatcher,
    message_update,
    tracing_into,
)
from tests.wrap_support import ClassDicts, assert_patch_reaches


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def aiogram_instrumented(exporter: InMemorySpanExporter) -> Iterator[ClassDicts]:
    """aiogram instrumented into ``exporter``; yields the class snapshot taken before, checked after."""
    before = ClassDicts.of("aiogram")
    with aiogram_traced(tracing_into(exporter)):
        yield before


async def feed(text: str) -> list[str]:
    """One message through a fresh dispatcher against the stand-in; the replies the bot sent."""
    async with BotApiStandIn() as standin:
        bot = make_bot(standin.url, standin.token)
        try:
            await make_dispatcher().feed_raw_update(bot, message_update(1, text))
        finally:
            await bot.session.close()
        return [m["text"] for m in standin.sent]


def handler_spans(exporter: InMemorySpanExporter) -> list[str]:
    return [s.name for s in exporter.get_finished_spans() if s.name.startswith("telegram.handler")]


async def test_patching_callable_object_call_after_instrument_reaches_handlers(
    aiogram_instrumented: ClassDicts, exporter: InMemorySpanExporter
) -> None:
    own_before = dict(vars(CallableObject))
    seen: list[Any] = []
    original = CallableObject.__dict__["call"]

    async def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return await original(self, *args, **kwargs)

    assert dict(vars(CallableObject)) == own_before  # the base is left as it is; filters never meet us
    with mock.patch.object(CallableObject, "call", patched):
        assert await feed("/start") == ["hi"]
    assert any(isinstance(obj, HandlerObject) for obj in seen)  # the patch reached the handler
    assert any(isinstance(obj, FilterObject) for obj in seen)  # and the filters, as without us
    assert len(handler_spans(exporter)) == 1  # under our span: the handler looked the base up anew
    assert await feed("/start") == ["hi"]
    assert len(handler_spans(exporter)) == 2  # patch gone: the original again, still traced
    AiogramInstrumentor().uninstrument()
    assert "call" not in vars(HandlerObject)
    aiogram_instrumented.assert_unchanged()


def test_every_aiogram_wrap_is_exact_and_reversible(
    aiogram_instrumented: ClassDicts, exporter: InMemorySpanExporter
) -> None:
    targets = [
        (Dispatcher, "feed_update"),
        (HandlerObject, "call"),
        (BaseSession, "__call__"),
        (BaseSession, "check_response"),
    ]
    assert active_wraps() == sorted(
        [
            "aiogram.client.session.aiohttp.AiohttpSession.create_session",
            "aiogram.client.session.base.BaseSession.__call__",
            "aiogram.client.session.base.BaseSession.check_response",
            "aiogram.dispatcher.dispatcher.Dispatcher.feed_update",
            "aiogram.dispatcher.event.handler.HandlerObject.call (inherited from CallableObject)",
        ]
    )
    for cls, name in targets:
        assert_patch_reaches(cls, name, lambda: feed("/start"))
    spans = len(exporter.get_finished_spans())
    assert spans >= 3  # the instrumentation was live between the patches
    AiogramInstrumentor().uninstrument()
    assert active_wraps() == []
    aiogram_instrumented.assert_unchanged()


def test_aiohttp_client_wrap_is_exact_and_reversible() -> None:
    before = ClassDicts.of("aiohttp")
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(**aiohttp_client.client_options(False, url_filter))
    try:

        async def session() -> int:
            async with aiohttp.ClientSession() as client:
                return len(client.trace_configs)

        assert asyncio.run(session()) >= 1  # the Bot API hooks are in
        assert_patch_reaches(aiohttp.ClientSession, "__init__", session)
        assert asyncio.run(session()) >= 1
    finally:
        instrumentor.uninstrument()
    before.assert_unchanged()


class Base:
    def run(self) -> str:
        """What the base answers."""
        return "base"


class AsyncBase:
    async def call(self, value: int) -> int:
        return value * 2


class Wrapped(Base):
    pass


class Sibling(Base):
    pass


def shout(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> str:
    return str(wrapped(*args, **kwargs)).upper()


def test_a_base_class_wrap_applies_to_the_class_asked_for_only() -> None:
    original = vars(Base)["run"]
    wraps = Wraps()
    wraps.wrap(Wrapped, "run", shout)
    try:
        assert (Wrapped().run(), Sibling().run(), Base().run()) == ("BASE", "base", "base")
        assert vars(Base)["run"] is original  # the base and its other subclasses never meet us
        assert inspect.signature(Wrapped.run) == inspect.signature(original)
        assert Wrapped.run.__name__ == "run" and Wrapped.run.__doc__ == original.__doc__

        def patched(self: Base) -> str:  # a test or another library patching the base later
            return "patched"

        Base.run = patched  # type: ignore[method-assign]
        try:
            assert (Wrapped().run(), Sibling().run()) == ("PATCHED", "patched")  # still ours around it
        finally:
            Base.run = original  # type: ignore[method-assign]
    finally:
        wraps.undo()
    assert "run" not in vars(Wrapped) and vars(Base)["run"] is original and Wrapped().run() == "base"


def test_a_base_class_wrap_of_a_coroutine_reads_as_one_where_python_can_mark_it() -> None:
    class Handler(AsyncBase):
        pass

    wraps = Wraps()
    wraps.wrap(Handler, "call", lambda wrapped, instance, args, kwargs: wrapped(*args, **kwargs))
    try:
        assert asyncio.run(Handler().call(2)) == 4
        if hasattr(inspect, "markcoroutinefunction"):
            assert inspect.iscoroutinefunction(Handler.call)
    finally:
        wraps.undo()
    assert "call" not in vars(Handler)


def test_undo_leaves_a_later_replacement_alone_and_the_stale_wrapper_passes_through() -> None:
    original = vars(Base)["run"]
    wraps = Wraps()
    wraps.wrap(Base, "run", shout)
    ours = vars(Base)["run"]

    def theirs(self: Base) -> str:  # another library wrapping on top of ours
        return "theirs:" + ours(self)

    Base.run = theirs  # type: ignore[method-assign]
    try:
        assert Base().run() == "theirs:BASE"
        wraps.undo()
        assert vars(Base)["run"] is theirs  # not clobbered by our undo
        assert Base().run() == "theirs:base"  # and our wrapper inside it is now transparent
    finally:
        Base.run = original  # type: ignore[method-assign]


async def ptb_round(standin_url: str, token: str) -> list[str]:
    """One python-telegram-bot application: a command that replies, one that fails, a job; the replies."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CommandHandler, Job

    from tests.telegram_support import message_update

    replies: list[str] = []

    async def start(update: Any, context: Any) -> None:
        await update.message.reply_text("hi")

    async def fail(update: Any, context: Any) -> None:
        raise LookupError("handled by the error handler")

    async def on_error(update: Any, context: Any) -> None:
        replies.append(f"error {type(context.error).__name__}")

    async def job(context: Any) -> None:
        replies.append("job ran")

    app = ApplicationBuilder().token(token).base_url(f"{standin_url}/bot").updater(None).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("fail", fail))
    app.add_error_handler(on_error)
    async with app:
        for update_id, text in ((1, "/start"), (2, "/fail")):
            await app.process_update(Update.de_json(message_update(update_id, text), app.bot))
        await Job(job).run(app)
    return replies


def test_every_ptb_wrap_is_exact_and_reversible() -> None:
    from telegram.ext import Application, BaseHandler, Job
    from telegram.request import BaseRequest, HTTPXRequest

    from crocotel.instrumentation.python_telegram_bot import PythonTelegramBotInstrumentor

    before = ClassDicts.of("telegram")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = PythonTelegramBotInstrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=metrics.NoOpMeterProvider())

    async def invoke() -> None:
        async with BotApiStandIn() as standin:
            assert await ptb_round(standin.url, standin.token) == ["error LookupError", "job ran"]
            assert [m["text"] for m in standin.sent] == ["hi"]

    try:
        targets = [
            (Application, "process_update"),
            (Application, "process_error"),
            (BaseHandler, "handle_update"),
            (Job, "run"),
            (BaseRequest, "post"),
            (HTTPXRequest, "do_request"),
        ]
        for cls, name in targets:
            assert_patch_reaches(cls, name, invoke)
        names = {s.name for s in exporter.get_finished_spans()}
        assert {"telegram.update message", "sendMessage"} <= names, names  # live between the patches
    finally:
        instrumentor.uninstrument()
    before.assert_unchanged()
