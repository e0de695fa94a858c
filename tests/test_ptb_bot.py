"""python-telegram-bot (examples/ptb_bot) under opentelemetry-instrument against the Bot API stand-in.

Polling and webhook modes: update, handler and job spans, one CLIENT span per
Bot API call with the HTTP attributes and no httpx span below it (another
host keeps its httpx span), 429 and 409 recorded, and no token or phone
number in stdout, stderr, OTLP or /metrics.
"""

from __future__ import annotations

import time
import urllib.request

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.botapi import DEFAULT_TOKEN
from examples.demo.slow_service import SlowService
from tests.support import free_port, instrumented
from tests.telegram_support import (
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_INTERNAL,
    STATUS_ERROR,
    Trees,
    bot_env,
    count_of,
    points,
    sticker,
)

pytestmark = pytest.mark.integration

TOKEN_SECRET = DEFAULT_TOKEN.partition(":")[2]  # the secret half of the stand-in's token
PHONE = "+44 20 7946 0958"
PHONE_LEAKS = ("7946 0958", "79460958")


def scrape(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
        return body.decode()


def run_ptb(api: BotApiThread, env: dict[str, str], before_exit: int, last: str) -> tuple[str, str, str]:
    """Run the bot until ``before_exit`` replies were sent, scrape /metrics, send ``last``, wait for exit."""
    proc = instrumented(["-m", "examples.ptb_bot"], env)
    try:
        api.wait_sent(before_exit, timeout=60)
        metrics_text = scrape(env["OTEL_EXPORTER_PROMETHEUS_PORT"])
        api.push_message(last, chat_id=777, user_id=777)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-4000:]
    return out, err, metrics_text


def no_secrets(receiver: OtlpReceiver, out: str, err: str, metrics_text: str) -> None:
    raw = b"\n".join(receiver.raw_bodies())
    assert b"[REDACTED:bot_token]" in raw and b"sendMessage" in raw  # positive controls: OTLP was searched
    assert "telegram_api_duration_seconds" in metrics_text
    assert "HTTP Request: POST" in out + err  # httpx's request line was written, token-free
    assert "[REDACTED:bot_token]" in out + err
    assert "[REDACTED:phone]" in out and "echo to chat 1001" in out  # the phone line, redacted
    for name, text in (("stdout", out), ("stderr", err), ("/metrics", metrics_text)):
        assert TOKEN_SECRET not in text, name
        for leak in PHONE_LEAKS:
            assert leak not in text, name
    assert TOKEN_SECRET.encode() not in raw
    for leak in PHONE_LEAKS:
        assert leak.encode() not in raw


