"""Faults a bot under crocotel must survive, each with a pass/fail verdict and its figures.

The plain aiohttp bot (``examples/aiohttp_bot``) runs under crocotel (the
crocotel venv of ``benchmarks/_stock.py``: traces and logs over OTLP/HTTP,
/metrics, JSON logs, redaction) against the Bot API stand-in, with an OTLP
receiver in this process standing in for the Collector. Cases:

- ``up``: the Collector answers (the reference for latency and memory);
- ``down``: nothing listens at the endpoint for the whole run. Pass: the time
  per update (one in flight, so it is the latency) within 10% of ``up`` (over
  ``--runs`` alternating rounds), resident memory within 15 MB of ``up``, and
  the failed exports counted in the SDK's self-metrics on /metrics (the exporter
  gives a batch up after 10 s of retries, so the bot is kept up, idle, until then);
  "within 10%" is read from the median of the per-round ratios (each run against the
  ``up`` run of its own round, minutes apart at most), so that the host's drift over
  the whole benchmark, which moves a round by a half here, does not decide the verdict;
- ``slow``: the Collector answers every export after 5 s. Pass: latency within
  10% of ``up``, the bot answers everything and exits 0 within the shutdown
  deadline plus 5 s;
- ``restart``: after a third of the updates the Collector answers 503 for 3 s,
  as while it restarts (the in-test receiver's connections outlive its stop, so a
  stop would not show it). Pass: exports were refused and every sendMessage span
  arrives anyway (the SDK's exporter retries what it held; the real agent restarted
  with its queue on disk is tests/test_collector_agent.py);
- ``storm``: the stand-in answers 40 sendMessage calls with 429 (retry_after 1)
  and 40 with 502. Pass: the bot keeps answering, each failed call has its span
  with ``telegram.api.error_code`` 429 or 502, and /metrics counts them;
- ``sigterm``: SIGTERM with 16 updates in flight. Pass: every sendMessage span
  that ended before the signal (at least as many as the replies the stand-in had
  sent) is exported, and the bot exits 0 within the shutdown deadline plus 5 s.

Prints one line per case on stderr and one JSON line at the end.

    .venv/bin/python benchmarks/bench_faults.py [--updates 600] [--runs 4] [--cases up,down,slow,...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import crocotel_python  # noqa: E402
from benchmarks.bench_bot_overhead import Driver, bots_copy, free_port  # noqa: E402
from crocotel.testing import BotApiThread, OtlpReceiver  # noqa: E402

SHUTDOWN_TIMEOUT = 5.0
CASES = ("up", "down", "slow", "restart", "storm", "sigterm")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def failed_exports(text: str) -> float:
    """Spans and log records the SDK counted as not exported (export errors, queue full)."""
    total = 0.0
    for line in text.splitlines():
        name = line.split("{")[0]
        counter = name.startswith(("otel_sdk_exporter_", "otel_sdk_processor_")) and name.endswith("_total")
        if counter and "error_type=" in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def api_errors(text: str, code: int) -> float:
    total = 0.0
    for line in text.splitlines():
        if (
            line.startswith("telegram_api_duration_seconds_count")
            and f'telegram_api_error_code="{code}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Bot:
    """The aiohttp bot under crocotel, started against ``api`` and exporting to ``endpoint``."""

    def __init__(self, api: BotApiThread, endpoint: str, updates: int, window: int = 1) -> None:
        python = crocotel_python()
        self.port = free_port()
        self.workdir = bots_copy()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTHONPATH"))}
        env.update(
            BOT_TOKEN=api.token,
            TELEGRAM_API_URL=api.url,
            MAX_UPDATES=str(updates),
            POLL_TIMEOUT="5",
            CONCURRENCY=str(window),
            OTEL_SERVICE_NAME="faults-bot",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_PROMETHEUS_PORT=str(self.port),
            OTEL_METRICS_EXPORTER="prometheus",
            CROCOTEL_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
        )
        self.proc = subprocess.Popen(
            [str(python.parent / "opentelemetry-instrument"), str(python), "-m", "examples.aiohttp_bot"],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api.wait_polling(timeout=60)
        self.driver = Driver(api, window, self.proc)

    def wait_exit(self, limit: float = 60) -> tuple[int, float]:
        started = time.monotonic()
        try:
            code = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        return code, time.monotonic() - started


def sendmessage_spans(receiver: OtlpReceiver) -> list[Any]:
    return [s for s in receiver.spans() if s.name == "sendMessage"]


def settle(receiver: OtlpReceiver, rounds: int = 30) -> None:
    """Wait until the receiver's span count stops changing (bounded)."""
    last = -1
    for _ in range(rounds):
        now = len(receiver.spans())
        if now == last:
            return
        last = now
        time.sleep(0.2)


