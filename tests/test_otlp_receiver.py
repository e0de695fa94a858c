"""The OTLP receiver decodes what the real OTLP/HTTP exporters send."""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from crocotel.testing import OtlpReceiver
from crocotel.testing._otlp_decode import any_value

RESOURCE = Resource.create({"service.name": "receiver-test", "deployment.environment": "test"})


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def tracer_provider(exporter: OTLPSpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def one_span_request(name: str) -> bytes:
    span = Span(name=name, trace_id=bytes(range(16)), span_id=bytes(range(8)))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return bytes(request.SerializeToString())


def test_endpoint(receiver: OtlpReceiver) -> None:
    assert receiver.endpoint == f"http://127.0.0.1:{receiver.port}"


def test_spans_from_the_real_exporter(receiver: OtlpReceiver) -> None:
    provider = tracer_provider(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", timeout=5))
    tracer = provider.get_tracer("crocotel.test", "1.0")
    with tracer.start_as_current_span("telegram.update message", kind=SpanKind.CONSUMER) as parent:
        parent.set_attributes(
            {"telegram.update.id": 7, "ratio": 0.5, "flag": True, "tags": ["a", "b"], "name": "x"}
        )
        parent.add_event("retry", {"telegram.api.retry_after": 3})
        with tracer.start_as_current_span("sendMessage", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()

    assert receiver.wait_for(lambda r: len(r.spans()) == 2, timeout=10)
    child_span, parent_span = receiver.spans()  # children end first
    assert parent_span.name == "telegram.update message"
    assert parent_span.kind == Span.SPAN_KIND_CONSUMER
    assert parent_span.attributes == {
        "telegram.update.id": 7,
        "ratio": 0.5,
        "flag": True,
        "tags": ["a", "b"],
        "name": "x",
    }
    assert parent_span.events == [("retry", {"telegram.api.retry_after": 3})]
    assert parent_span.parent_span_id == ""
    assert parent_span.trace_id == format(parent.get_span_context().trace_id, "032x")
    assert parent_span.span_id == format(parent.get_span_context().span_id, "016x")
    assert parent_span.resource["service.name"] == "receiver-test"
    assert parent_span.scope == "crocotel.test"
    assert parent_span.duration_seconds >= 0
    assert child_span.parent_span_id == parent_span.span_id
    assert child_span.trace_id == parent_span.trace_id
    assert child_span.kind == Span.SPAN_KIND_CLIENT
    assert (child_span.status_code, child_span.status_message) == (2, "boom")


def test_gzip_from_the_real_exporter(receiver: OtlpReceiver) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.endpoint}/v1/traces", compression=Compression.Gzip, timeout=5
    )
    provider = tracer_provider(exporter)
    with provider.get_tracer("t").start_as_current_span("compressed"):
        pass
    provider.shutdown()
    assert [s.name for s in receiver.spans()] == ["compressed"]
    # raw bodies are kept decompressed, so a plain substring search works
    assert any(b"compressed" in body for body in receiver.raw_bodies())


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", lambda b: b)],
)
def test_content_encodings(receiver: OtlpReceiver, encoding: str, compress: object) -> None:
    assert callable(compress)
    body = compress(one_span_request(f"enc-{encoding}"))
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": encoding}
    assert post(f"{receiver.endpoint}/v1/traces", body, headers) == 200
    [span] = receiver.spans()
    assert span.name == f"enc-{encoding}"
    assert span.trace_id == bytes(range(16)).hex()


def test_rejects_bad_requests(receiver: OtlpReceiver) -> None:
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert post(f"{receiver.endpoint}/v1/other", b"", protobuf) == 404
    assert post(f"{receiver.endpoint}/v1/traces", b"{}", {"Content-Type": "application/json"}) == 415
    corrupt = {**protobuf, "Content-Encoding": "gzip"}
    assert post(f"{receiver.endpoint}/v1/traces", b"not gzip", corrupt) == 400
    assert post(f"{receiver.endpoint}/v1/traces", b"\xff\xff\xff", protobuf) == 400
    assert receiver.spans() == []
    assert [status for _, status in receiver.requests()] == [404, 415, 400, 400]


def test_logs_from_the_real_exporter(receiver: OtlpReceiver) -> None:
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{receiver.endpoint}/v1/logs", timeout=5))
    )
    otel_logger = logger_provider.get_logger("crocotel.test.logs")
    spans = TracerProvider(resource=RESOURCE)
    try:
        with spans.get_tracer("t").start_as_current_span("around") as span:
            otel_logger.emit(
                body="update 12 failed",
                severity_number=SeverityNumber.WARN,
                severity_text="WARNING",
                attributes={"telegram.update.type": "message"},
            )
        otel_logger.emit(body={"structured": [1, "two"]}, severity_number=SeverityNumber.INFO, event_name="e")
    finally:
        logger_provider.shutdown()
        spans.shutdown()

    assert receiver.wait_for(lambda r: len(r.logs()) == 2, timeout=10)
    inside, outside = receiver.logs()
    assert inside.body == "update 12 failed"
    assert (inside.severity_text, inside.severity_number) == ("WARNING", 13)
    assert inside.attributes == {"telegram.update.type": "message"}
    assert inside.trace_id == format(span.get_span_context().trace_id, "032x")
    assert inside.span_id == format(span.get_span_context().span_id, "016x")
    assert inside.resource["service.name"] == "receiver-test"
    assert inside.scope == "crocotel.test.logs"
    assert outside.body == {"structured": [1, "two"]}
    assert outside.event_name == "e"
    assert (outside.trace_id, outside.span_id) == ("", "")


