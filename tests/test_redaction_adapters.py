"""The redaction adapters on real SDK pipelines: spans, log records, metrics, URLs.

Every test plants a bot token and phone numbers, checks that no exported byte
holds them, and checks that positive-control strings did arrive, so a test
cannot pass by exporting nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import yarl
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import DropAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, Status, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric as PromMetric
from prometheus_client.samples import Exemplar as PromExemplar

from crocotel.redaction import Redactor
from crocotel.redaction.logs import RedactingLogExporter
from crocotel.redaction.metrics import RedactingCollector, RedactingMetricExporter, redact_families
from crocotel.redaction.policy import Redaction
from crocotel.redaction.spans import RedactingSpanExporter
from crocotel.redaction.urls import url_filter

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
SECRETS = ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_", "916 123-45-67", "9161234567", "7946 0958", "hunter2")
PHONE = "+7 916 123-45-67"
PHONE2 = "+44 20 7946 0958"
CONTROL = "control-7f3a"  # must survive everywhere


def assert_clean(dump: str) -> None:
    for secret in SECRETS:
        assert secret not in dump, secret


def resource() -> Resource:
    return Resource({"service.name": f"bot-{CONTROL}", "deploy.note": f"owner {PHONE2}"})


# -- spans ---------------------------------------------------------------------


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, Redactor]]:
    memory = InMemorySpanExporter()
    redactor = Redactor()
    provider = TracerProvider(resource=resource())
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(memory, redactor)))
    yield provider, memory, redactor
    provider.shutdown()


def test_spans_are_exported_redacted(traced: tuple[TracerProvider, InMemorySpanExporter, Redactor]) -> None:
    provider, memory, redactor = traced
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("linked") as linked:
        pass
    with tracer.start_as_current_span(
        f"sendMessage to {PHONE}",
        attributes={
            "url.full": f"https://api.telegram.org/bot{TOKEN}/sendMessage?chat_id=1",
            "http.target": f"/bot{TOKEN}/getMe",
            "telegram.note": f"{CONTROL} call {PHONE}",
            "api_key": "hunter2",
            "telegram.update.id": 123456789,
            "tags": (CONTROL, PHONE2),
        },
        links=[Link(linked.get_span_context(), {"why": f"same user {PHONE}"})],
    ) as span:
        span.add_event(f"retry {PHONE2}", {"detail": f"token {TOKEN}", "control": CONTROL})
        try:
            raise ValueError(f"bad token {TOKEN} for {PHONE}")
        except ValueError as exc:
            span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"failed for {PHONE}"))

    spans = memory.get_finished_spans()
    assert len(spans) == 2
    exported = spans[1]
    dump = exported.to_json()
    assert_clean(dump)
    assert CONTROL in dump
    assert exported.name == "sendMessage to [REDACTED:phone]"
    attrs = exported.attributes or {}
    assert attrs["url.full"] == "https://api.telegram.org/bot[REDACTED:bot_token]/sendMessage?chat_id=1"
    assert attrs["api_key"] == "[REDACTED:secret]"
    assert attrs["telegram.update.id"] == 123456789
    assert attrs["tags"] == (CONTROL, "[REDACTED:phone]")
    assert exported.events[0].name == "retry [REDACTED:phone]"
    exception = exported.events[1].attributes or {}
    assert "[REDACTED:bot_token]" in str(exception["exception.message"])
    assert "[REDACTED:bot_token]" in str(exception["exception.stacktrace"])
    assert "ValueError" in str(exception["exception.stacktrace"])
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.status.description == "failed for [REDACTED:phone]"
    assert (exported.links[0].attributes or {})["why"] == "same user [REDACTED:phone]"
    assert exported.resource.attributes["deploy.note"] == "owner [REDACTED:phone]"
    assert exported.context == spans[1].context and exported.parent is None
    counts = redactor.counts()
    assert counts[("bot_token", "traces")] >= 4 and counts[("phone", "traces")] >= 5


def test_clean_spans_pass_through_without_copy() -> None:
    captured: list[ReadableSpan] = []

    class Capture(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            captured.extend(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource({"service.name": "clean"}))
    wrapper = RedactingSpanExporter(Capture(), Redactor())
    original: list[ReadableSpan] = []

    class Tee(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            original.extend(spans)
            return wrapper.export(spans)

    provider.add_span_processor(SimpleSpanProcessor(Tee()))
    with provider.get_tracer("t").start_as_current_span("getUpdates", attributes={"n": 1}):
        pass
    provider.shutdown()
    assert captured and captured[0] is original[0]


def test_span_that_cannot_be_redacted_is_dropped() -> None:
    memory = InMemorySpanExporter()
    exporter = RedactingSpanExporter(memory, Redactor())

    class Poisoned(ReadableSpan):
        @property
        def name(self) -> str:
            raise RuntimeError("broken span")

    good = ReadableSpan(name=f"ok {CONTROL}", resource=resource())
    assert exporter.export([Poisoned(name=TOKEN), good]) is SpanExportResult.SUCCESS
    names = [span.name for span in memory.get_finished_spans()]
    assert names == [f"ok {CONTROL}"]


def test_span_exporter_delegates_flush_and_shutdown() -> None:
    calls: list[str] = []

    class Inner(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            calls.append(f"flush {timeout_millis}")
            return True

        def shutdown(self) -> None:
            calls.append("shutdown")

    exporter = RedactingSpanExporter(Inner(), Redactor())
    assert exporter.force_flush(5) is True
    exporter.shutdown()
    assert calls == ["flush 5", "shutdown"]


# -- logs ----------------------------------------------------------------------


@pytest.fixture
def logged() -> Iterator[tuple[LoggerProvider, InMemoryLogRecordExporter, Redactor]]:
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    redactor = Redactor(hash_key=b"test-key")
    provider = LoggerProvider(resource=resource())
    provider.add_log_record_processor(SimpleLogRecordProcessor(RedactingLogExporter(memory, redactor)))
    yield provider, memory, redactor
    provider.shutdown()


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_log_records_are_exported_redacted(
    logged: tuple[LoggerProvider, InMemoryLogRecordExporter, Redactor],
) -> None:
    provider, memory, redactor = logged
    stdlib = logging.getLogger("crocotel.test.redaction")
    stdlib.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    stdlib.addHandler(handler)
    try:
        stdlib.warning(
            "user %s sent %s (%s)", PHONE, TOKEN, CONTROL, extra={"user_phone": PHONE2, "ok": CONTROL}
        )
        try:
            raise RuntimeError(f"Bot API said: bad token {TOKEN}")
        except RuntimeError:
            stdlib.exception("failed for %s", PHONE)
    finally:
        stdlib.removeHandler(handler)
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("update") as span:  # the redacted copy keeps this correlation
        provider.get_logger("structured").emit(
            body={
                "text": f"call me {PHONE}",
                "password": "hunter2",
                "nested": [{"phone": 79161234567}],
                "c": CONTROL,
            },
            attributes={"telegram.chat.type": "private", "note": f"to {PHONE2}"},
            severity_number=SeverityNumber.INFO,
            event_name=f"contact {PHONE}",
        )

    records = memory.get_finished_logs()
    assert len(records) == 3
    dump = "\n".join(record.to_json() for record in records)
    assert_clean(dump)
    assert dump.count(CONTROL) >= 4
    first, failed, structured = (record.log_record for record in records)
    assert "[REDACTED:bot_token]" in str(first.body) and "[REDACTED:phone:" in str(first.body)
    assert str((first.attributes or {})["user_phone"]).startswith("[REDACTED:phone:")
    assert "RuntimeError" in str((failed.attributes or {})["exception.stacktrace"])
    assert "[REDACTED:bot_token]" in str((failed.attributes or {})["exception.message"])
    body = structured.body
    assert isinstance(body, dict)
    assert body["password"] == "[REDACTED:secret]"
    assert body["nested"][0]["phone"].startswith("[REDACTED:phone:")
    assert body["c"] == CONTROL
    assert structured.event_name is not None and structured.event_name.startswith("contact [REDACTED:phone:")
    assert (structured.attributes or {})["telegram.chat.type"] == "private"
    assert str(records[2].resource.attributes["deploy.note"]).startswith("owner [REDACTED:phone:")
    context = span.get_span_context()
    assert (structured.trace_id, structured.span_id) == (context.trace_id, context.span_id)
    assert structured.trace_id != 0
    assert redactor.counts()[("phone", "logs")] >= 5


class CapturingLogExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.records: list[ReadableLogRecord] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_clean_log_record_passes_through() -> None:
    capture = CapturingLogExporter()

    provider = LoggerProvider(resource=Resource({"service.name": "clean"}))
    wrapper = RedactingLogExporter(capture, Redactor())

    class Tee(CapturingLogExporter):
        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            self.records.extend(batch)
            return wrapper.export(batch)

    tee = Tee()
    provider.add_log_record_processor(SimpleLogRecordProcessor(tee))
    provider.get_logger("x").emit(body="handler finished", attributes={"n": 1})
    provider.shutdown()
    assert capture.records and capture.records[0] is tee.records[0]


# -- metrics (OTLP path) -------------------------------------------------------


class CapturingMetricExporter(MetricExporter):
    """A MetricExporter keeping what it is given (InMemoryMetricReader is a reader, not an exporter)."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})
        self.batches: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def test_metric_exporter_redacts_point_attributes_and_resource() -> None:
    capture = CapturingMetricExporter()
    redactor = Redactor()
    reader = PeriodicExportingMetricReader(
        RedactingMetricExporter(capture, redactor), export_interval_millis=3_600_000
    )
    provider = MeterProvider(metric_readers=[reader], resource=resource())
    meter = provider.get_meter("test")
    meter.create_counter("telegram.updates").add(1, {"handler": f"h {PHONE}", "outcome": CONTROL})
    meter.create_histogram("telegram.api.duration").record(0.2, {"method": f"bot{TOKEN}", "token": "hunter2"})
    meter.create_up_down_counter("telegram.updates.in_flight").add(1)
    provider.force_flush()
    provider.shutdown()

    assert capture.batches
    dump = "\n".join(batch.to_json() for batch in capture.batches)
    assert_clean(dump)
    assert CONTROL in dump and "telegram.api.duration" in dump and "[REDACTED:bot_token]" in dump
    assert '"token": "[REDACTED:secret]"' in dump
    assert redactor.counts()[("phone", "metrics")] >= 1


