"""Instructions per update of the benchmark bots, A bare, B stock distro, C crocotel: counted, not timed.

``bench_bot_overhead`` measures CPU time, which on a shared host swings by ±30% between
rounds of the same configuration, so a change of a few percent takes dozens of rounds to
rank. valgrind's callgrind counts the instructions every thread of the process executes:
the same bot, inputs and configuration give nearly the same count whatever else the
machine is doing. Instructions are not time (a cache miss costs more than an add, and
the garbage collector's walks over the heap are memory-bound), so this complements the
CPU benchmark; it does not replace it.

Each configuration runs as in ``bench_bot_overhead`` (same bots, venvs, environment and
stream of messages) under ``valgrind --tool=callgrind --instr-atstart=no``: start-up and
warm-up run uninstrumented, ``callgrind_control -i on`` starts counting when the warm-up
replies are in, and ``callgrind_control -d`` dumps the count once ``--updates`` more
replies are. The dump's total over the replies is the figure; added instructions are
C − A and B − A, and the headline is their ratio. ``--baseline REF`` adds C0, crocotel
at a git ref, for before/after ratios; ``--baseline-env VAR=VALUE`` gives C0 settings of
its own (as in ``bench_bot_overhead``). Under valgrind the bot runs 20–50 times slower:
expect about two minutes per configuration. Linux only; prints one JSON line at the end.

    .venv/bin/python benchmarks/bench_instructions.py [--updates 400] [--bots crocbot,aiohttp]
        [--modes sequential,concurrent] [--baseline REF] [--baseline-env CROCOTEL_REDACT=off]
"""

from __future__ import annotations

import argparse
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
    BASELINE,
    WINDOWS,
    Driver,
    Pythons,
    baseline_tree,
    bots_copy,
    command,
    env_for,
    reap,
    settings,
)
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

WINDOW_NAMES = {window: mode for mode, window in WINDOWS.items()}
STARTUP_BOUND_S = 900  # crocbot imports aiogram and pydantic: a minute or more under valgrind


def callgrind(pid: int, *args: str) -> None:
    """Send one command to the callgrind instance running ``pid``."""
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def dumped_totals(outdir: Path, pid: int) -> dict[str, int]:
    """The event totals (``Ir``, and cache misses with ``--cache-sim``) of the first explicit
    dump of ``pid`` (``cg.PID.1``), waiting for it to be written."""
    dump = outdir / f"cg.{pid}.1"
    for _ in range(600):  # bounded: callgrind writes the dump when the process next runs
        if dump.exists():
            events: list[str] = []
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("summary:") or line.startswith("totals:"):
                    return dict(zip(events, (int(v) for v in line.split()[1:]), strict=False))
        time.sleep(0.1)
    raise SystemExit(f"no callgrind dump at {dump}")


