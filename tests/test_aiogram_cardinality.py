"""Metric labels and span names stay bounded whatever users type: thousands of distinct commands and texts."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crocotel.testing import BotApiStandIn
from tests.telegram_support import (
    aiogram_traced,
    make_bot,
    make_dispatcher,
    message_update,
    tracing_into,
)

ALLOWED = {
    "telegram.update.type": {"message", "unknown"},
    "telegram.update.outcome": {"handled", "unhandled", "error"},
    "telegram.api.outcome": {"ok"},
    "error.type": {"ZeroDivisionError", "LookupError"},
    "telegram.handler": {
        f"make_dispatcher.{name}" for name in ("start", "echo", "fail", "oops", "on_lookup_error")
    },
    "telegram.router": {"test-commands"},
    "telegram.api.method": {"sendMessage", "getMe"},
}


@pytest.fixture
def telemetry() -> Iterator[tuple[InMemoryMetricReader, InMemorySpanExporter]]:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    with aiogram_traced(tracing_into(exporter), MeterProvider(metric_readers=[reader])):
        yield reader, exporter


def hostile_updates(count: int) -> list[dict[str, Any]]:
    """What a crowd of users (and a newer Bot API) can send: all distinct."""
    updates: list[dict[str, Any]] = []
    for i in range(count):
        salt = uuid.uuid4().hex[:8]
        kind = i % 6
        if kind == 0:
            text = f"/cmd{i}_{salt} arg"  # an unregistered command, new every time
        elif kind == 1:
            text = f"user text {i} {salt}"
        elif kind == 2:
            text = f"/Start payload{i}{salt}"  # a registered command, any case, any payload
        elif kind == 3:
            text = "/fail" if (i // 6) % 2 else "/oops"
        elif kind == 4:
            text = f"/{salt}{i}@some_other_bot"
        else:
            updates.append({"update_id": i + 1, f"future_type_{salt}": {"id": i}})  # unknown update type
            continue
        updates.append(message_update(i + 1, text))
    return updates


async def test_labels_and_span_names_stay_bounded(
    telemetry: tuple[InMemoryMetricReader, InMemorySpanExporter],
) -> None:
    reader, exporter = telemetry
    updates = hostile_updates(3000)
    async with BotApiStandIn() as standin:
        bot = make_bot(standin.url, standin.token)
        dispatcher = make_dispatcher()

        async def feed(raw: dict[str, Any]) -> None:
            with contextlib.suppress(ZeroDivisionError):
                await dispatcher.feed_raw_update(bot, raw)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # aiogram warns about the unknown update types
            for start in range(0, len(updates), 100):
                await asyncio.gather(*(feed(raw) for raw in updates[start : start + 100]))
        await bot.session.close()
        assert len(standin.sent) == 1000  # every echo and /start answered

    series = 0
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not metric.name.startswith("telegram."):
                    continue
                points = list(metric.data.data_points)
                assert len(points) <= 12, (metric.name, [p.attributes for p in points])
                series += len(points)
                for point in points:
                    for key, value in (point.attributes or {}).items():
                        assert value in ALLOWED[key], (metric.name, key, value)
    assert 10 <= series <= 60

    spans = exporter.get_finished_spans()
    assert len(spans) >= 3000
    names = {span.name for span in spans}
    handlers = {f"telegram.handler {name}" for name in ALLOWED["telegram.handler"]}
    expected = {"telegram.update message", "telegram.update unknown", "sendMessage", "getMe", *handlers}
    assert names <= expected, names
    commands = {span.attributes.get("telegram.command") for span in spans} - {None}
    assert commands == {"start", "fail", "oops"}
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "user text" not in str(value) and "cmd" not in str(value) and "payload" not in str(value)
