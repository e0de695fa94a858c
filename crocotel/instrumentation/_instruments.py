"""The ``telegram.*`` metric instruments, shared by the aiogram, python-telegram-bot and aiohttp layers.

One set per meter provider, so every layer adds to the same series. No
instrument repeats another's count: a histogram's count is the number of
updates or calls, so there is no separate counter. Every attribute key is the
one spans use (see ``_vocabulary``); every value passed in here is already
bounded. Each combination of attributes gets one :class:`BoundHistogram`,
made on first use, so the per-update path builds no attribute dict and the
SDK hashes none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from crocotel._version import __version__
from crocotel.bound_metrics import BoundHistogram
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
        self._series: dict[tuple[Any, ...], BoundHistogram] = {}

    def _bound(self, key: tuple[Any, ...], histogram: metrics.Histogram, attrs: Attributes) -> BoundHistogram:
        """The series of ``histogram`` with ``attrs``, made once per combination (``key``)."""
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= _MAX_COMBINATIONS:
                self._series.clear()
            series = self._series[key] = BoundHistogram(histogram, attrs)
        return series

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
        key = ("u", update_type, outcome, error)
        series = self._series.get(key) or self._bound(  # made once per combination: this runs per update
            key, self.update_duration, _with_error({UPDATE_TYPE: update_type, UPDATE_OUTCOME: outcome}, error)
        )
        series.record(seconds)

    def lag(self, update_type: str, seconds: float) -> None:
        """How old the message was when its update started being processed."""
        key = ("l", update_type)
        series = self._series.get(key) or self._bound(key, self.update_lag, {UPDATE_TYPE: update_type})
        series.record(max(seconds, 0.0))

    def handler(self, handler: str, router: str, seconds: float, error_type: str | None = None) -> None:
        """Time spent in one handler; ``error_type`` when it raised."""
        error = self.error_types(error_type) if error_type else ""
        key = ("h", handler, router, error)
        series = self._series.get(key) or self._bound(
            key, self.handler_duration, _with_error({HANDLER: handler, ROUTER: router}, error)
        )
        series.record(seconds)

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
        series = self._series.get(key) or self._bound(
            key, self.api_duration, _api_attributes(method, outcome, code, error)
        )
        series.record(seconds)
        if retry_after is not None:
            self._bound(("r", method), self.api_retry_after, {API_METHOD: method}).record(retry_after)


def _api_attributes(method: str, outcome: str, code: int | None, error: str) -> Attributes:
    attrs: Attributes = {API_METHOD: method, API_OUTCOME: outcome}
    if code is not None:
        attrs[API_ERROR_CODE] = code
    return _with_error(attrs, error)


def _with_error(attrs: Attributes, error: str) -> Attributes:
    """``attrs`` with ``error.type`` when there is an error (kept out of successful series)."""
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
