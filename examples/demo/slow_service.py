"""A slow external HTTP service for example bots to call: ``GET /quote`` answers after a delay.

Real bots wait on other services; this one lets the demo, the tests and the
benchmarks show that wait as an HTTP client span inside the handler span. It
runs an aiohttp server on 127.0.0.1 on its own event loop in a daemon thread,
answers ``{"quote": ...}`` after ``delay`` seconds (``?delay=`` overrides it per
request, capped at 10 s), and, if ``fail_every`` is set, answers every n-th
request with 503 instead.
"""

from __future__ import annotations

import asyncio
import itertools

from aiohttp import web

from crocotel.testing import LoopThread

__all__ = ["SlowService"]

QUOTES = (
    "Premature optimization is the root of all evil.",
    "Simple is better than complex.",
    "Errors should never pass silently.",
    "In the face of ambiguity, refuse the temptation to guess.",
)
_MAX_DELAY = 10.0


class SlowService:
    """The service in a daemon thread; use as a context manager or call start() and stop()."""

    def __init__(self, delay: float = 0.1, fail_every: int = 0) -> None:
        self.delay = delay
        self.fail_every = fail_every
        self.requests = 0
        self._counter = itertools.count(1)
        self._thread = LoopThread("crocotel-slow-service")
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/quote``."""
        return f"http://127.0.0.1:{self._port}/quote"

    def start(self) -> None:
        """Listen on a free port; returns once the server accepts requests."""
        self._thread.start(self._listen)

    def stop(self) -> None:
        """Stop the server and its thread. Safe to call twice."""
        self._thread.stop(self._cleanup)

    def __enter__(self) -> SlowService:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_get("/quote", self._quote)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _quote(self, request: web.Request) -> web.Response:
        number = next(self._counter)
        self.requests = number
        try:
            delay = min(max(float(request.query.get("delay", self.delay)), 0.0), _MAX_DELAY)
        except ValueError:
            delay = self.delay
        await asyncio.sleep(delay)
        if self.fail_every and number % self.fail_every == 0:
            return web.json_response({"error": "quote service overloaded"}, status=503)
        return web.json_response({"quote": QUOTES[number % len(QUOTES)]})
