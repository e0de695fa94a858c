"""The agent Collector, for real: redaction, noise filtering, error-log routing, persistent queue.

A plain OpenTelemetry SDK (no crocotel redaction) in this process sends spans,
logs and metrics with planted secrets to the agent on loopback; the agent
exports to in-test OTLP receivers. Nothing planted may reach them, while
positive controls and redaction markers must.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from crocotel.testing import BotApiThread, OtlpReceiver
from tests.collector_support import Agent, agent_env, metric_values, otelcol_binary, running_agent
from tests.redaction_corpus import NEGATIVES_KEPT, PHONE_RECALL, TOKEN_RECALL, load, score
from tests.telegram_support import bot_env, prometheus_samples, run_bot

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
    # sent last: once it arrived, a noise span the filter let through would have arrived too
    with tracer.start_as_current_span("telegram.update callback_query", kind=SpanKind.CONSUMER) as last:
        last.set_attribute("control", "positive-control-final-span")
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
    # sent last on each route: once both arrived, a misrouted record would have arrived too
    logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO", body="positive-control-final-info")
    logger.emit(
        severity_number=SeverityNumber.ERROR, severity_text="ERROR", body="positive-control-final-error"
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
            error_bodies = " ".join(str(log.body) for log in errors.logs())
            return (
                {
                    "positive-control-update-span",
                    "positive-control-api-span",
                    "positive-control-failed-poll",
                    "positive-control-delivering-poll",
                }
                <= controls
                and "positive-control-final-span" in controls
                and "positive-control-info-log" in bodies
                and "positive-control-map-body" in bodies
                and "positive-control-final-info" in bodies
                and any(m.name == "e2e.requests" for m in main.metrics())
                and "positive-control-error-log" in error_bodies
                and "positive-control-final-error" in error_bodies
            )

        assert main.wait_for(arrived, timeout=30), f"not everything arrived:\n{agent.log()[-3000:]}"

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
    main.fail_with(503)
    spans = _outage_spans(total)
    with running_agent(binary, env, tmp_path / "agent-1.log") as agent:
        exporter = OTLPSpanExporter(f"{agent.otlp_http}/v1/traces")
        size = total // batches
        for start in range(0, total, size):
            result = exporter.export(spans[start : start + size])
            assert result is SpanExportResult.SUCCESS, "the agent refused spans it should queue"
        exporter.shutdown()
        assert main.wait_for(lambda r: any(status == 503 for _, status in r.requests()), timeout=20)
    assert not main.spans(), "the failing receiver stored spans"

    main.recover()
    with running_agent(binary, env, tmp_path / "agent-2.log") as agent:

        def all_arrived(r: OtlpReceiver) -> bool:
            return len({s.attributes.get("seq") for s in r.spans()}) >= total

        assert main.wait_for(all_arrived, timeout=60), (
            f"{len({s.attributes.get('seq') for s in main.spans()})} of {total} spans arrived:\n"
            f"{agent.log()[-3000:]}"
        )
    assert {s.attributes.get("seq") for s in main.spans()} == set(range(total))


def _load_request(spans: int, payload: int) -> bytes:
    """An OTLP/HTTP trace export of ``spans`` spans with ``payload`` random bytes each.

    Bytes, not strings: the redaction processors skip them, so the agent's cost is
    holding the data, which is what the memory limiter guards.
    """
    blob = [KeyValue(key="blob", value=AnyValue(bytes_value=os.urandom(payload)))]
    load = [
        PbSpan(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="load",
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            attributes=blob,
        )
        for _ in range(spans)
    ]
    name = [KeyValue(key="service.name", value=AnyValue(string_value="load"))]
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=PbResource(attributes=name), scope_spans=[ScopeSpans(spans=load)])
        ]
    )
    return request.SerializeToString()


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_memory_limiter_refuses_then_recovers(
    binary: Path, receivers: tuple[OtlpReceiver, OtlpReceiver], tmp_path: Path
) -> None:
    """Bursts far above the agent's memory limit are refused with 503 (the SDK retries), then taken again."""
    main, errors = receivers
    env = _env(tmp_path, main, errors)
    env["CROCOTEL_COLLECTOR_MEMORY_LIMIT_MIB"] = "32"
    env["CROCOTEL_COLLECTOR_MEMORY_SPIKE_MIB"] = "8"
    per_request = 2000
    body = _load_request(per_request, 1000)  # about 2 MB; bursts of 18, six at a time
    statuses: list[int] = []
    with running_agent(binary, env, tmp_path / "agent.log") as agent:
        url = f"{agent.otlp_http}/v1/traces"
        with ThreadPoolExecutor(6) as pool:
            for _ in range(10):  # bounded: bursts until the limiter has refused something
                statuses += pool.map(lambda _: _post(url, body), range(18))
                if 503 in statuses:
                    break
        assert 503 in statuses, f"the memory limiter never refused: {statuses}\n{agent.log()[-3000:]}"
        assert set(statuses) <= {200, 503}, statuses
        refused = metric_values(agent.own_metrics(), "otelcol_processor_refused_spans_total")
        assert sum(refused) >= per_request * statuses.count(503), refused
        assert "Memory usage is above" in agent.log()

        # recovery: once the accepted data has left, a new export is taken again
        control = _load_request(1, 10)
        for _ in range(300):  # bounded: about 30 s
            if _post(url, control) == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the agent never accepted data again:\n{agent.log()[-3000:]}")
        accepted = per_request * statuses.count(200) + 1
        # nothing accepted is lost: every span taken before, during and after the pressure arrives
        assert main.wait_for(lambda r: len(r.spans()) >= accepted, timeout=60), (
            f"{len(main.spans())} of {accepted} accepted spans arrived"
        )
    assert len(main.spans()) == accepted


def test_grpc_from_a_bot_through_the_agent(
    binary: Path, receivers: tuple[OtlpReceiver, OtlpReceiver], tmp_path: Path
) -> None:
    """A bot under crocotel exporting OTLP/gRPC to the agent: traces, metrics and logs reach the backend."""
    main, errors = receivers
    with (
        BotApiThread() as api,
        running_agent(binary, _env(tmp_path, main, errors), tmp_path / "a.log") as agent,
    ):
        api.push_message("/start", chat_id=501, user_id=501)
        api.push_message("hello over grpc", chat_id=502, user_id=502)
        env = bot_env(
            api,
            main,
            2,
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{agent.otlp_grpc}",
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        )
        code, _, err = run_bot("examples.aiohttp_bot", env)
        assert code == 0, err[-3000:]

        def arrived(r: OtlpReceiver) -> bool:
            return (
                sum(s.name == "sendMessage" for s in r.spans()) >= 2
                and any(m.name == "telegram.api.duration" for m in r.metrics())
                and any("from chat 502" in str(log.body) for log in r.logs())
            )

        assert main.wait_for(arrived, timeout=30), f"not everything arrived:\n{agent.log()[-3000:]}"
        own = agent.own_metrics()
    # it really came over gRPC: the agent's receiver counted spans on that transport, none over HTTP
    by_transport = {
        labels.get("transport"): value
        for name, labels, value in prometheus_samples(own)
        if name == "otelcol_receiver_accepted_spans_total"
    }
    assert by_transport.get("grpc", 0) >= 2 and by_transport.get("http", 0) == 0, by_transport
    span = next(s for s in main.spans() if s.name == "sendMessage")
    assert span.resource["service.name"] == "crocbot-test"
    assert str(span.attributes["url.full"]).endswith("/bot[REDACTED:bot_token]/sendMessage")
    secret = api.token.partition(":")[2]
    assert secret and all(secret.encode() not in body for body in main.raw_bodies())
