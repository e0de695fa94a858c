"""crocbot (aiogram 3) under opentelemetry-instrument against the Bot API stand-in: spans, outcomes."""

from __future__ import annotations

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.botapi import DEFAULT_TOKEN
from examples.demo.slow_service import SlowService
from tests.support import free_port
from tests.telegram_support import (
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_INTERNAL,
    KIND_SERVER,
    STATUS_ERROR,
    Trees,
    bot_env,
    count_of,
    last_metric,
    points,
    run_bot,
    sticker,
)

pytestmark = pytest.mark.integration

# the secret half of the token the stand-in accepts by default (the bots here use it)
TOKEN_SECRET = DEFAULT_TOKEN.partition(":")[2]


def spans_after_exit(receiver: OtlpReceiver, minimum: int) -> Trees:
    assert receiver.wait_for(lambda r: len(r.spans()) >= minimum, timeout=10), len(receiver.spans())
    return Trees(receiver.spans())


def test_span_tree_update_handler_one_api_call_span(api: BotApiThread, receiver: OtlpReceiver) -> None:
    with SlowService(delay=0.02) as quotes:
        start = api.push_message("/start")
        hello = api.push_message("hello there")
        quote = api.push_message("/quote")
        code, _, err = run_bot("examples.crocbot", bot_env(api, receiver, 3, QUOTES_URL=quotes.url))
    assert code == 0, err[-3000:]
    trees = spans_after_exit(receiver, 10)

    update = trees.update(start)
    assert update.name == "telegram.update message" and update.kind == KIND_CONSUMER
    assert update.parent_span_id == ""  # polled: a root span ...
    assert update.attributes == {
        "telegram.update.id": start,
        "telegram.update.type": "message",
        "telegram.chat.type": "private",
        "telegram.bot.id": 123456789,
        "telegram.update.outcome": "handled",
        "telegram.handler": "start",
        "telegram.router": "commands",
        "telegram.command": "start",
    }
    ((linked_trace, linked_span, _),) = update.links  # ... linked to the getUpdates call that delivered it
    poll = trees.by_id[linked_span]
    assert poll.name == "getUpdates" and poll.kind == KIND_CLIENT and poll.trace_id == linked_trace
    assert poll.attributes["telegram.updates.count"] >= 1

    (handler,) = trees.children(update)
    assert handler.name == "telegram.handler start" and handler.kind == KIND_INTERNAL
    assert handler.attributes == {
        "telegram.handler": "start",
        "telegram.router": "commands",
        "code.function.name": "examples.crocbot.commands.start",
    }
    (call,) = trees.children(handler)
    assert call.name == "sendMessage" and call.kind == KIND_CLIENT
    assert call.attributes == {  # one span per call, with the HTTP attributes (stable semconv) on it
        "telegram.api.method": "sendMessage",
        "telegram.api.outcome": "ok",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": int(api.url.rsplit(":", 1)[1]),
        "url.full": f"{api.url}/bot[REDACTED:bot_token]/sendMessage",
    }
    assert trees.children(call) == []  # the aiohttp-client span below it is suppressed

    echo = trees.update(hello)
    assert echo.attributes["telegram.handler"] == "echo"
    assert echo.attributes["telegram.router"] == "examples.crocbot.echo"  # unnamed router: its module
    assert "telegram.command" not in echo.attributes

    (quote_handler,) = trees.children(trees.update(quote))
    external, reply = sorted(trees.children(quote_handler), key=lambda s: s.start_time_unix_nano)
    assert (external.name, reply.name) == ("GET", "sendMessage")  # another host keeps its HTTP span
    assert external.kind == KIND_CLIENT and external.attributes["url.full"].startswith(quotes.url)
    assert external.attributes["http.response.status_code"] == 200

    # long polls that delivered nothing leave no span; no Bot API request has an HTTP span
    assert all(s.attributes.get("telegram.updates.count", 0) >= 1 for s in trees.named("getUpdates"))
    assert not trees.named("POST")
    for call in [s for s in trees.spans if "telegram.api.method" in s.attributes]:
        assert trees.children(call) == [] and call.attributes["server.address"] == "127.0.0.1"
    for raw in receiver.raw_bodies():
        assert TOKEN_SECRET.encode() not in raw


