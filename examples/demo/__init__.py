"""The demo: crocbot under crocotel, fed by synthetic users, all on 127.0.0.1.

It starts the Bot API stand-in, a slow quote service and an OTLP receiver,
runs ``examples/crocbot`` through the same launcher as ``crocotel run``, and
sends it traffic (``traffic``). While the bot runs it shows a sample of the
bot's JSON log lines (each inside an update carries that update's
``trace_id``) and one line per trace (``traces``), and scrapes the bot's
``/metrics``. It ends with a summary. With ``OTEL_EXPORTER_OTLP_ENDPOINT``
set, everything the bot exports also goes on to that Collector (``forward``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from crocotel import config
from crocotel.cli import launch_env
from crocotel.testing import BotApiThread, OtlpReceiver
from crocotel.testing.otlp import ReceivedSpan, spans_of
from examples.demo.forward import Forwarder
from examples.demo.slow_service import SlowService
from examples.demo.traces import TraceSummaries, pick
from examples.demo.traffic import BLOCKED_USER, Traffic

__all__ = ["run_demo"]

_REPO = Path(__file__).resolve().parents[2]
_RATE = 20.0  # updates per second from the synthetic users
_FIRST_LOG_LINES = 8  # shown in full; later only warnings, errors and one line in _LOG_SAMPLE
_LOG_SAMPLE = 15
_TRACE_LINES_PER_TICK = 4
_SHAPES = 10  # trace shapes listed at the end
_LINE_WIDTH = 220
_LOOK_AT = (
    ("telegram_update_duration_seconds", "updates by outcome and error_type; _count is the update count"),
    ("telegram_handler_duration_seconds", "time per handler, by telegram_handler and error_type"),
    ("telegram_api_duration_seconds", "Bot API calls by method and error code: 429, 403, 409 show here"),
)
_SUMMARY_METRICS = ("telegram_update_duration_seconds_count", "telegram_api_duration_seconds_count")
BOTS = {
    "aiogram": "examples.crocbot",
    "ptb": "examples.ptb_bot",
}
"""The example bot the demo runs for each ``--framework``."""


class _Spans:
    """The bot's spans as exports arrive, decoded here so the receiver's own store can be cleared.

    Called on the receiver's threads for every accepted export; also hands the
    body to the forwarder, if any. The demo may run for hours (the compose
    stack runs it with 100000 updates), so nothing here grows without bound.
    """

    def __init__(self, forwarder: Forwarder | None) -> None:
        self.forwarder = forwarder
        self.updates = 0
        self._lock = threading.Lock()
        self._pending: list[ReceivedSpan] = []

    def __call__(self, path: str, body: bytes) -> None:
        if self.forwarder is not None:
            self.forwarder(path, body)
        if path != "/v1/traces":
            return
        try:
            spans = spans_of(ExportTraceServiceRequest.FromString(body))
        except Exception:  # the receiver already accepted it; the summary just misses it
            return
        with self._lock:
            self._pending.extend(spans)
            self.updates += sum(s.name.startswith("telegram.update ") for s in spans)

    def take(self) -> list[ReceivedSpan]:
        """The spans that arrived since the last call."""
        with self._lock:
            taken, self._pending = self._pending, []
        return taken


class _Console:
    """Prints whole lines from several threads without interleaving them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def say(self, text: str = "") -> None:
        with self._lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _short(line: str) -> str:
    return line if len(line) <= _LINE_WIDTH else line[: _LINE_WIDTH - 1] + "…"


def _pump_logs(stream: IO[str], console: _Console, counts: dict[str, int]) -> None:
    """Show a sample of the bot's output: the first lines, then warnings and errors, then 1 in N."""
    for line in iter(stream.readline, ""):
        counts["lines"] += 1
        line = line.rstrip("\n")
        try:
            level = str(json.loads(line).get("level", "INFO"))
        except (ValueError, AttributeError):
            level = "RAW"  # not a JSON log line: a diagnostic or a traceback, always worth showing
        if counts["lines"] <= _FIRST_LOG_LINES or level != "INFO" or counts["lines"] % _LOG_SAMPLE == 0:
            counts["shown"] += 1
            console.say("  bot | " + _short(line))


