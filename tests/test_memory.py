"""The C heap's free pages handed back after export batches: what the bot's RSS shows, how often
it happens, and that it is off where it should be."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace

import crocotel
from crocotel import config, memory
from crocotel.memory import NO_TRIM, HeapTrim, heap_trim
from crocotel.testing import OtlpReceiver, reset_telemetry
from tests.support import REPO, set_in_process_env

FRAGMENTED = """
import sys
from crocotel.memory import HeapTrim

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

# 100 MB in 2 kB blocks (over pymalloc's 512 bytes: glibc's heap), every 32nd kept: the freed
# ones are holes below live blocks, which free() alone never gives back
blocks = [bytes(2048) for _ in range(50_000)]
kept = blocks[::32]
del blocks
before = rss_mb()
if sys.argv[1] == "trim":
    trim = HeapTrim(1e-9)
    trim()
print(before, rss_mb())
"""


def _glibc_only() -> None:
    if not memory._glibc():
        message = "malloc_trim is glibc's; this C library has none"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs on glibc, yet: {message}")
        pytest.skip(message)


@pytest.mark.parametrize("mode", ["trim", "leave"])
def test_a_fragmented_heap_goes_back_to_the_system_when_trimmed(mode: str) -> None:
    """The same holes: left, they stay resident; trimmed, their pages leave the process."""
    _glibc_only()
    done = subprocess.run(
        [sys.executable, "-c", FRAGMENTED, mode], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = (float(x) for x in done.stdout.split())
    if mode == "trim":
        assert after < before - 50, (before, after)  # ~97 MB of holes
    else:
        assert after > before - 5, (before, after)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trims_at_most_once_per_interval() -> None:
    clock, calls = _Clock(), []
    trim = HeapTrim(10.0, calls.append, clock)
    trim()
    assert calls == []  # not in the first interval: start-up has its own pace
    clock.now += 10.0
    trim()
    trim()
    clock.now += 9.9
    trim()
    assert calls == [0]
    clock.now += 0.2
    trim()
    assert calls == [0, 0]


def test_a_failing_trim_never_reaches_the_exporter_and_is_not_asked_again() -> None:
    clock, calls = _Clock(), []

    def refuses(pad: int) -> int:
        calls.append(pad)
        raise OSError("no")

    trim = HeapTrim(1.0, refuses, clock)
    for _ in range(3):
        clock.now += 1.0
        trim()
    assert calls == [0]


def test_off_and_other_c_libraries_get_the_null_trimmer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert heap_trim(0.0) is NO_TRIM

    def no_such_name(name: str) -> str:
        raise ValueError(name)  # musl: the name is not known to confstr

    monkeypatch.setattr(memory.os, "confstr", no_such_name)
    assert heap_trim(10.0) is NO_TRIM


@pytest.mark.parametrize("value", ["-1", "abc", "inf"])
def test_a_bad_interval_is_named_with_what_is_allowed(value: str) -> None:
    loaded = config.load({"CROCOTEL_HEAP_TRIM_INTERVAL": value})
    (problem,) = [p for p in loaded.problems if p.variable == "CROCOTEL_HEAP_TRIM_INTERVAL"]
    text = problem.message()
    assert repr(value) in text and "0 (off) or a positive number of seconds" in text
    assert loaded.heap_trim_interval == 10.0
    assert config.load({"CROCOTEL_HEAP_TRIM_INTERVAL": "0"}).heap_trim_interval == 0.0


@pytest.fixture
def exporting(monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver) -> Iterator[list[int]]:
    """crocotel set up in-process against the receiver, glibc's trim replaced by a counter."""
    set_in_process_env(monkeypatch, receiver.endpoint)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setattr(memory, "_glibc", lambda: True)
    calls: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    reset_telemetry()
    yield calls
    reset_telemetry()


@pytest.mark.parametrize(("interval", "trims"), [("0.000001", True), ("0", False)])
def test_the_exporters_trim_after_a_batch_unless_turned_off(
    exporting: list[int], monkeypatch: pytest.MonkeyPatch, interval: str, trims: bool
) -> None:
    monkeypatch.setenv("CROCOTEL_HEAP_TRIM_INTERVAL", interval)
    telemetry = crocotel.configure()
    with trace.get_tracer("t").start_as_current_span("batched"):
        pass
    assert telemetry.flush(5.0)
    assert bool(exporting) is trims
    assert crocotel.shutdown(5.0)
