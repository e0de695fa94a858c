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
- by thread: the main loop against the export threads.

Prints the tables on stderr and one JSON line at the end.

    .venv/bin/python benchmarks/profile_bot.py [--bot aiohttp] [--mode concurrent] [--updates 4000]
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python, stock_python  # noqa: E402
from benchmarks.bench_bot_overhead import (  # noqa: E402
    WINDOWS,
    Driver,
    Pythons,
    bots_copy,
    command,
    env_for,
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


def analyse(raw: Path) -> dict[str, object]:
    """Tables from py-spy's collapsed stacks (``thread;frame;frame... count``)."""
    total = 0
    by_area: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    sdk: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bot", default="aiohttp", choices=("aiohttp", "crocbot"))
    parser.add_argument("--mode", default="concurrent", choices=tuple(WINDOWS))
    parser.add_argument("--config", default="C", choices=("A", "B", "C"), help="A bare, B stock, C crocotel")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    stock = stock_python() if args.config == "B" else Path(sys.executable)
    pythons = Pythons(Path(sys.executable), stock, crocotel_python())
    workdir = bots_copy()
    raw = Path(args.raw) if args.raw else Path(tempfile.mkdtemp()) / "stacks.txt"
    total = args.warmup + args.updates
    try:
        with BotApiThread() as api, OtlpReceiver() as receiver:
            env = env_for(args.config, api, receiver, total, WINDOWS[args.mode])
            proc = subprocess.Popen(
                command(args.bot, args.config, pythons),
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
                driver.until(total)
                proc.wait(timeout=60)
                profiler.wait(timeout=30)
            finally:
                for p in (proc,):
                    if p.poll() is None:
                        p.kill()
        result = analyse(raw)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for key in ("by_area_self_pct", "crocotel_outermost_inclusive_pct", "otel_outermost_inclusive_pct"):
        print(f"\n{key}:", file=sys.stderr)
        for name, pct in result[key]:  # type: ignore[attr-defined]
            print(f"  {pct:5.1f}%  {name}", file=sys.stderr)
    print(json.dumps({"benchmark": "profile_bot", "bot": args.bot, "mode": args.mode, **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