def _scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body: bytes = response.read()
            return body.decode()
    except OSError:
        return ""


def _forwarder(console: _Console) -> Forwarder | None:
    """A forwarder to the user's Collector, if ``OTEL_EXPORTER_OTLP_*ENDPOINT`` names one."""
    if not any(
        os.environ.get(f"OTEL_EXPORTER_OTLP_{s}ENDPOINT") for s in ("", "TRACES_", "LOGS_", "METRICS_")
    ):
        return None
    settings = config.load()
    endpoints: dict[str, str] = {}
    headers: dict[str, str] = {}
    for path, otlp in (
        ("/v1/traces", settings.traces_otlp),
        ("/v1/logs", settings.logs_otlp),
        ("/v1/metrics", settings.metrics_otlp),
    ):
        if otlp is None:
            continue
        if otlp.protocol != "http/protobuf":
            console.say(f"demo: {path} is not forwarded: the demo forwards over http/protobuf only")
            continue
        endpoints[path] = otlp.endpoint
        headers.update(otlp.headers)
    return Forwarder(endpoints, headers) if endpoints else None


def _metrics_address() -> tuple[int, str]:
    """The bot's metrics port (the user's, or a free one) and the URL to scrape it on."""
    port = os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip()
    number = int(port) if port.isdigit() and int(port) > 0 else _free_port()
    host = os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip()
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return number, f"http://{f'[{host}]' if ':' in host else host}:{number}/metrics"


