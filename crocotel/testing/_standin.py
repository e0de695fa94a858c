"""The Bot API stand-in itself: an aiohttp server answering ``/bot<token>/<method>``.

Public names are re-exported from ``crocotel.testing.botapi``; see there.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from crocotel.testing._faults import CannedError, FaultPlan
from crocotel.testing._params import ParamError, chat_id_param, int_param, normalized, read_params
from crocotel.testing._telegram_objects import (
    JsonObject,
    bot_user,
    chat,
    command_entities,
    human_user,
    text_message,
)
from crocotel.testing._webhook import WebhookDelivery

DEFAULT_TOKEN = "123456789:AAE-standin-token-for-tests-0123456789"

MethodHandler = Callable[[dict[str, object]], object]
"""Answers one Bot API method: takes the call's parameters, returns its ``result``
(or an awaitable of it). Raise ``ApiError`` for a Telegram error answer, or
``ParamError`` for a 400.
"""

_MAX_POLL_SECONDS = 300.0  # an upper bound on one long poll, whatever the client asks
_MAX_WAKEUPS = 100_000  # bounds every wait loop in count as well as in time
_MAX_TEXT_LENGTH = 4096
_MAX_BODY_BYTES = 50 * 1024 * 1024  # Telegram's upload limit for bots

POLLING_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
BLOCKED = "Forbidden: bot was blocked by the user"
_SECRET_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class ApiError(Exception):
    """Raised by a method handler to answer with a Telegram error."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error = CannedError(error_code, description, retry_after)


@dataclass(frozen=True)
class _Method:
    """A registered Bot API method under its canonical spelling."""

    name: str
    handler: MethodHandler


def bot_id_of(token: str) -> int:
    """The public, numeric half of a bot token (``<bot id>:<secret>``)."""
    bot_id, sep, secret = token.partition(":")
    if not sep or not bot_id.isdigit() or not secret:
        raise ValueError("token must look like '<digits>:<secret>'")
    return int(bot_id)


def _answer(status: int, payload: JsonObject) -> web.Response:
    """A JSON response with Telegram's status-equals-error_code convention."""
    return web.json_response(payload, status=status)


def _error(error: CannedError) -> web.Response:
    return _answer(error.error_code, error.body())


def _bad_request(description: str) -> web.Response:
    return _error(CannedError(400, f"Bad Request: {description}"))


