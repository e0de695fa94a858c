"""Liveness and readiness of the bot, for ``/healthz`` and ``/readyz``.

The instrumentation tells :data:`BOT` what it sees (Bot API answers, updates
arriving) with two tiny calls, and notes the event loop it runs on. Each loop
seen gets a heartbeat (:class:`LoopWatch`): a ``call_later`` callback every
half second that stamps the time and records how late it ran, so liveness is
measured without adding work to the loop beyond that one timer. The checks
themselves run in the server's thread and only read timestamps.

Liveness: every running loop answered its heartbeat within the bound.
Readiness: alive, the bot has started (a Bot API call succeeded or an update
arrived), updates are arriving (a successful getUpdates, empty long polls
included, within the window; a webhook bot counts once its webhook is set or an
update arrives), and the Bot API is not failing continuously.
The JSON bodies hold fixed words and numbers only, never an error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BOT", "BotSignals", "Check", "Health", "LoopWatch"]

HEARTBEAT_S = 0.5
"""Interval of the event-loop heartbeat (two timer callbacks a second per loop)."""

_FAILURE_CODES = frozenset({401, 404, 409})
"""Answers that mean the bot cannot work (token revoked or wrong, another poller); 5xx too."""


def _is_failure(outcome: str, error_code: int | None) -> bool:
    """Whether a Bot API answer means the API is failing us, not that a request was refused.

    No answer (network error, timeout), 5xx, 401, 404 and 409 count; 400, 403
    and 429 are answers about one request (a blocked user, flood control).
    """
    if outcome == "ok" or outcome == "cancelled":
        return False
    if error_code is None:
        return outcome == "network_error" or outcome == "error"
    return error_code >= 500 or error_code in _FAILURE_CODES


class LoopWatch:
    """The heartbeat on one event loop: stamps ``last_beat`` and reports how late each beat ran."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_lag: Callable[[float], None] | None,
        interval: float = HEARTBEAT_S,
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.last_beat = time.monotonic()
        self._on_lag = on_lag
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self.stopped = False

    def start(self) -> None:
        """Schedule the first beat; call from the loop's own thread."""
        self._due = self.loop.time() + self.interval
        self._handle = self.loop.call_at(self._due, self._beat)

    def _beat(self) -> None:
        now = self.loop.time()
        self.last_beat = time.monotonic()
        if self.stopped:
            return
        if self._on_lag is not None:
            with contextlib.suppress(Exception):  # telemetry never breaks the loop
                self._on_lag(max(now - self._due, 0.0))
        self._due = now + self.interval
        self._handle = self.loop.call_at(self._due, self._beat)

    def stop(self) -> None:
        """No further beats (from any thread: the pending one sees the flag and ends)."""
        self.stopped = True

    def age(self) -> float:
        """Seconds since the last beat ran."""
        return time.monotonic() - self.last_beat


