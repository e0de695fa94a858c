"""A cardinality limit on every metric stream in the process, with a visible overflow series.

opentelemetry-sdk 1.45 has no cardinality limit: each new attribute set makes
a new series and keeps it forever, so one unbounded label (a user id, a message
text) grows memory and ``/metrics`` without end. The specification's answer is
a per-stream limit: past it, measurements go to one series carrying
``otel.metric.overflow=true``, so totals stay right and memory stays bounded.

The guard swaps the dict that holds a stream's series (one per instrument and
reader) for :class:`_Series`, a dict that refuses new keys once full and
answers unknown keys with the overflow series. The SDK's fast path (an existing
series) is a plain dict lookup as before; only a stream that overflowed pays
one Python call per measurement. How many measurements were folded into the
overflow series is counted per instrument for ``crocotel.metrics.overflow``.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["DEFAULT_LIMIT", "OVERFLOW_ATTRIBUTES", "CardinalityGuard"]

DEFAULT_LIMIT = 2000
"""Series per metric stream, the overflow series included (the specification's default)."""

OVERFLOW_ATTRIBUTES: dict[str, Any] = {"otel.metric.overflow": True}
_OVERFLOW = "crocotel.overflow"  # the overflow series' key: a str never collides with the SDK's tuple keys


class _Series(dict):  # type: ignore[type-arg]
    """A stream's series (attribute key -> aggregation), bounded at ``limit`` entries."""

    guard: CardinalityGuard
    limit: int
    overflowed: int

    def __setitem__(self, key: Any, aggregation: Any) -> None:
        if len(self) < self.limit - 1:
            dict.__setitem__(self, key, aggregation)
            return
        with self.guard.lock:
            if _OVERFLOW not in self:
                aggregation._attributes = OVERFLOW_ATTRIBUTES  # the aggregation just made becomes it
                dict.__setitem__(self, _OVERFLOW, aggregation)
                self.__class__ = _FullSeries  # from now on new keys are not even created

    def __missing__(self, key: Any) -> Any:
        """A key that was refused: the measurement goes to the overflow series, and is counted."""
        self.overflowed += 1  # under the GIL; an exact count is not worth a lock per measurement
        return dict.__getitem__(self, _OVERFLOW)


class _FullSeries(_Series):
    """A stream at its limit: every key "exists", so the SDK never builds a series it would drop."""

    def __contains__(self, key: object) -> bool:
        return True


class CardinalityGuard:
    """Installs the limit on every metric stream created from now on, in any meter provider."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 2:
            raise ValueError("the limit counts the overflow series: it must be at least 2")
        self.limit = limit
        self.lock = threading.Lock()
        self._streams: list[tuple[str, _Series]] = []
        self._original: Any = None

    def install(self) -> None:
        """Bound the streams the SDK creates after this call; idempotent."""
        from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim

        if self._original is not None:
            return
        cls = vim._ViewInstrumentMatch
        original = cls.__init__
        guard = self

        def bounded_init(match: Any, *args: Any, **kwargs: Any) -> None:
            original(match, *args, **kwargs)
            guard._bound(match)

        self._original = original
        bounded_init.__wrapped__ = original  # type: ignore[attr-defined]
        cls.__init__ = bounded_init  # type: ignore[method-assign, assignment]

    def uninstall(self) -> None:
        """Restore the SDK's class exactly; streams already bounded stay bounded."""
        from opentelemetry.sdk.metrics._internal import _view_instrument_match as vim

        if self._original is not None:
            vim._ViewInstrumentMatch.__init__ = self._original  # type: ignore[method-assign]
            self._original = None

    def _bound(self, match: Any) -> None:
        try:
            series = _Series(match._attributes_aggregation)
            series.guard = self
            series.limit = self.limit
            series.overflowed = 0
            match._attributes_aggregation = series
            with self.lock:
                self._streams.append((str(match._name), series))
        except Exception:  # an SDK that changed shape: run unguarded rather than break metrics
            pass

    def overflowed(self) -> dict[str, int]:
        """Measurements folded into the overflow series, per instrument name.

        Each reader has its own stream of an instrument and sees every
        measurement, so the largest count per name is the number of measurements.
        """
        counts: dict[str, int] = {}
        with self.lock:
            streams = list(self._streams)
        for name, series in streams:
            if series.overflowed:
                counts[name] = max(counts.get(name, 0), series.overflowed)
        return counts
