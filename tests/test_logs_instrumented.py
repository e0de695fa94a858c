"""Logging as an operator meets it: an unchanged app under ``opentelemetry-instrument``.

crocotel starts before the app's code, so the app's own ``basicConfig`` comes after it:
these tests check the precedence rules of docs/logging.md in that real order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crocotel.testing import OtlpReceiver
from tests.support import REPO, base_env, instrumented

pytestmark = pytest.mark.integration

LOG_APP = str(REPO / "tests" / "apps" / "log_app.py")


def run(mode: str, receiver: OtlpReceiver, **env: str) -> list[str]:
    return run_both(mode, receiver, None, **env)[0]


def run_both(
    mode: str, receiver: OtlpReceiver, bin_dir: Path | None = None, **env: str
) -> tuple[list[str], str]:
    """The app's stdout lines (without its DONE) and its stderr."""
    proc = instrumented(
        [LOG_APP, mode],
        base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="log-app", **env),
        bin_dir,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert "DONE" in lines, (out, err)
    return [line for line in lines if line != "DONE"], err


def span_ids(receiver: OtlpReceiver) -> tuple[str, str]:
    assert receiver.wait_for(lambda r: any(s.name == "handle update" for s in r.spans()), timeout=15)
    span = next(s for s in receiver.spans() if s.name == "handle update")
    return span.trace_id, span.span_id


def test_no_logging_config_keeps_python_levels(receiver: OtlpReceiver) -> None:
    """Without CROCOTEL_LOG_LEVEL the root stays at Python's WARNING: INFO is dropped, as without us."""
    records = [json.loads(line) for line in run("none", receiver)]
    messages = [r["message"] for r in records]
    assert messages == ["library says hi", "failed"]


def test_no_logging_config_gives_json_lines_with_ids(receiver: OtlpReceiver) -> None:
    records = [json.loads(line) for line in run("none", receiver, CROCOTEL_LOG_LEVEL="INFO")]
    trace_id, span_id = span_ids(receiver)
    by_message = {r["message"]: r for r in records}
    handled = by_message["handled update 7"]
    assert (handled["trace_id"], handled["span_id"]) == (trace_id, span_id)
    assert handled["service.name"] == "log-app" and handled["update_type"] == "message"
    assert "debug detail" not in by_message  # CROCOTEL_LOG_LEVEL=INFO
    assert "trace_id" not in by_message["library says hi"]
    assert by_message["failed"]["exception"]["type"] == "RuntimeError"
    assert receiver.wait_for(lambda r: any(log.body == "handled update 7" for log in r.logs()), timeout=15)
    exported = next(log for log in receiver.logs() if log.body == "handled update 7")
    assert (exported.trace_id, exported.span_id) == (trace_id, span_id)
    assert not {"otelTraceID", "otelSpanID", "trace_id", "span_id"} & set(exported.attributes)


def test_app_basicconfig_with_a_format_takes_effect(receiver: OtlpReceiver) -> None:
    lines = run("basic-format", receiver)
    trace_id, span_id = span_ids(receiver)
    assert lines[0] == f"APP|INFO|log_app|handled update 7|{trace_id}|{span_id}"
    assert lines[1] == "APP|WARNING|aiohttp.client|library says hi||"
    assert lines[2] == "APP|ERROR|log_app|failed||"
    assert lines[3] == "Traceback (most recent call last):"
    assert not any(line.startswith("{") for line in lines)  # crocotel stepped aside
    assert receiver.wait_for(lambda r: any(log.body == "failed" for log in r.logs()), timeout=15)


def test_app_basicconfig_with_only_a_level_keeps_json(receiver: OtlpReceiver) -> None:
    records = [json.loads(line) for line in run("basic-level", receiver)]
    # at DEBUG the exporter's HTTP client (urllib3) speaks too: on stdout, never exported
    messages = [r["message"] for r in records if r["logger"] in ("log_app", "aiohttp.client")]
    assert messages == ["handled update 7", "debug detail", "library says hi", "failed"]
    assert receiver.wait_for(lambda r: any(log.body == "failed" for log in r.logs()), timeout=15)
    assert not any(log.scope.startswith("urllib3") for log in receiver.logs())


def test_format_none_leaves_output_to_the_app(receiver: OtlpReceiver) -> None:
    lines = run("basic-format", receiver, CROCOTEL_LOG_FORMAT="none")
    assert lines[0].startswith("APP|INFO|log_app|handled update 7|") and len(lines[0].split("|")[4]) == 32


def test_text_format(receiver: OtlpReceiver) -> None:
    lines = run("none", receiver, CROCOTEL_LOG_FORMAT="text", CROCOTEL_LOG_LEVEL="INFO")
    trace_id, span_id = span_ids(receiver)
    assert lines[0].endswith(
        f" INFO  log_app: handled update 7 [trace_id={trace_id} span_id={span_id}] update_type=message"
    )


def test_log_correlation_formats_first_and_force_lets_the_app_choose(receiver: OtlpReceiver) -> None:
    """A bootstrapped install with OTEL_PYTHON_LOG_CORRELATION=true: the logging instrumentation
    calls basicConfig(format=...) before the app, so the app's own basicConfig does nothing (as
    in plain Python and under the stock distro) and force=True gives the app its format back,
    with crocotel's ids in it and each record exported once (docs/logging.md)."""
    from tests.bootstrap_support import bootstrapped_bin

    bin_dir = bootstrapped_bin()
    lines, err = run_both("basic-format", receiver, bin_dir, OTEL_PYTHON_LOG_CORRELATION="true")
    assert not any(line.startswith("APP|") for line in lines), lines
    assert "handled update 7" in err and "trace_id=" in err, err[-2000:]

    forced, err = run_both("basic-force", receiver, bin_dir, OTEL_PYTHON_LOG_CORRELATION="true")
    assert receiver.wait_for(lambda r: [s.name for s in r.spans()].count("handle update") == 2, timeout=15)
    span = [s for s in receiver.spans() if s.name == "handle update"][-1]  # the second run's
    trace_id, span_id = span.trace_id, span.span_id
    assert f"APP|INFO|log_app|handled update 7|{trace_id}|{span_id}" in forced, forced
    assert "handled update 7" not in err, err[-2000:]
    assert receiver.wait_for(lambda r: sum(log.body == "failed" for log in r.logs()) == 2, timeout=15)
    assert [log.body for log in receiver.logs()].count("handled update 7") == 2  # once per run
