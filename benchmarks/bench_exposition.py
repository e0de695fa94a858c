"""Scrape time and size of /metrics with 10k series, against prometheus_client's own exposition.

Both sides hold the same 10,000 counter series (one label, 10k values) and are
scraped over HTTP on loopback, in the same run: crocotel's ``TelemetryServer``
over the SDK (collection, exemplar-aware translation, prometheus_client's
encoder) against prometheus_client's ``start_http_server`` over a
``prometheus_client.Counter`` (its default output, ``_created`` series
included, and again with them disabled, the same series as ours). Text format
and OpenMetrics. Also the cost of the event-loop heartbeat: CPU per beat on an
idle loop, times the two beats a second it runs. Prints one JSON line at the end.

    .venv/bin/python benchmarks/bench_exposition.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SERIES = 10_000
ROUNDS = 15
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(url: str, accept: str, rounds: int = ROUNDS) -> tuple[float, int]:
    """Median seconds per scrape and the body size in bytes."""
    times = []
    size = 0
    for _ in range(rounds):
        request = urllib.request.Request(url, headers={"Accept": accept})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            size = len(response.read())
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def crocotel_server() -> tuple[str, object]:
    from opentelemetry.sdk.metrics import MeterProvider

    from crocotel import metrics as metric_views
    from crocotel.server import TelemetryServer, metrics_route

    reader, registry = metric_views.prometheus_reader()
    provider = MeterProvider(metric_readers=[reader], views=metric_views.views())
    counter = provider.get_meter("bench").create_counter("app.requests")
    for i in range(SERIES):
        counter.add(1, {"user": f"user-{i}"})
    server = TelemetryServer("127.0.0.1", 0, {"/metrics": metrics_route(registry)})
    return f"{server.url}/metrics", (server, provider)


def prometheus_client_server(created: bool) -> str:
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    counter = Counter("app_requests", "", ["user"], registry=registry)
    for i in range(SERIES):
        counter.labels(f"user-{i}").inc()
    if not created:
        from prometheus_client import metrics as client_metrics

        client_metrics.disable_created_metrics()
    server, _thread = start_http_server(0, "127.0.0.1", registry=registry)
    return f"http://127.0.0.1:{server.server_address[1]}/metrics"


def heartbeat_cost(seconds: float = 2.0) -> dict[str, float]:
    """CPU per heartbeat, measured with beats back to back (interval 0) on an otherwise idle loop."""
    from opentelemetry.sdk.metrics import MeterProvider

    from crocotel.health import HEARTBEAT_S, LoopWatch

    histogram = MeterProvider().get_meter("bench").create_histogram("lag", unit="s")

    async def run() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        beats = [0]

        def counted(lag: float) -> None:
            beats[0] += 1
            histogram.record(lag)

        watch = LoopWatch(loop, counted, interval=0.0)
        cpu = time.process_time()
        watch.start()
        await asyncio.sleep(seconds)
        watch.stop()
        return time.process_time() - cpu, beats[0]

    cpu, beats = asyncio.run(run())
    per_beat = cpu / beats
    return {
        "beats_measured": beats,
        "cpu_us_per_beat": round(per_beat * 1e6, 2),
        "beats_per_second": 1 / HEARTBEAT_S,
        "cpu_us_per_second": round(per_beat / HEARTBEAT_S * 1e6, 2),
        "cpu_fraction_of_one_core": per_beat / HEARTBEAT_S,
    }


def main() -> int:
    ours, _keep = crocotel_server()
    theirs_created = prometheus_client_server(created=True)
    results: dict[str, object] = {"series": SERIES, "rounds": ROUNDS}
    for label, accept in (("text", ""), ("openmetrics", OPENMETRICS)):
        mine, my_size = scrape(ours, accept)
        theirs, their_size = scrape(theirs_created, accept)
        results[label] = {
            "crocotel_ms": round(mine * 1e3, 2),
            "crocotel_bytes": my_size,
            "prometheus_client_ms": round(theirs * 1e3, 2),
            "prometheus_client_bytes": their_size,
            "time_ratio": round(mine / theirs, 3),
        }
    theirs_plain = prometheus_client_server(created=False)
    for label, accept in (("text_no_created", ""), ("openmetrics_no_created", OPENMETRICS)):
        mine, my_size = scrape(ours, accept)
        theirs, their_size = scrape(theirs_plain, accept)
        results[label] = {
            "crocotel_ms": round(mine * 1e3, 2),
            "crocotel_bytes": my_size,
            "prometheus_client_ms": round(theirs * 1e3, 2),
            "prometheus_client_bytes": their_size,
            "time_ratio": round(mine / theirs, 3),
        }
    results["heartbeat"] = heartbeat_cost()
    results["pid"] = os.getpid()
    for key, value in results.items():
        print(f"{key}: {value}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
