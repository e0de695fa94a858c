"""The Bot API stand-in behaves like Telegram where bots and crocotel can tell."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crocotel.testing import BotApiStandIn, BotApiThread
from crocotel.testing.botapi import ApiError
from tests.telegram_support import call

REPO = Path(__file__).resolve().parents[1]


async def test_url_and_get_me(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    assert standin.url == f"http://127.0.0.1:{standin.port}"
    async with session.get(f"{standin.url}/bot{standin.token}/getMe") as response:
        assert response.status == 200
        payload = await response.json()
    assert payload["ok"] is True
    assert payload["result"]["id"] == 123456789
    assert payload["result"]["is_bot"] is True


async def test_long_poll_returns_when_an_update_is_pushed(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    poll = asyncio.create_task(call(session, standin, "getUpdates", timeout=20))
    await standin.wait_polling()  # the poll is waiting: the update arrives during it
    assert not poll.done()
    update_id = standin.push_message("hello")
    status, payload = await asyncio.wait_for(poll, 10)
    assert status == 200
    [update] = payload["result"]
    assert update["update_id"] == update_id
    assert update["message"]["text"] == "hello"
    assert update["message"]["chat"] == {
        "id": 1001,
        "type": "private",
        "first_name": "Test",
        "last_name": "User1001",
    }


async def test_long_poll_times_out_empty(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    poll = asyncio.create_task(call(session, standin, "getUpdates", timeout=1))
    await standin.wait_polling()  # it waits rather than answering at once
    status, payload = await asyncio.wait_for(poll, 10)
    assert status == 200
    assert payload == {"ok": True, "result": []}
    assert standin.waiting_polls == 0


async def test_offset_confirms_updates(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    ids = [standin.push_message(f"m{i}") for i in range(3)]
    _, first = await call(session, standin, "getUpdates")
    assert [u["update_id"] for u in first["result"]] == ids
    # Not confirmed yet: the same updates come again.
    _, again = await call(session, standin, "getUpdates", limit=2)
    assert [u["update_id"] for u in again["result"]] == ids[:2]
    _, rest = await call(session, standin, "getUpdates", offset=ids[1])
    assert [u["update_id"] for u in rest["result"]] == ids[1:]
    _, none = await call(session, standin, "getUpdates", offset=ids[-1] + 1)
    assert none["result"] == []
    assert standin.pending_updates == []


async def test_negative_offset_keeps_the_last_updates(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    ids = [standin.push_message(f"m{i}") for i in range(4)]
    _, payload = await call(session, standin, "getUpdates", offset=-1)
    assert [u["update_id"] for u in payload["result"]] == ids[-1:]


async def test_push_update_assigns_ids_and_keeps_order(standin: BotApiStandIn) -> None:
    explicit = standin.push_update({"update_id": 500, "callback_query": {"id": "1", "data": "x"}})
    assigned = standin.push_update({"edited_message": {"message_id": 1, "text": "t"}})
    assert (explicit, assigned) == (500, 501)
    standin.push_update({"update_id": 7, "message": {"message_id": 2, "text": "late"}})
    assert [u["update_id"] for u in standin.pending_updates] == [7, 500, 501]


async def test_commands_get_an_entity(standin: BotApiStandIn) -> None:
    standin.push_message("/start now")
    [update] = standin.pending_updates
    message = update["message"]
    assert isinstance(message, dict)
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_send_message_is_recorded(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    _, first = await call(session, standin, "sendMessage", chat_id=42, text="one")
    # form-urlencoded, as many clients send it
    async with session.post(standin.method_url("sendMessage"), data={"chat_id": "42", "text": "two"}) as r:
        second = await r.json()
    form = aiohttp.FormData()
    form.add_field("chat_id", "-100123")
    form.add_field("text", "three")
    form.add_field("reply_markup", json.dumps({"inline_keyboard": []}))
    async with session.post(standin.method_url("sendMessage"), data=form) as r:
        third = await r.json()
    results = [first["result"], second["result"], third["result"]]
    assert [m["message_id"] for m in results] == sorted(m["message_id"] for m in results)
    assert len({m["message_id"] for m in results}) == 3
    assert results[0]["chat"]["id"] == 42
    assert results[0]["text"] == "one"
    assert isinstance(results[0]["date"], int)
    assert results[0]["from"]["id"] == standin.bot_id
    assert results[2]["chat"]["type"] == "group"
    assert standin.sent == [
        {"chat_id": 42, "text": "one"},
        {"chat_id": 42, "text": "two"},
        {"chat_id": -100123, "text": "three", "reply_markup": {"inline_keyboard": []}},
    ]
    assert [m for m, _ in standin.calls] == ["sendMessage"] * 3
    assert await standin.wait_sent(3, timeout=1) == standin.sent


async def test_send_message_needs_text(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    status, payload = await call(session, standin, "sendMessage", chat_id=1)
    assert status == 400
    assert payload == {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
    assert standin.sent == []


async def test_wait_sent_times_out(standin: BotApiStandIn) -> None:
    with pytest.raises(TimeoutError, match="got 0"):
        await standin.wait_sent(1, timeout=0.2)


async def test_wrong_token_is_unauthorized(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    async with session.post(f"{standin.url}/bot987:wrong/getMe") as response:
        assert response.status == 401
        assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert standin.calls == []


async def test_unknown_method_and_path(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    status, payload = await call(session, standin, "sendTelepathy")
    assert status == 404
    assert payload == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    assert standin.calls == [("sendTelepathy", {})]
    async with session.get(f"{standin.url}/nothing/here") as response:
        assert response.status == 404


async def test_method_names_are_case_insensitive(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    status, _ = await call(session, standin, "getme")
    assert status == 200
    assert standin.calls == [("getMe", {})]


async def test_fail_next_gives_the_canned_error(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    standin.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=2)
    expected = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    for _ in range(2):
        status, payload = await call(session, standin, "sendMessage", chat_id=1, text="x")
        assert (status, payload) == (429, expected)
    status, payload = await call(session, standin, "sendMessage", chat_id=1, text="x")
    assert status == 200
    assert payload["ok"] is True
    assert len(standin.sent) == 1  # only the delivered one
    assert len(standin.calls) == 3  # every attempt


async def test_fail_next_on_get_updates_conflict(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    standin.fail_next("getUpdates", 409, "Conflict: terminated by other getUpdates request")
    status, payload = await call(session, standin, "getUpdates")
    assert status == 409
    assert "parameters" not in payload
    status, _ = await call(session, standin, "getUpdates")
    assert status == 200


async def test_delay_next_slows_one_call(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    standin.delay_next("getMe", 60)
    delayed = asyncio.create_task(call(session, standin, "getMe"))
    for _ in range(500):  # bounded: until the delayed call reached the stand-in
        if standin.calls:
            break
        await asyncio.sleep(0.01)
    assert standin.calls == [("getMe", {})]
    # the next call is not delayed: it is answered while the first still waits out its delay
    assert (await call(session, standin, "getMe"))[0] == 200
    assert not delayed.done()
    delayed.cancel()


async def test_stop_releases_pending_long_polls(session: aiohttp.ClientSession) -> None:
    server = BotApiStandIn()
    await server.start()
    poll = asyncio.create_task(call(session, server, "getUpdates", timeout=30))
    await server.wait_polling()
    await server.stop()
    # released by the stop, long before the poll's own 30 s would end it
    status, payload = await asyncio.wait_for(poll, 10)
    assert (status, payload) == (200, {"ok": True, "result": []})
    await server.stop()  # idempotent


async def test_add_method_serves_more_of_the_api(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    def answer_callback_query(params: dict[str, object]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True

    standin.add_method("answerCallbackQuery", answer_callback_query)
    assert await call(session, standin, "answerCallbackQuery", callback_query_id="1") == (
        200,
        {"ok": True, "result": True},
    )
    status, payload = await call(session, standin, "answerCallbackQuery")
    assert (status, payload["error_code"]) == (400, 400)


def test_rejects_a_malformed_token() -> None:
    with pytest.raises(ValueError):
        BotApiStandIn(token="no-colon")


def _get_json(url: str, data: dict[str, object] | None = None) -> tuple[int, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_thread_works_from_sync_code() -> None:
    with BotApiThread() as api:
        assert api.url.startswith("http://127.0.0.1:")
        status, me = _get_json(f"{api.url}/bot{api.token}/getMe")
        assert status == 200
        assert me["result"]["id"] == 123456789
        update_id = api.push_message("hi", chat_id=7, user_id=7)
        status, updates = _get_json(f"{api.url}/bot{api.token}/getUpdates?timeout=5")
        assert [u["update_id"] for u in updates["result"]] == [update_id]
        status, _ = _get_json(api.method_url("sendMessage"), {"chat_id": 7, "text": "hi back"})
        assert status == 200
        assert api.wait_sent(1, timeout=5) == [{"chat_id": 7, "text": "hi back"}]
        assert api.sent == [{"chat_id": 7, "text": "hi back"}]
        api.fail_next("getMe", 500, "Internal Server Error")
        status, error = _get_json(api.method_url("getMe"))
        assert (status, error["error_code"]) == (500, 500)
        assert [method for method, _ in api.calls] == ["getMe", "getUpdates", "sendMessage", "getMe"]
    api.stop()  # idempotent


def test_thread_wait_sent_times_out() -> None:
    with BotApiThread() as api, pytest.raises(TimeoutError, match="got 0"):
        api.wait_sent(1, timeout=0.2)


@pytest.mark.integration
def test_command_line_serves_until_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crocotel.testing.botapi", "--port", "0", "--token", "42:abc"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "the stand-in printed no URL within 15 s"
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, me = _get_json(f"{url}/bot42:abc/getMe")
        assert (status, me["result"]["id"]) == (200, 42)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr
    assert "RuntimeWarning" not in stderr