def count_once(
    bot: str,
    config: str,
    window: int,
    warmup: int,
    measured: int,
    workdir: Path,
    pythons: Pythons,
    options: argparse.Namespace,
) -> dict[str, float]:
    """Events per update (instructions, and cache misses when simulated) over ``measured``
    replies after ``warmup``, whole process."""
    total = warmup + measured
    outdir = Path(tempfile.mkdtemp(prefix="callgrind-"))
    valgrind = [
        "valgrind",
        "-q",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--trace-children=yes",
        f"--callgrind-out-file={outdir}/cg.%p",
    ]
    if options.cache_sim:
        valgrind.append("--cache-sim=yes")
    if options.branch_sim:
        valgrind.append("--branch-sim=yes")
    try:
        with BotApiThread() as api, OtlpReceiver() as receiver:
            proc = subprocess.Popen(
                [*valgrind, *command(bot, config, pythons)],
                cwd=workdir,
                env=env_for(config, api, receiver, total, window, pythons.baseline, pythons.baseline_env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + STARTUP_BOUND_S
                while not api.standin.waiting_polls and proc.poll() is None:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{bot} {config}: no getUpdates within {STARTUP_BOUND_S} s")
                    time.sleep(0.1)
                driver = Driver(api, window, proc)
                driver.until(warmup)
                callgrind(proc.pid, "-i", "on")
                driver.until(total)
                callgrind(proc.pid, "-d")
                events = dumped_totals(outdir, proc.pid)
                callgrind(proc.pid, "-i", "off")
                code = proc.wait(timeout=600)
            finally:
                reap(proc)
            if code != 0:
                raise SystemExit(f"{bot} {config}: exit status {code}")
            settings_of_its_own = config == BASELINE and pythons.baseline_env
            if config != "A" and not settings_of_its_own and not receiver.spans():
                raise SystemExit(f"{bot} {config}: no spans arrived: the telemetry was not produced")
            if options.keep:
                kept = Path(options.keep) / f"{bot}-{config}-{WINDOW_NAMES[window]}.callgrind"
                shutil.copy(outdir / f"cg.{proc.pid}.1", kept)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return {name: value / measured for name, value in events.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--warmup", type=int, default=300, help="updates before counting")
    parser.add_argument("--updates", type=int, default=400, help="updates counted")
    parser.add_argument("--bots", default="crocbot,aiohttp")
    parser.add_argument("--modes", default="sequential,concurrent")
    parser.add_argument("--baseline", help="git ref: also count crocotel's code at this ref (C0)")
    parser.add_argument("--baseline-env", help="VAR=VALUE[,VAR=VALUE]: settings for C0")
    parser.add_argument(
        "--cache-sim", action="store_true", help="also count cache misses (callgrind's model; 2x slower)"
    )
    parser.add_argument(
        "--branch-sim",
        action="store_true",
        help="also count branches and their mispredictions (callgrind's model: Bc/Bcm, Bi/Bim)",
    )
    parser.add_argument("--keep", help="keep each window's callgrind dump here, for callgrind_annotate")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    pythons = Pythons(Path(sys.executable), stock_python(), crocotel_python())
    configs = ["A", "B", "C"]
    if args.baseline:
        pythons.baseline = baseline_tree(args.baseline)
    if args.baseline_env:
        pythons.baseline_env = settings(args.baseline_env)
    if args.baseline or args.baseline_env:
        configs = ["A", "B", BASELINE, "C"]
    workdir = bots_copy()
    results: dict[str, dict[str, dict[str, object]]] = {}
    try:
        for bot in args.bots.split(","):
            for mode in args.modes.split(","):
                counts: dict[str, float] = {}
                misses: dict[str, dict[str, float]] = {}
                for config in configs:
                    events = count_once(
                        bot, config, WINDOWS[mode], args.warmup, args.updates, workdir, pythons, args
                    )
                    counts[config] = events["Ir"]
                    misses[config] = {k: round(v) for k, v in events.items() if k != "Ir"}
                    print(
                        f"{bot:<8} {mode:<10} {config:>2}: {counts[config]:12,.0f} instructions/update",
                        file=sys.stderr,
                    )
                added = {c: counts[c] - counts["A"] for c in configs if c != "A"}
                cell: dict[str, object] = {
                    "instructions_per_update": {c: round(v) for c, v in counts.items()},
                    "added": {c: round(v) for c, v in added.items()},
                    "crocotel_added_vs_stock_added": round(added["C"] / added["B"], 3),
                }
                if args.cache_sim or args.branch_sim:
                    cell["events_per_update"] = misses
                if BASELINE in added:
                    cell["after_vs_before_added"] = round(added["C"] / added[BASELINE], 3)
                results.setdefault(bot, {})[mode] = cell
                print(
                    f"{bot:<8} {mode:<10} C/B added: {cell['crocotel_added_vs_stock_added']}", file=sys.stderr
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if pythons.baseline is not None:
            shutil.rmtree(pythons.baseline, ignore_errors=True)
    label = args.baseline or ("this checkout" if args.baseline_env else None)
    print(
        json.dumps(
            {
                "benchmark": "instructions",
                "configs": {"A": "bare", "B": "stock opentelemetry-distro", "C": "crocotel", BASELINE: label},
                "baseline_env": args.baseline_env,
                "updates_counted": args.updates,
                "warmup_updates": args.warmup,
                "in_flight": {m: WINDOWS[m] for m in args.modes.split(",")},
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
