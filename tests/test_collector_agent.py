"""The agent Collector, for real: redaction, noise filtering, error-log routing, persistent queue.

A plain OpenTelemetry SDK (no crocotel redaction) in this process sends spans,
logs and metrics with planted secrets to the agent on loopback; the agent
exports to in-test OTLP receivers. Nothing planted may reach them, while
positive controls and redaction markers must.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from crocotel.testing import OtlpReceiver
from tests.collector_support import Agent, agent_env, metric_values, otelcol_binary, running_agent
from tests.redaction_corpus import NEGATIVES_KEPT, PHONE_RECALL, TOKEN_RECALL, load, score

pytestmark = pytest.mark.integration

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
PHONE = "+44 20 7946 0958"
SECRET_VALUE = "hunter2-plain-s3cr3t"
# Any of these in any byte the receivers got is a leak.
LEAKS = (b"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", b"7946 0958", b"79460958", SECRET_VALUE.encode())


@pytest.fixture
def binary() -> Path:
    return otelcol_binary()


@pytest.fixture
def receivers() -> Iterator[tuple[OtlpReceiver, OtlpReceiver]]:
    """(default receiver for traces, metrics and logs; receiver of the error-log route)."""
    with OtlpReceiver() as main, OtlpReceiver() as errors:
        yield main, errors


def _env(tmp_path: Path, main: OtlpReceiver, errors: OtlpReceiver) -> dict[str, str]:
    return agent_env(tmp_path / "queue", main.endpoint, main.endpoint, errors.endpoint, main.endpoint)


def _resource() -> Resource:
    return Resource.create({"service.name": "collector-e2e", "deployment.note": f"owner phone {PHONE}"})


def _send_spans(agent: Agent) -> None:
    provider = TracerProvider(resource=_resource())
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{agent.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("collector-e2e")
    with tracer.start_as_current_span("telegram.update message", kind=SpanKind.CONSUMER) as update:
        update.set_attribute("control", "positive-control-update-span")
        with tracer.start_as_current_span("sendMessage", kind=SpanKind.CLIENT) as call:
            call.set_attribute("control", "positive-control-api-span")
            call.set_attribute("url.full", f"https://api.telegram.org/bot{TOKEN}/sendMessage")
            call.set_attribute("telegram.note", f"call me at {PHONE}")
            call.set_attribute("api_key", SECRET_VALUE)
            call.add_event(f"retry for {PHONE}", {"exception.message": f"Unauthorized: bot{TOKEN}"})
            call.set_status(Status(StatusCode.ERROR, f"sendMessage failed for bot{TOKEN}"))
    with tracer.start_as_current_span("getUpdates", kind=SpanKind.CLIENT) as poll:
        poll.set_attribute("control", "noise-getupdates-by-name")
    with tracer.start_as_current_span("getUpdates", kind=SpanKind.CLIENT) as failed_poll:
        failed_poll.set_attribute("control", "positive-control-failed-poll")  # kept, as the process does
        failed_poll.set_attribute("telegram.api.method", "getUpdates")
        failed_poll.set_attribute("telegram.api.error_code", 409)
        failed_poll.set_attribute("url.full", f"https://api.telegram.org/bot{TOKEN}/getUpdates")
        failed_poll.set_status(Status(StatusCode.ERROR, "polling_conflict"))
    with tracer.start_as_current_span("getUpdates", kind=SpanKind.CLIENT) as delivering:
        delivering.set_attribute("control", "positive-control-delivering-poll")  # update spans link to it
        delivering.set_attribute("telegram.api.method", "getUpdates")
        delivering.set_attribute("telegram.updates.count", 3)
    with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as http_poll:
        http_poll.set_attribute("control", "noise-getupdates-by-url")
        http_poll.set_attribute("url.full", f"https://api.telegram.org/bot{TOKEN}/getUpdates")
    with tracer.start_as_current_span("poll", kind=SpanKind.CLIENT) as method_poll:
        method_poll.set_attribute("control", "noise-getupdates-by-method")
        method_poll.set_attribute("telegram.api.method", "getUpdates")
    for path in ("/healthz", "/readyz", "/metrics"):
        with tracer.start_as_current_span(f"GET {path}", kind=SpanKind.SERVER) as probe:
            probe.set_attribute("control", "noise-health")
            probe.set_attribute("url.path", path)
    provider.shutdown()


def _send_logs(agent: Agent) -> None:
    provider = LoggerProvider(resource=_resource())
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{agent.otlp_http}/v1/logs")))
    logger = provider.get_logger("collector-e2e")
    logger.emit(
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        body=f"positive-control-info-log: user wrote {PHONE}, bot {TOKEN}",
        attributes={"password": SECRET_VALUE, "note": f"tel {PHONE}"},
    )
    logger.emit(
        severity_number=SeverityNumber.ERROR,
        severity_text="ERROR",
        body=f"positive-control-error-log: handler failed for bot{TOKEN}",
        attributes={"exception.message": f"Unauthorized: https://api.telegram.org/bot{TOKEN}/getMe"},
    )
    logger.emit(
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body={"text": f"positive-control-map-body {PHONE}", "nested": {"api_key": SECRET_VALUE}},
    )
    provider.shutdown()


def _send_metrics(agent: Agent) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=_resource(), metric_readers=[reader])
    counter = provider.get_meter("collector-e2e").create_counter("e2e.requests")
    counter.add(1, {"control": "positive-control-metric", "chat.note": f"phone {PHONE}", "bot": TOKEN})
    data = reader.get_metrics_data()
    assert data is not None
    exporter: MetricExporter = OTLPMetricExporter(f"{agent.otlp_http}/v1/metrics")
    exporter.export(data)
    exporter.shutdown()
    provider.shutdown()


def _all_bytes(*receivers: OtlpReceiver) -> bytes:
    return b"\n".join(body for r in receivers for body in r.raw_bodies())


def test_agent_redacts_filters_and_routes(
    binary: Path, receivers: tuple[OtlpReceiver, OtlpReceiver], tmp_path: Path
) -> None:
    main, errors = receivers
    with running_agent(binary, _env(tmp_path, main, errors), tmp_path / "agent.log") as agent:
        _send_spans(agent)
        _send_logs(agent)
        _send_metrics(agent)

        def arrived(_: OtlpReceiver) -> bool:
            controls = {str(s.attributes.get("control")) for s in main.spans()}
            bodies = " ".join(str(log.body) for log in main.logs())
            return (
                {
                    "positive-control-update-span",
                    "positive-control-api-span",
                    "positive-control-failed-poll",
                    "positive-control-delivering-poll",
                }
                <= controls
                and "positive-control-info-log" in bodies
                and "positive-control-map-body" in bodies
                and any(m.name == "e2e.requests" for m in main.metrics())
                and any("positive-control-error-log" in str(log.body) for log in errors.logs())
            )

        assert main.wait_for(arrived, timeout=30), f"not everything arrived:\n{agent.log()[-3000:]}"
        time.sleep(1.5)  # a late noise span or misrouted log would arrive within a flush interval

    everything = _all_bytes(main, errors)
    for leak in LEAKS:
        assert leak not in everything, f"planted secret {leak!r} reached a backend"
    for marker in (b"[REDACTED:bot_token]", b"[REDACTED:phone]", b"[REDACTED:secret]"):
        assert marker in everything, f"redaction marker {marker!r} missing: redaction is not running"

    spans = main.spans()
    controls = [str(s.attributes.get("control")) for s in spans]
    assert not [c for c in controls if c.startswith("noise-")], f"noise spans were exported: {controls}"
    api = next(s for s in spans if s.attributes.get("control") == "positive-control-api-span")
    assert api.attributes["api_key"] == "[REDACTED:secret]"  # the process's marker, not the processor's ****
    failed = next(s for s in spans if s.attributes.get("control") == "positive-control-failed-poll")
    assert failed.attributes["telegram.api.error_code"] == 409 and failed.name == "getUpdates"
    assert "[REDACTED:bot_token]" in api.status_message
    assert "[REDACTED:phone]" in api.events[0][0]
    assert "[REDACTED:phone]" in str(api.resource["deployment.note"])

    default_bodies = [str(log.body) for log in main.logs()]
    error_bodies = [str(log.body) for log in errors.logs()]
    assert any("positive-control-info-log" in b for b in default_bodies)
    assert not any("positive-control-error-log" in b for b in default_bodies), "ERROR on the default route"
    assert not any("positive-control-info-log" in b for b in error_bodies), "INFO log on the errors route"
    assert not any("positive-control-map-body" in b for b in error_bodies), "WARN log on the errors route"


def test_agent_redacts_the_corpus(
    binary: Path, receivers: tuple[OtlpReceiver, OtlpReceiver], tmp_path: Path
) -> None:
    """The corpus (phones of many countries and scripts, tokens, ids, IBANs) through Go's regexp:
    the agent meets the same targets as the engine, as a log body and as a span attribute."""
    main, errors = receivers
    items = load()
    with running_agent(binary, _env(tmp_path, main, errors), tmp_path / "agent.log") as agent:
        logs = LoggerProvider(resource=Resource.create({"service.name": "collector-corpus"}))
        logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{agent.otlp_http}/v1/logs")))
        logger = logs.get_logger("collector-corpus")
        traces = TracerProvider(resource=Resource.create({"service.name": "collector-corpus"}))
        traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{agent.otlp_http}/v1/traces")))
        tracer = traces.get_tracer("collector-corpus")
        for index, item in enumerate(items):
            logger.emit(
                severity_number=SeverityNumber.INFO, body=item.text, attributes={"corpus.index": index}
            )
            with tracer.start_as_current_span("corpus") as span:
                span.set_attribute("corpus.index", index)
                span.set_attribute("message.text", item.text)
        logs.shutdown()
        traces.shutdown()

        def arrived(r: OtlpReceiver) -> bool:
            got_logs = {log.attributes.get("corpus.index") for log in r.logs()}
            got_spans = {span.attributes.get("corpus.index") for span in r.spans()}
            return len(got_logs) >= len(items) and len(got_spans) >= len(items)

        assert main.wait_for(arrived, timeout=60), f"the corpus did not arrive:\n{agent.log()[-3000:]}"

    bodies = {int(str(log.attributes["corpus.index"])): str(log.body) for log in main.logs()}
    texts = {int(str(s.attributes["corpus.index"])): str(s.attributes["message.text"]) for s in main.spans()}
    for name, received in (("log body", bodies), ("span attribute", texts)):
        by_text = {item.text: received[index] for index, item in enumerate(items)}
        scores = score(items, lambda item, by_text=by_text: by_text[item.text], any_kind=True)
        report = f"{name}: {scores.summary()}\n" + "\n".join(scores.failures)
        print(report)
        assert scores.token_recall >= TOKEN_RECALL, report
        assert scores.phone_recall >= PHONE_RECALL, report
        assert scores.kept >= NEGATIVES_KEPT, report


def _outage_spans(total: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "collector-outage"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("collector-outage")
    for seq in range(total):
        with tracer.start_as_current_span("telegram.update message") as span:
            span.set_attribute("seq", seq)
            span.set_attribute("payload", "x" * 512)
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_backend_outage_loses_nothing(
    binary: Path, receivers: tuple[OtlpReceiver, OtlpReceiver], tmp_path: Path
) -> None:
    """Spans sent while the backend answers 503 wait in the file queue, across an agent restart."""
    main, errors = receivers
    env = _env(tmp_path, main, errors)
    total, batches = 3000, 30
    limit_mib = 192
    env["CROCOTEL_COLLECTOR_MEMORY_LIMIT_MIB"] = str(limit_mib)
    env["CROCOTEL_COLLECTOR_MEMORY_SPIKE_MIB"] = "48"
    main.fail_with(503)
    heap: list[float] = []
    spans = _outage_spans(total)
    with running_agent(binary, env, tmp_path / "agent-1.log") as agent:
        exporter = OTLPSpanExporter(f"{agent.otlp_http}/v1/traces")
        size = total // batches
        for start in range(0, total, size):
            result = exporter.export(spans[start : start + size])
            assert result is SpanExportResult.SUCCESS, "the agent refused spans it should queue"
            heap += metric_values(agent.own_metrics(), "otelcol_process_runtime_heap_alloc_bytes")
        exporter.shutdown()
        assert main.wait_for(lambda r: any(status == 503 for _, status in r.requests()), timeout=20)
        heap += metric_values(agent.own_metrics(), "otelcol_process_runtime_heap_alloc_bytes")
    assert not main.spans(), "the failing receiver stored spans"

    main.recover()
    with running_agent(binary, env, tmp_path / "agent-2.log") as agent:

        def all_arrived(r: OtlpReceiver) -> bool:
            return len({s.attributes.get("seq") for s in r.spans()}) >= total

        assert main.wait_for(all_arrived, timeout=60), (
            f"{len({s.attributes.get('seq') for s in main.spans()})} of {total} spans arrived:\n"
            f"{agent.log()[-3000:]}"
        )
        heap += metric_values(agent.own_metrics(), "otelcol_process_runtime_heap_alloc_bytes")
    assert {s.attributes.get("seq") for s in main.spans()} == set(range(total))
    assert heap, "the Collector's own metrics had no heap gauge"
    peak = max(heap) / 2**20
    assert peak < limit_mib, f"heap {peak:.0f} MiB over the memory_limiter's {limit_mib} MiB"
