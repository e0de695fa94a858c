"""The ``telegram.*`` metric instruments, shared by the aiogram, python-telegram-bot and aiohttp layers.

One set per meter provider, so every layer adds to the same series. No
instrument repeats another's count: a histogram's count is the number of
updates or calls, so there is no separate counter. Every attribute key is the
one spans use (see ``_vocabulary``); every value passed in here is already
bounded. The attribute dicts are cached per combination so the per-update
path builds none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from crocotel._version import __version__
from crocotel.health import BOT
from crocotel.instrumentation._vocabulary import (
    API_ERROR_CODE,
    API_METHOD,
    API_OUTCOME,
    ERROR_TYPE,
    HANDLER,
    ROUTER,
    UPDATE_OUTCOME,
    UPDATE_TYPE,
    Capped,
)

__all__ = ["METER_NAME", "TelegramInstruments", "instruments_for"]

METER_NAME = "crocotel.instrumentation.telegram"

Attributes = dict[str, Any]

_MAX_COMBINATIONS = 4096  # only reachable if a cap is bypassed


class TelegramInstruments:
    """Records updates, handlers and Bot API calls."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.update_duration = meter.create_histogram(
            "telegram.update.duration",
            unit="s",
            description="Time from receiving an update to its outcome; its count is the number of updates",
        )
        self.update_lag = meter.create_histogram(
            "telegram.update.lag", unit="s", description="Now minus the message date, when processing starts"
        )
        self.active = 0  # read at collection time: no metric call on the per-update path
        meter.create_observable_up_down_counter(
            "telegram.updates.active",
            callbacks=[self._observe_active],
            unit="{update}",
            description="Updates being processed right now",
        )
        self.handler_duration = meter.create_histogram(
            "telegram.handler.duration", unit="s", description="Time spent in the handler that ran"
        )
        self.api_duration = meter.create_histogram(
            "telegram.api.duration",
            unit="s",
            description="Bot API call duration; its count is the number of calls",
        )
        self.api_retry_after = meter.create_histogram(
            "telegram.api.retry_after", unit="s", description="retry_after asked by Telegram (flood control)"
        )
        self.error_types = Capped(64)
        self._attrs: dict[tuple[Any, ...], Attributes] = {}

    def _cached(self, key: tuple[Any, ...], build: Attributes) -> Attributes:
        attrs = self._attrs.get(key)
        if attrs is None:
            if len(self._attrs) >= _MAX_COMBINATIONS:
                self._attrs.clear()
            attrs = self._attrs[key] = build
        return attrs

    def _observe_active(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.active)]

    def update_started(self) -> None:
        """One more update in flight."""
        self.active += 1
        BOT.update()  # readiness: updates are arriving

    def update_finished(self, update_type: str, outcome: str, error_type: str | None, seconds: float) -> None:
        """One update and its duration; ``error_type`` only for the ``error`` outcome."""
        self.active -= 1
        error = self.error_types(error_type) if error_type else ""
        attrs = self._cached(
            ("u", update_type, outcome, error),
            {UPDATE_TYPE: update_type, UPDATE_OUTCOME: outcome, ERROR_TYPE: error}
            if error
            else {UPDATE_TYPE: update_type, UPDATE_OUTCOME: outcome},
        )
        self.update_duration.record(seconds, attrs)

    def lag(self, update_type: str, seconds: float) -> None:
        """How old the message was when its update started being processed."""
        attrs = self._cached(("l", update_type), {UPDATE_TYPE: update_type})
        self.update_lag.record(max(seconds, 0.0), attrs)

    def handler(self, handler: str, router: str, seconds: float, error_type: str | None = None) -> None:
        """Time spent in one handler; ``error_type`` when it raised."""
        error = self.error_types(error_type) if error_type else ""
        attrs = self._cached(
            ("h", handler, router, error),
            {HANDLER: handler, ROUTER: router, ERROR_TYPE: error}
            if error
            else {HANDLER: handler, ROUTER: router},
        )
        self.handler_duration.record(seconds, attrs)

    def api_call(
        self,
        method: str,
        seconds: float,
        outcome: str,
        error_code: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """One Bot API call; ``outcome`` is ``ok``, ``error``, ``network_error`` or ``cancelled``."""
        BOT.api_call(method, outcome, error_code)  # readiness: the Bot API answers, polls succeed
        code = error_code if error_code is not None and 100 <= error_code <= 599 else None
        error = self.error_types(error_type) if error_type else ""
        key = ("a", method, outcome, code, error)
        attrs = self._cached(key, _api_attributes(method, outcome, code, error))
        self.api_duration.record(seconds, attrs)
        if retry_after is not None:
            self.api_retry_after.record(retry_after, self._cached(("r", method), {API_METHOD: method}))


def _api_attributes(method: str, outcome: str, code: int | None, error: str) -> Attributes:
    attrs: Attributes = {API_METHOD: method, API_OUTCOME: outcome}
    if code is not None:
        attrs[API_ERROR_CODE] = code
    if error:
        attrs[ERROR_TYPE] = error
    return attrs


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
