"""Where a bot's CPU goes under crocotel: a sampling profile of the whole process, export threads included.

Runs one of the benchmark bots (``bench_bot_overhead``) under crocotel (or the
stock distro, ``--config B``) against the stand-in, and attaches py-spy
(``pip install py-spy``; not a dependency of crocotel) to it for the measured
window only, in non-blocking mode, idle samples left out. The busy samples are
then listed three ways:

- by area: the innermost frame's package (crocotel, the SDK, the OTLP
  exporter, protobuf, aiohttp, aiogram, the stdlib, ...);
- by our functions, inclusive: the share of samples with a crocotel frame on
  the stack, per crocotel function (the outermost crocotel frame only, so
  nesting is not counted twice);
- by SDK internals, inclusive: the same for opentelemetry frames;
- by thread: the main loop against the export threads;
- by component and by whose code ran, in CPU microseconds per update: each sample goes to
  its innermost frame outside the standard library (see :func:`component_of`): a crocotel or
  OpenTelemetry frame gives the telemetry part (spans, encoding and export, logs, redaction,
  metrics, the instrumentation's wrappers) and the owner, any other frame is the bot's, the
  inside of a wrapped call included; the shares are scaled to the process's CPU time over the
  window, read from /proc. With several configurations (``--config A,B,C``) each one's parts
  are also given against A's, so what crocotel and the stock distro add is split by what they
  spend it on. The garbage collector's time is charged to whichever frame allocated when it
  ran; its total per update is given beside the table.

Prints the tables on stderr and one JSON line at the end.

    .venv/bin/python benchmarks/profile_bot.py [--bot aiohttp] [--mode concurrent] [--config A,B,C]
        [--updates 4000] [--bot-cpu 1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python, stock_python  # noqa: E402
from benchmarks.bench_bot_overhead import (  # noqa: E402
    BOT_CPUS,
    WINDOWS,
    Driver,
    Pythons,
    bots_copy,
    command,
    env_for,
    gc_in_window,
    proc_stat,
)
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

AREAS = (
    ("crocotel/", "crocotel"),
    ("opentelemetry/sdk/", "otel sdk"),
    ("opentelemetry/exporter/", "otel exporter"),
    ("opentelemetry/instrumentation/", "otel instrumentation"),
    ("opentelemetry/", "otel api"),
    ("google/protobuf", "protobuf"),
    ("re2", "re2"),
    ("aiogram/", "aiogram"),
    ("pydantic", "pydantic"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "yarl"),
    ("multidict/", "multidict"),
    ("urllib3/", "urllib3"),
    ("requests/", "requests"),
    ("http/client", "http.client"),
    ("wrapt/", "wrapt"),
    ("asyncio/", "asyncio"),
    ("logging/", "logging"),
    ("json/", "json"),
    ("examples/", "the bot"),
)


# The telemetry parts a crocotel or OpenTelemetry frame is sorted into (see component_of),
# first match wins.
COMPONENTS = (
    ("redaction", ("crocotel/redaction/", "/re2/", "re2.py")),
    (
        "logs",
        ("crocotel/logs/", "opentelemetry/sdk/_logs/", "opentelemetry/_logs/", "instrumentation/logging/"),
    ),
    ("metrics", ("crocotel/bound_metrics.py", "crocotel/exemplars.py", "crocotel/cardinality.py")),
    (
        "metrics",
        ("crocotel/metrics", "opentelemetry/sdk/metrics/", "opentelemetry/metrics/", "exporter/prometheus"),
    ),
    ("encoding and export", ("crocotel/protobuf.py", "crocotel/processors.py", "crocotel/exporters")),
    ("encoding and export", ("opentelemetry/exporter/", "opentelemetry/proto/", "sdk/_shared_internal/")),
    (
        "spans",
        ("crocotel/spans.py", "crocotel/span_context.py", "crocotel/current.py", "crocotel/code_shape.py"),
    ),
    ("spans", ("opentelemetry/sdk/trace/", "opentelemetry/trace/", "opentelemetry/context/")),
    ("spans", ("opentelemetry/sdk/util/", "opentelemetry/attributes/", "opentelemetry/sdk/resources/")),
    ("instrumentation wrappers", ("crocotel/instrumentation/", "opentelemetry/instrumentation/", "/wrapt/")),
    ("instrumentation wrappers", ("opentelemetry/propagat", "opentelemetry/util/http")),
    ("health signals", ("crocotel/health.py",)),
    ("telemetry, other", ("crocotel/", "opentelemetry/")),
)
BOT = "the bot, its libraries, the runtime"


# Libraries only telemetry calls here: their frames belong to the telemetry frame that called them.
TELEMETRY_LIBRARIES = ("/requests/", "/urllib3/", "google/protobuf", "/psutil/", "/re2/", "re2.py", "/wrapt/")


def _is_stdlib(frame: str) -> bool:
    return "<frozen" in frame or ("/lib/python3." in frame and "site-packages" not in frame)


def component_of(frames: list[str]) -> tuple[str, str]:
    """Which telemetry part a sample belongs to, and whose code that part ran, from its innermost
    frame outside the standard library: a crocotel or OpenTelemetry frame (or a library only they
    call, charged to the frame that called it) gives its component and owner; any other frame is
    the bot's own (its code, its libraries, a wrapped call's inside), as are pure-stdlib stacks
    (the event loop). RE2 counts as crocotel's code, its redaction engine."""
    for frame in reversed(frames):
        if _is_stdlib(frame) or any(marker in frame for marker in TELEMETRY_LIBRARIES):
            continue
        if "crocotel/" not in frame and "opentelemetry/" not in frame:
            break
        owner = "OpenTelemetry's code" if "opentelemetry/" in frame else "crocotel's code"
        for name, markers in COMPONENTS:
            if any(marker in frame for marker in markers):
                return name, owner
    return BOT, BOT


