"""Shared fixtures: an OTLP receiver, free ports, and launching apps under crocotel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from crocotel.testing import BotApiStandIn, OtlpReceiver

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPAN_APP = str(REPO / "tests" / "apps" / "span_app.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**overrides: str) -> dict[str, str]:
    """The parent's environment without OTEL_/CROCOTEL_ settings, plus fast export delays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_"))}
    env.update(
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_BLRP_SCHEDULE_DELAY="200",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def instrumented(
    args: list[str], env: dict[str, str], bin_dir: Path | None = None, **kwargs: object
) -> subprocess.Popen[str]:
    """Start ``python args...`` under ``opentelemetry-instrument`` (of the venv of ``bin_dir``)."""
    if bin_dir is None:
        command = [str(BIN / "opentelemetry-instrument"), sys.executable, *args]
    else:
        command = [str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "python"), *args]
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        command,
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_line(proc: subprocess.Popen[str], marker: str, limit: int = 200) -> list[str]:
    """Read stdout lines until one equals ``marker`` (bounded); returns the lines read."""
    assert proc.stdout is not None
    lines: list[str] = []
    for _ in range(limit):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip() == marker:
            return lines
    raise AssertionError(
        f"{marker!r} never printed; stdout so far: {lines}; stderr: {proc.stderr and proc.stderr.read()}"
    )


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
