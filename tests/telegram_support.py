"""Helpers for the Telegram and aiogram tests: run a bot under crocotel, read span trees and metrics."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterable, Iterator
from typing import Any

import aiohttp

from crocotel.testing import BotApiStandIn, BotApiThread, OtlpReceiver
from crocotel.testing.otlp import ReceivedMetric, ReceivedSpan
from tests.support import base_env, instrumented

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_CONSUMER = 1, 2, 3, 5
STATUS_ERROR = 2


async def call(
    session: aiohttp.ClientSession, standin: BotApiStandIn, method: str, **params: Any
) -> tuple[int, Any]:
    """POST one Bot API method to the stand-in; returns the HTTP status and the JSON answer."""
    async with session.post(standin.method_url(method), json=params) as response:
        return response.status, await response.json()


def bot_env(api: BotApiThread, receiver: OtlpReceiver, updates: int, **extra: str) -> dict[str, str]:
    """Environment for a bot under crocotel: the stand-in, the receiver for every signal, fast exports."""
    settings = {
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.url,
        "MAX_UPDATES": str(updates),
        "POLL_TIMEOUT": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_SERVICE_NAME": "crocbot-test",
    }
    settings.update(extra)
    return base_env(**settings)


def run_bot(module: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    """Run ``python -m module`` under opentelemetry-instrument to its end; (status, stdout, stderr)."""
    proc = instrumented(["-m", module], env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"{module} did not exit within {timeout}s; stderr:\n{err[-4000:]}") from None
    return proc.returncode, out, err


class Trees:
    """Spans grouped by trace, with parent and child lookups."""

    def __init__(self, spans: Iterable[ReceivedSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {s.span_id: s for s in self.spans}

    def named(self, name: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str, **attributes: object) -> ReceivedSpan:
        """The single span with this name and these attributes."""
        found = [s for s in self.named(name) if all(s.attributes.get(k) == v for k, v in attributes.items())]
        assert len(found) == 1, (
            f"{len(found)} spans {name} {attributes}; have {sorted({s.name for s in self.spans})}"
        )
        return found[0]

    def children(self, span: ReceivedSpan, name: str | None = None) -> list[ReceivedSpan]:
        kids = [s for s in self.spans if s.parent_span_id == span.span_id and s.trace_id == span.trace_id]
        return [s for s in kids if name is None or s.name == name]

    def update(self, update_id: int) -> ReceivedSpan:
        found = [s for s in self.spans if s.attributes.get("telegram.update.id") == update_id]
        assert len(found) == 1, f"{len(found)} update spans for update {update_id}"
        return found[0]


def last_metric(receiver: OtlpReceiver, name: str) -> ReceivedMetric:
    """The latest export of one metric (cumulative, so it holds the totals)."""
    found = [m for m in receiver.metrics() if m.name == name]
    assert found, f"no metric {name}; have {sorted({m.name for m in receiver.metrics()})}"
    return found[-1]


def points(receiver: OtlpReceiver, name: str) -> dict[tuple[tuple[str, object], ...], object]:
    """Data points of one metric keyed by their sorted attributes."""
    return {tuple(sorted(attrs.items())): value for attrs, value in last_metric(receiver, name).points}


def count_of(value: object) -> float:
    """A counter's value, or a histogram's count."""
    if isinstance(value, dict):
        return float(value["count"])
    assert isinstance(value, (int, float))
    return float(value)


def make_dispatcher() -> Any:
    """A fresh aiogram dispatcher with a registered command, an echo, a failing command and an error handler.

    Built anew each time (an aiogram router can belong to one dispatcher only).
    """
    from aiogram import Dispatcher, F, Router
    from aiogram.filters import Command, CommandStart, ExceptionTypeFilter
    from aiogram.types import ErrorEvent, Message

    router = Router(name="test-commands")

    @router.message(CommandStart(ignore_case=True))
    async def start(message: Message) -> None:
        await message.answer("hi")

    @router.message(Command("fail"))
    async def fail(message: Message) -> None:
        raise ZeroDivisionError("nobody catches this")

    @router.message(Command("oops"))
    async def oops(message: Message) -> None:
        raise LookupError("the error handler catches this")

    @router.message(F.text & ~F.text.startswith("/"))
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    @router.error(ExceptionTypeFilter(LookupError))
    async def on_lookup_error(event: ErrorEvent) -> None:
        return None

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


def tracing_into(exporter: Any) -> Any:
    """An SDK tracer provider that hands every ended span to ``exporter`` at once."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@contextlib.contextmanager
def aiogram_traced(tracer_provider: Any, meter_provider: Any = None, **options: Any) -> Iterator[None]:
    """aiogram instrumented on these providers (no meters by default, polls untraced) for the block."""
    from opentelemetry import metrics

    from crocotel.instrumentation.aiogram import AiogramInstrumentor

    instrumentor = AiogramInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider if meter_provider is not None else metrics.NoOpMeterProvider(),
        trace_getupdates=False,
        **options,
    )
    try:
        yield
    finally:
        instrumentor.uninstrument()


def make_bot(api_url: str, token: str) -> Any:
    """An aiogram Bot talking to the stand-in at ``api_url``."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))


def message_update(update_id: int, text: str, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A raw message update from a private chat, with ``bot_command`` entities like Telegram adds."""
    from crocotel.testing._telegram_objects import command_entities

    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": 1001, "type": "private", "first_name": "Test"},
        "from": {"id": 1001, "is_bot": False, "first_name": "Test"},
        "text": text,
    }
    found = command_entities(text) if entities is None else entities
    if found:
        message["entities"] = found
    return {"update_id": update_id, "message": message}


def prometheus_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in a /metrics page; empty and otel_scope_* labels left out."""
    from prometheus_client.parser import text_string_to_metric_families

    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if v and not k.startswith("otel_scope_")}
            found.append((sample.name, labels, float(sample.value)))
    return found


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample called ``name`` whose labels are exactly ``labels``."""
    values = [v for n, found, v in prometheus_samples(text) if n == name and found == labels]
    assert len(values) == 1, f"{len(values)} samples {name}{labels}"
    return values[0]


def sticker(chat_id: int = 1001) -> dict[str, object]:
    """A message update with no text: crocbot has no handler for it."""
    return {
        "message": {
            "message_id": 900 + chat_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            "sticker": {
                "file_id": "sticker-file",
                "file_unique_id": "sticker-unique",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
        }
    }