def _bot_env(
    api: BotApiThread, quotes: SlowService, receiver: OtlpReceiver, port: int, updates: int
) -> dict[str, str]:
    env = launch_env()
    for signal in ("TRACES", "LOGS", "METRICS"):  # the bot exports to the demo's receiver only
        env.pop(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", None)
        env.pop(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", None)
    env.update(
        BOT_TOKEN=api.token,
        TELEGRAM_API_URL=api.url,
        QUOTES_URL=quotes.url,
        MAX_UPDATES=str(updates),
        POLL_TIMEOUT="10",
        OTEL_SERVICE_NAME=env.get("OTEL_SERVICE_NAME", "crocbot"),
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="250",
        OTEL_BLRP_SCHEDULE_DELAY="250",
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait_for_polling(api: BotApiThread, bot: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait (bounded) until the bot asks for updates, so the users do not all arrive at once."""
    deadline = time.monotonic() + timeout
    while bot.poll() is None and time.monotonic() < deadline:
        if any(method == "getUpdates" for method, _ in api.calls):
            return
        time.sleep(0.05)


def _introduce(
    console: _Console, api: BotApiThread, metrics_url: str, forwarder: Forwarder | None, bot: str
) -> None:
    console.say(f"demo: Bot API stand-in at {api.url}; synthetic users chat with {bot}")
    console.say(f"demo: the bot's metrics are at {metrics_url} while it runs; look at")
    for name, meaning in _LOOK_AT:
        console.say(f"    {name:<48} {meaning}")
    console.say(f"demo: user {BLOCKED_USER} has blocked the bot; flood control and one 409 conflict strike")
    where = "shown below, one line each"
    if forwarder is not None:
        where += "; everything is also forwarded to " + ", ".join(sorted(set(forwarder.endpoints.values())))
    console.say(f"demo: traces are {where}")
    console.say("demo: a sample of the bot's JSON log lines follows ('trace_id' links a line to its trace)")


def run_demo(updates: int = 40, rate: float = _RATE, framework: str = "aiogram") -> int:
    """Run the demo end to end with the example bot of ``framework``; returns the bot's exit status."""
    console = _Console()
    forwarder = _forwarder(console)
    collected = _Spans(forwarder)
    summaries = TraceSummaries()
    log_counts = {"lines": 0, "shown": 0}
    metrics_text = ""
    replies = 0
    with (
        BotApiThread() as api,
        SlowService(delay=0.15, fail_every=9) as quotes,
        OtlpReceiver(on_export=collected) as receiver,
    ):
        port, metrics_url = _metrics_address()
        _introduce(console, api, metrics_url, forwarder, BOTS[framework])
        bot = subprocess.Popen(
            [sys.executable, "-m", BOTS[framework]],
            cwd=_REPO,
            env=_bot_env(api, quotes, receiver, port, updates),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert bot.stdout is not None
        pump = threading.Thread(target=_pump_logs, args=(bot.stdout, console, log_counts), daemon=True)
        pump.start()
        _wait_for_polling(api, bot)
        traffic = Traffic(api, updates, rate)
        sender = threading.Thread(target=traffic.run, args=(lambda: bot.poll() is None,), daemon=True)
        sender.start()
        deadline = time.monotonic() + 60 + updates * (2.0 / rate if rate > 0 else 0.1)
        next_scrape = 0.0
        while bot.poll() is None and time.monotonic() < deadline:
            _show_traces(console, summaries, collected)
            receiver.clear()  # the spans were decoded on arrival; keep the memory flat on long runs
            replies += api.forget_history()
            if time.monotonic() >= next_scrape:
                metrics_text = _scrape(metrics_url) or metrics_text
                next_scrape = time.monotonic() + 0.5
            time.sleep(0.25)
        if bot.poll() is None:
            console.say("demo: the bot did not finish in time; stopping it")
            bot.terminate()
        status = bot.wait(timeout=30)
        pump.join(timeout=5)
        sender.join(timeout=5)
        receiver.wait_for(lambda _: collected.updates >= traffic.sent, 5)  # the bot flushed at exit
        _show_traces(console, summaries, collected)
        replies += api.forget_history()
        _summary(console, summaries, metrics_text, replies, log_counts, traffic.sent)
        if forwarder is not None:
            forwarder.close()
            sent, failed = forwarder.sent, forwarder.failed
            console.say(f"demo: forwarded {sent} exports to the Collector, {failed} failed")
    return status


def _show_traces(console: _Console, summaries: TraceSummaries, collected: _Spans) -> None:
    found = summaries.new(collected.take())
    lines = pick(found, _TRACE_LINES_PER_TICK)
    for line in lines:
        console.say("  " + _short(line))
    if len(found) > len(lines):
        console.say(f"  (+{len(found) - len(lines)} more traces)")


def _summary(
    console: _Console,
    summaries: TraceSummaries,
    metrics_text: str,
    replies: int,
    log_counts: dict[str, int],
    pushed: int,
) -> None:
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(summaries.outcomes.items()))
    console.say()
    console.say(f"demo: {pushed} updates sent by the synthetic users, {replies} replies from the bot")
    console.say(f"demo: {summaries.spans} spans in {summaries.traces} update traces ({outcomes}); by shape:")
    console.say("  count   median  trace")
    for row in summaries.table(_SHAPES):
        console.say("  " + _short(row))
    lines, shown = log_counts["lines"], log_counts["shown"]
    console.say(f"demo: {lines} log lines written by the bot, {shown} shown above")
    samples = [
        line for line in metrics_text.splitlines() if line.startswith(_SUMMARY_METRICS) and 'le="' not in line
    ]
    console.say(f"demo: the bot's /metrics, last scraped while it ran ({len(samples)} telegram series):")
    for line in samples:
        console.say("    " + _short(_without_scope_labels(line)))


def _without_scope_labels(line: str) -> str:
    """A sample line without the otel_scope_* and empty labels, to fit the terminal."""
    name, brace, rest = line.partition("{")
    if not brace:
        return line
    labels, _, value = rest.rpartition("}")
    kept = [p for p in labels.split(",") if p and not p.startswith("otel_scope_") and not p.endswith('=""')]
    return f"{name}{{{','.join(kept)}}}{value}"
