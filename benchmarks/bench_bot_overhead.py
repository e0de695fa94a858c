"""CPU per update of two bots bare (A), under the stock distro (B) and under crocotel (C), in one run.

Each bot runs unchanged from a copy outside the checkout, in its own process,
against the Bot API stand-in in this process, with the same stream of messages
(echo texts and ``/start`` from 50 users):

- ``crocbot``: examples/crocbot (aiogram 3; updates handled as tasks), started through
  a two-line module that holds aiogram's ``Response[T]`` classes in every configuration
  (``PINNED_CROCBOT`` says why; ``--unpinned`` runs it without);
- ``aiohttp``: examples/aiohttp_bot (plain aiohttp, one INFO line and one
  sendMessage per update; ``CONCURRENCY`` handles a batch at once).

Configurations, run in turn A B C A B C ... for each bot and mode:

- ``A`` bare: ``python -m BOT``;
- ``B`` stock: ``opentelemetry-instrument`` from a separate venv
  (``benchmarks/_stock.py``: opentelemetry-distro, the OTLP and Prometheus
  exporters, the aiohttp-client and logging instrumentations, the bots'
  libraries at this venv's versions) exporting traces and logs over OTLP to a
  receiver in this process, /metrics on, trace ids in log records;
- ``C`` crocotel: ``opentelemetry-instrument`` from a venv with crocotel (this
  checkout) and the same bot libraries, nothing of the dev extras
  (``benchmarks/_stock.py``), with everything on: 100% sampling, traces and logs
  over OTLP, /metrics, JSON logs, redaction;
- ``C0`` (with ``--baseline REF``): the same as C with crocotel's code taken from
  the git ref ``REF`` (``git archive``, put first on PYTHONPATH), run right
  before C in each round, for before/after ratios of changes in the same run.
  With ``--baseline-env VAR=VALUE[,VAR=VALUE]`` (alone, or with ``--baseline``),
  C0 runs with those settings too: ``--baseline-env CROCOTEL_REDACT=off`` gives
  what redaction costs as C/C0 (C0's proof-of-work floor is then none, since a
  setting may switch a signal off).

Modes: ``sequential`` keeps one update in flight (the next is sent when the
reply to the last arrived); ``concurrent`` keeps 16 in flight.

Per run: CPU microseconds per update (user+system of the whole process, export
threads included, from /proc, read after ``--warmup`` replies and again
``--updates`` replies later), throughput over that window, start-up time (spawn
to the first getUpdates) and resident memory at the end of the window. The
added CPU of B and C is taken pair by pair against the A of the same round;
medians and spread (min..max) over the rounds are reported. Each bot runs under a small clock
module (``GC_CLOCK``) that times the garbage collector, so each run also reports its CPU per
update and collections per 1,000 updates by generation, and the summary the C/B ratio without it.

Proof of work: every run of B and C must deliver at least its floor of spans
and log records per update (``FLOORS``), and A none; otherwise the benchmark
stops instead of reporting a ratio. Prints one JSON line at the end (Linux only).

    .venv/bin/python benchmarks/bench_bot_overhead.py [--updates 1500] [--runs 3] [--bots crocbot,aiohttp]
        [--modes sequential,concurrent] [--baseline main] [--baseline-env CROCOTEL_REDACT=off]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python, stock_python  # noqa: E402
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

TEXTS = ("hello", "how are you?", "/start", "what's new", "good morning!")
MODULES = {"crocbot": "examples.crocbot_pinned", "aiohttp": "examples.aiohttp_bot"}
WINDOWS = {"sequential": 1, "concurrent": 16}
BASELINE = "C0"
BOT_CPUS: set[int] = set()
"""The CPU the bots run on (``--bot-cpu``); empty: wherever the scheduler puts them."""
# (spans, log records) per update each configuration must deliver for its timing to mean anything.
# crocbot under crocotel: update -> handler -> sendMessage, and its "echoing" line (4 texts in 5);
# the aiohttp bot under crocotel: the sendMessage span and its "update N from chat C" line.
# The stock distro: at least the HTTP client span of each reply, and (logging instrumentation) the log line.
FLOORS = {
    ("crocbot", "A"): (0.0, 0.0),
    ("crocbot", "B"): (1.0, 0.8),
    ("crocbot", "C"): (3.0, 0.8),
    ("aiohttp", "A"): (0.0, 0.0),
    ("aiohttp", "B"): (1.0, 1.0),
    ("aiohttp", "C"): (1.0, 1.0),
}
for _bot in MODULES:
    FLOORS[(_bot, BASELINE)] = FLOORS[(_bot, "C")]


@dataclass
class Run:
    """What one bot process did in its measured window."""

    cpu_us: float
    main_us: float
    sys_us: float
    faults: float
    throughput: float
    startup_s: float
    rss_mb: float
    spans: float
    records: float
    gc_us: float
    gc_per_1k: list[float]
    gc_full_us: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PINNED_CROCBOT = '''"""crocbot with aiogram's answer classes held for the whole run (bench_bot_overhead.py).