def test_outcomes_and_update_metrics(api: BotApiThread, receiver: OtlpReceiver) -> None:
    handled = api.push_message("hello")
    unhandled = api.push_update(sticker())
    unknown_command = api.push_message("/nope")
    crashed = api.push_message("/divide 1 0")
    caught = api.push_message("/divide one two")
    api.block_chat(666)
    blocked = api.push_message("are you there?", chat_id=666, user_id=666)
    code, out, err = run_bot("examples.crocbot", bot_env(api, receiver, 6))
    assert code == 0, err[-3000:]
    assert "ZeroDivisionError" in out  # aiogram still logs the crash as before (JSON lines on stdout)
    trees = spans_after_exit(receiver, 6)

    def outcome(update_id: int) -> tuple[object, object, object]:
        attrs = trees.update(update_id).attributes
        return attrs["telegram.update.outcome"], attrs.get("error.type"), attrs.get("telegram.error.handled")

    assert outcome(handled) == ("handled", None, None)
    assert outcome(unhandled) == ("unhandled", None, None)
    assert outcome(unknown_command) == ("unhandled", None, None)
    assert outcome(crashed) == ("error", "ZeroDivisionError", False)
    assert outcome(caught) == ("error", "ValueError", True)  # the error handler answered, still an error
    assert outcome(blocked) == ("error", "aiogram.exceptions.TelegramForbiddenError", False)
    assert trees.update(crashed).status_code == STATUS_ERROR

    caught_spans = {s.name for s in trees.children(trees.update(caught))}
    assert caught_spans == {"telegram.handler divide", "telegram.handler bad_input"}
    (failed_handler,) = [s for s in trees.children(trees.update(crashed))]
    assert failed_handler.attributes["error.type"] == "ZeroDivisionError"  # builtins: bare
    assert [name for name, _ in failed_handler.events] == ["exception"]

    (blocked_call,) = trees.children(trees.children(trees.update(blocked))[0], "sendMessage")
    assert blocked_call.attributes["telegram.api.error_code"] == 403
    assert blocked_call.attributes["telegram.api.description_class"] == "bot_blocked"
    assert blocked_call.attributes["error.type"] == "aiogram.exceptions.TelegramForbiddenError"
    assert blocked_call.attributes["http.response.status_code"] == 403
    assert blocked_call.status_code == STATUS_ERROR

    assert receiver.wait_for(lambda r: any(m.name == "telegram.updates.active" for m in r.metrics()), 10)
    names = {m.name for m in receiver.metrics()}
    assert not names & {"telegram.updates", "telegram.api.requests", "telegram.polling.errors"}
    # the duration's count is the update count, split by outcome and error.type
    forbidden = "aiogram.exceptions.TelegramForbiddenError"
    updates = {k: count_of(v) for k, v in points(receiver, "telegram.update.duration").items()}
    message, error = ("telegram.update.type", "message"), ("telegram.update.outcome", "error")
    assert updates == {
        (("telegram.update.outcome", "handled"), message): 1,
        (("telegram.update.outcome", "unhandled"), message): 2,
        (("error.type", "ZeroDivisionError"), error, message): 1,
        (("error.type", "ValueError"), error, message): 1,
        (("error.type", forbidden), error, message): 1,
    }
    assert last_metric(receiver, "telegram.update.duration").unit == "s"
    assert sum(count_of(v) for v in points(receiver, "telegram.update.lag").values()) == 6
    handlers = {
        (dict(k)["telegram.handler"], dict(k).get("error.type")): count_of(v)
        for k, v in points(receiver, "telegram.handler.duration").items()
    }
    assert handlers == {
        ("echo", None): 1,
        ("echo", forbidden): 1,
        ("divide", "ZeroDivisionError"): 1,
        ("divide", "ValueError"): 1,
        ("bad_input", None): 1,
    }
    assert list(points(receiver, "telegram.updates.active").values()) == [0]
    calls = {k: count_of(v) for k, v in points(receiver, "telegram.api.duration").items()}
    send = ("telegram.api.method", "sendMessage")
    failed = (
        ("error.type", forbidden),
        ("telegram.api.error_code", 403),
        send,
        ("telegram.api.outcome", "error"),
    )
    assert calls[failed] == 1
    assert calls[(send, ("telegram.api.outcome", "ok"))] == 2
    assert calls[(("telegram.api.method", "getMe"), ("telegram.api.outcome", "ok"))] >= 1
    by_method = {dict(k)["telegram.api.method"] for k in calls}
    assert {"getUpdates", "sendMessage", "getMe"} <= by_method  # polls in their own series


