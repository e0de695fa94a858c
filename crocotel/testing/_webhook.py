"""Webhook delivery for the Bot API stand-in: POSTing updates to the bot like Telegram does.

After ``setWebhook``, each queued update is sent as a JSON body to the bot's
URL, with the ``X-Telegram-Bot-Api-Secret-Token`` header when a secret was
set, at most ``max_connections`` at a time. A 2xx answer delivers it; the
answer may itself be a Bot API call (``{"method": "sendMessage", ...}`` as
JSON or form data), which is executed like a request. Anything else is
retried after a pause, first in line, until the webhook is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp

from crocotel.testing._params import normalized

JsonObject = dict[str, object]
Executor = Callable[[str, dict[str, object]], Awaitable[None]]
"""Runs a Bot API call the bot made in its webhook answer: (method, parameters)."""

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_REQUEST_TIMEOUT = 30.0  # Telegram gives a webhook about a minute; tests want an answer sooner
_RETRY_PAUSE = 0.5
_MAX_BACKOFF = 5.0


class WebhookDelivery:
    """Delivers updates to one webhook URL; all methods run on the stand-in's event loop."""

    def __init__(self, url: str, secret_token: str | None, max_connections: int, execute: Executor) -> None:
        self.url = url
        self.secret_token = secret_token
        self.max_connections = max_connections
        self.delivered: list[tuple[int, int]] = []
        """(update_id, HTTP status) of every delivery attempt, in order."""
        self.last_error: str | None = None
        self._execute = execute
        self._queue: deque[JsonObject] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_connections)
        self._failures = 0

    @property
    def pending(self) -> int:
        """Updates not delivered yet, in flight included."""
        return len(self._queue) + len(self._inflight)

    def start(self, updates: list[JsonObject]) -> None:
        """Start delivering, beginning with ``updates`` (those queued before the webhook was set)."""
        self._queue.extend(updates)
        self._task = asyncio.create_task(self._run(), name="crocotel-botapi-webhook")

    def put(self, update: JsonObject) -> None:
        """Queue one update for delivery."""
        self._queue.append(update)
        self._wakeup.set()

    async def stop(self) -> list[JsonObject]:
        """Stop delivering; returns the updates not delivered, in order."""
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return list(self._queue)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._slots.acquire()
                if not self._queue:
                    self._slots.release()
                    continue
                update = self._queue.popleft()
                task = asyncio.create_task(self._deliver(session, update))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _deliver(self, session: aiohttp.ClientSession, update: JsonObject) -> None:
        headers = {SECRET_HEADER: self.secret_token} if self.secret_token else {}
        status = 0
        try:
            async with session.post(self.url, json=update, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:
                    call = await _reply_call(response)
                else:
                    call = None
                    self.last_error = f"Wrong response from the webhook: {status} {response.reason}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            call = None
            self.last_error = f"Connection failed: {type(exc).__name__}"
        finally:
            self._slots.release()
        update_id = update.get("update_id")
        self.delivered.append((update_id if isinstance(update_id, int) else 0, status))
        if 200 <= status < 300:
            self._failures = 0
            if call is not None:
                await self._execute(*call)
            return
        self._failures += 1
        await asyncio.sleep(min(_RETRY_PAUSE * self._failures, _MAX_BACKOFF))
        self._queue.appendleft(update)
        self._wakeup.set()


async def _reply_call(response: aiohttp.ClientResponse) -> tuple[str, dict[str, object]] | None:
    """The Bot API call in a webhook answer, if there is one (JSON or form data with ``method``)."""
    params: dict[str, object] = {}
    if response.content_type == "application/json":
        try:
            body = json.loads(await response.read() or b"{}")
        except ValueError:
            return None
        if isinstance(body, dict):
            params = body
    elif response.content_type == "multipart/form-data":
        reader = aiohttp.MultipartReader.from_response(response)
        async for part in reader:
            if isinstance(part, aiohttp.BodyPartReader) and part.name:
                params[part.name] = await part.text()
    method = params.pop("method", None)
    if not isinstance(method, str) or not method:
        return None
    return method, normalized(params)