def latency_run(case: str, updates: int) -> dict[str, float]:
    """``up``, ``down`` or ``slow``: seconds per update with one in flight, RSS, failed exports."""
    slow = threading.Event()

    def answer_late(_path: str, _body: bytes) -> None:
        if case == "slow":
            slow.wait(5.0)

    with BotApiThread() as api, OtlpReceiver(on_export=answer_late) as receiver:
        endpoint = receiver.endpoint if case != "down" else f"http://127.0.0.1:{free_port()}"
        bot = Bot(api, endpoint, updates + 100)
        bot.driver.until(50)
        started = time.monotonic()
        bot.driver.until(updates + 50)
        per_update = (time.monotonic() - started) / updates
        rss = rss_mb(bot.proc.pid)
        metrics = scrape(bot.port)  # while the bot still runs: 50 updates to go
        if case == "down":  # the exporter gives a batch up after its 10 s of retries: wait for the count
            for _ in range(150):
                if failed_exports(metrics) > 0:
                    break
                time.sleep(0.2)
                metrics = scrape(bot.port)
        bot.driver.until(updates + 100)
        code, exit_s = bot.wait_exit()
        slow.set()
    return {
        "s_per_update": per_update,
        "rss_mb": rss,
        "failed_exports": failed_exports(metrics),
        "exit_status": code,
        "exit_s": exit_s,
    }