def test_metric_exporter_redacts_exemplars_and_keeps_preferences() -> None:
    capture = CapturingMetricExporter()
    exporter = RedactingMetricExporter(capture, Redactor())
    assert exporter._preferred_temporality == {} and exporter._preferred_aggregation == {}
    exemplar = Exemplar({"user": PHONE, "c": CONTROL}, 1.0, 1, span_id=1, trace_id=2)
    point = NumberDataPoint({"a": CONTROL}, 0, 1, 5, exemplars=[exemplar])
    data = MetricsData(
        [
            ResourceMetrics(
                Resource({"service.name": CONTROL}),
                [ScopeMetrics(InstrumentationScope("s"), [Metric("m", None, None, Gauge([point]))], "")],
                "",
            )
        ]
    )
    assert exporter.export(data) is MetricExportResult.SUCCESS
    out = capture.batches[0]
    new_point = out.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points[0]
    assert new_point.exemplars[0].filtered_attributes == {"user": "[REDACTED:phone]", "c": CONTROL}
    assert isinstance(new_point, NumberDataPoint)
    assert new_point.attributes == {"a": CONTROL} and new_point.value == 5
    clean = MetricsData([ResourceMetrics(Resource({"service.name": "x"}), [], "")])
    exporter.export(clean)
    assert capture.batches[1] is clean