def test_flood_control_records_retry_after(api: BotApiThread, receiver: OtlpReceiver) -> None:
    api.flood_next("sendMessage", retry_after=3)
    update_id = api.push_message("hello")
    code, _, err = run_bot("examples.crocbot", bot_env(api, receiver, 1))
    assert code == 0, err[-3000:]
    trees = spans_after_exit(receiver, 3)
    (call,) = trees.children(trees.children(trees.update(update_id))[0], "sendMessage")
    assert call.attributes["telegram.api.retry_after"] == 3
    assert call.attributes["telegram.api.error_code"] == 429
    assert call.attributes["telegram.api.description_class"] == "too_many_requests"
    assert trees.update(update_id).attributes["error.type"] == "aiogram.exceptions.TelegramRetryAfter"
    assert receiver.wait_for(lambda r: any(m.name == "telegram.api.retry_after" for m in r.metrics()), 10)
    ((attrs, value),) = last_metric(receiver, "telegram.api.retry_after").points
    assert attrs == {"telegram.api.method": "sendMessage"}
    assert isinstance(value, dict) and value["count"] == 1 and value["sum"] == 3


def test_polling_conflict_is_recorded(api: BotApiThread, receiver: OtlpReceiver) -> None:
    api.conflict_next(times=2)  # as when a second instance polls with the same token
    api.push_message("hello")
    code, out, err = run_bot("examples.crocbot", bot_env(api, receiver, 1))
    assert code == 0, err[-3000:]
    assert "terminated by other getUpdates request" in out  # aiogram's own log line, as before
    trees = spans_after_exit(receiver, 4)
    failed = [s for s in trees.named("getUpdates") if s.status_code == STATUS_ERROR]
    assert len(failed) == 2
    for span in failed:
        assert span.attributes["telegram.api.error_code"] == 409
        assert span.attributes["telegram.api.description_class"] == "polling_conflict"
        assert span.attributes["error.type"] == "aiogram.exceptions.TelegramConflictError"
    assert receiver.wait_for(lambda r: any(m.name == "telegram.api.duration" for m in r.metrics()), 10)
    calls = points(receiver, "telegram.api.duration")
    conflict = (
        ("error.type", "aiogram.exceptions.TelegramConflictError"),
        ("telegram.api.error_code", 409),
        ("telegram.api.method", "getUpdates"),
        ("telegram.api.outcome", "error"),
    )
    assert count_of(calls[conflict]) == 2


def test_webhook_gives_the_same_tree_under_the_server_span(api: BotApiThread, receiver: OtlpReceiver) -> None:
    port = free_port()
    secret = "webhook-secret_42"
    start = api.push_message("/start")
    hello = api.push_message("hello")
    env = bot_env(
        api,
        receiver,
        2,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=secret,
    )
    code, _, err = run_bot("examples.crocbot", env)
    assert code == 0, err[-3000:]
    assert len(api.sent) == 2
    trees = spans_after_exit(receiver, 10)
    for update_id, handler_name in ((start, "start"), (hello, "echo")):
        update = trees.update(update_id)
        server = trees.by_id[update.parent_span_id]
        assert server.name == "POST /webhook" and server.kind == KIND_SERVER
        assert update.trace_id == server.trace_id and not update.links
        assert update.attributes["telegram.update.outcome"] == "handled"
        (handler,) = trees.children(update)
        assert handler.name == f"telegram.handler {handler_name}"
        (call,) = trees.children(handler)
        assert call.name == "sendMessage" and call.attributes["http.response.status_code"] == 200
        assert trees.children(call) == []
    assert not trees.named("getUpdates")
    for raw in receiver.raw_bodies():
        assert secret.encode() not in raw and TOKEN_SECRET.encode() not in raw


def test_every_poll_is_traced_when_asked(api: BotApiThread, receiver: OtlpReceiver) -> None:
    api.push_message("hello")
    code, _, err = run_bot("examples.crocbot", bot_env(api, receiver, 1, CROCOTEL_TRACE_GETUPDATES="true"))
    assert code == 0, err[-3000:]
    trees = spans_after_exit(receiver, 5)
    polls = trees.named("getUpdates")
    assert polls and not any(trees.children(poll) for poll in polls)
    assert all(poll.attributes["url.full"].endswith("/getUpdates") for poll in polls)
