"""crocotel's OTLP encoder against the SDK's: the same spans and log records decode to equal messages."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from crocotel import protobuf
from crocotel.protobuf import LogEncoder, SpanEncoder, encode_logs, encode_spans

VALUES = {
    "text": "sendMessage",
    "unicode": "привет 😀 ۰۹۱۲",
    "empty": "",
    "true": True,
    "false": False,
    "zero": 0,
    "one": 1,
    "negative": -42,
    "big": 2**62,
    "int64_min": -(2**63),
    "float": 0.25,
    "float_one": 1.0,
    "negative_float": -1e300,
    "strings": ("a", "b", ""),
    "ints": [1, -2, 300],
    "bools": (True, False),
    "floats": [0.5, 2.0],
    "empty_list": (),
    "long": "x" * 20000,
}


@pytest.fixture
def spans() -> Iterator[list[object]]:
    exporter = InMemorySpanExporter()
    resources = [
        Resource(
            {"service.name": "bot", "service.instance.id": "a1"}, "https://opentelemetry.io/schemas/1.26.0"
        ),
        Resource({"service.name": "other", "n": 3}),
    ]
    tracers = []
    for resource in resources:
        provider = TracerProvider(
            resource=resource, span_limits=SpanLimits(max_span_attributes=40, max_events=3)
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracers.append(provider.get_tracer("crocotel.test", "1.2", schema_url="https://example.com/s"))
        tracers.append(provider.get_tracer("other.lib"))
        tracers.append(provider.get_tracer("crocotel.test", "1.2", schema_url="https://example.com/s"))
    remote = SpanContext(
        0xABC,
        0xDEF,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("k", "v"), ("z", "1")]),
    )
    local = SpanContext(0x1234, 0x5678, is_remote=False)
    for n, tracer in enumerate(tracers):
        kind = list(SpanKind)[n % 5]
        with tracer.start_as_current_span(f"update {n}", kind=kind, attributes=VALUES) as parent:
            parent.add_event("first", {"a": 1, "b": "two"})
            parent.add_event("")
            child = tracer.start_span(
                "sendMessage", kind=SpanKind.CLIENT, links=[Link(remote, {"l": True}), Link(local)]
            )
            child.set_status(Status(StatusCode.ERROR, "Forbidden: bot was blocked by the user"))
            child.end()
            ok = tracer.start_span("", attributes={f"k{i}": i for i in range(60)})  # dropped attributes
            ok.set_status(Status(StatusCode.OK))
            for i in range(5):  # dropped events
                ok.add_event(f"e{i}")
            ok.end()
        remote_parent = trace.set_span_in_context(NonRecordingSpan(remote))
        tracer.start_span("from remote", context=remote_parent).end()
        token = context_api.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
        try:
            with tracer.start_as_current_span("current remote"):
                pass
        finally:
            context_api.detach(token)
    yield list(exporter.get_finished_spans())


def test_spans_decode_to_what_the_sdk_encodes(spans: list[object]) -> None:
    ours = ExportTraceServiceRequest.FromString(encode_spans(spans))  # type: ignore[arg-type]
    theirs = sdk_encode_spans(spans)  # type: ignore[arg-type]
    assert len(theirs.resource_spans) == 2
    assert ours == theirs


def test_remembered_encodings_do_not_mix_equal_values_of_other_types(spans: list[object]) -> None:
    """True == 1 == 1.0 in Python; their encodings differ, and the second batch reuses the first's."""
    encoder = SpanEncoder()
    first = encoder.encode(spans)  # type: ignore[arg-type]
    again = encoder.encode(spans)  # type: ignore[arg-type]
    assert ExportTraceServiceRequest.FromString(again) == ExportTraceServiceRequest.FromString(first)
    decoded = ExportTraceServiceRequest.FromString(again).resource_spans[0].scope_spans[0].spans
    update = next(span for span in decoded if span.name.startswith("update"))
    values = {kv.key: kv.value for kv in update.attributes}
    assert values["true"].WhichOneof("value") == "bool_value"
    assert values["one"].WhichOneof("value") == "int_value"
    assert values["float_one"].WhichOneof("value") == "double_value"


