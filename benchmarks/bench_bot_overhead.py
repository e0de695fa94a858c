"""CPU per update of crocbot with crocotel, against the same bot without telemetry and under the stock distro.

Every configuration runs the unchanged ``examples/crocbot`` (aiogram 3) from a
copy outside the checkout, against the Bot API stand-in in this process, with
the same paced stream of messages (echo texts and ``/start``), in the same run:

- ``plain``: no telemetry (``python -m examples.crocbot``);
- ``crocotel``: ``opentelemetry-instrument`` from this venv, exporting traces
  and logs over OTLP to a receiver in this process, /metrics on, JSON logs;
- ``stock``: ``opentelemetry-instrument`` from a separate venv
  (``benchmarks/_stock.py``: opentelemetry-distro, the OTLP exporter, the
  aiohttp-client instrumentation and aiogram; created on first use) with
  OTLP over http/protobuf to the same kind of receiver; and ``stock_plain``,
  the same bot in that venv without telemetry, as its own baseline.

CPU time is the bot process's user+system time read from /proc after
``--warmup`` replies and again ``--updates`` replies later: the steady state,
free of imports, start-up and shutdown. Spans and log records per update are
all received over all updates. The configurations take turns, ``--runs`` times;
medians are reported. Prints one JSON line at the end (Linux only).

The verdict counts only if the work was done: every run of a telemetry
configuration must deliver at least its floor of spans and log records per
update (``FLOORS``: crocotel's update, handler and sendMessage spans and the
bot's log line; the stock distro's HTTP client spans), and the plain runs none.
Otherwise the benchmark stops with an error instead of reporting a ratio.

    .venv/bin/python benchmarks/bench_bot_overhead.py [--updates 2000] [--rate 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import stock_python  # noqa: E402
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

VENV = Path(sys.executable).parent
TEXTS = ("hello", "how are you?", "/start", "what's new", "good morning!")
# (spans, log records) per update each configuration must deliver for its timing to mean anything:
# crocotel traces update -> handler -> sendMessage and exports the bot's "echoing" line (4 texts in 5);
# the stock distro traces at least the HTTP call of each reply and exports no logs by default.
FLOORS = {"plain": (0.0, 0.0), "stock_plain": (0.0, 0.0), "crocotel": (3.0, 0.8), "stock": (1.0, 0.0)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bot_copy() -> Path:
    """crocbot copied outside the checkout, whose egg-info would expose crocotel's entry points."""
    where = Path(tempfile.mkdtemp(prefix="crocbot-bench-"))
    (where / "examples").mkdir()
    shutil.copy(REPO / "examples" / "__init__.py", where / "examples" / "__init__.py")
    shutil.copytree(REPO / "examples" / "crocbot", where / "examples" / "crocbot")
    return where


def command(config: str, stock: Path) -> list[str]:
    bot = ["-m", "examples.crocbot"]
    if config == "plain":
        return [sys.executable, *bot]
    if config == "crocotel":
        return [str(VENV / "opentelemetry-instrument"), sys.executable, *bot]
    if config == "stock_plain":
        return [str(stock), *bot]
    return [str(stock.parent / "opentelemetry-instrument"), str(stock), *bot]