aiogram parses every answer with ``Response[T]``, a generic pydantic class that pydantic
caches only weakly: when the garbage collector frees it, the next call spends about a
millisecond building it again, the more often the more the process allocates. crocotel's
aiogram instrumentation holds these classes; the bare bot and the stock distro do not. Held
here in every configuration, the comparison measures telemetry, not aiogram work that one
configuration happens to avoid (``--unpinned`` runs crocbot as it is).
"""

from aiogram.methods import DeleteWebhook, GetMe, GetUpdates, SendMessage
from aiogram.methods.base import Response

HELD = [Response[method.__returning__] for method in (DeleteWebhook, GetMe, GetUpdates, SendMessage)]

from examples.crocbot.__main__ import main  # noqa: E402

raise SystemExit(main())
'''


GC_CLOCK = '''"""Runs the module named in argv[1] as __main__, timing the garbage collector.

Every collection is noted with its generation, the monotonic time it ended and the CPU time
it took on the thread that ran it; at exit the notes go to $BENCH_GC_FILE as JSON, and the
benchmark keeps those inside its measured window. The same in all configurations; without
$BENCH_GC_FILE (bench_instructions, profile_bot) the module only runs the bot.
"""

import atexit, gc, json, os, runpy, sys, time

_notes = []
_began = [0.0]


def _clock(phase, info):
    if phase == "start":
        _began[0] = time.thread_time()
    else:
        _notes.append((time.monotonic(), info["generation"], time.thread_time() - _began[0]))


def _write():
    with open(os.environ["BENCH_GC_FILE"], "w") as out:
        json.dump(_notes, out)


if os.environ.get("BENCH_GC_FILE"):
    gc.callbacks.append(_clock)
    atexit.register(_write)
target = sys.argv.pop(1)
runpy.run_module(target, run_name="__main__", alter_sys=True)
'''


def bots_copy() -> Path:
    """The example bots copied outside the checkout, whose egg-info would expose crocotel's entry points."""
    where = Path(tempfile.mkdtemp(prefix="bots-bench-"))
    (where / "examples").mkdir()
    shutil.copy(REPO / "examples" / "__init__.py", where / "examples" / "__init__.py")
    for name in ("crocbot", "aiohttp_bot"):
        shutil.copytree(REPO / "examples" / name, where / "examples" / name)
    (where / "examples" / "crocbot_pinned.py").write_text(PINNED_CROCBOT)
    (where / "examples" / "gc_clock.py").write_text(GC_CLOCK)
    return where


@dataclass
class Pythons:
    """The interpreters of each configuration, and the baseline's source tree if any."""

    bare: Path
    stock: Path
    crocotel: Path
    baseline: Path | None = None
    baseline_env: dict[str, str] | None = None


def command(bot: str, config: str, pythons: Pythons) -> list[str]:
    module = ["-m", "examples.gc_clock", MODULES[bot]]
    if config == "A":
        return [str(pythons.bare), *module]
    python = pythons.stock if config == "B" else pythons.crocotel
    return [str(python.parent / "opentelemetry-instrument"), str(python), *module]