def test_identifiers_are_not_remembered_so_memory_stays_flat() -> None:
    """A small update id (a new bot, a test server) looks like a count; remembering every one
    filled the encoder's memory with values that never come again (seen in a soak)."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("soak")
    for update_id in range(1, 3001):
        attributes = {"telegram.update.id": update_id, "telegram.update.type": "message", "n": 3}
        tracer.start_span("telegram.update message", attributes=attributes).end()
    encoder = SpanEncoder()
    spans = exporter.get_finished_spans()
    decoded = ExportTraceServiceRequest.FromString(encoder.encode(spans))  # type: ignore[arg-type]
    assert decoded == sdk_encode_spans(spans)  # type: ignore[arg-type]
    assert len(encoder.attributes._known) < 10  # the update type and the count, not 3,000 ids


def test_values_otlp_cannot_carry_are_left_out() -> None:
    """The SDK's encoder skips them too (with an error log); the rest of the span arrives."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("t").start_span("s")
    span._attributes._dict.update({"fine": "yes", "huge": 2**70, "object": object()})  # type: ignore[attr-defined]
    span.end()
    decoded = ExportTraceServiceRequest.FromString(encode_spans(exporter.get_finished_spans()))
    assert [kv.key for kv in decoded.resource_spans[0].scope_spans[0].spans[0].attributes] == ["fine"]


def test_log_records_decode_to_what_the_sdk_encodes() -> None:
    exporter = InMemoryLogRecordExporter()
    for resource in (
        Resource({"service.name": "bot"}, "https://opentelemetry.io/schemas/1.26.0"),
        Resource({}),
    ):
        provider = LoggerProvider(resource=resource)
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        logger = provider.get_logger("aiohttp_bot", "0.1", schema_url="https://example.com/s")
        other = provider.get_logger("root")
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(0xAB, 0xCD, False, TraceFlags(1))))
        bodies = [
            "update 7 from chat 5000",
            "",
            None,
            {"nested": {"list": [1, "a"]}},
            ["x", 2],
            3,
            2.5,
            b"raw",
            True,
        ]
        for n, body in enumerate(bodies):
            (logger if n % 2 else other).emit(
                body=body,  # type: ignore[arg-type]
                severity_number=list(SeverityNumber)[n % len(SeverityNumber)],
                severity_text="INFO" if n % 3 else None,
                attributes={**VALUES, "code.line.number": n} if n % 2 else None,
                context=parent if n % 2 else None,
                event_name="telegram.update" if n == 3 else None,
                timestamp=1_700_000_000_000_000_000 + n if n % 4 else None,
            )
    batch = exporter.get_finished_logs()
    ours = ExportLogsServiceRequest.FromString(encode_logs(batch))
    theirs = sdk_encode_logs(batch)
    assert len(theirs.resource_logs) == 2
    assert ours == theirs
    encoder = LogEncoder()
    encoder.encode(batch)
    assert ExportLogsServiceRequest.FromString(encoder.encode(batch)) == theirs


def test_items_encoded_when_they_ended_join_a_batch_unchanged(spans: list[object]) -> None:
    """What the processors queue (each span written as it ended) makes the same request."""
    encoder = SpanEncoder()
    mixed = [encoder.item(span) if n % 2 else span for n, span in enumerate(spans)]
    assert ExportTraceServiceRequest.FromString(encoder.encode(mixed)) == sdk_encode_spans(spans)  # type: ignore[arg-type]


def test_queued_items_leave_the_garbage_collector_alone(
    spans: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue of encoded spans is not tracked after its first collection (never promoted and
    rescanned while it waits up to five seconds for its batch), and makes the same request
    when its encoder has run out of numbers for resource and scope pairs."""
    encoder = SpanEncoder()
    queued = [encoder.item(span) for span in spans]
    gc.collect()
    assert not any(gc.is_tracked(item) for item in queued)
    monkeypatch.setattr(protobuf, "_MAX_PAIRS", 0)
    full = SpanEncoder()
    overflowing = [full.item(span) for span in spans]
    expected = sdk_encode_spans(spans)  # type: ignore[arg-type]
    assert ExportTraceServiceRequest.FromString(full.encode(overflowing)) == expected
    assert ExportTraceServiceRequest.FromString(encoder.encode(queued)) == expected


def test_span_names_are_remembered_within_bounds() -> None:
    """A bot names its spans from a short list; a program that puts ids in names must not fill memory."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("names")
    encoder = SpanEncoder()
    for n in range(3000):
        tracer.start_span("sendMessage" if n % 2 else f"job {n}").end()
        tracer.start_span("é" * 300).end()  # too long to remember
    spans = exporter.get_finished_spans()
    decoded = ExportTraceServiceRequest.FromString(encoder.encode(spans))  # type: ignore[arg-type]
    assert decoded == sdk_encode_spans(spans)  # type: ignore[arg-type]
    assert len(encoder._names) <= 1024
    assert "é" * 300 not in encoder._names
    again = ExportTraceServiceRequest.FromString(encoder.encode(spans[-10:]))  # type: ignore[arg-type]
    assert again == sdk_encode_spans(spans[-10:])  # type: ignore[arg-type]