def test_polling_spans_metrics_429_409_and_no_secrets(api: BotApiThread, receiver: OtlpReceiver) -> None:
    api.conflict_next()  # the first poll fails with 409, as with a second instance running
    with SlowService(delay=0.01) as quotes:
        start = api.push_message("/start")
        api.flood_next("sendMessage", retry_after=2)  # the /start reply hits flood control
        hello = api.push_message(f"call me at {PHONE}")
        quote = api.push_message("/quote")
        crash = api.push_message("/divide 1 0")
        unhandled = api.push_update(sticker())
        env = bot_env(api, receiver, 6, QUOTES_URL=quotes.url, OTEL_METRICS_EXPORTER="prometheus,otlp")
        out, err, metrics_text = run_ptb(api, env, 2, "bye")
    assert receiver.wait_for(lambda r: sum(s.name == "sendMessage" for s in r.spans()) >= 4, timeout=15)
    trees = Trees(receiver.spans())

    update = trees.update(hello)
    assert update.name == "telegram.update message" and update.kind == KIND_CONSUMER
    assert update.parent_span_id == ""
    ((_, linked, _),) = update.links  # linked to the getUpdates call that delivered it
    assert trees.by_id[linked].name == "getUpdates"
    assert {k: update.attributes[k] for k in ("telegram.update.type", "telegram.chat.type")} == {
        "telegram.update.type": "message",
        "telegram.chat.type": "private",
    }
    assert update.attributes["telegram.update.outcome"] == "handled"
    assert update.attributes["telegram.handler"] == "echo"
    (handler,) = trees.children(update)
    assert handler.name == "telegram.handler echo" and handler.kind == KIND_INTERNAL
    assert handler.attributes["code.function.name"] == "__main__.echo"  # run with -m
    (call,) = trees.children(handler)
    assert call.name == "sendMessage" and call.kind == KIND_CLIENT
    assert call.attributes["url.full"] == f"{api.url}/bot[REDACTED:bot_token]/sendMessage"
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["server.address"] == "127.0.0.1"
    assert call.attributes["http.request.method"] == "POST"
    for span in trees.spans:  # one span per Bot API call: no httpx span below any of them
        if "telegram.api.method" in span.attributes:
            assert not trees.children(span), span.name
    assert not trees.named("POST")

    flooded = trees.update(start)
    assert flooded.attributes["telegram.command"] == "start"
    assert flooded.attributes["error.type"] == "telegram.error.RetryAfter"
    (start_handler,) = trees.children(flooded)
    (limited,) = trees.children(start_handler, "sendMessage")
    assert limited.attributes["telegram.api.error_code"] == 429
    assert limited.attributes["telegram.api.retry_after"] == 2
    assert limited.attributes["error.type"] == "telegram.error.RetryAfter"
    assert limited.status_code == STATUS_ERROR

    (quote_handler,) = trees.children(trees.update(quote))
    external = [s for s in trees.children(quote_handler) if s.name == "GET"]
    assert len(external) == 1 and external[0].attributes["url.full"].startswith(quotes.url)  # other host

    crashed = trees.update(crash)
    assert crashed.attributes["telegram.update.outcome"] == "error"
    assert crashed.attributes["error.type"] == "ZeroDivisionError"
    assert crashed.attributes["telegram.error.handled"] is True  # the error handler took it
    assert trees.update(unhandled).attributes["telegram.update.outcome"] == "unhandled"

    (conflict,) = [s for s in trees.named("getUpdates") if s.status_code == STATUS_ERROR]
    assert conflict.attributes["telegram.api.error_code"] == 409
    assert conflict.attributes["error.type"] == "telegram.error.Conflict"
    assert conflict.attributes["telegram.api.description_class"] == "polling_conflict"

    assert receiver.wait_for(lambda r: any(m.name == "telegram.api.retry_after" for m in r.metrics()), 10)
    calls = {k: count_of(v) for k, v in points(receiver, "telegram.api.duration").items()}
    conflicts = [v for k, v in calls.items() if ("telegram.api.error_code", 409) in k]
    assert conflicts == [1]
    updates = {k: count_of(v) for k, v in points(receiver, "telegram.update.duration").items()}
    assert sum(updates.values()) == 6
    assert updates[(("telegram.update.outcome", "unhandled"), ("telegram.update.type", "message"))] == 1
    no_secrets(receiver, out, err, metrics_text)


def test_webhook_mode_and_jobs_as_their_own_traces(api: BotApiThread, receiver: OtlpReceiver) -> None:
    port = free_port()
    secret = "webhook-secret_42"
    first = api.push_message("/start")
    api.push_message(f"call me at {PHONE}")
    env = bot_env(
        api,
        receiver,
        3,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=secret,
        JOB_INTERVAL="0.2",
        OTEL_METRICS_EXPORTER="prometheus,otlp",
    )
    proc = instrumented(["-m", "examples.ptb_bot"], env)
    try:
        api.wait_sent(2, timeout=60)
        deadline = time.monotonic() + 30
        while sum(m == "getMe" for m, _ in api.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the heartbeat job calls getMe after the start-up one
        metrics_text = scrape(env["OTEL_EXPORTER_PROMETHEUS_PORT"])
        api.push_message("bye", chat_id=777, user_id=777)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-4000:]
    assert any(m == "setWebhook" for m, _ in api.calls)
    assert receiver.wait_for(lambda r: any(s.name == "telegram.job heartbeat" for s in r.spans()), 15)
    assert receiver.wait_for(lambda r: sum(s.name == "sendMessage" for s in r.spans()) >= 3, 15)
    trees = Trees(receiver.spans())
    update = trees.update(first)
    assert not update.links and update.attributes["telegram.update.outcome"] == "handled"
    (handler,) = trees.children(update)
    assert handler.name == "telegram.handler start"
    (call,) = trees.children(handler)
    assert call.name == "sendMessage" and not trees.children(call)
    assert not trees.named("getUpdates")  # webhook mode: no polling

    job = trees.named("telegram.job heartbeat")[0]
    assert job.parent_span_id == "" and job.attributes["telegram.job"] == "heartbeat"
    assert job.trace_id not in {s.trace_id for s in trees.spans if s.name.startswith("telegram.update")}
    (get_me,) = trees.children(job)
    assert get_me.name == "getMe" and get_me.attributes["http.response.status_code"] == 200
    raw = b"\n".join(receiver.raw_bodies())
    assert secret.encode() not in raw
    no_secrets(receiver, out, err, metrics_text)
