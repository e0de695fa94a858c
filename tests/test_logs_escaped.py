"""A log line about an exception written after its span ended still leads to its trace.

aiogram logs "Cause exception while process update" once ``feed_update`` has returned, so
after the update's span closed: without :mod:`crocotel.escapes` the line an operator finds
first would carry no trace id.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as LogRecordMessage
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN
from opentelemetry.trace import format_span_id as span_hex
from opentelemetry.trace import format_trace_id as trace_hex

from crocotel.escapes import escaped_from, note_escape
from crocotel.logs.records import prepare
from tests.logs_support import isolated, tracer
from tests.telegram_support import (
    aiogram_traced,
    make_bot,
    make_dispatcher,
    message_update,
    tracing_into,
)
from tests.test_logs_bridged import Recording, provider

TOKEN = "123456789:AAH4fMGyzxSSeqwVHhGLQTkfNtJGBmCDEJc"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """aiogram instrumented into an in-memory exporter for the test."""
    spans = InMemorySpanExporter()
    with aiogram_traced(tracing_into(spans)):
        yield spans


async def process(text: str) -> None:
    """One update through aiogram's own ``_process_update``, the path polling takes, which logs
    an unhandled exception itself after ``feed_update`` returned."""
    from aiogram.types import Update

    bot = make_bot("http://127.0.0.1:9", TOKEN)
    try:
        update = Update.model_validate(message_update(1, text), context={"bot": bot})
        await make_dispatcher()._process_update(bot, update)
    finally:
        await bot.session.close()


@isolated
def test_aiograms_own_line_about_an_unhandled_exception_carries_the_update_trace(
    exporter: InMemorySpanExporter,
) -> None:
    recording, stream = Recording(), io.StringIO()
    provider(recording, stream)
    asyncio.run(process("/fail"))
    update = next(s for s in exporter.get_finished_spans() if s.name.startswith("telegram.update"))
    handler = next(s for s in exporter.get_finished_spans() if s.name.startswith("telegram.handler"))
    assert update.context is not None and handler.context is not None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    cause = next(line for line in lines if line["message"].startswith("Cause exception while process update"))
    assert cause["trace_id"] == trace_hex(update.context.trace_id)
    assert cause["span_id"] == span_hex(handler.context.span_id)  # the innermost span it left
    exported = [recording.encoder.unqueued(item) for item in recording.queued]
    assert exported, "nothing reached the OTLP processor"
    messages = [LogRecordMessage.FromString(payload) for _, _, payload in exported]
    otlp = next(m for m in messages if m.body.string_value.startswith("Cause exception while process update"))
    assert otlp.trace_id == update.context.trace_id.to_bytes(16, "big")
    assert otlp.span_id == handler.context.span_id.to_bytes(8, "big")


def failed_in(span: Any) -> BaseException:
    try:
        with span:
            raise KeyError("lost")
    except KeyError as exc:
        return exc


@isolated
def test_a_record_takes_the_escaped_span_only_when_none_is_current() -> None:
    inner, outer = tracer().start_span("handler"), tracer().start_span("update")
    exc = failed_in(inner)
    note_escape(exc, inner)
    note_escape(exc, outer)  # the innermost note stays
    note_escape(exc, INVALID_SPAN)
    assert escaped_from(exc) == inner.get_span_context()
    assert escaped_from((KeyError, exc, None)) == inner.get_span_context()
    assert escaped_from(None) is None and escaped_from((None, None, None)) is None

    record = logging.LogRecord(
        "aiogram.event", logging.ERROR, __file__, 1, "failed", None, (KeyError, exc, None)
    )
    record.otelTraceID, record.otelSpanID, record.otelTraceSampled = (
        "0",
        "0",
        False,
    )  # the logging instrumentation's
    state = prepare(record)
    context = inner.get_span_context()
    assert (state.trace_id, state.span_id) == (trace_hex(context.trace_id), span_hex(context.span_id))
    assert (record.otelTraceID, record.otelSpanID) == (state.trace_id, state.span_id)
    assert record.otelTraceSampled is True

    current = tracer().start_span("another update")
    with trace.use_span(current, end_on_exit=True):
        during = logging.LogRecord("app", logging.ERROR, __file__, 1, "later", None, (KeyError, exc, None))
        assert prepare(during).trace_id == trace_hex(
            current.get_span_context().trace_id
        )  # a current span wins

    plain = logging.LogRecord(
        "app", logging.ERROR, __file__, 1, "other", None, (ValueError, ValueError(), None)
    )
    assert prepare(plain).trace_id == ""


def test_the_exception_itself_is_left_as_it_was() -> None:
    span = tracer().start_span("handler")
    exc = failed_in(span)
    before = dict(vars(exc))
    note_escape(exc, span)
    assert dict(vars(exc)) == before
    assert type(pickle.loads(pickle.dumps(exc))) is KeyError
