"""``crocotel demo``: an example bot under crocotel, fed by synthetic users, all on 127.0.0.1.

It starts the Bot API stand-in and an OTLP receiver (unless
``OTEL_EXPORTER_OTLP_ENDPOINT`` points at a real Collector), runs the example
bot through the same launcher as ``crocotel run``, sends it messages, streams
its JSON logs, and ends with what arrived: spans per trace, log records, and a
look at ``/metrics``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

from crocotel.cli import launch_env
from crocotel.testing import BotApiThread, OtlpReceiver

_REPO = Path(__file__).resolve().parent.parent
_TEXTS = ("hello", "/start", "how are you?", "call me at +44 20 7946 0958", "what's new", "bye")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pump(stream: object, prefix: str) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def _scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body.decode()
    except OSError:
        return ""


def run_demo(updates: int = 20, interval: float = 0.05) -> int:
    """Run the demo end to end; returns the bot's exit status."""
    if not (_REPO / "examples" / "aiohttp_bot").is_dir():
        print("crocotel demo: run it from a crocotel checkout (examples/ not found)", file=sys.stderr)
        return 2
    own_receiver = not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    receiver = OtlpReceiver() if own_receiver else None
    with BotApiThread() as api:
        if receiver is not None:
            receiver.start()
        port = _free_port()
        env = launch_env()
        env.update(
            BOT_TOKEN=api.token,
            TELEGRAM_API_URL=api.url,
            MAX_UPDATES=str(updates),
            POLL_TIMEOUT="1",
            OTEL_SERVICE_NAME=env.get("OTEL_SERVICE_NAME", "crocotel-demo"),
            OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
            OTEL_BSP_SCHEDULE_DELAY="500",
            OTEL_BLRP_SCHEDULE_DELAY="500",
        )
        if receiver is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        print(f"crocotel demo: Bot API stand-in at {api.url}; the bot's metrics at {metrics_url}")
        print("crocotel demo: the bot's JSON log lines follow (trace_id links each line to its trace)")
        bot = subprocess.Popen(
            [sys.executable, "-m", "examples.aiohttp_bot"],
            cwd=_REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pump = threading.Thread(target=_pump, args=(bot.stdout, "  bot | "), daemon=True)
        pump.start()
        for i in range(updates):
            api.push_message(_TEXTS[i % len(_TEXTS)], chat_id=2000 + i % 7, user_id=3000 + i % 7)
            time.sleep(interval)
        metrics_text = ""
        deadline = time.monotonic() + 30 + updates * 0.1
        while bot.poll() is None and time.monotonic() < deadline:
            metrics_text = _scrape(metrics_url) or metrics_text
            time.sleep(0.2)
        if bot.poll() is None:
            bot.terminate()
        status = bot.wait(timeout=15)
        pump.join(timeout=2)
        _summary(receiver, metrics_text, len(api.sent))
        if receiver is not None:
            receiver.stop()
    return status


def _summary(receiver: OtlpReceiver | None, metrics_text: str, replies: int) -> None:
    print(f"\ncrocotel demo: the bot sent {replies} replies")
    if receiver is not None:
        spans = receiver.spans()
        traces = Counter(s.trace_id for s in spans)
        names = Counter(s.name for s in spans)
        print(
            f"crocotel demo: {len(spans)} spans in {len(traces)} traces, {len(receiver.logs())} log records"
        )
        for name, count in names.most_common(8):
            print(f"  {count:5d}  {name}")
    samples = [line for line in metrics_text.splitlines() if line and not line.startswith("#")]
    print(f"crocotel demo: /metrics served {len(samples)} samples while the bot ran, for example:")
    for line in [s for s in samples if "_count" in s or "redactions" in s][:6]:
        print("  " + line)
