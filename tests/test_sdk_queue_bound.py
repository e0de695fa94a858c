"""OTEL_BSP_MAX_QUEUE_SIZE bounds the bot's memory while the Collector is down, and counts the drops.

The README promises that spans beyond the queue are dropped, not kept, and show up in
``otel_sdk_processor_span_processed_total{error_type="queue_full"}``. An app makes
spans of about 1 KiB in waves against a closed port: after the queue has filled, more
waves must not grow its resident memory by anything near what keeping them would cost,
and /metrics must count them as dropped.
"""

from __future__ import annotations

import urllib.request

import pytest

from tests.support import REPO, base_env, free_port, instrumented, wait_line
from tests.telegram_support import prometheus_samples

pytestmark = pytest.mark.integration

QUEUE = 512
WAVES, PER_WAVE = 6, 10_000


def test_queue_bound_holds_memory_flat_and_counts_drops() -> None:
    env = base_env(
        # nothing listens there: the Collector is down
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        OTEL_BSP_MAX_QUEUE_SIZE=str(QUEUE),
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_LOGS_EXPORTER="none",
    )
    proc = instrumented([str(REPO / "tests" / "apps" / "queue_app.py"), str(WAVES), str(PER_WAVE)], env)
    try:
        lines = wait_line(proc, "READY")
        url = f"http://127.0.0.1:{env['OTEL_EXPORTER_PROMETHEUS_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            scraped = response.read().decode()
    finally:
        _, err = proc.communicate(timeout=60)  # closes stdin: the app exits
    assert proc.returncode == 0, err[-3000:]

    rss = [int(line.split()[2]) for line in lines if line.startswith("RSS ")]
    assert len(rss) == WAVES, lines
    # kept, the spans after the first wave would take at least their payloads: 1 KiB each
    kept_cost = (WAVES - 2) * PER_WAVE * 1024
    growth = max(rss[1:]) - rss[1]
    assert growth < kept_cost / 4, f"RSS grew {growth} bytes over waves 2-{WAVES}: {rss}"

    processed = {
        labels.get("error_type", ""): value
        for name, labels, value in prometheus_samples(scraped)
        if name == "otel_sdk_processor_span_processed_total"
    }
    total = WAVES * PER_WAVE
    dropped = processed.get("queue_full", 0)
    handed = sum(value for error_type, value in processed.items() if error_type != "queue_full")
    # every span was dropped, handed to the (failing) exporter, or still waits in the queue
    assert total - QUEUE <= dropped + handed <= total, processed
    assert dropped >= 0.9 * total, processed  # with the Collector down, nearly all of them
