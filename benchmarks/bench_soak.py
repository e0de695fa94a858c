"""Soak: a bot under crocotel handling a realistic stream for a bounded time, its memory sampled.

crocbot (aiogram 3, ``examples/crocbot``) runs under crocotel with everything on
(``benchmarks/_stock.py``'s crocotel venv: traces and logs over OTLP to a receiver
in this process, /metrics, JSON logs, redaction) against the Bot API stand-in, fed
at ``--rate`` updates per second for ``--seconds`` (10 minutes by default) with a
mix that exercises every path:

- echo texts with phone numbers in them (redacted on every signal);
- ``/divide 6 3`` (a command), ``/divide x`` (ValueError, handled by the error
  router), ``/divide 1 0`` (ZeroDivisionError, unhandled: an update in error);
- flood control: one sendMessage in 40 answered 429 (retry_after 1);
- new chats: every 7th update comes from a chat never seen before.

Resident memory (VmRSS of the bot) is read every ``--interval`` seconds. After the
warm-up (``--warmup-share`` of the run) a least-squares line is fitted; the slope
is reported in MB per hour with its 95% confidence interval (samples are
autocorrelated, so the interval is, if anything, too narrow: read it as "no trend
beyond this"). The series count on /metrics is read at the end of warm-up and at
the end: new chats must not add series (the first scrape, at the start, brings the
metric reader's own series, which appear from the second on; the names of any series
that appear later are listed). The verdict passes when the interval
includes zero or the upper bound is below ``--max-slope`` MB per hour, and the
series count did not grow. Prints one JSON line at the end.

CPU per reply and minor page faults per reply after warm-up are reported too (the rate is
fixed, so runs side by side compare). The resident part of the ``[heap]`` mapping (glibc's main
arena) gets a slope of its own: where the allocator's holes grow while Python's objects do not
(tracemalloc flat), this is where.

With ``--bare`` the same bot runs bare, side by side, fed the same mix: aiogram keeps state
per chat, so its own growth is measured too and the difference is crocotel's
(``slope_minus_bare_mb_per_hour``, with an interval; ``crocotel_share_flat`` applies the
verdict above to it). Side-by-side runs of the same bot differ by a few MB per hour: read a
share within that as level.

    .venv/bin/python benchmarks/bench_soak.py [--seconds 600] [--rate 40] [--interval 3] [--bare]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python  # noqa: E402
from benchmarks.bench_bot_overhead import bots_copy, free_port, proc_stat  # noqa: E402
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

PHONE_TEXTS = (
    "call me at +44 7911 123456 please",
    "my number is +1 (415) 555-0132",
    "hello there",
    "reach me on +49 151 23456789 tomorrow",
    "what's new?",
)
# t-distribution 97.5% quantiles for small degrees of freedom; 1.96 beyond
_T975 = {
    1: 12.71,
    2: 4.30,
    3: 3.18,
    4: 2.78,
    5: 2.57,
    6: 2.45,
    8: 2.31,
    10: 2.23,
    15: 2.13,
    20: 2.09,
    30: 2.04,
}


def t975(df: int) -> float:
    known = [k for k in _T975 if k <= df]
    return _T975[max(known)] if df <= 20 and known else 1.96


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def heap_rss_mb(pid: int) -> float:
    """Resident MB of the process's ``[heap]`` mapping: glibc's main arena, where the C allocator's
    holes show (Python's small objects live in mappings of their own)."""
    total = 0
    in_heap = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=6)
        if head and "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            in_heap = head[-1] == "[heap]"
        elif in_heap and head and head[0] == "Rss:":
            total += int(head[1])
    return total / 1024


