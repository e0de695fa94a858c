"""The Bot API stand-in on its own event loop in a daemon thread, for synchronous code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from crocotel.testing._loop_thread import TIMEOUT, LoopThread
from crocotel.testing._standin import DEFAULT_TOKEN, BotApiStandIn

_T = TypeVar("_T")


class BotApiThread:
    """The stand-in on its own event loop in a daemon thread, for synchronous code."""

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0) -> None:
        self.standin = BotApiStandIn(token, host, port)
        self._thread = LoopThread("crocotel-botapi")

    def start(self) -> None:
        """Start the loop thread and wait (bounded) until the server listens."""
        self._thread.start(self.standin.start)

    def stop(self) -> None:
        """Stop the server and the loop thread. Safe to call twice."""
        self._thread.stop(self.standin.stop)

    def __enter__(self) -> BotApiThread:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop (or right here when it is not running)."""
        return self._thread.call(fn)

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:PORT``."""
        return self.standin.url

    @property
    def token(self) -> str:
        return self.standin.token

    def method_url(self, method: str) -> str:
        """The full URL of one method, token included."""
        return self.standin.method_url(method)

    @property
    def sent(self) -> list[dict[str, object]]:
        """A snapshot of every successful sendMessage call's parameters."""
        return self._call(lambda: list(self.standin.sent))

    @property
    def calls(self) -> list[tuple[str, dict[str, object]]]:
        """A snapshot of every authorized call as (method, parameters)."""
        return self._call(lambda: list(self.standin.calls))

    @property
    def waiting_polls(self) -> int:
        """How many getUpdates calls are waiting for updates right now."""
        return self._call(lambda: self.standin.waiting_polls)

    def push_message(
        self,
        text: str,
        *,
        chat_id: int = 1001,
        user_id: int = 1001,
        entities: list[dict[str, object]] | None = None,
    ) -> int:
        """Queue a text message update; returns its update_id."""
        return self._call(
            lambda: self.standin.push_message(text, chat_id=chat_id, user_id=user_id, entities=entities)
        )

    def push_update(self, update: dict[str, object]) -> int:
        """Queue any raw update; returns its update_id."""
        return self._call(lambda: self.standin.push_update(update))

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """See ``BotApiStandIn.fail_next``."""
        self.standin.fail_next(method, error_code, description, retry_after, times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """See ``BotApiStandIn.delay_next``."""
        self.standin.delay_next(method, seconds, times)

    def flood_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """See ``BotApiStandIn.flood_next``."""
        self.standin.flood_next(method, retry_after, times)

    def server_error_next(self, method: str, error_code: int = 502, times: int = 1) -> None:
        """See ``BotApiStandIn.server_error_next``."""
        self.standin.server_error_next(method, error_code, times)

    def conflict_next(self, times: int = 1) -> None:
        """See ``BotApiStandIn.conflict_next``."""
        self.standin.conflict_next(times)

    def block_chat(self, chat_id: int | str) -> None:
        """See ``BotApiStandIn.block_chat``."""
        self._call(lambda: self.standin.block_chat(chat_id))

    def forget_history(self) -> int:
        """See ``BotApiStandIn.forget_history``."""
        return self._call(self.standin.forget_history)

    def wait_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
        """Block until at least ``count`` messages were sent; raises TimeoutError otherwise."""
        return self._wait(self.standin.wait_sent(count, timeout), timeout, f"{count} sendMessage calls")

    def wait_polling(self, count: int = 1, timeout: float = 10.0) -> None:
        """Block until at least ``count`` long polls are waiting; raises TimeoutError otherwise."""
        self._wait(self.standin.wait_polling(count, timeout), timeout, f"{count} waiting long polls")

    def _wait(self, waiter: Coroutine[Any, Any, _T], timeout: float, what: str) -> _T:
        """Run one of the stand-in's waits on its loop, bounded by ``timeout`` (plus slack)."""
        loop = self._thread.loop
        if loop is None:
            waiter.close()
            raise RuntimeError("the stand-in thread is not started")
        waiting = asyncio.run_coroutine_threadsafe(waiter, loop)
        try:
            return waiting.result(timeout=timeout + TIMEOUT)
        except concurrent.futures.TimeoutError:
            if waiting.done():
                raise  # the wait's own TimeoutError, which says how far it got
            waiting.cancel()
            raise TimeoutError(f"expected {what} within {timeout}s") from None
