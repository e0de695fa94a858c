"""The ``crocotel`` command: run, config, doctor."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading

import pytest

from crocotel.configurator import EXIT_CONFIG
from crocotel.testing import OtlpReceiver
from tests.conftest import BIN, REPO, SPAN_APP, base_env

CROCOTEL = str(BIN / "crocotel")


def crocotel(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CROCOTEL, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.integration
def test_run_instruments_the_command(receiver: OtlpReceiver) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    done = crocotel("run", "--", sys.executable, SPAN_APP, "exit", "3", env=env)
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr
    assert receiver.wait_for(lambda r: {s.name for s in r.spans()} >= {"work 0", "work 1", "work 2"})


def test_run_explains_a_missing_command() -> None:
    done = crocotel("run", "--", "no-such-bot-binary", env=base_env())
    assert done.returncode == 127
    assert "'no-such-bot-binary' not found on PATH" in done.stderr


def test_run_without_a_command_shows_usage() -> None:
    done = crocotel("run", env=base_env())
    assert done.returncode == 2 and "crocotel run -- python -m mybot" in done.stderr


def test_run_strict_refuses_bad_config() -> None:
    done = crocotel("run", "--", sys.executable, SPAN_APP, "exit", env=base_env(
        CROCOTEL_STRICT="true", OTEL_EXPORTER_OTLP_PROTOCOL="udp"
    ))  # fmt: skip
    assert done.returncode == EXIT_CONFIG and "DONE" not in done.stdout
    assert "OTEL_EXPORTER_OTLP_PROTOCOL='udp'" in done.stderr


def test_config_prints_effective_settings_with_secrets_masked() -> None:
    env = base_env(OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer abc.def.ghi", OTEL_SERVICE_NAME="crocbot")
    done = crocotel("config", env=env)
    assert done.returncode == 0, done.stderr
    assert "OTEL_SERVICE_NAME" in done.stdout and "crocbot  [env]" in done.stdout
    assert "abc.def.ghi" not in done.stdout and "****** (set)" in done.stdout
    assert "traces  -> http/protobuf http://localhost:4318/v1/traces" in done.stdout


def test_config_exits_non_zero_on_problems() -> None:
    done = crocotel("config", env=base_env(OTEL_METRICS_EXPORTER="statsd"))
    assert done.returncode == 1 and "OTEL_METRICS_EXPORTER='statsd'" in done.stderr


def test_doctor_reports_ports_endpoint_instrumentations_and_redaction(receiver: OtlpReceiver) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = base_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_PROMETHEUS_PORT=str(squatter.getsockname()[1]),
        )
        done = crocotel("doctor", env=env)
    out = done.stdout
    assert done.returncode == 1, out
    assert "[FAIL] metrics port" in out and "in use" in out
    assert f"[ok  ] traces: an OTLP receiver answers at {receiver.endpoint}/v1/traces" in out
    assert "instrumentation aiohttp-client: active" in out
    assert "[ok  ] redaction self-test" in out and "AAHdqTcv" not in out


def test_doctor_warns_when_the_collector_is_down() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
    done = crocotel("doctor", env=env)
    assert done.returncode == 0, done.stdout
    assert "[warn] traces: http://127.0.0.1:" in done.stdout and "not reachable" in done.stdout


def test_doctor_tells_a_web_server_from_an_otlp_receiver() -> None:
    """A port that accepts connections but speaks something else is not called reachable."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        done = crocotel("doctor", env=base_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}"))
    finally:
        server.shutdown()
        server.server_close()
    assert f"[warn] traces: http://127.0.0.1:{port}/v1/traces answered HTTP 501" in done.stdout, done.stdout
    assert "receiver answers" not in done.stdout


def test_run_passes_later_double_dashes_to_the_command() -> None:
    code = "import sys; print('ARGV', sys.argv[1:])"
    done = crocotel("run", "--", sys.executable, "-c", code, "--", "--flag", env=base_env())
    assert done.returncode == 0, done.stderr
    assert "ARGV ['--', '--flag']" in done.stdout


def test_config_never_prints_credentials_in_an_endpoint() -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT="https://user:s3cr3t-pass@collector.example:4318")
    done = crocotel("config", env=env)
    assert done.returncode == 0, done.stderr
    assert "s3cr3t-pass" not in done.stdout + done.stderr
    assert "https://******@collector.example:4318/v1/traces" in done.stdout


def test_config_problems_never_echo_credentials() -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT="ftp://user:s3cr3t-pass@collector.example")
    done = crocotel("config", env=env)
    assert (
        done.returncode == 1 and "OTEL_EXPORTER_OTLP_ENDPOINT='ftp://******@collector.example'" in done.stderr
    )
    assert "s3cr3t-pass" not in done.stdout + done.stderr