def restart_case(updates: int) -> dict[str, object]:
    """The Collector answers 503 for 3 s after a third of the updates (as while it restarts)."""
    with BotApiThread() as api, OtlpReceiver() as receiver:
        bot = Bot(api, receiver.endpoint, updates)
        bot.driver.until(updates // 3)
        receiver.fail_with(503)
        away_at = time.monotonic()
        bot.driver.until(2 * updates // 3)
        time.sleep(max(0.0, 3.0 - (time.monotonic() - away_at)))
        refused = sum(1 for _, status in receiver.requests() if status == 503)
        receiver.recover()
        bot.driver.until(updates)
        code, _ = bot.wait_exit()
        settle(receiver)
        replies = len(api.standin.sent)
        arrived = len(sendmessage_spans(receiver))
    return {
        "replies": replies,
        "exports_refused_while_away": refused,
        "sendmessage_spans_arrived": arrived,
        "exit_status": code,
        "pass": arrived >= replies and code == 0 and refused > 0,
    }


def storm_case(updates: int) -> dict[str, object]:
    with BotApiThread() as api, OtlpReceiver() as receiver:
        bot = Bot(api, receiver.endpoint, updates + 80)
        bot.driver.until(20)
        api.flood_next("sendMessage", retry_after=1, times=40)
        api.server_error_next("sendMessage", 502, times=40)
        # 80 updates go unanswered (the bot logs each failure and moves on): push them without waiting
        for i in range(80):
            api.push_message(f"storm {i}", chat_id=7000 + i, user_id=7000 + i)
        for _ in range(600):
            calls = [m for m, _ in api.standin.calls if m == "sendMessage"]
            if len(calls) >= 100:
                break
            time.sleep(0.05)
        bot.driver.pushed = len(api.standin.sent)
        bot.driver.until(updates - 1)
        metrics = scrape(bot.port)  # while the bot still runs: one update to go
        bot.driver.until(updates)
        code, _ = bot.wait_exit()
        settle(receiver)
        spans = sendmessage_spans(receiver)
    by_code = {
        c: sum(1 for s in spans if s.attributes.get("telegram.api.error_code") == c) for c in (429, 502)
    }
    counted = {c: api_errors(metrics, c) for c in (429, 502)}
    return {
        "spans_by_error_code": by_code,
        "metrics_by_error_code": counted,
        "exit_status": code,
        "pass": by_code == {429: 40, 502: 40} and counted == {429: 40.0, 502: 40.0} and code == 0,
    }


def sigterm_case(updates: int) -> dict[str, object]:
    with BotApiThread() as api, OtlpReceiver() as receiver:
        bot = Bot(api, receiver.endpoint, updates * 10, window=16)
        bot.driver.until(updates)
        for i in range(16):  # keep 16 in flight at the signal
            api.push_message(f"in flight {i}", chat_id=8000 + i, user_id=8000 + i)
        replies_before = len(api.standin.sent)
        bot.proc.send_signal(signal.SIGTERM)
        code, exit_s = bot.wait_exit(SHUTDOWN_TIMEOUT + 30)
        settle(receiver)
        spans = sendmessage_spans(receiver)
    ok_spans = [s for s in spans if s.attributes.get("telegram.api.outcome") == "ok"]
    return {
        "replies_before_signal": replies_before,
        "sendmessage_spans_exported": len(spans),
        "ok_sendmessage_spans": len(ok_spans),
        "exit_status": code,
        "exit_s": round(exit_s, 2),
        "pass": len(ok_spans) >= replies_before and code == 0 and exit_s <= SHUTDOWN_TIMEOUT + 5,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--runs", type=int, default=4, help="alternating up/down/slow runs")
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cases = args.cases.split(",")
    result: dict[str, object] = {"benchmark": "faults", "updates": args.updates, "runs": args.runs}
    latency_cases = [c for c in ("up", "down", "slow") if c in cases]
    if latency_cases:
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in latency_cases}
        for rnd in range(args.runs):
            for case in latency_cases:
                run = latency_run(case, args.updates)
                runs[case].append(run)
                print(
                    f"round {rnd + 1} {case:<5} {run['s_per_update'] * 1e3:.2f} ms/update, "
                    f"{run['rss_mb']:.0f} MB, {run['failed_exports']:.0f} failed exports, "
                    f"exit {run['exit_status']} in {run['exit_s']:.1f} s",
                    file=sys.stderr,
                )

        def med(case: str, key: str) -> float:
            return statistics.median(r[key] for r in runs[case])

        for case in latency_cases:
            figures: dict[str, object] = {
                "ms_per_update": round(med(case, "s_per_update") * 1e3, 3),
                "ms_per_update_all": [round(r["s_per_update"] * 1e3, 3) for r in runs[case]],
                "rss_mb": round(med(case, "rss_mb"), 1),
                "failed_exports_counted": med(case, "failed_exports"),
                "exit_statuses": [int(r["exit_status"]) for r in runs[case]],
                "exit_s_max": round(max(r["exit_s"] for r in runs[case]), 2),
            }
            if case != "up" and "up" in runs:
                # each run against the up run of its own round: the host drifts more than 10%
                # over the whole benchmark, and a ratio of medians would compare across it
                pairs = zip(runs[case], runs["up"], strict=True)
                by_round = [r["s_per_update"] / u["s_per_update"] for r, u in pairs]
                ratio = statistics.median(by_round)
                figures["latency_vs_up"] = round(ratio, 3)
                figures["latency_vs_up_by_round"] = [round(x, 3) for x in by_round]
                verdict = ratio <= 1.10 and all(r["exit_status"] == 0 for r in runs[case])
                verdict = verdict and max(r["exit_s"] for r in runs[case]) <= SHUTDOWN_TIMEOUT + 5
                if case == "down":
                    verdict = verdict and med(case, "rss_mb") <= med("up", "rss_mb") + 15
                    verdict = verdict and med(case, "failed_exports") > 0
                figures["pass"] = verdict
            result[case] = figures
    for case, fn in (("restart", restart_case), ("storm", storm_case), ("sigterm", sigterm_case)):
        if case in cases:
            result[case] = fn(args.updates)
            print(f"{case}: {result[case]}", file=sys.stderr)
    result["all_pass"] = all(
        v.get("pass", True) for k, v in result.items() if isinstance(v, dict) and k in CASES
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