def slope_with_ci(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares slope of ys over xs and its 95% confidence interval (low, high)."""
    n = len(xs)
    slope, intercept = statistics.linear_regression(xs, ys)
    mean_x = statistics.fmean(xs)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    stderr = math.sqrt(residual / (n - 2) / sxx) if n > 2 and sxx > 0 else float("inf")
    half = t975(n - 2) * stderr
    return slope, slope - half, slope + half


def series(port: int) -> set[str]:
    """The series on the bot's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return series_of(response.read().decode())


def series_of(text: str) -> set[str]:
    """Each sample line's name and labels, without its value or exemplar."""
    samples = (line for line in text.splitlines() if line and line[0] != "#")
    return {line.split(" # ", 1)[0].rsplit(" ", 1)[0] for line in samples}


_SHOWN_SERIES = 10
"""New series listed whole (name and labels) in the result, to tell a label that grows from a rare event."""


def new_series(before: set[str], after: set[str]) -> dict[str, int]:
    """The series in ``after`` and not in ``before``, counted by metric name."""
    counts: dict[str, int] = {}
    for name in sorted(line.split("{", 1)[0] for line in after - before):
        counts[name] = counts.get(name, 0) + 1
    return counts


def feed(api: BotApiThread, rate: float, stop: threading.Event, sent: list[int]) -> None:
    """Push the mix at ``rate`` per second until ``stop``."""
    interval = 1.0 / rate
    next_at = time.monotonic()
    i = 0
    while not stop.is_set():
        chat = 900_000 + i if i % 7 == 0 else 5000 + i % 50  # every 7th from a new chat
        kind = i % 20
        if kind == 5:
            text = "/divide 6 3"
        elif kind == 11:
            text = "/divide x"
        elif kind == 17:
            text = "/divide 1 0"
        else:
            text = PHONE_TEXTS[i % len(PHONE_TEXTS)]
        if i % 40 == 3:
            api.flood_next("sendMessage", retry_after=1)
        api.push_message(text, chat_id=chat, user_id=chat)
        i += 1
        sent[0] = i
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def soak(instrumented: bool, args: argparse.Namespace) -> dict[str, object]:
    """Feed one crocbot process for ``args.seconds`` and sample its memory; under crocotel when
    ``instrumented``, else bare (the same venv, the same bot libraries, no telemetry)."""
    python = crocotel_python()
    workdir = bots_copy()
    port = free_port()
    samples: list[tuple[float, float]] = []
    heap: list[float] = []
    series_warm: set[str] | None = None
    at_warm: tuple[tuple[float, float, float, float, int], int] | None = None
    series_end: set[str] | None = None
    with BotApiThread() as api, OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTHONPATH"))}
        env.update(BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url, POLL_TIMEOUT="10")
        command = [str(python), "-m", "examples.crocbot"]
        if instrumented:
            env.update(
                OTEL_SERVICE_NAME="crocbot-soak",
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
                OTEL_METRICS_EXPORTER="prometheus",
            )
            command.insert(0, str(python.parent / "opentelemetry-instrument"))
        proc = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        stop = threading.Event()
        pushed = [0]
        feeder = threading.Thread(target=feed, args=(api, args.rate, stop, pushed), daemon=True)
        try:
            api.wait_polling(timeout=60)
            if instrumented:
                series(port)  # the reader's own series appear from the second scrape on
            feeder.start()
            started = time.monotonic()
            warm_until = started + args.seconds * args.warmup_share
            while (now := time.monotonic()) < started + args.seconds:
                if proc.poll() is not None:
                    raise SystemExit(f"the bot exited during the soak with status {proc.returncode}")
                samples.append((now - started, rss_mb(proc.pid)))
                heap.append(heap_rss_mb(proc.pid))
                if at_warm is None and now >= warm_until:
                    at_warm = proc_stat(proc.pid), len(api.standin.sent)
                    if instrumented:
                        series_warm = series(port)
                time.sleep(args.interval)
            at_end = proc_stat(proc.pid), len(api.standin.sent)
            if instrumented:
                series_end = series(port)
            stop.set()
            feeder.join(10)
            replies = len(api.standin.sent)
        finally:
            stop.set()
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            shutil.rmtree(workdir, ignore_errors=True)
        spans, records = len(receiver.spans()), len(receiver.logs())
    warm_s = args.seconds * args.warmup_share
    fitted = [(t, r) for t, r in samples if t >= warm_s]
    if len(fitted) < 3:
        raise SystemExit("too few samples after warm-up: run longer or sample more often")
    fitted_rss = [r for _, r in fitted]
    per_s, low, high = slope_with_ci([t for t, _ in fitted], fitted_rss)
    fitted_heap = [h for (t, _), h in zip(samples, heap, strict=True) if t >= warm_s]
    heap_per_s, heap_low, heap_high = slope_with_ci([t for t, _ in fitted], fitted_heap)
    hour = 3600.0
    if at_warm is None:
        raise SystemExit("the warm-up never ended: run longer")
    handled = max(1, at_end[1] - at_warm[1])
    result: dict[str, object] = {
        "bot": "examples/crocbot under crocotel" if instrumented else "examples/crocbot bare",
        "updates_pushed": pushed[0],
        "replies": replies,
        "spans": spans,
        "log_records": records,
        "rss_samples": len(samples),
        "rss_mb_start_end": [round(samples[0][1], 1), round(samples[-1][1], 1)],
        "rss_mb_after_warmup_min_max": [round(min(fitted_rss), 1), round(max(fitted_rss), 1)],
        "rss_slope_mb_per_hour": round(per_s * hour, 2),
        "rss_slope_ci95_mb_per_hour": [round(low * hour, 2), round(high * hour, 2)],
        "heap_rss_slope_mb_per_hour": round(heap_per_s * hour, 2),
        "heap_rss_slope_ci95_mb_per_hour": [round(heap_low * hour, 2), round(heap_high * hour, 2)],
        "cpu_us_per_reply_after_warmup": round((at_end[0][0] - at_warm[0][0]) / handled * 1e6, 1),
        "minor_faults_per_reply_after_warmup": round((at_end[0][4] - at_warm[0][4]) / handled, 3),
        "flat": low <= 0 <= high or high * hour < args.max_slope,
    }
    if instrumented:
        warm, end = series_warm or set(), series_end or set()
        result["metrics_series_after_warmup"] = len(warm)
        result["metrics_series_end"] = len(end)
        result["metrics_series_new"] = new_series(warm, end)
        result["metrics_series_new_first"] = sorted(end - warm)[:_SHOWN_SERIES]
        result["series_stable"] = bool(warm) and not end - warm
    return result


def share(crocotel: dict[str, object], bare: dict[str, object], max_slope: float) -> dict[str, object]:
    """crocotel's part of the growth: its slope minus the bare bot's, with an interval whose half
    width is the two half widths combined; flat when it includes 0 or stays under ``max_slope``."""
    slopes = []
    for run in (crocotel, bare):
        low, high = run["rss_slope_ci95_mb_per_hour"]  # type: ignore[misc]
        slopes.append((float(run["rss_slope_mb_per_hour"]), (float(high) - float(low)) / 2))  # type: ignore[arg-type]
    (c, hc), (b, hb) = slopes
    half = math.hypot(hc, hb)
    low, high = c - b - half, c - b + half
    return {
        "slope_minus_bare_mb_per_hour": round(c - b, 2),
        "slope_minus_bare_ci95_mb_per_hour": [round(low, 2), round(high, 2)],
        "crocotel_share_flat": low <= 0 <= high or high < max_slope,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the bot is fed")
    parser.add_argument("--rate", type=float, default=40.0, help="updates per second")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between RSS samples")
    parser.add_argument(
        "--warmup-share", type=float, default=0.25, help="share of the run left out of the fit"
    )
    parser.add_argument("--max-slope", type=float, default=2.0, help="MB per hour counted as flat")
    parser.add_argument(
        "--bare", action="store_true", help="also soak the bare bot, side by side, to tell its own growth"
    )
    args = parser.parse_args()
    runs: dict[str, dict[str, object]] = {}

    def run(name: str, instrumented: bool) -> None:
        runs[name] = soak(instrumented, args)

    crocotel_python()  # installed once here: two threads reinstalling one venv at once would race
    threads = [threading.Thread(target=run, args=("crocotel", True))]
    if args.bare:
        threads.append(threading.Thread(target=run, args=("bare", False)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if "crocotel" not in runs or (args.bare and "bare" not in runs):
        raise SystemExit("a soak run failed (see above)")
    result: dict[str, object] = {
        "benchmark": "soak",
        "seconds": args.seconds,
        "rate_per_s": args.rate,
        **runs["crocotel"],
    }
    if args.bare:
        result["bare"] = runs["bare"]
        result.update(share(runs["crocotel"], runs["bare"], args.max_slope))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
