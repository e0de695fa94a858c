"""Runtime metrics: the process (semantic-convention names) and the bot's event loop.

Process memory, CPU time, file descriptors, threads, context switches and GC
come from opentelemetry-instrumentation-system-metrics, limited to its process
and CPython part (its default also reads every CPU, disk and network interface
of the host). What it lacks is written here: ``process.uptime``, the event-loop
lag histogram ``crocotel.event_loop.lag`` (fed by the heartbeat in
:mod:`crocotel.health`), the live asyncio tasks on the loops being watched,
the health checks as a gauge, and crocotel's own self-metrics (connections the
server refused, measurements folded into an overflow series).
All of them are read at collection time; only the lag is recorded by the
heartbeat, two measurements a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation

from crocotel._version import __version__
from crocotel.metrics import BUCKETS_BY_NAME

__all__ = ["SYSTEM_METRICS", "RuntimeMetrics", "start_system_metrics", "stop_system_metrics"]

SYSTEM_METRICS: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.open_file_descriptor.count": None,
    "process.thread.count": None,
    "process.context_switches": ["involuntary", "voluntary"],
    "cpython.gc.collections": None,
    "cpython.gc.collected_objects": None,
    "cpython.gc.uncollectable_objects": None,
}
"""The process and runtime subset of opentelemetry-instrumentation-system-metrics we turn on."""

LAG_BUCKETS_S = BUCKETS_BY_NAME["crocotel.event_loop.lag"]


def _process_start() -> float:
    """When this process started (wall clock), from the OS when psutil can tell."""
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()


_STARTED = _process_start()

_instrumentor: Any = None


def start_system_metrics(meter_provider: MeterProvider) -> bool:
    """Turn on the process and CPython metrics; False when the package is missing or fails."""
    global _instrumentor
    try:
        from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

        instrumentor = SystemMetricsInstrumentor(config=SYSTEM_METRICS)
        if instrumentor.is_instrumented_by_opentelemetry:
            return True  # already on (the instrumentor is one per process)
        instrumentor.instrument(meter_provider=meter_provider)
    except Exception:
        return False
    _instrumentor = instrumentor
    return True


def stop_system_metrics() -> None:
    """Undo :func:`start_system_metrics` (tests, and a fresh configure)."""
    global _instrumentor
    if _instrumentor is not None:
        with contextlib.suppress(Exception):  # its meter stays registered; nothing else to undo
            _instrumentor.uninstrument()
        _instrumentor = None


def _live_tasks(loop: asyncio.AbstractEventLoop) -> int:
    """Tasks not done on ``loop``, read from another thread (asyncio retries if the set changes)."""
    try:
        return len(asyncio.all_tasks(loop))
    except RuntimeError:
        return 0


class RuntimeMetrics:
    """The instruments crocotel writes itself, all on the ``crocotel`` meter."""

    def __init__(
        self,
        meter_provider: MeterProvider,
        loops: Callable[[], list[asyncio.AbstractEventLoop]],
        checks: Callable[[], Iterable[tuple[str, bool]]],
        client_errors: Callable[[], dict[str, int]],
        overflowed: Callable[[], dict[str, int]],
    ) -> None:
        meter: Meter = meter_provider.get_meter("crocotel", __version__)
        self._loops = loops
        self._checks = checks
        self._client_errors = client_errors
        self._overflowed = overflowed
        self.lag: Histogram = meter.create_histogram(
            "crocotel.event_loop.lag",
            unit="s",
            description="How late the event loop ran a timer due now: the time it spent blocked",
            explicit_bucket_boundaries_advisory=list(LAG_BUCKETS_S),
        )
        meter.create_observable_gauge(
            "crocotel.event_loop.tasks",
            callbacks=[self._tasks],
            unit="{task}",
            description="asyncio tasks not done, on the bot's event loops",
        )
        meter.create_observable_gauge(
            "process.uptime", callbacks=[self._uptime], unit="s", description="Time since the process started"
        )
        meter.create_observable_gauge(
            "crocotel.health.check",
            callbacks=[self._health],
            unit="1",
            description="1 when the health check passes, 0 when it fails (as on /healthz and /readyz)",
        )
        meter.create_observable_counter(
            "crocotel.server.client_errors",
            callbacks=[self._errors],
            unit="{connection}",
            description="Connections to the metrics server that ended badly, by reason",
        )
        meter.create_observable_counter(
            "crocotel.metrics.overflow",
            callbacks=[self._overflow],
            unit="{measurement}",
            description="Measurements folded into a metric's overflow series by the cardinality limit",
        )

    def record_lag(self, seconds: float) -> None:
        """One heartbeat's lateness (called on the bot's loop)."""
        self.lag.record(seconds)

    def _tasks(self, _options: CallbackOptions) -> Iterable[Observation]:
        loops = self._loops()
        if not loops:
            return []
        return [Observation(sum(_live_tasks(loop) for loop in loops))]

    def _uptime(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(max(time.time() - _STARTED, 0.0))]

    def _health(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if ok else 0, {"check": name}) for name, ok in self._checks()]

    def _errors(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"reason": reason}) for reason, n in self._client_errors().items()]

    def _overflow(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"metric": name}) for name, n in self._overflowed().items()]
