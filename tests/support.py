"""Helpers the tests share: where things are, environments for child processes, launching apps
under ``opentelemetry-instrument``. (Fixtures live in conftest.py; helpers are imported from here.)"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPAN_APP = str(REPO / "tests" / "apps" / "span_app.py")


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (32768 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS = random.Random()
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, for a child process to bind later.

    Picked below the ephemeral range: a port the kernel chose for us (bind to 0) is
    free again once we close it, and any outgoing connection in the meantime (Jaeger,
    the Collector, a bot) may take it as its source port; the child then fails with
    "address already in use". Never the same port twice in one test run.
    """
    high = min(_ephemeral_floor(), 65536)
    low = max(1024, high - 20000)
    for _ in range(200):  # bounded
        port = _PORTS.randrange(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as sock:  # a crowded range: the kernel's choice, with its small race
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def set_in_process_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """This process's environment for an in-process ``configure()``: no OTEL_/CROCOTEL_ settings
    of the caller's, :func:`base_env`'s export delays, OTLP to ``endpoint``, no log formatting."""
    for key in list(os.environ):
        if key.startswith(("OTEL_", "CROCOTEL_")):
            monkeypatch.delenv(key)
    for key, value in base_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint).items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("CROCOTEL_LOG_FORMAT", "none")


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