class BotApiStandIn:
    """An aiohttp server speaking enough of the Bot API to run a polling bot.

    All methods must be called from the event loop the server runs on; use
    ``BotApiThread`` to drive it from synchronous code.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.host = host
        self.bot_id = bot_id_of(token)
        self.faults = FaultPlan()
        self.sent: list[dict[str, object]] = []
        """Parameters of every sendMessage call that succeeded, in order."""
        self.calls: list[tuple[str, dict[str, object]]] = []
        """Every authorized call as (method, parameters), failed ones included."""
        self.blocked_chats: set[int | str] = set()
        """Chats whose user blocked the bot: every call naming them gets 403."""
        self.conflict_on_overlap = True
        """Answer 409 to a long poll when another getUpdates arrives meanwhile, like Telegram."""
        self.webhook: WebhookDelivery | None = None
        """The webhook set by ``setWebhook``, with what it delivered."""
        self._polls = 0  # getUpdates calls so far; a waiting poll sees it change when overtaken
        self._waiting_polls = 0  # getUpdates calls waiting for updates right now
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._pending: list[JsonObject] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._methods: dict[str, _Method] = {}
        self.add_method("getMe", self._get_me)
        self.add_method("getUpdates", self._get_updates)
        self.add_method("sendMessage", self._send_message)
        self.add_method("deleteWebhook", self._delete_webhook)
        self.add_method("getWebhookInfo", self._get_webhook_info)
        self.add_method("setWebhook", self._set_webhook)

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (a free port when 0)."""
        if self._runner is not None:
            raise RuntimeError("the stand-in is already started")
        # Fresh events: asyncio primitives belong to the loop that first waits on them.
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # No access log: request lines carry the token, and tests search logs for it.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Answer pending long polls, then close the server. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping.set()
        await self._drop_webhook()
        self._notify()
        await runner.cleanup()

    async def __aenter__(self) -> BotApiStandIn:
        await self.start()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port actually listened on."""
        if self._port is None:
            raise RuntimeError("the stand-in is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:PORT``; the bot calls ``{url}/bot{token}/{method}``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def method_url(self, method: str) -> str:
        """The full URL of one method, token included."""
        return f"{self.url}/bot{self.token}/{method}"

    # -- test controls -------------------------------------------------------

    def push_update(self, update: dict[str, object]) -> int:
        """Queue any raw update for getUpdates; assigns ``update_id`` if missing."""
        queued = dict(update)
        update_id = queued.get("update_id")
        if not isinstance(update_id, int):
            update_id = self._next_update_id
            queued["update_id"] = update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        if self.webhook is not None:
            self.webhook.put(queued)
            return update_id
        if self._pending and update_id < _update_id(self._pending[-1]):
            bisect.insort(self._pending, queued, key=_update_id)
        else:
            self._pending.append(queued)  # the usual case, kept O(1) for benchmarks
        self._notify()
        return update_id

    def push_message(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        user_id: int = 1001,
        entities: list[dict[str, object]] | None = None,
    ) -> int:
        """Queue a text message from a user; ``/commands`` get their entity like on Telegram."""
        message = text_message(
            self._take_message_id(),
            chat(chat_id),
            human_user(user_id),
            text,
            command_entities(text) if entities is None else entities,
        )
        return self.push_update({"message": message})

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this Telegram error."""
        self.faults.add_error(method, CannedError(error_code, description, retry_after), times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` before answering."""
        self.faults.add_delay(method, seconds, times)

    def flood_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``retry_after`` (flood control)."""
        self.fail_next(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after, times)

    def server_error_next(self, method: str, error_code: int = 502, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with a 5xx, as Telegram does when it has trouble."""
        description = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
        self.fail_next(method, error_code, description.get(error_code, "Internal Server Error"), times=times)

    def conflict_next(self, times: int = 1) -> None:
        """Answer the next ``times`` getUpdates calls with 409, as when another instance polls."""
        self.fail_next("getUpdates", 409, POLLING_CONFLICT, times=times)

    def block_chat(self, chat_id: int | str) -> None:
        """From now on, calls naming ``chat_id`` get 403 "bot was blocked by the user"."""
        self.blocked_chats.add(chat_id)

    def add_method(self, name: str, handler: MethodHandler) -> None:
        """Serve another Bot API method (or replace one); names match case-insensitively."""
        self._methods[name.lower()] = _Method(name, handler)

    def forget_history(self) -> int:
        """Forget ``calls`` and ``sent`` (for long runs); returns how many sent messages were forgotten."""
        forgotten = len(self.sent)
        self.calls.clear()
        self.sent.clear()
        return forgotten

    @property
    def pending_updates(self) -> list[JsonObject]:
        """Updates not yet confirmed by an offset."""
        return list(self._pending)

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
        """Wait until at least ``count`` messages were sent; raises TimeoutError otherwise."""
        if await self._wait_until(lambda: len(self.sent) >= count, timeout):
            return list(self.sent)
        raise TimeoutError(f"expected {count} sendMessage calls within {timeout}s, got {len(self.sent)}")

    @property
    def waiting_polls(self) -> int:
        """How many getUpdates calls are waiting for updates right now."""
        return self._waiting_polls

    async def wait_polling(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` long polls are waiting; raises TimeoutError otherwise.

        Tests that need a poll in progress (an update pushed during it, a second
        poll overtaking it) wait on this event instead of sleeping.
        """
        if not await self._wait_until(lambda: self._waiting_polls >= count, timeout):
            raise TimeoutError(
                f"expected {count} waiting long polls within {timeout}s, got {self._waiting_polls}"
            )

    # -- request handling ----------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(CannedError(401, "Unauthorized"))
        try:
            params = normalized(await read_params(request))
        except ParamError as exc:
            return _bad_request(exc.description)
        return await self._run_method(request.match_info["method"], params)

    async def _run_method(self, asked: str, params: dict[str, object]) -> web.Response:
        """Answer one call: record it, apply planned faults, then run the method."""
        method = self._methods.get(asked.lower())
        name = method.name if method else asked
        self.calls.append((name, params))
        fault = self.faults.take(name)
        if fault is not None:
            await self._sleep(fault.delay)
            if fault.error is not None:
                return _error(fault.error)
        if method is None:
            return _error(CannedError(404, "Not Found: method not found"))
        if self.blocked_chats and params.get("chat_id") in self.blocked_chats:
            return _error(CannedError(403, BLOCKED))
        try:
            result = method.handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            return _error(exc.error)
        except ParamError as exc:
            return _bad_request(exc.description)
        return _answer(200, {"ok": True, "result": result})

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _error(CannedError(404, "Not Found"))

    # -- methods ---------------------------------------------------------------

    def _get_me(self, params: dict[str, object]) -> JsonObject:
        return bot_user(self.bot_id)

    async def _get_updates(self, params: dict[str, object]) -> list[JsonObject]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = int_param(params, "offset", 0)
        limit = min(max(int_param(params, "limit", 100), 1), 100)
        timeout = min(max(float(int_param(params, "timeout", 0)), 0.0), _MAX_POLL_SECONDS)
        self._confirm(offset)
        self._polls += 1
        mine = self._polls
        self._waiting_polls += 1
        self._notify()  # an older poll still waiting learns it was overtaken; wait_polling learns of this one

        def overtaken() -> bool:
            return self.conflict_on_overlap and self._polls != mine

        try:
            await self._wait_until(
                lambda: bool(self._pending) or self._stopping.is_set() or overtaken(), timeout
            )
        finally:
            self._waiting_polls -= 1
        if overtaken() and not self._pending:
            raise ApiError(409, POLLING_CONFLICT)
        return [dict(update) for update in self._pending[:limit]]

    def _send_message(self, params: dict[str, object]) -> JsonObject:
        chat_id = chat_id_param(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ParamError("message text is empty")
        if len(text) > _MAX_TEXT_LENGTH:
            raise ParamError("message is too long")
        entities = params.get("entities")
        message = text_message(
            self._take_message_id(),
            chat(chat_id),
            bot_user(self.bot_id),
            text,
            entities if isinstance(entities, list) else None,
        )
        self.sent.append(params)
        self._notify()
        return message

    async def _delete_webhook(self, params: dict[str, object]) -> bool:
        await self._drop_webhook()
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        return True

    def _get_webhook_info(self, params: dict[str, object]) -> JsonObject:
        hook = self.webhook
        info: JsonObject = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": hook.pending if hook else len(self._pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.last_error:
                info["last_error_message"] = hook.last_error
        return info

    async def _set_webhook(self, params: dict[str, object]) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url:
            await self._drop_webhook()  # an empty url removes the webhook, as on Telegram
            return True
        if not url.startswith(("http://", "https://")):
            raise ParamError("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and (
            not isinstance(secret, str) or not 1 <= len(secret) <= 256 or set(secret) - _SECRET_TOKEN_CHARS
        ):
            raise ParamError("bad webhook: secret token contains unallowed characters")
        connections = min(max(int_param(params, "max_connections", 40), 1), 100)
        await self._drop_webhook()
        if params.get("drop_pending_updates") is True:
            self._pending.clear()
        self.webhook = WebhookDelivery(url, secret, connections, self._execute_reply)
        backlog, self._pending = self._pending, []
        self.webhook.start(backlog)
        self._notify()  # a waiting long poll now answers, and the next one gets 409
        return True

    async def _drop_webhook(self) -> None:
        """Stop delivering; undelivered updates go back to the getUpdates queue."""
        hook, self.webhook = self.webhook, None
        if hook is not None:
            self._pending[:0] = await hook.stop()

    async def _execute_reply(self, method: str, params: dict[str, object]) -> None:
        """Run the Bot API call a bot made in its webhook answer."""
        await self._run_method(method, params)

    # -- internals -------------------------------------------------------------

    def _confirm(self, offset: int) -> None:
        """Forget updates the way an ``offset`` does on Telegram."""
        if offset > 0:
            self._pending = [u for u in self._pending if _update_id(u) >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]

    def _take_message_id(self) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        return message_id

    def _notify(self) -> None:
        """Wake every waiter; each re-checks its own condition."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``done()`` to hold, at most ``timeout`` seconds; returns whether it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(_MAX_WAKEUPS):
            if done():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return done()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but end early when the server stops."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)


def _update_id(update: JsonObject) -> int:
    value = update.get("update_id")
    return value if isinstance(value, int) else 0