def test_metrics_from_the_real_exporter(receiver: OtlpReceiver) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics", timeout=5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("crocotel.test")
    meter.create_counter("telegram.updates").add(2, {"update_type": "message"})
    meter.create_histogram("telegram.update.duration", unit="s").record(0.2, {"outcome": "handled"})
    meter.create_up_down_counter("telegram.updates.in_flight").add(-1)
    meter.create_gauge("temperature").set(1.5)
    provider.force_flush()
    provider.shutdown()

    assert receiver.wait_for(lambda r: len(r.metrics()) >= 4, timeout=10)
    by_name = {m.name: m for m in receiver.metrics()}
    updates = by_name["telegram.updates"]
    assert (updates.kind, updates.monotonic, updates.points) == (
        "sum",
        True,
        [({"update_type": "message"}, 2)],
    )
    assert updates.resource["service.name"] == "receiver-test"
    assert updates.scope == "crocotel.test"
    in_flight = by_name["telegram.updates.in_flight"]
    assert (in_flight.kind, in_flight.monotonic, in_flight.points) == ("sum", False, [({}, -1)])
    assert by_name["temperature"].points == [({}, 1.5)]
    duration = by_name["telegram.update.duration"]
    assert (duration.kind, duration.unit) == ("histogram", "s")
    [(attrs, value)] = duration.points
    assert attrs == {"outcome": "handled"}
    assert isinstance(value, dict)
    assert (value["count"], value["sum"], value["min"], value["max"]) == (1, 0.2, 0.2, 0.2)
    assert len(value["bucket_counts"]) == len(value["bounds"]) + 1
    assert sum(value["bucket_counts"]) == 1


def test_fail_with_until_recover(receiver: OtlpReceiver) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", timeout=1)
    provider = TracerProvider(resource=RESOURCE)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("lost") as lost:
        pass
    with tracer.start_as_current_span("kept") as kept:
        pass

    receiver.fail_with(400)  # not retryable: one attempt
    assert exporter.export([lost]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert receiver.requests() == [("/v1/traces", 400)]

    receiver.fail_with(503, retry_after=1)  # retryable: the exporter tries again within its timeout
    assert exporter.export([lost]) is SpanExportResult.FAILURE  # type: ignore[list-item]
    assert {status for _, status in receiver.requests()[1:]} == {503}
    assert receiver.spans() == []
    assert any(b"lost" in body for body in receiver.raw_bodies())  # it did leave the process

    receiver.recover()
    assert exporter.export([kept]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    assert [s.name for s in receiver.spans()] == ["kept"]
    exporter.shutdown()  # type: ignore[no-untyped-call]
    provider.shutdown()


def test_fail_with_needs_an_error_status(receiver: OtlpReceiver) -> None:
    with pytest.raises(ValueError):
        receiver.fail_with(200)


def test_concurrent_exports_are_all_kept(receiver: OtlpReceiver) -> None:
    headers = {"Content-Type": "application/x-protobuf"}
    statuses: list[int] = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        for i in range(5):
            status = post(f"{receiver.endpoint}/v1/traces", one_span_request(f"w{worker}-{i}"), headers)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert statuses == [200] * 40
    assert len({s.name for s in receiver.spans()}) == 40
    assert len(receiver.raw_bodies()) == 40


def test_wait_for_and_clear(receiver: OtlpReceiver) -> None:
    assert receiver.wait_for(lambda r: bool(r.spans()), timeout=0.1) is False
    timer = threading.Timer(
        0.2,
        post,
        args=(
            f"{receiver.endpoint}/v1/traces",
            one_span_request("late"),
            {"Content-Type": "application/x-protobuf"},
        ),
    )
    timer.start()
    try:
        assert receiver.wait_for(lambda r: [s.name for s in r.spans()] == ["late"], timeout=10)
    finally:
        timer.join(10)
    receiver.clear()
    assert (receiver.spans(), receiver.raw_bodies(), receiver.requests()) == ([], [], [])


def test_any_value_decoding() -> None:
    nested = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="list", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)]))),
                KeyValue(key="bytes", value=AnyValue(bytes_value=b"\x00")),
                KeyValue(key="empty", value=AnyValue()),
            ]
        )
    )
    assert any_value(nested) == {"list": [1], "bytes": b"\x00", "empty": None}


def test_stop_is_idempotent_and_start_once() -> None:
    receiver = OtlpReceiver()
    receiver.start()
    with pytest.raises(RuntimeError):
        receiver.start()
    receiver.stop()
    receiver.stop()


def test_a_client_gone_before_the_answer_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    """An exporter that gave up on a slow receiver (its timeout) closes the connection before the
    answer: that is the client's choice, not a receiver error, and a test's output stays clean."""
    import socket
    import struct

    entered, release = threading.Event(), threading.Event()
    handlers: list[threading.Thread] = []

    def slow(_path: str, _body: bytes) -> None:
        handlers.append(threading.current_thread())
        entered.set()
        release.wait(5)

    with OtlpReceiver(on_export=slow) as receiver:
        client = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
        client.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        )
        assert entered.wait(5)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close by reset
        client.close()
        release.set()
        handlers[0].join(5)  # the answer was written into the reset connection
        assert not handlers[0].is_alive()
        assert receiver.requests() == [("/v1/traces", 200)]
        err = capfd.readouterr().err
        assert "Traceback" not in err, err
        request = urllib.request.Request(
            f"{receiver.endpoint}/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # still serving
            assert answer.status == 200
