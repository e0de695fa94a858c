"""Optional: the agent exporting to a real Jaeger v2, queried back through Jaeger's HTTP API.

Runs when ``CROCOTEL_JAEGER`` names a Jaeger v2 binary (see collector/README.md for
building one from Go modules); skipped otherwise, also in CI, which does not build Jaeger.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crocotel.testing import OtlpReceiver
from tests.collector_support import agent_env, free_port, http_get, otelcol_binary, running_agent
from tests.test_collector_agent import _send_spans

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
    binary = os.environ.get("CROCOTEL_JAEGER", "")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("set CROCOTEL_JAEGER to a Jaeger v2 binary to run this test")
    otlp, query = free_port(), free_port()
    config = tmp_path / "jaeger.yaml"
    config.write_text(_CONFIG.format(otlp=otlp, query=query, grpc=free_port()), encoding="utf-8")
    log = (tmp_path / "jaeger.log").open("wb")
    process = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    api = f"http://127.0.0.1:{query}"
    try:
        deadline = time.monotonic() + 30
        while http_get(api + "/api/services")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, "Jaeger did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{otlp}", api
    finally:
        process.terminate()
        process.wait(20)


def test_jaeger_stores_redacted_traces(jaeger: tuple[str, str], tmp_path: Path) -> None:
    otlp, api = jaeger
    binary = otelcol_binary()
    with OtlpReceiver() as other:  # logs and metrics: Jaeger takes traces only
        env = agent_env(tmp_path / "queue", otlp, other.endpoint, other.endpoint, other.endpoint)
        with running_agent(binary, env, tmp_path / "agent.log") as agent:
            _send_spans(agent)
            body = ""
            for _ in range(100):
                body = http_get(api + "/api/traces?service=collector-e2e&limit=20")[1]
                if body and sum(len(t["spans"]) for t in json.loads(body)["data"] or []) >= 2:
                    break
                time.sleep(0.2)
    names = sorted(s["operationName"] for t in json.loads(body)["data"] for s in t["spans"])
    assert names == ["sendMessage", "telegram.update message"]
    assert "AAHdqTcv" not in body and "7946 0958" not in body
    assert "[REDACTED:bot_token]" in body and "[REDACTED:phone]" in body
