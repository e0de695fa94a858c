"""The distro as an operator meets it: an unchanged app launched with ``opentelemetry-instrument``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from importlib import metadata

import pytest

from crocotel.configurator import EXIT_CONFIG
from crocotel.testing import OtlpReceiver
from tests.support import SPAN_APP, base_env, instrumented, wait_line

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def scrape(port: str, accept: str = "") -> tuple[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def bucket(text: str, name: str, le: str) -> float:
    """The cumulative count of one histogram bucket in a text exposition."""
    for line in text.splitlines():
        if line.startswith(name + "_bucket{") and f'le="{le}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} bucket le={le} in:\n{text}")


def test_upstream_distro_is_not_needed() -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("opentelemetry-distro")
    names = [ep.name for ep in metadata.entry_points(group="opentelemetry_distro")]
    assert names == ["crocotel"]


def test_span_and_histogram_arrive_with_second_buckets(receiver: OtlpReceiver) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="span-app")
    port = env["OTEL_EXPORTER_PROMETHEUS_PORT"]
    proc = instrumented([SPAN_APP, "serve"], env)
    try:
        wait_line(proc, "READY")
        content_type, text = scrape(port)
        assert content_type.startswith("text/plain")
        # 42 ms lands between the 25 ms and 50 ms bounds, not in a 5 s bucket
        assert bucket(text, "app_work_duration_seconds", "0.005") == 0.0
        assert bucket(text, "app_work_duration_seconds", "0.025") == 0.0
        assert bucket(text, "app_work_duration_seconds", "0.05") == 1.0
        assert bucket(text, "app_work_duration_seconds", "60.0") == 1.0
        assert "target_info{" in text and 'service_name="span-app"' in text
        # SDK self-metrics are switched on and visible: queue size and capacity, spans processed
        # or dropped (error_type="queue_full"); not the per-span counters (see bootstrap)
        assert "otel_sdk_processor_span_queue_capacity" in text
        assert "otel_sdk_processor_span_queue_size" in text
        assert "otel_sdk_span_started" not in text
        content_type, text = scrape(port, OPENMETRICS)
        assert content_type.startswith("application/openmetrics-text")
        assert text.rstrip().endswith("# EOF")
        assert "app_work_duration_seconds_bucket" in text
    finally:
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert receiver.wait_for(lambda r: any(s.name == "work 0" for s in r.spans()), timeout=10)
    span = next(s for s in receiver.spans() if s.name == "work 0")
    assert span.resource["service.name"] == "span-app"
    assert span.resource["telemetry.distro.name"] == "crocotel"
    assert "service.instance.id" in span.resource


def test_bad_config_reports_once_and_the_app_still_runs(receiver: OtlpReceiver) -> None:
    env = base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_TRACES_EXPORTER="otlpp",
        CROCOTEL_SHUTDOWN_TIMEOUT="-3",
    )
    proc = instrumented([SPAN_APP, "exit", "3"], env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "DONE" in out
    lines = [line for line in err.splitlines() if "OTEL_TRACES_EXPORTER" in line]
    assert len(lines) == 1, err
    assert "'otlpp'" in lines[0] and "otlp, console, none" in lines[0] and "traces disabled" in lines[0]
    assert any("CROCOTEL_SHUTDOWN_TIMEOUT='-3'" in line for line in err.splitlines())


def test_strict_mode_exits_before_the_app_starts() -> None:
    env = base_env(OTEL_EXPORTER_PROMETHEUS_PORT="http", CROCOTEL_STRICT="true")
    proc = instrumented([SPAN_APP, "exit"], env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_CONFIG
    assert "DONE" not in out and "app started" not in err
    assert "OTEL_EXPORTER_PROMETHEUS_PORT='http'" in err and "0 to 65535" in err


def test_port_in_use_is_reported_and_spans_still_flow(receiver: OtlpReceiver) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(env["OTEL_EXPORTER_PROMETHEUS_PORT"])))
        squatter.listen()
        proc = instrumented([SPAN_APP, "exit", "2"], env)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "DONE" in out
    assert "already in use" in err and "OTEL_EXPORTER_PROMETHEUS_PORT" in err
    assert env["OTEL_EXPORTER_PROMETHEUS_PORT"] in err
    assert receiver.wait_for(lambda r: len(r.spans()) == 2, timeout=10)


def plain_returncode_on_sigterm(extra_env: dict[str, str]) -> int:
    """How the same app ends on SIGTERM without any telemetry, for comparison."""
    env = base_env(**extra_env)
    proc = subprocess.Popen(
        [sys.executable, SPAN_APP, "burst", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_line(proc, "READY")  # type: ignore[arg-type]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    return proc.returncode


@pytest.mark.parametrize("app_handler", [None, "3"], ids=["default-action", "app-handler"])
def test_sigterm_flushes_buffered_spans_and_keeps_the_exit_status(
    receiver: OtlpReceiver, app_handler: str | None
) -> None:
    extra = {"APP_SIGTERM_EXIT": app_handler} if app_handler else {}
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="60000", **extra)
    proc = instrumented([SPAN_APP, "burst", "40"], env)
    wait_line(proc, "READY")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == plain_returncode_on_sigterm(extra)
    names = {s.name for s in receiver.spans()}
    assert names == {f"work {i}" for i in range(40)}, f"lost {40 - len(names)} of 40 spans"


def test_exit_is_bounded_when_the_collector_never_answers() -> None:
    """A Collector that accepts but never replies: the stock exporter would wait its 60 s timeout."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        endpoint = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        env = base_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_TIMEOUT="60",
            CROCOTEL_SHUTDOWN_TIMEOUT="1",
        )
        proc = instrumented([SPAN_APP, "exit", "5"], env)
        # an unbounded flush would sit on the 60 s export timeout and trip this limit;
        # the real exit time is a benchmark figure (benchmarks/bench_shutdown.py)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "DONE" in out
    assert "CROCOTEL_SHUTDOWN_TIMEOUT=1" in err


def test_no_collector_means_few_warning_lines() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, CROCOTEL_SHUTDOWN_TIMEOUT="2")
    proc = instrumented([SPAN_APP, "exit", "50"], env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "DONE" in out
    crocotel_lines = [line for line in err.splitlines() if line.startswith("crocotel:")]
    assert 1 <= len(crocotel_lines) <= 3, err
    assert "Traceback" not in err


def test_an_installed_but_unused_aiogram_is_never_imported() -> None:
    """Importing aiogram costs seconds of CPU: only a bot that imports it may pay for it."""
    code = "import sys; print('aiogram' in sys.modules)"
    proc = instrumented(["-c", code], base_env())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "False"
