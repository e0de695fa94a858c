"""Faults on demand and webhook delivery in the Bot API stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crocotel.testing import BotApiStandIn
from crocotel.testing.botapi import BLOCKED, POLLING_CONFLICT, WEBHOOK_CONFLICT
from tests.telegram_support import call

SECRET = "s3cret_token-1"


async def test_flood_control_answers_429_with_retry_after(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    standin.flood_next("sendMessage", retry_after=7)
    status, payload = await call(session, standin, "sendMessage", chat_id=1, text="x")
    assert status == 429 and payload["error_code"] == 429
    assert payload["parameters"] == {"retry_after": 7}
    assert "retry after 7" in payload["description"]
    status, _ = await call(session, standin, "sendMessage", chat_id=1, text="x")
    assert status == 200


async def test_server_errors(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    standin.server_error_next("sendMessage", 502)
    standin.server_error_next("getMe", 500)
    assert (await call(session, standin, "sendMessage", chat_id=1, text="x"))[1][
        "description"
    ] == "Bad Gateway"
    status, payload = await call(session, standin, "getMe")
    assert status == 500 and payload["ok"] is False


async def test_a_blocked_chat_gets_403_every_time(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    standin.block_chat(77)
    for _ in range(2):
        status, payload = await call(session, standin, "sendMessage", chat_id=77, text="hi")
        assert status == 403 and payload["description"] == BLOCKED
    assert (await call(session, standin, "sendMessage", chat_id=78, text="hi"))[0] == 200
    assert standin.sent == [{"chat_id": 78, "text": "hi"}]


async def test_conflict_next_on_get_updates(standin: BotApiStandIn, session: aiohttp.ClientSession) -> None:
    standin.conflict_next()
    status, payload = await call(session, standin, "getUpdates")
    assert status == 409 and payload["description"] == POLLING_CONFLICT


async def test_an_overtaken_long_poll_gets_409(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(call(session, standin, "getUpdates", timeout=20))
    await standin.wait_polling()  # the first poll waits: the second overtakes it
    second = asyncio.create_task(call(session, standin, "getUpdates", timeout=20))
    status, payload = await asyncio.wait_for(first, 10)
    assert status == 409 and payload["description"] == POLLING_CONFLICT
    standin.push_message("hello")
    status, payload = await asyncio.wait_for(second, 10)
    assert status == 200 and payload["result"][0]["message"]["text"] == "hello"


async def test_overlap_conflicts_can_be_switched_off(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    standin.conflict_on_overlap = False
    first = asyncio.create_task(call(session, standin, "getUpdates", timeout=20))
    await standin.wait_polling()
    second = asyncio.create_task(call(session, standin, "getUpdates", timeout=20))
    await standin.wait_polling(2)  # both wait at once: they overlap, and neither is refused
    standin.push_message("for both")
    for poll in (first, second):
        status, payload = await asyncio.wait_for(poll, 10)
        assert status == 200 and payload["result"][0]["message"]["text"] == "for both"


class Webhook:
    """A bot's webhook endpoint: records what arrives and answers as told."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.fail_first = 0
        self.reply: dict[str, Any] | None = None
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        self.got.set()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        return web.json_response(self.reply or {})


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, str]]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield hook, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_webhook_delivery_with_secret_header_and_reply_call(
    standin: BotApiStandIn, session: aiohttp.ClientSession, webhook: tuple[Webhook, str]
) -> None:
    hook, url = webhook
    backlog = standin.push_message("queued before the webhook")
    status, _ = await call(session, standin, "setWebhook", url=url, secret_token=SECRET)
    assert status == 200
    hook.reply = {"method": "sendMessage", "chat_id": 5, "text": "answered in the webhook reply"}
    later = standin.push_message("after")
    await wait_until(lambda: len(hook.received) >= 2)
    assert [(b["update_id"], secret) for b, secret in hook.received] == [(backlog, SECRET), (later, SECRET)]
    await wait_until(lambda: len(standin.sent) >= 1)
    assert standin.sent[-1]["text"] == "answered in the webhook reply"
    status, payload = await call(session, standin, "getUpdates")
    assert status == 409 and payload["description"] == WEBHOOK_CONFLICT
    _, info = await call(session, standin, "getWebhookInfo")
    assert info["result"]["url"] == url


async def test_webhook_retries_then_delete_returns_undelivered(
    standin: BotApiStandIn, session: aiohttp.ClientSession, webhook: tuple[Webhook, str]
) -> None:
    hook, url = webhook
    hook.fail_first = 1
    await call(session, standin, "setWebhook", url=url)
    update_id = standin.push_message("retry me")
    await wait_until(lambda: len(hook.received) >= 2)
    assert [b["update_id"] for b, _ in hook.received] == [update_id, update_id]
    assert hook.received[0][1] is None  # no secret set, no header
    assert standin.webhook is not None
    assert [status for _, status in standin.webhook.delivered] == [500, 200]
    await call(session, standin, "deleteWebhook")
    assert standin.webhook is None
    queued = standin.push_message("polled again")
    _, payload = await call(session, standin, "getUpdates")
    assert [u["update_id"] for u in payload["result"]] == [queued]


async def test_set_webhook_validates_its_parameters(
    standin: BotApiStandIn, session: aiohttp.ClientSession
) -> None:
    status, payload = await call(session, standin, "setWebhook", url="ftp://x/hook")
    assert status == 400 and "HTTPS URL" in payload["description"]
    status, payload = await call(
        session, standin, "setWebhook", url="http://127.0.0.1:9/h", secret_token="no spaces"
    )
    assert status == 400 and "secret token" in payload["description"]
    assert standin.webhook is None
