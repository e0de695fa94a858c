"""The gateway's tail sampling, run for real: every error and every slow trace kept, a share of the rest.

``collector/otelcol-gateway.yaml`` runs with the agent binary, which carries the
tail_sampling processor. Only its loadbalancing exporter is missing from that binary
(the module proxy does not serve it); it is replaced by the OTLP/HTTP exporter sending to
this same instance's sampling receiver, which is what the load balancer does with one
peer. Agents' traces enter at the front receiver; what the sampling keeps reaches an
in-test receiver standing in for Tempo or Jaeger.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from ruamel.yaml import YAML

from crocotel.testing import OtlpReceiver
from tests.collector_support import COLLECTOR_DIR, metric_sum, otelcol_binary, running_agent
from tests.support import free_port

pytestmark = pytest.mark.integration

GATEWAY_CONFIG = COLLECTOR_DIR / "otelcol-gateway.yaml"
SLOW_MS = 2000  # the config's default threshold, set explicitly below
ERRORS, SLOW, ORDINARY = 20, 20, 400


class _SeededIds(IdGenerator):
    """Trace ids from a fixed seed: the probabilistic policy hashes them, so its choice is repeatable."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def _derived_config(tmp_path: Path, sampling_http: str) -> Path:
    """The gateway config with the loadbalancing exporter swapped for OTLP/HTTP into its own sampling tier."""
    yaml = YAML()
    config = yaml.load(GATEWAY_CONFIG.read_text(encoding="utf-8"))
    assert config["exporters"].pop("loadbalancing")["routing_key"] == "traceID"
    config["exporters"]["otlp_http/to_sampling"] = {"endpoint": f"http://{sampling_http}"}
    config["receivers"]["otlp/sampling"]["protocols"]["http"] = {"endpoint": sampling_http}
    front = config["service"]["pipelines"]["traces"]
    front["exporters"] = ["otlp_http/to_sampling" if e == "loadbalancing" else e for e in front["exporters"]]
    derived = tmp_path / "gateway.yaml"
    with derived.open("w", encoding="utf-8") as out:
        yaml.dump(config, out)
    return derived


def _gateway_env(tmp_path: Path, backend: OtlpReceiver) -> dict[str, str]:
    return {
        "CROCOTEL_GATEWAY_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_GATEWAY_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_GATEWAY_SAMPLING_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_GATEWAY_HEALTH_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_GATEWAY_TELEMETRY_HOST": "127.0.0.1",
        "CROCOTEL_GATEWAY_TELEMETRY_PORT": str(free_port()),
        "CROCOTEL_GATEWAY_STORAGE_DIR": str(tmp_path / "queue"),
        "CROCOTEL_GATEWAY_TRACES_ENDPOINT": backend.endpoint,
        "CROCOTEL_GATEWAY_DECISION_WAIT": "2s",
        "CROCOTEL_GATEWAY_SLOW_MS": str(SLOW_MS),
        "CROCOTEL_GATEWAY_SAMPLE_PERCENT": "10",
    }


def _send_traces(endpoint: str) -> dict[str, str]:
    """Errors, slow and ordinary update traces (update -> handler -> sendMessage); {trace id: kind}."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": "gateway-e2e"}), id_generator=_SeededIds(16)
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces"), max_queue_size=4096)
    )
    tracer = provider.get_tracer("gateway-e2e")
    kinds = ["error"] * ERRORS + ["slow"] * SLOW + ["ordinary"] * ORDINARY
    random.Random(7).shuffle(kinds)
    sent: dict[str, str] = {}
    start = 1_700_000_000 * 10**9
    for n, kind in enumerate(kinds):
        # timestamps are data: a slow trace is slow by its spans' times, without waiting
        took = (SLOW_MS + 500 if kind == "slow" else 40) * 10**6
        t0 = start + n * 10**9
        update = tracer.start_span("telegram.update message", kind=SpanKind.CONSUMER, start_time=t0)
        update.set_attribute("kind", kind)
        context = set_span_in_context(update)
        handler = tracer.start_span("telegram.handler echo", context=context, start_time=t0 + 1000)
        call = tracer.start_span(
            "sendMessage", context=set_span_in_context(handler), kind=SpanKind.CLIENT, start_time=t0 + 2000
        )
        if kind == "error":  # the error is deep in the trace, as a failed Bot API call is
            call.set_status(Status(StatusCode.ERROR, "Forbidden: bot was blocked by the user"))
        call.end(end_time=t0 + took - 2000)
        handler.end(end_time=t0 + took - 1000)
        update.end(end_time=t0 + took)
        sent[f"{update.get_span_context().trace_id:032x}"] = kind
    provider.shutdown()
    return sent


def test_tail_sampling_keeps_errors_and_slow_traces_and_a_share_of_the_rest(tmp_path: Path) -> None:
    with OtlpReceiver() as backend:
        env = _gateway_env(tmp_path, backend)
        config = _derived_config(tmp_path, f"127.0.0.1:{free_port()}")
        log = tmp_path / "gateway.log"
        with running_agent(otelcol_binary(), env, log, config, "CROCOTEL_GATEWAY_") as gateway:
            sent = _send_traces(gateway.otlp_http)
            total = len(sent)

            def decided(_: OtlpReceiver) -> bool:
                """Every trace decided, and every kept span of them arrived."""
                own = gateway.own_metrics()
                done = metric_sum(own, "otelcol_processor_tail_sampling_global_count_traces_sampled_total")
                kept = metric_sum(
                    own, "otelcol_processor_tail_sampling_global_count_traces_sampled_total", sampled="true"
                )
                return done >= total and len(backend.spans()) >= 3 * kept > 0

            assert backend.wait_for(decided, timeout=60), (
                f"{len(backend.spans())} spans arrived; gateway metrics:\n"
                + "\n".join(line for line in gateway.own_metrics().splitlines() if "tail_sampling" in line)
                + "\n"
                + gateway.log()[-3000:]
            )

    spans_per_trace = Counter(s.trace_id for s in backend.spans())
    assert set(spans_per_trace.values()) == {3}, "a kept trace is kept whole"
    kept = Counter(sent[trace_id] for trace_id in spans_per_trace)
    assert kept["error"] == ERRORS, kept
    assert kept["slow"] == SLOW, kept
    # a share of the rest: some, far from all (10 % configured; 400 traces)
    assert 0.02 * ORDINARY <= kept["ordinary"] <= 0.3 * ORDINARY, kept
    assert set(spans_per_trace) <= set(sent)