def env_for(config: str, api: BotApiThread, receiver: OtlpReceiver, updates: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTHONPATH"))}
    env.update(BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url, MAX_UPDATES=str(updates), POLL_TIMEOUT="10")
    if config in ("crocotel", "stock"):
        env.update(
            OTEL_SERVICE_NAME="crocbot-bench",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_PROMETHEUS_PORT=str(free_port()),
        )
    return env


def feed(api: BotApiThread, updates: int, rate: float, stop: threading.Event) -> None:
    """Push ``updates`` messages at ``rate`` per second from 50 users."""
    interval = 1.0 / rate
    next_at = time.monotonic()
    for i in range(updates):
        if stop.is_set():
            return
        user = 5000 + i % 50
        api.push_message(TEXTS[i % len(TEXTS)], chat_id=user, user_id=user)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_sent(api: BotApiThread, count: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(api.standin.sent) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bot stopped answering at {len(api.standin.sent)} of {count}")
        time.sleep(0.01)


def run_once(
    config: str, warmup: int, measured: int, rate: float, workdir: Path, stock: Path
) -> tuple[float, float, float]:
    """(CPU seconds per update in the steady state, spans per update, log records per update).

    The bot's CPU time is read when ``warmup`` replies were sent and again
    ``measured`` replies later, so imports, start-up and shutdown are left out.
    """
    total = warmup + measured
    with BotApiThread() as api, OtlpReceiver() as receiver:
        proc = subprocess.Popen(
            command(config, stock),
            cwd=workdir,
            env=env_for(config, api, receiver, total),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(api, total, rate, stop), daemon=True)
        try:
            for _ in range(600):  # bounded: wait until the bot polls
                if any(method == "getUpdates" for method, _ in api.calls) or proc.poll() is not None:
                    break
                time.sleep(0.05)
            feeder.start()
            wait_sent(api, warmup, proc)
            before = cpu_seconds(proc.pid)
            wait_sent(api, total, proc)
            after = cpu_seconds(proc.pid)
            code = proc.wait(timeout=60)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if code != 0:
            raise SystemExit(f"{config}: exit status {code}")
        spans = records = -1
        for _ in range(50):  # the exporters flushed at exit; wait until the counts settle
            time.sleep(0.1)
            now = len(receiver.spans()), len(receiver.logs())
            if now == (spans, records):
                break
            spans, records = now
        check_work(config, spans / total, records / total)
        return (after - before) / measured, spans / total, records / total


def check_work(config: str, spans: float, records: float) -> None:
    """Stop unless the run delivered its floor of telemetry (and the plain runs none)."""
    span_floor, record_floor = FLOORS[config]
    if config in ("plain", "stock_plain"):
        if spans or records:
            raise SystemExit(
                f"{config}: {spans:.2f} spans and {records:.2f} records per update without telemetry"
            )
        return
    if spans < span_floor or records < record_floor:
        raise SystemExit(
            f"{config}: {spans:.2f} spans and {records:.2f} log records per update, below the floor of "
            f"{span_floor} and {record_floor}: the telemetry was not produced, so its cost means nothing"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--warmup", type=int, default=200, help="updates before measuring")
    parser.add_argument("--updates", type=int, default=2000, help="updates measured")
    parser.add_argument("--rate", type=float, default=200.0, help="updates per second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-stock", action="store_true", help="skip the stock distro")
    args = parser.parse_args()
    configs = ["plain", "crocotel"] + ([] if args.no_stock else ["stock_plain", "stock"])
    stock = stock_python() if not args.no_stock else Path(sys.executable)
    workdir = bot_copy()
    per_update: dict[str, list[float]] = {c: [] for c in configs}
    spans_per_update: dict[str, list[float]] = {c: [] for c in configs}
    records_per_update: dict[str, list[float]] = {c: [] for c in configs}
    try:
        for run in range(args.runs):
            for config in configs:
                seconds, spans, records = run_once(
                    config, args.warmup, args.updates, args.rate, workdir, stock
                )
                per_update[config].append(seconds)
                spans_per_update[config].append(spans)
                records_per_update[config].append(records)
                print(
                    f"run {run + 1} {config:<12} {seconds * 1e3:.3f} ms CPU/update, "
                    f"{spans:.2f} spans and {records:.2f} log records/update",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cpu = {c: statistics.median(v) * 1e3 for c, v in per_update.items()}
    result: dict[str, object] = {
        "benchmark": "bot_overhead",
        "bot": "examples/crocbot (aiogram 3), echo and /start",
        "updates_measured": args.updates,
        "warmup_updates": args.warmup,
        "rate_per_s": args.rate,
        "runs": args.runs,
        "cpu_ms_per_update": {c: round(v, 4) for c, v in cpu.items()},
        "ratio_crocotel_vs_plain": round(cpu["crocotel"] / cpu["plain"], 3),
        "overhead_ms_per_update": {"crocotel": round(cpu["crocotel"] - cpu["plain"], 4)},
        "spans_per_update": {
            c: round(statistics.median(v), 2)
            for c, v in spans_per_update.items()
            if c in ("crocotel", "stock")
        },
        "log_records_per_update": {
            c: round(statistics.median(v), 2)
            for c, v in records_per_update.items()
            if c in ("crocotel", "stock")
        },
        "floors_spans_records_per_update": {c: FLOORS[c] for c in configs},
    }
    if "stock" in cpu:
        crocotel_overhead = cpu["crocotel"] - cpu["plain"]
        stock_overhead = cpu["stock"] - cpu["stock_plain"]
        result["ratio_stock_vs_plain"] = round(cpu["stock"] / cpu["stock_plain"], 3)
        result["overhead_ms_per_update"] = {
            "crocotel": round(crocotel_overhead, 4),
            "stock": round(stock_overhead, 4),
        }
        result["crocotel_overhead_vs_stock_overhead"] = round(crocotel_overhead / stock_overhead, 3)
        result["target_one_third_of_stock_met"] = crocotel_overhead <= stock_overhead / 3
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
