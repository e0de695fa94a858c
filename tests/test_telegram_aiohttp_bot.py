"""A bot on plain aiohttp (examples/aiohttp_bot) under opentelemetry-instrument: Bot API spans and metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.botapi import DEFAULT_TOKEN
from tests.support import instrumented
from tests.telegram_support import (
    KIND_CLIENT,
    STATUS_ERROR,
    Trees,
    bot_env,
    prometheus_samples,
    run_bot,
    sample,
)

pytestmark = pytest.mark.integration

# the secret half of the token the stand-in accepts by default (the bots here use it)
TOKEN_SECRET = DEFAULT_TOKEN.partition(":")[2]


def scrape(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def sends_counted(text: str) -> bool:
    """Both delivered replies and the flood-controlled one are counted."""
    found = {
        (labels.get("telegram_api_outcome"), labels.get("telegram_api_error_code")): value
        for name, labels, value in prometheus_samples(text)
        if name == "telegram_api_duration_seconds_count"
        and labels.get("telegram_api_method") == "sendMessage"
    }
    return found.get(("ok", None)) == 2 and found.get(("error", "429")) == 1


def scrape_until(port: str, done: Callable[[str], bool], timeout: float = 20) -> str:
    """Scrape /metrics until ``done(text)`` holds (bounded); returns the last scrape."""
    deadline = time.monotonic() + timeout
    text = scrape(port)
    while not done(text):
        assert time.monotonic() < deadline, f"/metrics never showed what was expected:\n{text}"
        time.sleep(0.05)
        text = scrape(port)
    return text


def test_method_named_spans_metrics_and_no_token_anywhere(api: BotApiThread, receiver: OtlpReceiver) -> None:
    env = bot_env(api, receiver, 4, OTEL_METRICS_EXPORTER="prometheus,otlp")
    api.conflict_next()  # the first poll fails with 409, as with a second instance running
    api.flood_next("sendMessage", retry_after=1)  # the first reply hits flood control
    first = api.push_message("/start", chat_id=501, user_id=501)
    api.push_message("hello", chat_id=502, user_id=502)
    api.push_message("how are you", chat_id=503, user_id=503)
    proc = instrumented(["-m", "examples.aiohttp_bot"], env)
    try:
        api.wait_sent(2, timeout=30)
        # while the bot runs; the stand-in saw both replies, the bot counts each once it has the answer
        metrics_text = scrape_until(env["OTEL_EXPORTER_PROMETHEUS_PORT"], sends_counted)
        api.push_message("bye", chat_id=504, user_id=504)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    assert receiver.wait_for(lambda r: sum(s.name == "sendMessage" for s in r.spans()) >= 4, timeout=10)
    trees = Trees(receiver.spans())

    assert {s.name for s in trees.spans} == {"getMe", "getUpdates", "sendMessage"}  # no bare "POST"
    sends = trees.named("sendMessage")
    assert len(sends) == 4 and all(s.kind == KIND_CLIENT for s in sends)
    for span in sends:
        assert span.attributes["telegram.api.method"] == "sendMessage"
        assert span.attributes["url.full"].endswith("/bot[REDACTED:bot_token]/sendMessage")  # stable semconv
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["http.request.method"] == "POST"
        assert not trees.children(span)
    assert sorted(s.attributes["http.response.status_code"] for s in sends) == [200, 200, 200, 429]
    assert sorted(s.attributes.get("telegram.api.error_code", 0) for s in sends) == [0, 0, 0, 429]
    (poll,) = trees.named("getUpdates")  # long polls are not traced, the failed one is
    assert poll.attributes["telegram.api.error_code"] == 409 and poll.status_code == STATUS_ERROR
    assert poll.end_time_unix_nano > poll.start_time_unix_nano

    calls = "telegram_api_duration_seconds_count"
    failed = {"telegram_api_error_code": "429", "telegram_api_outcome": "error", "error_type": "429"}
    assert sample(metrics_text, calls, telegram_api_method="sendMessage", **failed) == 1
    assert sample(metrics_text, calls, telegram_api_method="sendMessage", telegram_api_outcome="ok") == 2
    conflict = {"telegram_api_error_code": "409", "telegram_api_outcome": "error", "error_type": "409"}
    assert sample(metrics_text, calls, telegram_api_method="getUpdates", **conflict) == 1
    assert sample(metrics_text, calls, telegram_api_method="getUpdates", telegram_api_outcome="ok") >= 1
    # the aiohttp-client instrumentation's own request durations (crocotel binds their series)
    http = {
        labels.get("http_response_status_code"): value
        for name, labels, value in prometheus_samples(metrics_text)
        if name == "http_client_request_duration_seconds_count"
        and labels.get("http_request_method") == "POST"
    }
    answered = sum(
        value
        for name, labels, value in prometheus_samples(metrics_text)
        if name == calls and labels.get("telegram_api_outcome") == "ok"
    )
    assert http == {"200": answered, "409": 1, "429": 1}

    # the token, whole or its secret half, is nowhere; positive controls show each output was searched
    raw = receiver.raw_bodies()
    assert any(b"[REDACTED:bot_token]" in body for body in raw)
    assert any(b"sendMessage" in body for body in raw)
    assert f"update {first} from chat 501" in out
    assert "telegram_api_duration_seconds_count" in metrics_text
    for name, text in (("stdout", out), ("stderr", err), ("/metrics", metrics_text)):
        assert TOKEN_SECRET not in text, name
    for body in raw:
        assert TOKEN_SECRET.encode() not in body


def test_long_polls_are_traced_when_asked(api: BotApiThread, receiver: OtlpReceiver) -> None:
    api.push_message("hello")
    code, _, err = run_bot(
        "examples.aiohttp_bot", bot_env(api, receiver, 1, CROCOTEL_TRACE_GETUPDATES="true")
    )
    assert code == 0, err[-3000:]
    assert receiver.wait_for(lambda r: any(s.name == "getUpdates" for s in r.spans()), timeout=10)
    polls = Trees(receiver.spans()).named("getUpdates")
    assert all(p.attributes["telegram.api.method"] == "getUpdates" for p in polls)
