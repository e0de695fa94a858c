"""crocotel's own CPU per aiogram update, without the network: crocbot's dispatcher fed in-process.

``bench_bot_overhead`` runs whole bots against the stand-in, where HTTP, polling and
the kernel add to every figure and a round varies by ±30%. This feeds crocbot's
dispatcher (its routers, handlers and log lines) pre-parsed updates in-process, with
a Bot API session that answers at once without a socket: what is left is aiogram's
work plus, under crocotel, the update, handler and Bot API spans, their metrics, the
log records and their redaction, encoding and export. So the difference between A
(bare) and C (crocotel) is the per-update path that crocotel owns, measured tightly
enough to rank cuts of a few percent; C0 (``--baseline REF`` and/or
``--baseline-env VAR=VALUE``) gives before/after ratios in the same run.

The stock distro is not in this comparison: its aiohttp-client instrumentation works at
the HTTP layer, which is not here.

Each configuration runs in its own process from crocotel's benchmark venv
(``benchmarks/_stock.py``; C under ``opentelemetry-instrument``, exporting to an
OTLP receiver in this process), feeding ``--updates`` updates after a warm-up,
``--window`` at a time; configurations alternate A C0 C for ``--runs`` rounds. Per
update: CPU of the main thread and of the whole process (export threads included).

``--instructions`` counts instead of timing: each configuration runs once under valgrind's
callgrind, counting from the end of the warm-up to the end of the measured updates, with
exports held until exit (``HELD_EXPORTS``). The same code gives the same count within about
0.5%, whatever else the machine does, so it ranks a cut of 2% in one run; what it leaves out
is the export thread's batch work (building requests, HTTP), which ``bench_instructions``
counts on the real bots. Prints one JSON line at the end (Linux only).

    .venv/bin/python benchmarks/bench_update_path.py [--updates 4000] [--runs 5] [--window 16]
        [--baseline REF] [--baseline-env CROCOTEL_REDACT=off] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python  # noqa: E402
from benchmarks.bench_bot_overhead import (  # noqa: E402
    BASELINE,
    baseline_tree,
    bots_copy,
    settings,
    telemetry_env,
)
from crocotel.testing import OtlpReceiver  # noqa: E402

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # shape of a real token: redaction sees one

FEEDER = '''
import asyncio, datetime, json, logging, os, subprocess, sys, time

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, Update

from examples.crocbot import commands, echo, errors
from examples.crocbot.quotes import QuoteClient

TEXTS = ("hello", "how are you?", "/start", "what's new", "good morning!")


class InstantSession(BaseSession):
    """Answers every call at once, as Telegram would, without a socket."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    async def make_request(self, bot, method, timeout=None):
        self.calls += 1
        if isinstance(method, SendMessage):
            chat = Chat(id=method.chat_id, type="private")
            return Message(message_id=self.calls, date=datetime.datetime.now(), chat=chat, text=method.text)
        raise AssertionError(f"unexpected call {type(method).__name__}")

    async def close(self):
        pass

    async def stream_content(self, *args, **kwargs):
        raise AssertionError("no downloads here")


def update(bot, n):
    user = 5000 + n % 50
    chat = {"id": user, "type": "private", "first_name": "U"}
    message = {
        "message_id": n, "date": 1_700_000_000 + n, "chat": chat, "text": TEXTS[n % len(TEXTS)],
        "from": {"id": user, "is_bot": False, "first_name": "U"},
    }
    if message["text"].startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(message["text"])}]
    return Update.model_validate({"update_id": 100_000 + n, "message": message}, context={"bot": bot})


async def feed(dispatcher, bot, updates, window):
    for start in range(0, len(updates), window):
        await asyncio.gather(*(dispatcher.feed_update(bot, u) for u in updates[start:start + window]))


async def main():
    warmup, measured, window = (int(v) for v in sys.argv[1:4])
    logging.basicConfig(level=logging.INFO)
    session = InstantSession()
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dispatcher = Dispatcher(quotes=QuoteClient(None))
    dispatcher.include_routers(commands.router, echo.router, errors.router)
    updates = [update(bot, n) for n in range(warmup + measured)]
    await feed(dispatcher, bot, updates[:warmup], window)
    calls = session.calls
    counting = os.environ.get("COUNT_INSTRUCTIONS") == "1"
    if counting:  # under callgrind: count from here (see count_once)
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    cpu, main = time.process_time(), time.thread_time()
    await feed(dispatcher, bot, updates[warmup:], window)
    cpu, main = time.process_time() - cpu, time.thread_time() - main
    if counting:
        subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True, capture_output=True)
    if session.calls - calls < measured * 0.75:
        raise SystemExit(f"only {session.calls - calls} answers to {measured} updates")
    with open(os.environ["RESULT_FILE"], "w") as out:
        json.dump({"cpu_us": cpu / measured * 1e6, "main_us": main / measured * 1e6}, out)


