"""Telemetry never changes how the bot exits, even when the flush deadline passes mid-redaction."""

from __future__ import annotations

import pytest

from tests.support import REPO, base_env, free_port, instrumented

pytestmark = pytest.mark.integration


def test_exit_past_the_flush_deadline_keeps_the_exit_status() -> None:
    """A long queue, a Collector that is down, a 1 s deadline: the export thread is still in the
    redaction engine's native code when the interpreter finalizes. That used to abort the process
    (SIGABRT, status 134: "terminate called without an active exception") instead of exiting 0.

    Over gRPC: that exporter gets the SDK's spans and redacts them at export (over HTTP they are
    redacted as they end, see the next test)."""
    env = base_env(
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nobody listens
        OTEL_BSP_MAX_QUEUE_SIZE="1000000",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        CROCOTEL_SHUTDOWN_TIMEOUT="1",
    )
    for _ in range(2):
        proc = instrumented([str(REPO / "tests" / "apps" / "busy_exit_app.py"), "30000"], env)
        out, err = proc.communicate(timeout=120)
        assert "DONE" in out
        assert "not fully flushed within CROCOTEL_SHUTDOWN_TIMEOUT=1 s" in err  # the deadline did pass
        assert proc.returncode == 0, err[-2000:]
        assert "terminate called" not in err


def test_a_long_queue_leaves_quickly_over_http_with_the_collector_down() -> None:
    """Over OTLP/HTTP spans are redacted and encoded as they end: at exit the queue holds bytes,
    each batch gets one attempt, and the process exits 0 within the deadline."""
    env = base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nobody listens
        OTEL_BSP_MAX_QUEUE_SIZE="1000000",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        CROCOTEL_SHUTDOWN_TIMEOUT="5",
    )
    # 8,000 spans: 16 batches of 512 at exit; each span is redacted as it ends, a second each thousand
    proc = instrumented([str(REPO / "tests" / "apps" / "busy_exit_app.py"), "8000"], env)
    out, err = proc.communicate(timeout=120)
    assert "DONE" in out
    assert proc.returncode == 0, err[-2000:]
    assert "not fully flushed" not in err
    assert "terminate called" not in err
