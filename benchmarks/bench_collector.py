"""Agent Collector throughput with its redaction processors on and off, and its memory under load.

Both configs run the same binary (``scripts/build-collector``) on 127.0.0.1 in the same
run: ``on`` is collector/otelcol-agent.yaml as shipped, ``off`` the same with
``transform/redact`` and ``redaction/secret_keys`` taken out of the pipelines. A
pre-encoded OTLP/HTTP request (spans with bot tokens, phone numbers and secrets in
their attributes, like a chatty bot would send) is posted by a few threads; the time
runs until the Collector's own ``otelcol_exporter_sent_spans_total`` reaches the total.
The sink answers every export with 200 without decoding, but counts the bodies that
still carry the planted token and those with ``[REDACTED:bot_token]``: every ``on`` run
must deliver only redacted bodies and every ``off`` run only unredacted ones, or the
benchmark stops (a config that did not change would compare a thing with itself).
Rounds alternate on/off. Prints one JSON line at the end.

    .venv/bin/python benchmarks/bench_collector.py [--spans 200000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span  # noqa: E402

from tests.collector_support import (  # noqa: E402
    AGENT_CONFIG,
    agent_env,
    http_get,
    metric_values,
    start_agent,
    stop_agent,
)

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
SPANS_PER_REQUEST = 500
SENDERS = 2
DRAIN_TIMEOUT = 300.0
REDACTION = ("transform/redact", "redaction/secret_keys")


class _Seen:
    """Bodies the sink received with the planted token, and with its redaction marker."""

    lock = threading.Lock()
    leaked = 0
    redacted = 0

    @classmethod
    def reset(cls) -> None:
        with cls.lock:
            cls.leaked = cls.redacted = 0


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":  # the otlp_http exporter's default
            body = gzip.decompress(body)
        with _Seen.lock:
            _Seen.leaked += TOKEN.encode() in body
            _Seen.redacted += b"[REDACTED:bot_token]" in body
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _request() -> bytes:
    """One export of SPANS_PER_REQUEST spans, a third of them carrying something to redact."""
    spans = []
    for i in range(SPANS_PER_REQUEST):
        attrs = {
            "telegram.api.method": "sendMessage",
            "telegram.update.type": "message",
            "url.full": f"https://api.telegram.org/bot{TOKEN}/sendMessage" if i % 3 == 0 else "/sendMessage",
            "telegram.note": "call me at +44 20 7946 0958" if i % 3 == 1 else "hello there",
            "api_key": "hunter2-plain-s3cr3t",
        }
        spans.append(
            Span(
                trace_id=(i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name="sendMessage",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=1_700_000_000_000_000_000,
                end_time_unix_nano=1_700_000_000_005_000_000,
                attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()],
            )
        )
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="bench-collector"))
    )
    return ExportTraceServiceRequest(resource_spans=[resource_spans]).SerializeToString()


def _config_without_redaction(directory: Path) -> Path:
    """The shipped agent config with the redaction processors taken out of every pipeline (checked)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    config = yaml.load(AGENT_CONFIG.read_text(encoding="utf-8"))
    removed = 0
    for pipeline in config["service"]["pipelines"].values():
        processors = pipeline.get("processors", [])
        kept = [p for p in processors if p not in REDACTION]
        removed += len(processors) - len(kept)
        pipeline["processors"] = kept
    # traces, metrics and logs each ran both processors; if not, "off" is not what it says
    if removed != 3 * len(REDACTION):
        raise SystemExit(
            f"took {removed} redaction processors out of the pipelines, expected {3 * len(REDACTION)}"
        )
    path = directory / "agent-no-redaction.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(config, out)
    return path


def _send(address: str, body: bytes, requests: int) -> None:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/x-protobuf"}
    sent = 0
    for _ in range(requests * 50):  # bounded: refused requests are retried, at most 50 times each
        if sent == requests:
            break
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            sent += 1
        else:
            time.sleep(0.05)  # memory_limiter or a full queue refused it; the SDK would retry too
    conn.close()


def _sent(agent_metrics: str) -> float:
    return sum(metric_values(agent_metrics, "otelcol_exporter_sent_spans_total"))


def run_once(
    binary: Path, config: Path, sink: str, total: int, body: bytes, workdir: Path
) -> dict[str, float]:
    env = agent_env(Path(tempfile.mkdtemp(dir=workdir)), sink, sink, sink, sink)
    _Seen.reset()
    agent = start_agent(binary, env, workdir / "agent.log", config=config)
    rss: list[float] = []
    heap: list[float] = []
    try:
        requests = total // SPANS_PER_REQUEST
        address = env["CROCOTEL_COLLECTOR_OTLP_HTTP_ENDPOINT"]
        threads = [
            threading.Thread(target=_send, args=(address, body, requests // SENDERS)) for _ in range(SENDERS)
        ]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        expected = (requests // SENDERS) * SENDERS * SPANS_PER_REQUEST
        done = 0.0
        while time.monotonic() - start < DRAIN_TIMEOUT:
            text = http_get(agent.telemetry)[1]
            rss += metric_values(text, "otelcol_process_memory_rss_bytes")
            heap += metric_values(text, "otelcol_process_runtime_heap_alloc_bytes")
            done = _sent(text)
            if done >= expected:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        for thread in threads:
            thread.join(timeout=DRAIN_TIMEOUT)
        if done < expected:
            raise SystemExit(f"only {done:.0f} of {expected} spans were exported within {DRAIN_TIMEOUT} s")
    finally:
        stop_agent(agent)
    return {
        "bodies_leaked": _Seen.leaked,
        "bodies_redacted": _Seen.redacted,
        "spans_per_s": expected / elapsed,
        "max_rss_mib": max(rss, default=0) / 2**20,
        "max_heap_mib": max(heap, default=0) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating on/off rounds")
    parser.add_argument("--binary", default=os.environ.get("CROCOTEL_OTELCOL", ""))
    args = parser.parse_args()
    binary = Path(
        args.binary or subprocess.check_output([str(REPO / "scripts" / "build-collector")], text=True).strip()
    )
    body = _request()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_address[1]}"
    results: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        configs = {"on": AGENT_CONFIG, "off": _config_without_redaction(workdir)}
        for round_no in range(args.rounds):
            for label in ("on", "off") if round_no % 2 == 0 else ("off", "on"):
                result = run_once(binary, configs[label], sink, args.spans, body, workdir)
                results[label].append(result)
                print(f"round {round_no} redaction {label}: {result}", file=sys.stderr)
                leaked, redacted = result["bodies_leaked"], result["bodies_redacted"]
                if (label == "on" and (leaked or not redacted)) or (
                    label == "off" and (redacted or not leaked)
                ):
                    raise SystemExit(
                        f"redaction {label}: {leaked} bodies with the token, {redacted} redacted: "
                        "the two configs do not differ as they should"
                    )
    server.shutdown()
    out: dict[str, float | int | str] = {"binary": binary.name, "spans": args.spans, "rounds": args.rounds}
    for label in ("on", "off"):
        out[f"redaction_{label}_spans_per_s"] = round(
            statistics.median(r["spans_per_s"] for r in results[label])
        )
        out[f"redaction_{label}_max_rss_mib"] = round(max(r["max_rss_mib"] for r in results[label]), 1)
        out[f"redaction_{label}_max_heap_mib"] = round(max(r["max_heap_mib"] for r in results[label]), 1)
    out["throughput_ratio_on_vs_off"] = round(
        float(out["redaction_on_spans_per_s"]) / float(out["redaction_off_spans_per_s"]), 3
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