asyncio.run(main())
'''


HELD_EXPORTS = {
    f"OTEL_{signal}_{name}": value
    for signal in ("BSP", "BLRP")
    for name, value in (("MAX_QUEUE_SIZE", "1000000"), ("MAX_EXPORT_BATCH_SIZE", "1000000"))
} | {"OTEL_BSP_SCHEDULE_DELAY": "3600000", "OTEL_BLRP_SCHEDULE_DELAY": "3600000"}
"""With ``--instructions``: spans and records queue until exit instead of leaving in batches of 512
or every few seconds, so no export lands inside the counted window (where one lands moves a count
by up to 10%); the export thread's batch work is then the only part not counted."""


def run_once(
    config: str,
    python: Path,
    workdir: Path,
    receiver: OtlpReceiver,
    args: argparse.Namespace,
    baseline: Path | None,
) -> dict[str, float]:
    """One process feeding the dispatcher; its CPU per update, or with ``--instructions`` the
    instructions per update that callgrind counted over the measured updates."""
    result = workdir / f"result-{config}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTHONPATH"))}
    env.update(BOT_TOKEN=TOKEN, RESULT_FILE=str(result))
    feeder = [str(python), str(workdir / "feeder.py"), str(args.warmup), str(args.updates), str(args.window)]
    path: list[str] = []
    if config != "A":
        env.update(telemetry_env("bench-update-path", receiver.endpoint))
        if args.instructions:  # what opentelemetry-instrument does, without an exec under valgrind
            env.update(HELD_EXPORTS)
            path.append(_auto_instrumentation(python))
        else:
            feeder.insert(0, str(python.parent / "opentelemetry-instrument"))
    if config == BASELINE:
        if baseline is not None:
            path.insert(0, str(baseline))
        if args.baseline_env:
            env.update(settings(args.baseline_env))
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    dump = workdir / f"callgrind-{config}.out"
    if args.instructions:
        env["COUNT_INSTRUCTIONS"] = "1"
        feeder[:0] = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dump}"]
    subprocess.run(feeder, cwd=workdir, env=env, check=True, timeout=1800, capture_output=True)
    measured = dict(json.loads(result.read_text()))
    if args.instructions:
        measured["instructions"] = _dumped(workdir, dump.name) / args.updates
    return measured


def _auto_instrumentation(python: Path) -> str:
    """The folder whose ``sitecustomize`` opentelemetry-instrument puts first on the path."""
    code = "import opentelemetry.instrumentation.auto_instrumentation as m; print(m.__path__[0])"
    done = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _dumped(workdir: Path, name: str) -> int:
    """Instructions in the dump ``callgrind_control -d`` wrote (the final dump at exit is left out)."""
    total = 0
    for path in workdir.glob(name + "*"):
        text = path.read_text(errors="replace")
        if "Trigger: dump" in text:
            line = next(line for line in text.splitlines() if line.startswith("summary:"))
            total += int(line.split()[1])
        path.unlink()
    if not total:
        raise SystemExit("callgrind wrote no dump: is valgrind installed?")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--warmup", type=int, help="updates before measuring (500; 200 with --instructions)")
    parser.add_argument("--updates", type=int, help="updates measured (4000; 400 with --instructions)")
    parser.add_argument("--window", type=int, default=16, help="updates fed at once")
    parser.add_argument("--runs", type=int, help="rounds of A (C0) C (5; 1 with --instructions)")
    parser.add_argument("--baseline", help="git ref: also run crocotel's code at this ref (C0) before C")
    parser.add_argument("--baseline-env", help="VAR=VALUE[,VAR=VALUE]: settings for C0")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per update under valgrind's callgrind, exports held until exit",
    )
    args = parser.parse_args()
    counting = args.instructions
    args.warmup = args.warmup or (200 if counting else 500)
    args.updates = args.updates or (400 if counting else 4000)
    args.runs = args.runs or (1 if counting else 5)
    python = crocotel_python()
    configs = ["A", "C"]
    baseline = baseline_tree(args.baseline) if args.baseline else None
    if args.baseline or args.baseline_env:
        configs = ["A", BASELINE, "C"]
    workdir = bots_copy()
    (workdir / "feeder.py").write_text(FEEDER)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        with OtlpReceiver() as receiver:
            for rnd in range(args.runs):
                runs = {
                    config: run_once(config, python, workdir, receiver, args, baseline) for config in configs
                }
                rounds.append(runs)
                if counting:
                    shown = ", ".join(f"{c} {r['instructions'] / 1e3:,.1f}" for c, r in runs.items())
                    print(f"round {rnd + 1}: k instructions/update {shown}", file=sys.stderr)
                else:
                    shown = ", ".join(
                        f"{c} {r['cpu_us']:.0f} ({r['main_us']:.0f} main)" for c, r in runs.items()
                    )
                    print(f"round {rnd + 1}: us/update {shown}", file=sys.stderr)
            if not receiver.spans():
                raise SystemExit("no span reached the receiver: C did not run with crocotel")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if baseline is not None:
            shutil.rmtree(baseline, ignore_errors=True)

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    out: dict[str, object] = {
        "benchmark": "update_path",
        "configs": {"A": "bare", "C": "crocotel", BASELINE: args.baseline or args.baseline_env},
        "updates": args.updates,
        "window": args.window,
        "rounds": args.runs,
    }
    for what in ("instructions", "cpu_us", "main_us") if counting else ("cpu_us", "main_us"):
        out[what] = {c: median([r[c][what] for r in rounds]) for c in configs}
        out[f"added_{what}"] = {
            c: median([r[c][what] - r["A"][what] for r in rounds]) for c in configs if c != "A"
        }
    if BASELINE in configs and counting:
        out["after_vs_before_added_instructions"] = median(
            [
                (r["C"]["instructions"] - r["A"]["instructions"])
                / (r[BASELINE]["instructions"] - r["A"]["instructions"])
                for r in rounds
            ]
        )
    if BASELINE in configs:
        out["after_vs_before_added_cpu"] = median(
            [
                (r["C"]["cpu_us"] - r["A"]["cpu_us"]) / (r[BASELINE]["cpu_us"] - r["A"]["cpu_us"])
                for r in rounds
            ]
        )
        out["after_vs_before_added_main"] = median(
            [
                (r["C"]["main_us"] - r["A"]["main_us"]) / (r[BASELINE]["main_us"] - r["A"]["main_us"])
                for r in rounds
            ]
        )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
