"""An asyncio event loop in a daemon thread, serving one async server for synchronous callers.

The Bot API stand-in and the slow service both run this way so that tests, the demo
and benchmarks can use them from plain code. Starting, stopping and every
cross-thread call are bounded, so a broken server cannot hang its caller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

TIMEOUT = 10.0  # bounds starting, stopping and every cross-thread call


class LoopThread:
    """Runs ``setup()`` on a fresh loop in a daemon thread, then keeps the loop serving."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, setup: Callable[[], Awaitable[None]]) -> None:
        """Start the thread and wait (bounded) for ``setup``; its error is raised here."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already started")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(target=self._run, args=(loop, setup, started), name=self._name, daemon=True)
        thread.start()
        try:
            started.result(timeout=TIMEOUT)
        except BaseException:
            thread.join(TIMEOUT)
            raise
        self.loop, self._thread = loop, thread

    @staticmethod
    def _run(
        loop: asyncio.AbstractEventLoop,
        setup: Callable[[], Awaitable[None]],
        started: concurrent.futures.Future[None],
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(setup())
        except BaseException as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, teardown: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``teardown`` on the loop, then end the loop and the thread (bounded). Safe twice."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        self.loop = self._thread = None
        stopping = asyncio.run_coroutine_threadsafe(teardown(), loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            stopping.result(timeout=TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the loop (or right here when it is not running) and return its result."""
        loop = self.loop
        if loop is None:
            return fn()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=TIMEOUT)
