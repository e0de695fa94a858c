"""The plain aiohttp example bot works against the Bot API stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crocotel.testing import BotApiThread

REPO = Path(__file__).resolve().parents[1]
GREETING = "Hello! Send me any text and I will send it back."

pytestmark = pytest.mark.integration


def start_bot(api: BotApiThread, **extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_"))}
    env.update(BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url, POLL_TIMEOUT="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return subprocess.Popen(
        [sys.executable, "-m", "examples.aiohttp_bot"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    """Wait for the bot to exit (killing it if it overstays); returns (exit code, stderr)."""
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate(timeout=5)
        raise AssertionError(f"the bot did not exit within {timeout}s; stderr:\n{stderr}") from None
    return proc.returncode, stderr


def test_answers_two_messages_then_exits(api: BotApiThread) -> None:
    first = api.push_message("/start", chat_id=501, user_id=501)
    second = api.push_message("secret words 42", chat_id=502, user_id=502)
    code, stderr = finish(start_bot(api, MAX_UPDATES="2"))
    assert code == 0, stderr
    assert [(m["chat_id"], m["text"]) for m in api.sent] == [(501, GREETING), (502, "secret words 42")]
    assert f"update {first} from chat 501" in stderr
    assert f"update {second} from chat 502" in stderr
    assert "secret words" not in stderr  # message text is never logged
    assert [method for method, _ in api.calls][:2] == ["getMe", "getUpdates"]


def test_messages_pushed_while_polling(api: BotApiThread) -> None:
    proc = start_bot(api, MAX_UPDATES="2", POLL_TIMEOUT="10")
    try:
        api.wait_polling(timeout=15)
        api.push_message("one")
        assert [m["text"] for m in api.wait_sent(1, timeout=10)] == ["one"]
        api.push_message("two")
    finally:
        code, stderr = finish(proc)
    assert code == 0, stderr
    assert [m["text"] for m in api.sent] == ["one", "two"]


def test_sigterm_stops_a_long_poll_promptly(api: BotApiThread) -> None:
    proc = start_bot(api, POLL_TIMEOUT="25")
    try:
        api.wait_polling(timeout=15)
        proc.send_signal(signal.SIGTERM)
    finally:
        code, stderr = finish(proc, timeout=20)
    assert code == 0, stderr
    assert "signal received, stopping" in stderr
    # the bot is gone while the stand-in still holds its 25 s poll open: it did not wait the poll out
    # (how fast it stops is measured by benchmarks/bench_standin.py)
    assert api.waiting_polls == 1


def test_retries_after_a_rate_limit(api: BotApiThread) -> None:
    api.fail_next("getUpdates", 429, "Too Many Requests: retry after 1", retry_after=1)
    api.push_message("hi")
    code, stderr = finish(start_bot(api, MAX_UPDATES="1"))
    assert code == 0, stderr
    assert [m["text"] for m in api.sent] == ["hi"]
    assert "retrying in 1 s" in stderr


def test_needs_a_token(api: BotApiThread) -> None:
    code, stderr = finish(start_bot(api, BOT_TOKEN=""))
    assert code == 2
    assert "BOT_TOKEN is not set" in stderr
