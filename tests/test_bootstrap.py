"""In-process checks of the bootstrap: what configure() builds, flushes and chains."""

from __future__ import annotations

import logging
import os
import signal
import socket
import urllib.request
from collections.abc import Iterator
from types import FrameType

import pytest
from opentelemetry import metrics, trace

import crocotel
from crocotel import config, diagnostics, lifecycle
from crocotel.testing import OtlpReceiver, reset_telemetry
from tests.support import set_in_process_env

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver) -> Iterator[OtlpReceiver]:
    """A clean environment pointing at the receiver, and a reset bootstrap afterwards."""
    set_in_process_env(monkeypatch, receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    reset_telemetry()
    yield receiver
    reset_telemetry()


def test_configure_is_idempotent_and_exports(fresh: OtlpReceiver) -> None:
    first = crocotel.configure()
    assert crocotel.configure() is first
    with trace.get_tracer("t").start_as_current_span("in-process") as span:
        span.set_attribute("url.full", f"https://api.telegram.org/bot{TOKEN}/sendMessage")
    assert first.flush(5.0)
    assert fresh.wait_for(lambda r: any(s.name == "in-process" for s in r.spans()))
    exported = next(s for s in fresh.spans() if s.name == "in-process")
    assert TOKEN not in str(exported.attributes["url.full"])
    assert "sendMessage" in str(exported.attributes["url.full"])
    assert crocotel.shutdown(5.0)


def test_metrics_server_serves_redaction_counter(fresh: OtlpReceiver) -> None:
    telemetry = crocotel.configure()
    assert telemetry.metrics_url is not None
    counter = metrics.get_meter("t").create_counter("bot.things")
    counter.add(1, {"label": f"leak {TOKEN}"})
    with trace.get_tracer("t").start_as_current_span(f"span with {TOKEN}"):
        pass
    telemetry.flush(5.0)
    for _ in range(2):  # redactions made while rendering a scrape are counted in the next one
        with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
            text = response.read().decode()
    assert "bot_things_total" in text
    assert TOKEN not in text and "AAHdqTcv" not in text
    assert text.count("bot_things_total{") == 1, "each series exactly once per scrape"
    redactions = [line for line in text.splitlines() if line.startswith("crocotel_redactions_total{")]
    assert any('kind="bot_token"' in line and 'signal="traces"' in line for line in redactions), redactions
    assert any('kind="bot_token"' in line and 'signal="metrics"' in line for line in redactions), redactions


def test_self_metrics_of_the_pipeline_and_not_per_span(fresh: OtlpReceiver) -> None:
    """The batch processors and exporters report their queue and exports on /metrics; tracers
    made after configure() count nothing per span (a metric operation per span on the bot's
    thread); and the application's environment is left as it was."""
    telemetry = crocotel.configure()
    assert "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED" not in os.environ
    with trace.get_tracer("made.after.configure").start_as_current_span("work"):
        pass
    assert telemetry.flush(5.0)
    assert telemetry.metrics_url is not None
    with urllib.request.urlopen(telemetry.metrics_url, timeout=5) as response:
        text = response.read().decode()
    assert "otel_sdk_processor_span_processed_total" in text
    assert "otel_sdk_exporter_span_exported_total" in text
    assert "otel_sdk_span_started" not in text and "otel_sdk_span_live" not in text
    tracer = trace.get_tracer("made.after.configure")
    inner = getattr(tracer, "_tracer", tracer)  # the API's proxy, if any, around the SDK tracer
    assert type(inner._tracer_metrics).__name__ == "NoOpTracerMetrics"


def test_sdk_disabled_builds_nothing(fresh: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = crocotel.configure()
    assert telemetry.tracer_provider is None and telemetry.server is None
    assert crocotel.shutdown()


def test_strict_mode_raises_config_error(fresh: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROCOTEL_STRICT", "true")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "loki")
    with pytest.raises(crocotel.ConfigError) as caught:
        crocotel.configure()
    assert "OTEL_LOGS_EXPORTER='loki'" in str(caught.value)


def test_strict_mode_treats_a_taken_port_as_fatal(
    fresh: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", str(squatter.getsockname()[1]))
        monkeypatch.setenv("CROCOTEL_STRICT", "true")
        with pytest.raises(crocotel.ConfigError) as caught:
            crocotel.configure()
    assert "OTEL_EXPORTER_PROMETHEUS_PORT" in str(caught.value)


def test_signal_handler_flushes_then_chains_to_the_app_handler(fresh: OtlpReceiver) -> None:
    calls: list[int] = []

    def app_handler(signum: int, _frame: FrameType | None) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGTERM, app_handler)
    try:
        crocotel.configure()
        with trace.get_tracer("t").start_as_current_span("before-sigterm"):
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == [signal.SIGTERM]
        assert any(s.name == "before-sigterm" for s in fresh.spans()), "flush must happen before chaining"
    finally:
        lifecycle.uninstall()
        signal.signal(signal.SIGTERM, previous)


def test_run_parallel_reports_a_missed_deadline() -> None:
    import threading

    gate = threading.Event()
    assert lifecycle.run_parallel([lambda: None, lambda: 1 / 0], 2.0)
    assert not lifecycle.run_parallel([gate.wait], 0.05)
    gate.set()


def test_diagnostics_rate_limit_counts_suppressed() -> None:
    now = [0.0]
    limiter = diagnostics.RateLimitFilter(interval=60.0, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, None, None)

    exporter = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    assert limiter.filter(record(exporter, "Transient error %s"))
    assert not limiter.filter(record(exporter, "Failed to export"))
    assert not limiter.filter(record(exporter, "Transient error %s"))
    now[0] = 61.0
    again = record(exporter, "Transient error %s")
    assert limiter.filter(again)
    formatted = diagnostics.DiagnosticsFormatter().format(again)
    assert "2 similar messages suppressed" in formatted and formatted.startswith("crocotel: ")


def test_describe_reports_invalid_source() -> None:
    env = {"OTEL_TRACES_SAMPLER": "sometimes"}
    rows = {name: source for name, _, source in config.describe(config.load(env), env)}
    assert rows["OTEL_TRACES_SAMPLER"] == "INVALID, ignored"


def test_config_errors_are_scrubbed_before_they_are_printed(
    fresh: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"bot.url https://api.telegram.org/bot{TOKEN}/getMe")
    crocotel.configure()
    err = capsys.readouterr().err
    assert "OTEL_RESOURCE_ATTRIBUTES" in err and "[REDACTED:bot_token]" in err
    assert "AAHdqTcv" not in err
