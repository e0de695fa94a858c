"""Exit time with no Collector, and spans lost on SIGTERM: crocotel against the stock distro.

Both run the same unchanged app (tests/apps/span_app.py) under
``opentelemetry-instrument`` on this machine, in the same run. The stock side is
a separate venv (``benchmarks/_stock.py``) with ``opentelemetry-distro`` and the OTLP
exporter, created on first use. Every run's exit status is checked (0 for the normal exit,
and 0 or death by SIGTERM for the signalled one), and the normal exit must have finished
the app's work: a run that crashed cannot count as fast. Prints one JSON
line at the end.

    .venv/bin/python benchmarks/bench_shutdown.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._stock import stock_python  # noqa: E402
from crocotel.testing import OtlpReceiver  # noqa: E402

APP = str(REPO / "tests" / "apps" / "span_app.py")
NEUTRAL = tempfile.gettempdir()  # not the checkout: its egg-info would expose crocotel's entry points


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def env_for(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_PROMETHEUS_PORT=str(closed_port()),
        OTEL_BSP_SCHEDULE_DELAY="60000",
        PYTHONUNBUFFERED="1",
    )
    return env


def wrapper(python: Path) -> list[str]:
    return [str(python.parent / "opentelemetry-instrument"), str(python)]


def exit_seconds(python: Path) -> float:
    env = env_for(f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    done = subprocess.run(
        [*wrapper(python), APP, "exit", "5"],
        env=env,
        cwd=NEUTRAL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0 or "DONE" not in done.stdout:
        raise SystemExit(f"{python}: exit status {done.returncode}, stderr:\n{done.stderr[-2000:]}")
    return elapsed


def spans_lost_on_sigterm(python: Path, count: int = 40) -> int:
    with OtlpReceiver() as receiver:
        proc = subprocess.Popen(
            [*wrapper(python), APP, "burst", str(count)],
            env=env_for(receiver.endpoint),
            cwd=NEUTRAL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(100):
            if proc.stdout.readline().strip() in ("READY", ""):
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        # killed by the signal (no handler) or exited cleanly by crocotel's handler; anything else is a crash
        if proc.returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
            raise SystemExit(f"{python}: exit status {proc.returncode} on SIGTERM, stderr:\n{err[-2000:]}")
        receiver.wait_for(lambda r: len(r.spans()) >= count, timeout=3)
        return count - len({s.name for s in receiver.spans()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ours, stock = Path(sys.executable), stock_python()
    result: dict[str, float | int] = {}
    for label, python in (("crocotel", ours), ("stock", stock)):
        times = [exit_seconds(python) for _ in range(args.runs)]
        result[f"{label}_exit_no_collector_s"] = round(statistics.median(times), 2)
        result[f"{label}_spans_lost_on_sigterm_of_40"] = spans_lost_on_sigterm(python)
        print(f"{label}: exit {times}", file=sys.stderr)
    result["exit_time_ratio_crocotel_vs_stock"] = round(
        result["crocotel_exit_no_collector_s"] / result["stock_exit_no_collector_s"], 3
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
