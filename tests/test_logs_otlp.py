"""The OTLP bridge: stdlib records reach the log pipeline with native trace context, nothing doubled."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from opentelemetry import context
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)

from crocotel.logs import OtlpHandler, install
from crocotel.logs.otlp import ignored, severity
from crocotel.redaction.engine import NullRedactor
from tests.logs_support import isolated, tracer

log = logging.getLogger("tests.otlp")
DUPLICATES = {"otelTraceID", "otelSpanID", "otelServiceName", "otelTraceSampled", "trace_id", "span_id"}


def pipeline(log_format: str = "none", stream: io.StringIO | None = None) -> InMemoryLogRecordExporter:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    install(
        log_format=log_format,
        log_level="DEBUG",
        service_name="svc",
        redactor=NullRedactor(),
        logger_provider=provider,
        stream=stream if stream is not None else io.StringIO(),
    )
    logging.root.setLevel(logging.DEBUG)
    return exporter


def exported(exporter: InMemoryLogRecordExporter) -> list[Any]:
    return [r.log_record for r in exporter.get_finished_logs()]


@isolated
def test_record_in_a_span_carries_its_context_natively_and_its_fields() -> None:
    exporter = pipeline()
    with tracer().start_as_current_span("update") as span:
        log.warning("sent %d messages", 3, extra={"update_type": "message", "nested": {"a": [1, 2]}})
    (record,) = exported(exporter)
    ctx = span.get_span_context()
    assert (record.trace_id, record.span_id) == (ctx.trace_id, ctx.span_id)
    assert record.trace_flags == ctx.trace_flags
    assert record.body == "sent 3 messages"
    assert record.severity_number == SeverityNumber.WARN and record.severity_text == "WARN"
    attributes = dict(record.attributes)
    assert attributes["update_type"] == "message" and attributes["nested"] == {"a": (1, 2)}
    assert (
        attributes["code.function.name"]
        == "test_record_in_a_span_carries_its_context_natively_and_its_fields"
    )
    assert attributes["code.file.path"].endswith("test_logs_otlp.py")
    assert isinstance(attributes["code.line.number"], int)
    assert not DUPLICATES & attributes.keys()
    assert record.timestamp is not None and record.timestamp > 1_700_000_000 * 10**9


@isolated
def test_no_duplicate_otel_attributes_even_with_the_instrumentor_factory() -> None:
    """opentelemetry-instrumentation-logging adds otel* attributes to every record; they stay out."""
    exporter = pipeline()
    previous = logging.getLogRecordFactory()

    def instrumentor_like(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.otelTraceID, record.otelSpanID = "0" * 32, "0" * 16
        record.otelServiceName, record.otelTraceSampled = "svc", False
        return record

    logging.setLogRecordFactory(instrumentor_like)
    with tracer().start_as_current_span("update"):
        log.info("hello")
    (record,) = exported(exporter)
    assert not DUPLICATES & dict(record.attributes).keys()


@isolated
def test_outside_a_span_there_is_no_trace_context() -> None:
    exporter = pipeline()
    log.info("no span")
    (record,) = exported(exporter)
    assert record.trace_id == 0 and record.span_id == 0


@isolated
def test_exception_attributes() -> None:
    exporter = pipeline()
    try:
        raise ConnectionError("telegram unreachable")
    except ConnectionError:
        log.exception("poll failed")
    (record,) = exported(exporter)
    attributes = dict(record.attributes)
    assert attributes["exception.type"] == "ConnectionError"
    assert attributes["exception.message"] == "telegram unreachable"
    assert attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert record.severity_number == SeverityNumber.ERROR


@isolated
@pytest.mark.parametrize(
    "name",
    [
        "opentelemetry",
        "opentelemetry.exporter.otlp.proto.http._log_exporter",
        "opentelemetry.sdk._logs",
        "crocotel",
    ],
)
def test_pipeline_and_crocotel_diagnostics_are_not_exported(name: str) -> None:
    exporter = pipeline()
    logging.getLogger(name).error("diagnostic")
    logging.getLogger("crocotel.bootstrap").warning("diagnostic")
    log.info("control")
    assert [r.body for r in exported(exporter)] == ["control"]


def test_ignored_prefixes_match_whole_names() -> None:
    assert ignored("crocotel") and ignored("crocotel.logs") and ignored("opentelemetry.exporter")
    assert not ignored("crocotel_bot") and not ignored("opentelemetryish") and not ignored("app.crocotel")


@isolated
def test_records_made_while_instrumentation_is_suppressed_are_not_exported() -> None:
    exporter = pipeline()
    with suppress_instrumentation():
        logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection")
    for key in (_SUPPRESS_INSTRUMENTATION_KEY, "suppress_instrumentation"):  # each key alone, as
        token = context.attach(context.set_value(key, True))  # instrumentations set them
        try:
            log.info("suppressed by %s", key)
        finally:
            context.detach(token)
    log.info("control")
    assert [r.body for r in exported(exporter)] == ["control"]


@isolated
def test_json_stdout_and_otlp_both_get_the_record() -> None:
    out = io.StringIO()
    exporter = pipeline("json", out)
    log.info("both")
    assert '"message":"both"' in out.getvalue()
    assert [r.body for r in exported(exporter)] == ["both"]


@isolated
def test_a_failing_pipeline_never_breaks_the_logging_call() -> None:
    class Broken(LogRecordExporter):
        def export(self, batch: Any) -> LogRecordExportResult:
            raise RuntimeError("collector down")

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    class BrokenProcessor(SimpleLogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            raise RuntimeError("processor down")

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BrokenProcessor(Broken()))
    out = io.StringIO()
    handler = OtlpHandler(provider)
    logger = logging.getLogger("tests.otlp.broken")
    logger.addHandler(handler)
    logger.propagate = False
    crocotel_out = logging.getLogger("crocotel.logs")
    crocotel_out.addHandler(report := logging.StreamHandler(out))
    try:
        logger.error("first")
        logger.error("second")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        crocotel_out.removeHandler(report)
    assert out.getvalue().count("OTLP log bridge failed") == 1


@pytest.mark.parametrize(
    ("levelno", "expected"),
    [
        (0, SeverityNumber.UNSPECIFIED),
        (5, SeverityNumber.TRACE),
        (logging.DEBUG, SeverityNumber.DEBUG),
        (logging.INFO, SeverityNumber.INFO),
        (21, SeverityNumber.INFO2),
        (23, SeverityNumber.INFO4),
        (29, SeverityNumber.INFO4),
        (logging.WARNING, SeverityNumber.WARN),
        (logging.ERROR, SeverityNumber.ERROR),
        (logging.CRITICAL, SeverityNumber.FATAL),
        (59, SeverityNumber.FATAL4),
        (75, SeverityNumber.FATAL4),
    ],
)
def test_severity_mapping(levelno: int, expected: SeverityNumber) -> None:
    assert severity(levelno) == expected


@isolated
def test_critical_is_fatal_in_severity_text() -> None:
    exporter = pipeline()
    log.critical("down")
    (record,) = exported(exporter)
    assert (record.severity_text, record.severity_number) == ("FATAL", SeverityNumber.FATAL)
    assert isinstance(exporter.get_finished_logs()[0], ReadableLogRecord)
