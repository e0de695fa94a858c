"""The ``telegram.*`` metric instruments, shared by the aiogram and aiohttp instrumentations.

One set per meter provider, so both instrumentations add to the same series.
Every label value passed in here is already bounded (see ``botapi``); the
attribute dicts are cached per label combination so the per-update path does
not build new ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from crocotel._version import __version__
from crocotel.health import BOT
from crocotel.instrumentation.botapi import OTHER, Capped, error_kind

__all__ = ["TelegramInstruments", "instruments_for"]

METER_NAME = "crocotel.instrumentation.telegram"

Attributes = dict[str, Any]


class TelegramInstruments:
    """Records updates, handlers, Bot API calls and polling errors."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.updates = meter.create_counter(
            "telegram.updates", unit="{update}", description="Updates processed, by type and outcome"
        )
        self.update_duration = meter.create_histogram(
            "telegram.update.duration", unit="s", description="Time from receiving an update to its outcome"
        )
        self.update_lag = meter.create_histogram(
            "telegram.update.lag", unit="s", description="Now minus the message date, when processing starts"
        )
        self.in_flight = 0  # read at collection time: no metric call on the per-update path
        meter.create_observable_up_down_counter(
            "telegram.updates.in_flight",
            callbacks=[self._observe_in_flight],
            unit="{update}",
            description="Updates being processed right now",
        )
        self.handler_duration = meter.create_histogram(
            "telegram.handler.duration",
            unit="s",
            description="Time spent in the handler that ran, by handler",
        )
        self.api_requests = meter.create_counter(
            "telegram.api.requests", unit="{request}", description="Bot API calls, by method and outcome"
        )
        self.api_duration = meter.create_histogram(
            "telegram.api.duration", unit="s", description="Bot API call duration, by method"
        )
        self.api_retry_after = meter.create_histogram(
            "telegram.api.retry_after", unit="s", description="retry_after asked by Telegram (flood control)"
        )
        self.polling_errors = meter.create_counter(
            "telegram.polling.errors", unit="{error}", description="Failed getUpdates calls, by error type"
        )
        self.error_types = Capped(64)
        self._attrs: dict[tuple[str, ...], Attributes] = {}

    def _cached(self, key: tuple[str, ...], build: Attributes) -> Attributes:
        attrs = self._attrs.get(key)
        if attrs is None:
            if len(self._attrs) >= 4096:  # only reachable if a cap above is bypassed
                self._attrs.clear()
            attrs = self._attrs[key] = build
        return attrs

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.in_flight)]

    def update_started(self) -> None:
        """One more update in flight."""
        self.in_flight += 1
        BOT.update()  # readiness: updates are arriving

    def update_finished(self, update_type: str, outcome: str, error_type: str | None, seconds: float) -> None:
        """Count one update and its duration; ``error_type`` only for the ``error`` outcome."""
        self.in_flight -= 1
        error = self.error_types(error_type) if error_type else ""
        counted = self._cached(
            ("u", update_type, outcome, error),
            {"update_type": update_type, "outcome": outcome, "error_type": error}
            if error
            else {"update_type": update_type, "outcome": outcome},
        )
        self.updates.add(1, counted)
        timed = self._cached(("ud", update_type, outcome), {"update_type": update_type, "outcome": outcome})
        self.update_duration.record(seconds, timed)

    def lag(self, update_type: str, seconds: float) -> None:
        """How old the message was when its update started being processed."""
        self.update_lag.record(
            max(seconds, 0.0), self._cached(("l", update_type), {"update_type": update_type})
        )

    def handler(self, handler: str, router: str, seconds: float) -> None:
        """Time spent in one handler."""
        attrs = self._cached(("h", handler, router), {"handler": handler, "router": router})
        self.handler_duration.record(seconds, attrs)

    def api_call(
        self,
        method: str,
        seconds: float,
        outcome: str,
        error_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """One Bot API call; ``outcome`` is ``ok``, ``error``, ``network_error`` or ``cancelled``."""
        BOT.api_call(method, outcome, error_code)  # readiness: the Bot API answers, polls succeed
        code = _code_label(error_code)
        counted = self._cached(
            ("a", method, outcome, code),
            {"method": method, "outcome": outcome, "error_code": code}
            if code
            else {"method": method, "outcome": outcome},
        )
        self.api_requests.add(1, counted)
        by_method = self._cached(("m", method), {"method": method})
        self.api_duration.record(seconds, by_method)
        if retry_after is not None:
            self.api_retry_after.record(retry_after, by_method)

    def polling_error(self, error_code: int | None) -> None:
        """A failed getUpdates: ``error_type`` is ``conflict`` for 409, ``network`` without an answer."""
        kind = error_kind(error_code)
        self.polling_errors.add(1, self._cached(("p", kind), {"error_type": kind}))


def _code_label(error_code: int | None) -> str:
    if error_code is None:
        return ""
    return str(error_code) if 100 <= error_code <= 599 else OTHER


_lock = threading.Lock()
_by_provider: dict[int, tuple[object, TelegramInstruments]] = {}


def instruments_for(meter_provider: metrics.MeterProvider | None = None) -> TelegramInstruments:
    """The instruments on ``meter_provider`` (the global one by default), created once per provider."""
    provider: Any = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _lock:
        known = _by_provider.get(id(provider))
        if known is not None and known[0] is provider:
            return known[1]
        meter = provider.get_meter(METER_NAME, __version__)
        made = TelegramInstruments(meter)
        _by_provider[id(provider)] = (provider, made)
        return made
