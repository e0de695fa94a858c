"""A planted bot token and phone numbers never leave the process, on any path.

The app plants them in log messages, args, extras, exceptions and tracebacks, span names,
attributes, events and status, HTTP client URLs, metric attributes and the resource; the
test searches stdout, stderr, every OTLP request body and /metrics. Positive controls
prove each output carried the records the secrets were in.
"""

from __future__ import annotations

import urllib.request

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from tests.conftest import REPO, base_env, instrumented, wait_line

pytestmark = pytest.mark.integration

TOKEN = "987654321:AAFakeTokenForLeakTests_abcdefghijk12"
SECRET_PARTS = ("AAFakeTokenForLeakTests", "7946 0958", "79460958", "447911123456", "7911123456")


def leaks(text: str) -> list[str]:
    return [part for part in SECRET_PARTS if part in text]


# Every exporter path at once: pull (/metrics), push over OTLP, and the console exporters
# that print spans and metrics on stdout.
EXPORTERS = {"OTEL_METRICS_EXPORTER": "prometheus,otlp,console", "OTEL_TRACES_EXPORTER": "otlp,console"}
RESOURCE = (
    "deployment.environment=CONTROL_ENV,"
    f"bot.url=https://x/bot{TOKEN}/,"
    "bot.owner=CONTROL_OWNER%20%2B44%2020%207946%200958"
)


def run_leak_app(receiver: OtlpReceiver, **extra: str) -> tuple[str, str, str, str]:
    """Run the planting app; returns stdout, stderr, OTLP bodies and a /metrics scrape."""
    with BotApiThread(token=TOKEN) as api:
        env = base_env(
            **EXPORTERS,
            **extra,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_RESOURCE_ATTRIBUTES=RESOURCE,
            PLANTED_TOKEN=TOKEN,
            TELEGRAM_API_URL=api.url,
        )
        proc = instrumented([str(REPO / "tests" / "apps" / "leak_app.py")], env)
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
    assert receiver.wait_for(lambda r: any(m.name == "leak.things" for m in r.metrics()), timeout=10)
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
    assert "CONTROL_OWNER" in scraped, "the resource reaches /metrics (target_info)"
    # OTLP metrics: the planted data point and the resource arrived, scrubbed
    planted = [m for m in receiver.metrics() if m.name == "leak.things"]
    point_attrs = repr([p for m in planted for p in m.points])
    assert "CONTROL_LABEL" in point_attrs and "[REDACTED:phone]" in point_attrs
    assert "[REDACTED:bot_token]" in point_attrs
    assert "CONTROL_OWNER" in repr(planted[0].resource), "OTLP metrics carry the resource"
    # the console exporters: spans and metrics as JSON on stdout, resource included
    assert '"name": "CONTROL_SPAN handle [REDACTED:bot_token]"' in stdout, "console spans"
    assert '"name": "leak.things"' in stdout and "CONTROL_LABEL" in stdout, "console metrics"
    assert "CONTROL_OWNER" in stdout, "the resource reaches the console output"
    assert "CONTROL_OWNER" in bodies, "the resource reaches OTLP"
    assert "[REDACTED:phone]" in stdout and "[REDACTED:bot_token]" in stdout
    assert any(s.name == "POST" or "getMe" in s.name for s in receiver.spans()), "HTTP client spans exported"

    assert leaks(stdout) == [], "stdout leaks"
    assert leaks(err) == [], "stderr leaks"
    assert leaks(bodies) == [], "OTLP leaks"
    assert leaks(scraped) == [], "/metrics leaks"
