"""Helpers for the health and metrics-server tests: run the loop app, read the bot's endpoints."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from crocotel.testing import BotApiThread
from tests.conftest import base_env, instrumented, wait_line

LOOP_APP = "tests/apps/loop_app.py"


def get(url: str, timeout: float = 5.0, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; status, headers and body, for error statuses too."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def probe(url: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of /healthz or /readyz."""
    status, _, body = get(url)
    return status, json.loads(body)


def wait_for(condition: Callable[[], Any], what: str, limit: float = 30.0, step: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy (bounded); returns that value."""
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class App:
    """The loop app under opentelemetry-instrument, with its base URL."""

    def __init__(self, proc: subprocess.Popen[str], port: str) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def reply(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def stop(self) -> tuple[str, str]:
        """Close stdin, wait for the exit; the rest of stdout and stderr."""
        try:
            out, err = self.proc.communicate(input="", timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
        return out, err


@contextmanager
def loop_app(api: BotApiThread, **extra: str) -> Iterator[App]:
    """Start the loop app against ``api`` and wait for READY."""
    env = base_env(
        BOT_TOKEN=api.token,
        TELEGRAM_API_URL=api.url,
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **extra,
    )
    proc = instrumented([LOOP_APP], env)
    app = App(proc, env["OTEL_EXPORTER_PROMETHEUS_PORT"])
    try:
        wait_line(proc, "READY")
        yield app
    finally:
        if proc.poll() is None:
            app.stop()