def test_metric_preferences_are_copied_from_inner() -> None:
    class Delta(CapturingMetricExporter):
        def __init__(self) -> None:
            MetricExporter.__init__(
                self,
                preferred_temporality={int: AggregationTemporality.DELTA},
                preferred_aggregation={int: DropAggregation()},
            )

    inner = Delta()
    wrapped = RedactingMetricExporter(inner, Redactor())
    assert wrapped._preferred_temporality is inner._preferred_temporality
    assert wrapped._preferred_aggregation is inner._preferred_aggregation


# -- metrics (Prometheus path) -------------------------------------------------


def families() -> list[PromMetric]:
    family = GaugeMetricFamily("telegram_updates", "updates", labels=["handler", "outcome"])
    family.add_metric([f"echo {PHONE}", CONTROL], 1.0)
    family.add_metric(["start", "handled"], 2.0)
    family.samples[0] = family.samples[0]._replace(
        exemplar=PromExemplar({"trace_id": "ab", "u": PHONE2}, 1.0)
    )
    clean = GaugeMetricFamily("python_info", "info", labels=["version"])
    clean.add_metric(["3.11.7"], 1.0)
    return [family, clean]


def test_redact_families() -> None:
    source = families()
    out = list(redact_families(source, Redactor()))
    assert out[1] is source[1]
    assert isinstance(out[0], GaugeMetricFamily)
    labels = out[0].samples[0].labels
    assert labels == {"handler": "echo [REDACTED:phone]", "outcome": CONTROL}
    exemplar = out[0].samples[0].exemplar
    assert exemplar is not None and exemplar.labels == {"trace_id": "ab", "u": "[REDACTED:phone]"}
    assert out[0].samples[1] is source[0].samples[1]
    assert "916" in source[0].samples[0].labels["handler"]  # the input is not modified


