"""A real Prometheus scrapes crocbot under crocotel: runtime and bot series, healthy target, exemplars."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from tests.health_support import wait_for
from tests.prometheus_support import prometheus, prometheus_binary
from tests.support import instrumented
from tests.telegram_support import bot_env

pytestmark = pytest.mark.integration

RUNTIME = (
    "process_memory_usage_bytes",
    "process_cpu_time_seconds_total",
    "process_open_file_descriptor_count",
    "process_thread_count",
    "process_uptime_seconds",
    "cpython_gc_collections_total",
    "crocotel_event_loop_lag_seconds_count",
    "crocotel_event_loop_tasks",
    'crocotel_health_check{check="updates"}',
    "target_info",
)
BOT = ("telegram_update_duration_seconds_count", "telegram_handler_duration_seconds_count")


def test_prometheus_scrapes_runtime_bot_series_and_trace_exemplars(
    api: BotApiThread, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    prometheus_binary()
    env = bot_env(api, receiver, 0, OTEL_METRICS_EXPORTER="prometheus", OTEL_LOGS_EXPORTER="none")
    del env["MAX_UPDATES"]
    port = env["OTEL_EXPORTER_PROMETHEUS_PORT"]
    bot = instrumented(["-m", "examples.crocbot"], env)
    started = time.time()
    try:
        with prometheus(f"127.0.0.1:{port}", tmp_path) as prom:
            for i in range(5):
                api.push_message(f"hello {i}")
                api.push_message("/start")
            wait_for(lambda: len(api.sent) >= 10, "ten replies")

            def healthy() -> bool:
                targets = prom.api("targets")["activeTargets"]
                return bool(targets) and targets[0]["health"] == "up" and targets[0]["lastError"] == ""

            wait_for(healthy, "a healthy target")
            wait_for(lambda: all(prom.query(name) for name in RUNTIME + BOT), "every series", limit=30)
            counted = prom.query("sum(telegram_update_duration_seconds_count)")
            assert float(counted[0]["value"][1]) >= 10
            assert prom.query('target_info{service_name="crocbot-test",process_runtime_name="cpython"}')

            wait_for(lambda: len(receiver.spans()) >= 20, "spans at the receiver")
            span_ids = {(s.trace_id, s.span_id) for s in receiver.spans()}
            for metric in (
                "telegram_update_duration_seconds_bucket",
                "telegram_handler_duration_seconds_bucket",
            ):
                found = wait_for(lambda m=metric: prom.exemplars(m, started), f"exemplars of {metric}")
                exemplars = [e["labels"] for series in found for e in series["exemplars"]]
                assert exemplars, found
                for labels in exemplars:
                    assert (labels["trace_id"], labels["span_id"]) in span_ids, labels
            names = {s.name for s in receiver.spans() if any(s.trace_id == e["trace_id"] for e in exemplars)}
            assert any(n.startswith("telegram.handler") for n in names), names
    finally:
        bot.send_signal(signal.SIGTERM)
        _, err = bot.communicate(timeout=30)
    assert "Traceback" not in err, err[-3000:]
