"""Traces viewed where users view them: the agent exporting to a real Jaeger v2, read back by its query API.

The Jaeger binary comes from ``scripts/build-jaeger`` (``scripts/test`` exports it as
``CROCOTEL_JAEGER``), built from Go modules once and cached like the Collector. Without
one the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crocotel.testing import OtlpReceiver
from crocotel.testing.botapi import DEFAULT_TOKEN
from tests.collector_support import (
    agent_env,
    http_get,
    jaeger_binary,
    otelcol_binary,
    running_agent,
)
from tests.support import free_port
from tests.test_collector_agent import _send_spans
from tests.test_demo import Demo

pytestmark = pytest.mark.integration

_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {{receivers: [otlp], exporters: [jaeger_storage_exporter]}}
  telemetry: {{metrics: {{level: none}}}}
extensions:
  jaeger_storage: {{backends: {{mem: {{memory: {{max_traces: 1000}}}}}}}}
  jaeger_query:
    storage: {{traces: mem}}
    http: {{endpoint: "127.0.0.1:{query}"}}
    grpc: {{endpoint: "127.0.0.1:{grpc}"}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{otlp}"}}}}}}
exporters:
  jaeger_storage_exporter: {{trace_storage: mem}}
"""


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(OTLP/HTTP base URL, query API base URL) of a Jaeger v2 on loopback ports."""
    binary = jaeger_binary()
    otlp, query = free_port(), free_port()
    config = tmp_path / "jaeger.yaml"
    config.write_text(_CONFIG.format(otlp=otlp, query=query, grpc=free_port()), encoding="utf-8")
    log_path = tmp_path / "jaeger.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{query}"
    try:
        deadline = time.monotonic() + 30
        while http_get(api + "/api/services")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, (
                "Jaeger did not start:\n" + log_path.read_text(errors="replace")[-3000:]
            )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{otlp}", api
    finally:
        process.terminate()
        try:
            process.wait(3)  # nothing here is about how Jaeger stops: its graceful shutdown takes 10-16 s
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _traces(api: str, service: str) -> tuple[str, list[dict[str, Any]]]:
    """The raw answer of Jaeger's trace search for ``service``, and its traces."""
    status, body = http_get(f"{api}/api/traces?service={service}&limit=1000", timeout=5)
    if status != 200 or not body:
        return "", []
    return body, list(json.loads(body)["data"] or [])


def _update_handler_call(trace: dict[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """(update, handler, sendMessage) spans chained parent to child in one trace, if there are."""
    spans = trace["spans"]

    def parent(span: dict[str, Any]) -> str:
        return next((r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"), "")

    by_id = {s["spanID"]: s for s in spans}
    for call in spans:
        handler = by_id.get(parent(call))
        update = by_id.get(parent(handler)) if handler else None
        if (
            call["operationName"] == "sendMessage"
            and handler is not None
            and handler["operationName"].startswith("telegram.handler ")
            and update is not None
            and update["operationName"].startswith("telegram.update ")
        ):
            return update, handler, call
    return None


def test_a_demo_trace_reads_back_from_jaeger(jaeger: tuple[str, str], tmp_path: Path) -> None:
    """The demo bot -> the agent -> Jaeger: the update's trace, as a user would open it."""
    otlp, api = jaeger
    service = "crocbot-jaeger-e2e"
    with OtlpReceiver() as other:  # logs and metrics: Jaeger takes traces only
        env = agent_env(tmp_path / "queue", otlp, other.endpoint, other.endpoint, other.endpoint)
        with running_agent(otelcol_binary(), env, tmp_path / "agent.log") as agent:
            demo = Demo(10, OTEL_EXPORTER_OTLP_ENDPOINT=agent.otlp_http, OTEL_SERVICE_NAME=service)
            assert demo.finish() == 0, demo.output[-3000:]
            body, traces = "", []
            for _ in range(300):  # bounded: about 30 s for the agent's batch to reach Jaeger
                body, traces = _traces(api, service)
                if sum(_update_handler_call(t) is not None for t in traces) >= 2:
                    break
                time.sleep(0.1)
    assert service in http_get(api + "/api/services")[1]
    chains = [c for c in map(_update_handler_call, traces) if c is not None]
    assert chains, f"no update -> handler -> sendMessage trace in Jaeger:\n{body[:3000]}"
    update, _handler, call = chains[0]
    trace = next(t for t in traces if update in t["spans"])
    assert trace["processes"][update["processID"]]["serviceName"] == service
    tags = {t["key"]: t["value"] for t in call["tags"]}
    assert tags["telegram.api.method"] == "sendMessage"
    assert tags["span.kind"] == "client"
    for url in (tags[k] for k in ("url.full", "http.url") if k in tags):
        assert "/bot[REDACTED:bot_token]/sendMessage" in str(url)
    secret = DEFAULT_TOKEN.partition(":")[2]  # the token the demo's stand-in accepts
    assert secret and secret not in body


def test_jaeger_stores_redacted_traces(jaeger: tuple[str, str], tmp_path: Path) -> None:
    """Secrets planted by an SDK without crocotel: the agent's redaction is what Jaeger shows."""
    otlp, api = jaeger
    with OtlpReceiver() as other:
        env = agent_env(tmp_path / "queue", otlp, other.endpoint, other.endpoint, other.endpoint)
        with running_agent(otelcol_binary(), env, tmp_path / "agent.log") as agent:
            _send_spans(agent)
            body, traces = "", []
            for _ in range(300):  # bounded; the final control span is sent last
                body, traces = _traces(api, "collector-e2e")
                if any(
                    s["operationName"] == "telegram.update callback_query" for t in traces for s in t["spans"]
                ):
                    break
                time.sleep(0.1)
    names = sorted(s["operationName"] for t in traces for s in t["spans"])
    # the noise (successful empty polls, health probes) dropped; failed and delivering polls kept
    assert names == [
        "getUpdates",
        "getUpdates",
        "sendMessage",
        "telegram.update callback_query",
        "telegram.update message",
    ]
    assert "AAHdqTcv" not in body and "7946 0958" not in body
    assert "[REDACTED:bot_token]" in body and "[REDACTED:phone]" in body