def test_redacting_collector_in_a_registry_with_the_otel_reader() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    class Static:
        def collect(self) -> list[PromMetric]:
            return families()

    private = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(registry=private)
    provider = MeterProvider(metric_readers=[reader], resource=resource())
    provider.get_meter("t").create_counter("telegram.api.requests").add(
        1, {"method": "sendMessage", "error": f"chat {PHONE} token {TOKEN}", "c": CONTROL}
    )
    public = CollectorRegistry()
    public.register(RedactingCollector(private, Redactor()))
    public.register(RedactingCollector(Static(), Redactor()))
    text = generate_latest(public).decode()
    provider.shutdown()
    assert_clean(text)
    assert CONTROL in text and "telegram_api_requests" in text and "sendMessage" in text
    assert "[REDACTED:phone]" in text and "[REDACTED:bot_token]" in text


def test_collector_drops_a_family_it_cannot_redact() -> None:
    class Weird(PromMetric):
        @property
        def samples(self) -> list[Any]:
            raise RuntimeError("broken")

        @samples.setter
        def samples(self, value: list[Any]) -> None:
            pass

    class Source:
        def collect(self) -> list[PromMetric]:
            return [Weird("weird", "w", "gauge"), *families()]

    names = [family.name for family in RedactingCollector(Source(), Redactor()).collect()]
    assert names == ["telegram_updates", "python_info"]


# -- URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"https://api.telegram.org/bot{TOKEN}/sendMessage?chat_id=1",
            "https://api.telegram.org/bot[REDACTED:bot_token]/sendMessage?chat_id=1",
        ),
        (
            f"https://api.telegram.org/file/bot{TOKEN}/photos/file_7.jpg",
            "https://api.telegram.org/file/bot[REDACTED:bot_token]/photos/file_7.jpg",
        ),
        ("http://127.0.0.1:8081/bot42:TEST/getMe", "http://127.0.0.1:8081/bot[REDACTED:bot_token]/getMe"),
        (
            "https://hooks.example/cb?token=hunter2&secret_token=hunter2&page=2#top",
            "https://hooks.example/cb?token=[REDACTED:secret]&secret_token=[REDACTED:secret]&page=2#top",
        ),
        (f"https://x.example/y?u={TOKEN}", "https://x.example/y?u=[REDACTED:bot_token]"),
        ("https://example.com/bottle/7?page=2", "https://example.com/bottle/7?page=2"),
    ],
)
def test_url_filter(url: str, expected: str) -> None:
    assert url_filter(yarl.URL(url)) == expected
    assert url_filter(url) == expected


def test_url_filter_never_raises() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert url_filter(Broken()) == "[REDACTED:error]"
    assert "\ud800" not in url_filter("https://x/\ud800/bot1:2")


def test_exported_json_is_clean_end_to_end() -> None:
    """The same planted values, through a span and a log record, as JSON lines."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource())
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(memory, Redactor())))
    with provider.get_tracer("t").start_as_current_span("x") as span:
        span.set_attribute("payload", json.dumps({"token": TOKEN, "phone": PHONE, "c": CONTROL}))
    provider.shutdown()
    dump = memory.get_finished_spans()[0].to_json()
    assert_clean(dump)
    assert CONTROL in dump


def test_stop_exports_seals_the_engine_against_other_threads() -> None:
    """Past shutdown's deadline no other thread may enter RE2 (the interpreter is finalizing):
    texts they would need scanned are withheld whole, known-clean and short texts pass, nothing
    leaks; the main thread, which finalizes, still redacts (shutdown's own messages)."""
    redaction = Redaction(Redactor())
    engine = redaction.engine
    clean = "sendMessage answered in 12 ms"
    assert engine.text(clean) is clean  # now remembered as clean
    phone = "call me at +7 916 123-45-67"
    assert "916" not in engine.text(phone)
    assert redaction.stop_exports(timeout=0.1)
    texts = [clean, "ok", phone, "a brand new line with nothing in it"]
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.extend(engine.text(t) for t in texts))
    worker.start()
    worker.join(5)
    assert seen == [clean, "ok", "[REDACTED:error]", "[REDACTED:error]"]
    assert engine.text("not fully flushed within CROCOTEL_SHUTDOWN_TIMEOUT=1 s").endswith("=1 s")
    assert engine.text(phone) == "call me at [REDACTED:phone]"
    assert redaction.wrap_spans(InMemorySpanExporter()).export([]) is SpanExportResult.FAILURE