def area_of(frame: str) -> str:
    for marker, name in AREAS:
        if marker in frame:
            return name
    return "other (stdlib, C)"


def thread_of(frames: list[str]) -> str:
    """Which thread a stack ran on, told by its frames: the bot's loop, an export worker, or other."""
    text = ";".join(frames)
    if "Thread._bootstrap" not in text:  # py-spy may cut the loop's stack short: no thread start in it
        return "main (the bot's event loop)"
    if "BatchProcessor.worker" in text:
        return "export: logs" if "_log" in text or "LogExporter" in text else "export: spans"
    if "PeriodicExportingMetricReader" in text:
        return "export: metric reader"
    if "crocotel/server.py" in text or "prometheus" in text:
        return "/metrics server"
    return "other threads"


def function_of(frame: str) -> str:
    """``name (path/inside/package.py)`` from py-spy's ``name (/abs/path.py:line)``."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("crocotel/", "opentelemetry/"):
        if marker in path:
            path = marker + path.split(marker, 1)[1]
            break
    return f"{name} ({path.split('site-packages/')[-1]})"


def analyse(raw: Path, cpu_us: float) -> dict[str, Any]:
    """Tables from py-spy's collapsed stacks (``thread;frame;frame... count``); ``cpu_us``, the
    process's CPU per update over the window, turns the components' shares into microseconds."""
    total = 0
    by_area: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    sdk: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    components: collections.Counter[str] = collections.Counter()
    owners: collections.Counter[str] = collections.Counter()
    with_ours = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first is the thread's id
        total += count
        threads[thread_of(frames)] += count
        by_area[area_of(frames[-1]) if frames else "?"] += count
        component, owner = component_of(frames)
        components[component] += count
        owners[owner] += count
        seen_ours = seen_sdk = False
        for frame in frames:
            if not seen_ours and "crocotel/" in frame:
                ours[function_of(frame)] += count
                seen_ours = True
            if not seen_sdk and "opentelemetry/" in frame:
                sdk[function_of(frame)] += count
                seen_sdk = True
        if seen_ours:
            with_ours += count

    def share(counter: collections.Counter[str], n: int = 25) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)]

    return {
        "busy_samples": total,
        "by_area_self_pct": share(by_area),
        "crocotel_on_stack_pct": round(100 * with_ours / total, 1) if total else 0,
        "crocotel_outermost_inclusive_pct": share(ours),
        "otel_outermost_inclusive_pct": share(sdk),
        "by_thread_pct": share(threads, 10),
        "cpu_us_per_update": round(cpu_us, 1),
        "by_component_us": {
            name: round(n * cpu_us / total, 1) if total else 0.0 for name, n in components.items()
        },
        "by_owner_us": {name: round(n * cpu_us / total, 1) if total else 0.0 for name, n in owners.items()},
    }


def profile(args: argparse.Namespace, config: str, spy: str, pythons: Pythons) -> dict[str, Any]:
    """One configuration's run: the tables, its CPU and the collector's per update in the window."""
    workdir = bots_copy()
    suffix = f".{config}" if "," in args.config else ""
    raw = Path(args.raw + suffix) if args.raw else workdir / "stacks.txt"
    gc_file = workdir / "gc.json"
    total = args.warmup + args.updates
    try:
        with BotApiThread() as api, OtlpReceiver() as receiver:
            env = env_for(config, api, receiver, total, WINDOWS[args.mode])
            env["BENCH_GC_FILE"] = str(gc_file)
            proc = subprocess.Popen(
                command(args.bot, config, pythons),
                preexec_fn=(lambda: os.sched_setaffinity(0, BOT_CPUS)) if BOT_CPUS else None,
                cwd=workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                for _ in range(6000):
                    if api.standin.waiting_polls or proc.poll() is not None:
                        break
                    time.sleep(0.005)
                driver = Driver(api, WINDOWS[args.mode], proc)
                driver.until(args.warmup)
                profiler = subprocess.Popen(
                    [spy, "record", "--pid", str(proc.pid), "--format", "raw", "--output", str(raw),
                     "--rate", str(args.rate), "--nonblocking", "--threads", "--full-filenames"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(0.5)  # py-spy attaches
                cpu_before, t0 = proc_stat(proc.pid)[0], time.monotonic()
                start = len(api.standin.sent)
                driver.until(total)
                cpu_after, t1 = proc_stat(proc.pid)[0], time.monotonic()
                proc.wait(timeout=60)
                profiler.wait(timeout=30)
            finally:
                for p in (proc,):
                    if p.poll() is None:
                        p.kill()
        measured = total - start
        cpu_us = (cpu_after - cpu_before) / measured * 1e6
        result = analyse(raw, cpu_us)
        result["gc_us_per_update"] = round(gc_in_window(gc_file, t0, t1, measured)["gc_us"], 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


COLLECTOR = "the collector (inside the above)"


def report_components(results: dict[str, dict[str, Any]]) -> None:
    """The component and owner tables on stderr; with A among the configurations, each other
    one's figures minus A's also go into its result (``added_vs_A_us``, ``added_by_owner_us``)."""
    components = [BOT, *dict.fromkeys(name for name, _ in COMPONENTS), COLLECTOR]
    owners = [BOT, "crocotel's code", "OpenTelemetry's code", COLLECTOR]
    for result in results.values():
        result["by_component_us"][COLLECTOR] = result["by_owner_us"][COLLECTOR] = result["gc_us_per_update"]
    for key, added_key, names in (
        ("by_component_us", "added_vs_A_us", components),
        ("by_owner_us", "added_by_owner_us", owners),
    ):
        bare: dict[str, float] = results["A"][key] if "A" in results else {}
        print(f"\n{key}" + (" (in brackets: minus A's)" if bare else "") + ":", file=sys.stderr)
        print("".join(f"{config:>16}" for config in results) + "  part", file=sys.stderr)
        for name in names:
            row = ""
            for config, result in results.items():
                value = result[key].get(name, 0.0)
                row += f"{value:8.1f}" + (
                    f" ({value - bare.get(name, 0.0):+5.0f})" if bare and config != "A" else " " * 8
                )
            print(f"{row}  {name}", file=sys.stderr)
        for config, result in results.items():
            if bare and config != "A":
                mine = result[key]
                result[added_key] = {n: round(mine.get(n, 0.0) - bare.get(n, 0.0), 1) for n in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bot", default="aiohttp", choices=("aiohttp", "crocbot"))
    parser.add_argument("--mode", default="concurrent", choices=tuple(WINDOWS))
    parser.add_argument("--config", default="C", help="A bare, B stock, C crocotel; several as A,B,C")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks here (.A, .B, .C appended for several)")
    parser.add_argument("--bot-cpu", type=int, help="the bot on this CPU alone, as in bench_bot_overhead")
    args = parser.parse_args()
    configs = args.config.split(",")
    if not configs or any(c not in ("A", "B", "C") for c in configs):
        raise SystemExit(f"--config {args.config!r}: give A, B or C, or several separated by commas")
    if args.bot_cpu is not None:
        BOT_CPUS.add(args.bot_cpu)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    stock = stock_python() if "B" in configs else Path(sys.executable)
    pythons = Pythons(Path(sys.executable), stock, crocotel_python())
    results = {config: profile(args, config, spy, pythons) for config in configs}
    for config, result in results.items():
        print(f"\n== {config}: {result['cpu_us_per_update']} us CPU per update", file=sys.stderr)
        for key in ("by_area_self_pct", "crocotel_outermost_inclusive_pct", "otel_outermost_inclusive_pct"):
            print(f"\n{key}:", file=sys.stderr)
            for name, pct in result[key]:
                print(f"  {pct:5.1f}%  {name}", file=sys.stderr)
    report_components(results)
    print(json.dumps({"benchmark": "profile_bot", "bot": args.bot, "mode": args.mode, "configs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
