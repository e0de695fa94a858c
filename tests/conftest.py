"""Shared fixtures: the Bot API stand-in, an HTTP session and an OTLP receiver (helpers: tests/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from crocotel.testing import BotApiStandIn, BotApiThread, OtlpReceiver


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    """The Bot API stand-in on the test's own event loop."""
    async with BotApiStandIn() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for calling the stand-in, closed after the test."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def api() -> Iterator[BotApiThread]:
    """The Bot API stand-in in a thread, for tests that run a bot in a subprocess."""
    with BotApiThread() as server:
        yield server
