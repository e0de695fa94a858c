"""The demo (``python -m examples.demo``): crocbot under crocotel, synthetic users, metrics, traces."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import urllib.request

import pytest

from crocotel.testing import OtlpReceiver
from tests.conftest import BIN, REPO, base_env
from tests.telegram_support import prometheus_samples

pytestmark = pytest.mark.integration

_METRICS_URL = re.compile(r"metrics are at (http://127\.0\.0\.1:\d+/metrics)")


class Demo:
    """The demo in a subprocess, its output collected by a thread."""

    def __init__(self, updates: int, **env: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [str(BIN / "python"), "-m", "examples.demo", "--updates", str(updates)],
            cwd=REPO,
            env=base_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = pattern.search(line)
                if match:
                    return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        tail = "\n".join(self.lines[-40:])
        raise AssertionError(f"no line matching {pattern.pattern!r} in:\n{tail}")

    def finish(self, timeout: float = 180) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError("the demo did not finish:\n" + "\n".join(self.lines[-40:])) from None
        self._reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def bot_metrics(url: str) -> dict[str, float]:
    """Totals per metric name in one scrape (0 when the bot is not up yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    totals: dict[str, float] = {}
    for name, _, value in prometheus_samples(text):
        totals[name] = totals.get(name, 0.0) + value
    return totals


def test_demo_with_200_updates_serves_bot_metrics_and_exits_0() -> None:
    demo = Demo(200)
    url = demo.wait_for_line(_METRICS_URL).group(1)
    wanted = (
        "telegram_update_duration_seconds_count",
        "telegram_handler_duration_seconds_count",
        "telegram_api_duration_seconds_count",
    )
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and demo.proc.poll() is None:
        seen = bot_metrics(url) or seen
        if all(seen.get(name, 0) > 0 for name in wanted):
            break
        time.sleep(0.2)
    assert all(seen.get(name, 0) > 0 for name in wanted), (seen, demo.output[-3000:])
    assert "telegram_updates_active" in seen

    assert demo.finish() == 0, demo.output[-3000:]
    out = demo.output
    assert "200 updates sent by the synthetic users" in out
    assert "in 200 update traces" in out
    assert re.search(
        r"trace [0-9a-f]{8}  telegram\.update message \d+ ms -> \w+ \d+ ms -> sendMessage \d+ ms", out
    )
    assert re.search(r'"trace_id":"[0-9a-f]{32}"', out)  # JSON log lines with their trace ids
    assert re.search(r"telegram_api_duration_seconds_count\{[^}]*telegram_api_error_code=\"409\"", out)


def test_demo_also_forwards_to_a_collector(receiver: OtlpReceiver) -> None:
    demo = Demo(10, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    assert demo.finish() == 0, demo.output[-3000:]
    assert "also forwarded to " + receiver.endpoint in demo.output
    assert receiver.wait_for(
        lambda r: sum(s.name.startswith("telegram.update ") for s in r.spans()) >= 10, timeout=10
    ), demo.output[-3000:]
    assert any(s.name.startswith("telegram.update ") for s in receiver.spans())
    assert receiver.logs()  # the bot's log records too
