"""Span contexts read by index give what their properties give, and anything else is read by property."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

from crocotel import span_context
from crocotel.logs.context import hex_ids
from crocotel.protobuf import SpanEncoder
from crocotel.spans import LeanTracerProvider


def test_the_installed_api_is_read_by_index_and_agrees_with_its_properties() -> None:
    context = SpanContext(
        0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0x03), trace_state=TraceState([("a", "b")])
    )
    read = span_context.fields_of(context)
    assert read is context  # no tuple built: the context is its own fields
    by_index = (
        read[span_context.TRACE_ID],
        read[span_context.SPAN_ID],
        read[span_context.IS_REMOTE],
        read[span_context.FLAGS],
        read[span_context.STATE],
        read[span_context.VALID],
    )
    by_property = (
        context.trace_id,
        context.span_id,
        context.is_remote,
        context.trace_flags,
        context.trace_state,
        context.is_valid,
    )
    assert by_index == by_property
    assert span_context.fields_of(SpanContext(0, 0, is_remote=False))[span_context.VALID] is False


class _Shifted(SpanContext):
    """A subclass whose ids are not its tuple's: it must be read by its properties."""

    @property
    def trace_id(self) -> int:
        return 0x1111

    @property
    def span_id(self) -> int:
        return 0x2222


def test_a_subclass_is_read_by_its_properties() -> None:
    shifted = _Shifted(0x9, 0x8, is_remote=False, trace_flags=TraceFlags(1))
    assert span_context.fields_of(shifted)[: span_context.IS_REMOTE] == (0x1111, 0x2222)
    assert hex_ids(shifted) == (f"{0x1111:032x}", f"{0x2222:016x}")
    provider = LeanTracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("subclass")
    tracer.start_span("child", set_span_in_context(NonRecordingSpan(shifted))).end()
    [span] = exporter.get_finished_spans()
    assert span.context.trace_id == 0x1111  # the parent's trace, as its property says
    decoded: Any = ExportTraceServiceRequest.FromString(SpanEncoder().encode([span]))
    [sent] = decoded.resource_spans[0].scope_spans[0].spans
    assert sent.parent_span_id == (0x2222).to_bytes(8, "big")
    assert sent.trace_id == (0x1111).to_bytes(16, "big")


def test_the_bot_id_is_remembered_and_other_ids_are_not() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("ids")
    for update_id in range(100, 400):
        tracer.start_span(
            "u", attributes={"telegram.update.id": update_id, "telegram.bot.id": 123456789}
        ).end()
    encoder = SpanEncoder()
    encoder.encode(exporter.get_finished_spans())
    remembered = {key for key, _kind, _value in encoder.attributes._known if key.startswith("telegram.")}
    assert remembered == {"telegram.bot.id"}  # one entry, not 300 update ids