def baseline_tree(ref: str) -> Path:
    """crocotel's package as it is at git ``ref``, extracted to a temporary directory."""
    where = Path(tempfile.mkdtemp(prefix="crocotel-baseline-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "crocotel"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def telemetry_env(service: str, endpoint: str) -> dict[str, str]:
    """How B and C (and C0) are set up: traces and logs over OTLP/HTTP to ``endpoint``, /metrics on."""
    return {
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(free_port()),
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "prometheus",
    }


def settings(text: str) -> dict[str, str]:
    """``VAR=VALUE[,VAR=VALUE]`` (``--baseline-env``) as a dict."""
    return dict(item.split("=", 1) for item in text.split(","))


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill a bot still running (the run failed or timed out) and collect it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def env_for(
    config: str,
    api: BotApiThread,
    receiver: OtlpReceiver,
    updates: int,
    window: int,
    baseline: Path | None = None,
    baseline_env: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTHONPATH"))}
    env.update(
        BOT_TOKEN=api.token,
        TELEGRAM_API_URL=api.url,
        MAX_UPDATES=str(updates),
        POLL_TIMEOUT="10",
        CONCURRENCY=str(window),
    )
    if config == BASELINE and baseline is not None:
        env["PYTHONPATH"] = str(baseline)
    if config != "A":
        env.update(telemetry_env("bench-bot", receiver.endpoint))
    if config == "B":
        env.update(OTEL_PYTHON_LOG_CORRELATION="true")
    if config == BASELINE and baseline_env:
        env.update(baseline_env)
    return env


def proc_stat(pid: int) -> tuple[float, float, float, float, int]:
    """(CPU seconds of every thread so far, of the main thread, resident MB, system CPU seconds,
    minor page faults) of a running process.

    CPU is user plus system time; the main thread runs the event loop, the rest is
    export, metrics and other background threads. System time and page faults are
    the part of the cost that instruction counts in user space do not see.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    main = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    main_cpu = (int(main[11]) + int(main[12])) / tick
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return cpu, main_cpu, rss, int(fields[12]) / tick, int(fields[7])


class Driver:
    """Keeps ``window`` messages in flight at the stand-in, topping up as replies arrive."""

    def __init__(self, api: BotApiThread, window: int, proc: subprocess.Popen[bytes]) -> None:
        self.api, self.window, self.proc = api, window, proc
        self.pushed = 0

    def until(self, replies: int) -> None:
        """Return when ``replies`` messages were answered (never pushing more than that)."""
        api = self.api
        while len(api.standin.sent) < replies:
            answered = len(api.standin.sent)
            while self.pushed < replies and self.pushed - answered < self.window:
                user = 5000 + self.pushed % 50
                api.push_message(TEXTS[self.pushed % len(TEXTS)], chat_id=user, user_id=user)
                self.pushed += 1
            if self.proc.poll() is not None:
                raise SystemExit(f"the bot exited at {answered} of {replies} replies")
            try:
                api.wait_sent(answered + 1, timeout=60)
            except TimeoutError:
                raise SystemExit(f"the bot stopped answering at {answered} of {replies}") from None


def run_once(
    bot: str, config: str, window: int, warmup: int, measured: int, workdir: Path, pythons: Pythons
) -> Run:
    """Start the bot, warm it up, measure ``measured`` updates, wait for its clean exit and telemetry."""
    total = warmup + measured
    gc_file = workdir / f"gc-{config}.json"
    gc_file.unlink(missing_ok=True)
    with BotApiThread() as api, OtlpReceiver() as receiver:
        env = env_for(config, api, receiver, total, window, pythons.baseline, pythons.baseline_env)
        env["BENCH_GC_FILE"] = str(gc_file)
        started = time.monotonic()
        proc = subprocess.Popen(
            command(bot, config, pythons),
            preexec_fn=(lambda: os.sched_setaffinity(0, BOT_CPUS)) if BOT_CPUS else None,
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(6000):  # bounded: wait until the bot polls
                if api.standin.waiting_polls or proc.poll() is not None:
                    break
                time.sleep(0.005)
            startup = time.monotonic() - started
            driver = Driver(api, window, proc)
            driver.until(warmup)
            cpu_before, main_before, _, sys_before, faults_before = proc_stat(proc.pid)
            t0 = time.monotonic()
            driver.until(total)
            t1 = time.monotonic()
            cpu_after, main_after, rss, sys_after, faults_after = proc_stat(proc.pid)
            elapsed = t1 - t0
            code = proc.wait(timeout=60)
        finally:
            reap(proc)
        if code != 0:
            raise SystemExit(f"{bot} {config}: exit status {code}")
        spans = records = -1
        for _ in range(50):  # the exporters flushed at exit; wait until the counts settle
            time.sleep(0.1)
            now = len(receiver.spans()), len(receiver.logs())
            if now == (spans, records):
                break
            spans, records = now
    run = Run(
        cpu_us=(cpu_after - cpu_before) / measured * 1e6,
        main_us=(main_after - main_before) / measured * 1e6,
        sys_us=(sys_after - sys_before) / measured * 1e6,
        faults=(faults_after - faults_before) / measured,
        throughput=measured / elapsed,
        startup_s=startup,
        rss_mb=rss,
        spans=spans / total,
        records=records / total,
        **gc_in_window(gc_file, t0, t1, measured),
    )
    check_work(bot, config, run)
    return run


def gc_in_window(notes: Path, start: float, end: float, measured: int) -> dict[str, Any]:
    """The garbage collector's CPU per update and its collections per 1,000 updates, by
    generation, inside the measured window (from the notes of ``GC_CLOCK``)."""
    inside = [(generation, cpu) for at, generation, cpu in json.loads(notes.read_text()) if start < at <= end]
    return {
        "gc_us": sum(cpu for _, cpu in inside) / measured * 1e6,
        "gc_per_1k": [sum(1 for g, _ in inside if g == gen) * 1000 / measured for gen in range(3)],
        "gc_full_us": sum(cpu for g, cpu in inside if g == 2) / measured * 1e6,
    }


def check_work(bot: str, config: str, run: Run) -> None:
    """Stop unless the run delivered its floor of telemetry (and the bare runs none)."""
    span_floor, record_floor = FLOORS[(bot, config)]
    if config == "A":
        if run.spans or run.records:
            raise SystemExit(f"{bot} A: {run.spans:.2f} spans and {run.records:.2f} records per update bare")
        return
    if run.spans < span_floor or run.records < record_floor:
        raise SystemExit(
            f"{bot} {config}: {run.spans:.2f} spans and {run.records:.2f} log records per update, below the "
            f"floor of {span_floor} and {record_floor}: the telemetry was not produced, "
            "so its cost means nothing"
        )


def spread(values: list[float], digits: int = 1) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """Round by round ``numerator / denominator`` (infinite where the denominator is not positive)."""
    return [n / d if d > 0 else float("inf") for n, d in zip(numerators, denominators, strict=True)]


def _below(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2): the chance of k or fewer rounds on one side by luck."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_interval(values: list[float], confidence: float = 0.95) -> dict[str, float]:
    """A distribution-free interval for the median of ``values`` (the rounds' ratios): the k-th
    lowest and k-th highest value, with the largest k whose coverage, 1 - 2 P(X <= k - 1) for X ~
    Binomial(n, 1/2), is at least ``confidence``; for 6 rounds the lowest and highest (97%). With
    fewer than 6 rounds no interval reaches 95%: the widest is given with its lower coverage."""
    xs = sorted(values)
    n = len(xs)
    k = 1
    while k < n - k and 1 - 2 * _below(k, n) >= confidence:
        k += 1
    coverage = 1 - 2 * _below(k - 1, n)
    return {"low": round(xs[k - 1], 3), "high": round(xs[n - k], 3), "coverage": round(coverage, 3)}


def sign_test(values: list[float]) -> dict[str, float]:
    """Rounds where crocotel added less than the stock distro (ratio below 1), and the one-sided
    sign test's p: the chance of at least that many if each round were a coin toss."""
    below = sum(1 for v in values if v < 1.0)
    return {"rounds_below_1": below, "rounds": len(values), "p": round(1 - _below(below - 1, len(values)), 4)}


def summarize(runs: list[dict[str, Run]]) -> dict[str, object]:
    """Medians and spread per configuration, and the added CPU of B and C taken round by round against A."""
    out: dict[str, object] = {}
    for config in runs[0]:
        rs = [r[config] for r in runs]
        out[config] = {
            "cpu_us_per_update": spread([r.cpu_us for r in rs]),
            "main_thread_us_per_update": spread([r.main_us for r in rs]),
            "system_us_per_update": spread([r.sys_us for r in rs]),
            "minor_faults_per_update": spread([r.faults for r in rs], 2),
            "updates_per_s": spread([r.throughput for r in rs]),
            "startup_s": spread([r.startup_s for r in rs], 3),
            "rss_mb": spread([r.rss_mb for r in rs]),
            "spans_per_update": round(statistics.median(r.spans for r in rs), 2),
            "records_per_update": round(statistics.median(r.records for r in rs), 2),
            "gc_us_per_update": spread([r.gc_us for r in rs]),
            "gc_full_us_per_update": spread([r.gc_full_us for r in rs]),
            "gc_collections_per_1k_updates": [
                round(statistics.median(r.gc_per_1k[g] for r in rs), 2) for g in range(3)
            ],
        }
    added_b = [r["B"].cpu_us - r["A"].cpu_us for r in runs]
    added_c = [r["C"].cpu_us - r["A"].cpu_us for r in runs]
    out["added_cpu_us"] = {"B": spread(added_b), "C": spread(added_c)}
    out["ratio_vs_bare"] = {
        "B": spread([r["B"].cpu_us / r["A"].cpu_us for r in runs], 3),
        "C": spread([r["C"].cpu_us / r["A"].cpu_us for r in runs], 3),
    }
    pairwise = ratios(added_c, added_b)
    out["crocotel_added_vs_stock_added"] = spread(pairwise, 3)
    median_ratio = statistics.median(pairwise)
    # The same without the garbage collector's time (a full collection of crocbot's heap takes
    # 140-160 ms, about one per thousand updates): the collector's share and the rest apart.
    added_gc = {config: [r[config].gc_us - r["A"].gc_us for r in runs] for config in ("B", "C")}
    out["added_gc_us"] = {config: spread(values) for config, values in added_gc.items()}
    out["crocotel_added_vs_stock_added_without_gc"] = spread(
        ratios(
            [c - gc for c, gc in zip(added_c, added_gc["C"], strict=True)],
            [b - gc for b, gc in zip(added_b, added_gc["B"], strict=True)],
        ),
        3,
    )

    def median_of(config: str, what: str) -> float:
        return statistics.median(getattr(r[config], what) for r in runs)

    # The median alone says "below" for any cell that is level; the interval says "shown".
    interval = median_interval(pairwise)
    out["crocotel_added_vs_stock_added_interval"] = interval
    out["rounds_below_stock"] = sign_test(pairwise)
    out["cpu_floor_shown"] = interval["high"] < 1.0 and interval["coverage"] >= 0.95
    out["floor_met"] = (
        median_ratio < 1.0
        and median_of("C", "startup_s") <= median_of("B", "startup_s")
        and median_of("C", "rss_mb") <= median_of("B", "rss_mb")
    )
    out["cpu_floor_met"] = median_ratio < 1.0
    out["one_third_target_met"] = median_ratio <= 1 / 3
    if BASELINE in runs[0]:
        added_c0 = [r[BASELINE].cpu_us - r["A"].cpu_us for r in runs]
        out["added_cpu_us"][BASELINE] = spread(added_c0)  # type: ignore[index]
        out["after_vs_before_added_cpu"] = spread(ratios(added_c, added_c0), 3)
        out["after_vs_before_cpu"] = spread([r["C"].cpu_us / r[BASELINE].cpu_us for r in runs], 3)
        out["after_vs_before_startup"] = spread([r["C"].startup_s / r[BASELINE].startup_s for r in runs], 3)
        out["after_vs_before_rss"] = spread([r["C"].rss_mb / r[BASELINE].rss_mb for r in runs], 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--warmup", type=int, default=300, help="updates before measuring")
    parser.add_argument("--updates", type=int, default=1500, help="updates measured")
    parser.add_argument("--runs", type=int, default=3, help="rounds of A B C")
    parser.add_argument("--bots", default="crocbot,aiohttp")
    parser.add_argument("--modes", default="sequential,concurrent")
    parser.add_argument("--baseline", help="git ref: also run crocotel's code at this ref (C0) before C")
    parser.add_argument(
        "--baseline-env",
        help="VAR=VALUE[,VAR=VALUE]: settings for C0 (C0 is this checkout unless --baseline is given)",
    )
    parser.add_argument(
        "--unpinned", action="store_true", help="run crocbot as it is (see PINNED_CROCBOT): what a user sees"
    )
    parser.add_argument(
        "--bot-cpu",
        type=int,
        help="run the bot on this CPU alone and the stand-in and receiver on the others, as in a "
        "one-CPU container (default: no placement)",
    )
    args = parser.parse_args()
    if args.bot_cpu is not None:
        others = os.sched_getaffinity(0) - {args.bot_cpu}
        if args.bot_cpu not in os.sched_getaffinity(0) or not others:
            raise SystemExit(f"--bot-cpu {args.bot_cpu}: needs that CPU and another one for the stand-in")
        BOT_CPUS.add(args.bot_cpu)
        os.sched_setaffinity(0, others)  # threads started from here on inherit it
    if args.unpinned:
        MODULES["crocbot"] = "examples.crocbot"
    bots = args.bots.split(",")
    modes = args.modes.split(",")
    pythons = Pythons(Path(sys.executable), stock_python(), crocotel_python())
    configs = ["A", "B", "C"]
    if args.baseline:
        pythons.baseline = baseline_tree(args.baseline)
        configs = ["A", "B", BASELINE, "C"]
    if args.baseline_env:
        pythons.baseline_env = settings(args.baseline_env)
        configs = ["A", "B", BASELINE, "C"]
        for bot in MODULES:
            FLOORS[(bot, BASELINE)] = (0.0, 0.0)
    workdir = bots_copy()
    results: dict[str, dict[str, list[dict[str, Run]]]] = {b: {m: [] for m in modes} for b in bots}
    try:
        for rnd in range(args.runs):
            for bot in bots:
                for mode in modes:
                    runs: dict[str, Run] = {}
                    for config in configs:
                        run = run_once(
                            bot, config, WINDOWS[mode], args.warmup, args.updates, workdir, pythons
                        )
                        runs[config] = run
                        print(
                            f"round {rnd + 1} {bot:<8} {mode:<10} {config}: {run.cpu_us:7.0f} us CPU/update "
                            f"({run.main_us:.0f} main thread, {run.sys_us:.0f} system, "
                            f"{run.faults:.2f} faults), "
                            f"{run.throughput:6.0f}/s, start {run.startup_s:.2f} s, {run.rss_mb:.0f} MB, "
                            f"{run.spans:.2f} spans and {run.records:.2f} records/update, "
                            f"GC {run.gc_us:.0f} us/update ({'/'.join(f'{n:.0f}' for n in run.gc_per_1k)} "
                            "collections per 1k by generation)",
                            file=sys.stderr,
                        )
                    results[bot][mode].append(runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if pythons.baseline is not None:
            shutil.rmtree(pythons.baseline, ignore_errors=True)
    summary = {bot: {mode: summarize(results[bot][mode]) for mode in modes} for bot in bots}
    label = args.baseline or ("this checkout" if args.baseline_env else None)
    verdict = all(summary[b][m]["floor_met"] for b in bots for m in modes)  # type: ignore[index]
    result: dict[str, object] = {
        "benchmark": "bot_overhead",
        "configs": {"A": "bare", "B": "stock opentelemetry-distro", "C": "crocotel", BASELINE: label},
        "baseline_env": args.baseline_env,
        "updates_measured": args.updates,
        "warmup_updates": args.warmup,
        "rounds": args.runs,
        "crocbot": MODULES["crocbot"],
        "in_flight": {m: WINDOWS[m] for m in modes},
        "results": summary,
        "floor_met_everywhere": verdict,
        "floors_spans_records_per_update": {f"{b} {c}": FLOORS[(b, c)] for b in bots for c in configs},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