class BotSignals:
    """What the instrumentation saw of the bot: Bot API answers, polls, updates, its loops.

    Written from the bot's loop, read from the server thread; plain float
    stores, so no lock on the bot's path.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started_at: float | None = None
        self.last_poll_ok: float | None = None
        self.last_update: float | None = None
        self.webhook_set = False
        self.failing_since: float | None = None
        self.failures = 0
        self._last_loop: object = None
        self._on_loop: Callable[[asyncio.AbstractEventLoop], None] | None = None

    def watch_loops(self, on_loop: Callable[[asyncio.AbstractEventLoop], None] | None) -> None:
        """Call ``on_loop`` (from that loop's thread) for each new event loop the bot runs on."""
        self._on_loop = on_loop
        self._last_loop = None

    def _note_loop(self) -> None:
        if self._on_loop is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is not self._last_loop:
            self._last_loop = loop
            self._on_loop(loop)

    def api_call(self, method: str, outcome: str, error_code: int | None) -> None:
        """One Bot API call finished; never raises."""
        try:
            now = self._clock()
            self._note_loop()
            if _is_failure(outcome, error_code):
                if self.failing_since is None:
                    self.failing_since = now
                self.failures += 1
                return
            if outcome == "cancelled":
                return
            self.failing_since = None
            self.failures = 0
            if self.started_at is None:
                self.started_at = now
            if outcome == "ok":
                if method == "getUpdates":
                    self.last_poll_ok = now
                elif method == "setWebhook":
                    self.webhook_set = True
                elif method == "deleteWebhook":
                    self.webhook_set = False
        except Exception:  # telemetry never breaks the bot
            pass

    def update(self) -> None:
        """An update reached the bot (polled or by webhook); never raises."""
        try:
            now = self._clock()
            self._note_loop()
            self.last_update = now
            if self.started_at is None:
                self.started_at = now
        except Exception:  # telemetry never breaks the bot
            pass

    def reset(self) -> None:
        """Forget everything seen (tests, and a fresh configure)."""
        self.started_at = self.last_poll_ok = self.last_update = self.failing_since = None
        self.webhook_set = False
        self.failures = 0
        self._last_loop = None


BOT = BotSignals()
"""The process's bot signals; the instrumentation calls :meth:`BotSignals.api_call` and ``update``."""


@dataclass(frozen=True)
class Check:
    """One named check: whether it passes, a fixed word for its state, and numbers."""

    name: str
    ok: bool
    state: str
    details: dict[str, float | int]

    def as_json(self) -> dict[str, Any]:
        """The check's JSON object."""
        return {"ok": self.ok, "state": self.state, **self.details}


def _rounded(seconds: float) -> float:
    return round(seconds, 3)


class Health:
    """The checks behind ``/healthz`` and ``/readyz``, and the loops being watched."""

    def __init__(
        self,
        loop_bound: float,
        poll_window: float,
        failure_window: float,
        signals: BotSignals = BOT,
        on_lag: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.loop_bound = loop_bound
        self.poll_window = poll_window
        self.failure_window = failure_window
        self.signals = signals
        self.on_lag = on_lag
        self._clock = clock
        self._watches: list[LoopWatch] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Begin watching the loops the bot runs on, as the instrumentation reports them."""
        self.signals.watch_loops(self.watch)

    def stop(self) -> None:
        """Stop every heartbeat and stop watching new loops."""
        self.signals.watch_loops(None)
        with self._lock:
            for watch in self._watches:
                watch.stop()
            self._watches.clear()

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a heartbeat on ``loop`` (called from that loop's thread) unless it has one."""
        with self._lock:
            if any(w.loop is loop for w in self._watches):
                return  # several loops taking turns: each already has its heartbeat
            self._watches = [w for w in self._watches if not w.loop.is_closed()]
            watch = LoopWatch(loop, self.on_lag)
            self._watches.append(watch)
        watch.start()

    def loops(self) -> list[asyncio.AbstractEventLoop]:
        """The running loops being watched (for the live tasks gauge)."""
        with self._lock:
            return [w.loop for w in self._watches if w.loop.is_running()]

    def event_loop(self) -> Check:
        """Every running loop beat within the bound; a loop not running (yet, or between runs) is fine."""
        with self._lock:
            watches = [w for w in self._watches if not w.loop.is_closed()]
        running = [w for w in watches if w.loop.is_running()]
        if not running:
            state = "not_running" if watches else "not_seen_yet"
            return Check("event_loop", True, state, {"loops": 0})
        worst = max(w.age() for w in running)
        limit = HEARTBEAT_S + self.loop_bound
        ok = worst <= limit
        return Check(
            "event_loop",
            ok,
            "ok" if ok else "blocked",
            {"loops": len(running), "last_beat_age_s": _rounded(worst), "bound_s": self.loop_bound},
        )

    def started(self) -> Check:
        """The bot got an answer from the Bot API, or an update."""
        ok = self.signals.started_at is not None
        return Check("started", ok, "ok" if ok else "not_started", {})

    def updates(self) -> Check:
        """Updates are arriving: a getUpdates answered within the window, or a webhook in use."""
        s = self.signals
        now = self._clock()
        window = {"window_s": self.poll_window}
        if s.last_poll_ok is not None:
            age = now - s.last_poll_ok
            ok = age <= self.poll_window
            details = {"last_poll_age_s": _rounded(age), **window}
            return Check("updates", ok, "polling" if ok else "stalled", details)
        if s.webhook_set or s.last_update is not None:
            return Check("updates", True, "webhook", {})
        return Check("updates", False, "waiting", window)

    def bot_api(self) -> Check:
        """The Bot API has not been failing for the whole window (every call since a moment failed)."""
        s = self.signals
        since = s.failing_since
        if since is None:
            return Check("bot_api", True, "ok", {})
        failing_for = self._clock() - since
        ok = failing_for < self.failure_window
        details = {
            "failing_for_s": _rounded(failing_for),
            "failed_calls": s.failures,
            "window_s": self.failure_window,
        }
        return Check("bot_api", ok, "errors" if ok else "failing", details)

    def liveness(self) -> list[Check]:
        """The checks of ``/healthz``."""
        return [self.event_loop()]

    def readiness(self) -> list[Check]:
        """The checks of ``/readyz``."""
        return [self.event_loop(), self.started(), self.updates(), self.bot_api()]


def report(checks: list[Check]) -> tuple[int, bytes]:
    """HTTP status (200 or 503) and the JSON body naming every check and its state."""
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "fail", "checks": {c.name: c.as_json() for c in checks}}
    return (200 if ok else 503), (json.dumps(body, separators=(",", ":")) + "\n").encode()
