"""A planted bot token and phone numbers never leave the process, on any path.

The app plants them in log messages, args, extras, exceptions and tracebacks, span names,
attributes, events and status, HTTP client URLs, metric attributes and the resource; the
test searches stdout, stderr, every OTLP request body and /metrics. Positive controls
prove each output carried the records the secrets were in.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from tests.conftest import REPO, base_env, instrumented, wait_line

pytestmark = pytest.mark.integration

TOKEN = "987654321:AAFakeTokenForLeakTests_abcdefghijk12"
SECRET_PARTS = ("AAFakeTokenForLeakTests", "7946 0958", "79460958", "447911123456", "7911123456")


def leaks(text: str) -> list[str]:
    return [part for part in SECRET_PARTS if part in text]


def run_leak_app(
    receiver: OtlpReceiver, bin_dir: Path | None = None, **extra: str
) -> tuple[str, str, str, str]:
    """Run the planting app; returns stdout, stderr, OTLP bodies and a /metrics scrape."""
    with BotApiThread(token=TOKEN) as api:
        env = base_env(
            **extra,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_RESOURCE_ATTRIBUTES=f"deployment.environment=CONTROL_ENV,bot.url=https://x/bot{TOKEN}/",
            PLANTED_TOKEN=TOKEN,
            TELEGRAM_API_URL=api.url,
        )
        proc = instrumented([str(REPO / "tests" / "apps" / "leak_app.py")], env, bin_dir)
        try:
            stdout_lines = wait_line(proc, "READY")
            url = f"http://127.0.0.1:{env['OTEL_EXPORTER_PROMETHEUS_PORT']}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                scraped = response.read().decode()
        finally:
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert receiver.wait_for(lambda r: any("CONTROL_SPAN" in s.name for s in r.spans()), timeout=10)
    assert receiver.wait_for(lambda r: len(r.logs()) >= 5, timeout=10)
    bodies = b"".join(receiver.raw_bodies()).decode("utf-8", "replace")
    return "\n".join(stdout_lines) + out, err, bodies, scraped


def test_the_search_finds_what_was_planted_when_redaction_is_off(receiver: OtlpReceiver) -> None:
    stdout, _err, bodies, scraped = run_leak_app(receiver, CROCOTEL_REDACT="off")
    assert leaks(stdout) and leaks(bodies) and leaks(scraped)


def test_nothing_planted_leaves_the_process(receiver: OtlpReceiver) -> None:
    stdout, err, bodies, scraped = run_leak_app(receiver)

    for control in (
        "CONTROL_MESSAGE",
        "CONTROL_EXTRA",
        "CONTROL_FSTRING",
        "CONTROL_HTTPX",
        "CONTROL_TRACEBACK",
        "CONTROL_EXCEPTION",
    ):
        assert control in stdout, f"{control} missing from stdout"
        assert control in bodies, f"{control} missing from OTLP logs"
    for control in (
        "CONTROL_SPAN",
        "CONTROL_ATTR",
        "CONTROL_EVENT",
        "CONTROL_STATUS",
        "CONTROL_RAISE",
        "CONTROL_ENV",
    ):
        assert control in bodies, f"{control} missing from OTLP payloads"
    assert "CONTROL_LABEL" in scraped and "[REDACTED:bot_token]" in scraped
    assert "[REDACTED:phone]" in stdout and "[REDACTED:bot_token]" in stdout
    assert any(s.name == "POST" or "getMe" in s.name for s in receiver.spans()), "HTTP client spans exported"

    assert leaks(stdout) == [], "stdout leaks"
    assert leaks(err) == [], "stderr leaks"
    assert leaks(bodies) == [], "OTLP leaks"
    assert leaks(scraped) == [], "/metrics leaks"


LOG_CONTROLS = (
    "CONTROL_MESSAGE",
    "CONTROL_EXTRA",
    "CONTROL_FSTRING",
    "CONTROL_HTTPX",
    "CONTROL_TRACEBACK",
    "CONTROL_EXCEPTION",
)


@pytest.mark.parametrize(
    ("style", "app_line"),
    [
        ("ptb", " - leak_app - INFO - CONTROL_MESSAGE user shared "),
        ("dictconfig", "APPFMT INFO leak_app: CONTROL_MESSAGE user shared "),
    ],
)
def test_the_apps_own_handlers_write_redacted_text(receiver: OtlpReceiver, style: str, app_line: str) -> None:
    """basicConfig with a format (python-telegram-bot's idiom) and dictConfig: the app's own
    handlers write its own format, and nothing planted, to stdout and stderr."""
    stdout, err, bodies, scraped = run_leak_app(receiver, LOGGING_STYLE=style)
    written = stdout + err
    assert app_line + "[REDACTED:phone]" in written, written[-3000:]
    for control in LOG_CONTROLS:
        assert control in written, f"{control} missing from the app's own output"
        assert control in bodies, f"{control} missing from OTLP logs"
    assert "[REDACTED:bot_token]" in written and "Traceback (most recent call last)" in written
    assert not any(line.startswith('{"timestamp"') for line in stdout.splitlines()), "crocotel stepped aside"
    assert leaks(stdout) == [], "stdout leaks"
    assert leaks(err) == [], "stderr leaks"
    assert leaks(bodies) == [], "OTLP leaks"
    assert leaks(scraped) == [], "/metrics leaks"


def test_the_apps_own_handler_shows_what_was_planted_when_redaction_is_off(receiver: OtlpReceiver) -> None:
    _stdout, err, _bodies, _scraped = run_leak_app(receiver, LOGGING_STYLE="ptb", CROCOTEL_REDACT="off")
    assert leaks(err), "the search on stderr would find a leak"


@pytest.mark.parametrize("correlation", ["unset", "true"])
def test_a_bootstrapped_install_keeps_json_on_stdout_no_duplicates_no_leak(
    receiver: OtlpReceiver, correlation: str
) -> None:
    """``opentelemetry-bootstrap -a install`` adds the logging instrumentation (and more);
    with or without OTEL_PYTHON_LOG_CORRELATION the records are exported once and nothing leaks."""
    from tests.bootstrap_support import bootstrapped_bin

    bin_dir = bootstrapped_bin()
    installed = list((bin_dir.parent / "lib").glob("*/site-packages/opentelemetry/instrumentation/*"))
    assert {"logging", "asyncio", "threading"} <= {path.name for path in installed}
    extra = {"OTEL_PYTHON_LOG_CORRELATION": "true"} if correlation == "true" else {}
    stdout, err, bodies, scraped = run_leak_app(receiver, bin_dir, **extra)
    if correlation == "true":
        # The instrumentation's basicConfig(format=...) is the app's choice of format: it wins.
        assert "CONTROL_MESSAGE user shared [REDACTED:phone]" in err
        assert "trace_id=" in err
    else:
        records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        messages = [r["message"] for r in records]
        assert any(m.startswith("CONTROL_MESSAGE user shared [REDACTED:phone]") for m in messages), stdout
        assert all(r.get("trace_id") for r in records if r["message"].startswith("CONTROL_MESSAGE"))
    bodies_by_control = [log.body for log in receiver.logs() if str(log.body).startswith("CONTROL_MESSAGE")]
    assert len(bodies_by_control) == 1, f"OTLP log records duplicated: {bodies_by_control}"
    for control in LOG_CONTROLS:
        assert control in bodies, f"{control} missing from OTLP logs"
    assert leaks(stdout) == [], "stdout leaks"
    assert leaks(err) == [], "stderr leaks"
    assert leaks(bodies) == [], "OTLP leaks"
    assert leaks(scraped) == [], "/metrics leaks"
