"""A histogram bound to one attribute set: each record skips the SDK's per-measurement attribute work.

For every measurement the SDK cleans the attribute dict into a copy, copies it
again per stream, and hashes it (sorted into nested tuples) to find the
series; about 60% of a record's cost. crocotel's instruments record into a
few dozen attribute sets built once, so a :class:`BoundHistogram` finds its
series through the SDK once and then hands each value straight to them: the
same aggregation objects, the same exemplar filter and reservoirs, the same
locks, so what is exported does not change.

Whenever the shortcut cannot be sure of that, a record takes the SDK's own
path: the first record (which makes the series), a value the SDK would warn
about, a meter switched off, readers added or removed, a series refused by
the cardinality limit, or an SDK whose internals are not the ones this was
written against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any

from opentelemetry.metrics import Histogram, Meter, MeterProvider, get_meter_provider
from opentelemetry.sdk.metrics import Histogram as _SdkHistogram
from opentelemetry.sdk.metrics import TraceBasedExemplarFilter
from opentelemetry.trace import TraceFlags

from crocotel.code_shape import reads_only
from crocotel.current import current_context, current_span
from crocotel.exemplars import LatestPerBucket
from crocotel.span_context import FLAGS, SPAN_ID, TRACE_ID, Fields, fields_of

__all__ = ["BoundHistogram", "SeriesHistogram", "SeriesMeterProvider"]

_FIELDS = ("value", "time_unix_nano", "instrument", "context", "attributes")

try:
    from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
    from opentelemetry.sdk.metrics._internal.measurement import Measurement

    @dataclass(frozen=True)
    class _Clean(Measurement):
        """A measurement whose attributes are already clean: no copy at construction (and made by
        setting its fields in one step, see ``BoundHistogram.record``)."""

        def __post_init__(self) -> None:
            pass

    if [field.name for field in fields(_Clean)] != list(_FIELDS) or hasattr(_Clean, "__slots__"):
        raise ImportError("a Measurement of another shape")

except ImportError:  # another SDK: every record takes its own path
    _Clean = None  # type: ignore[assignment, misc]

try:
    from opentelemetry.sdk.metrics._internal.aggregation import _Aggregation

    _SDK_SAMPLE_EXEMPLAR: Any = _Aggregation._sample_exemplar
except (ImportError, AttributeError):  # another SDK: its aggregations offer their own measurements
    _SDK_SAMPLE_EXEMPLAR = object()

_new = object.__new__

_SDK_PATH: tuple[tuple[Any, LatestPerBucket | None], ...] = ()
"""Targets of a series the shortcut cannot reach: every record goes through the SDK."""


class BoundHistogram:
    """``histogram.record(value, attributes)`` with ``attributes`` fixed; never raises."""

    __slots__ = (
        "_attributes",
        "_config",
        "_filter",
        "_histogram",
        "_resolvable",
        "_storages",
        "_targets",
        "_trace_based",
    )

    def __init__(self, histogram: Histogram, attributes: dict[str, Any]) -> None:
        self._histogram: Any = histogram
        self._attributes = attributes  # never changed after this: the SDK keeps no copy of it
        self._storages: object = None
        self._targets = _SDK_PATH
        self._filter: Any = None
        self._config: Any = None
        self._trace_based = False
        self._resolvable = _Clean is not None

    def record(self, value: float) -> None:
        """Record ``value`` in the bound series."""
        try:
            histogram = self._histogram
            config = self._config
            if (
                self._targets
                and histogram._measurement_consumer._reader_storages is self._storages
                and (histogram._is_enabled() if config is None else config._config.is_enabled)
                and 0 <= value < math.inf
            ):
                context = current_context()
                now = time.time_ns()
                attributes = self._attributes
                ids: Fields | None = None
                if self._trace_based:  # the SDK's default filter, answered without its span lookup
                    ids = fields_of(current_span(context).get_span_context())
                    sample = bool(ids[FLAGS] & TraceFlags.SAMPLED)
                else:
                    sample = self._filter.should_sample(value, now, attributes, context)
                measurement = _new(_Clean)  # fields set in one step: the frozen dataclass's
                measurement.__dict__.update(  # __init__ sets them one call at a time
                    value=value,
                    time_unix_nano=now,
                    instrument=histogram,
                    context=context,
                    attributes=attributes,
                )
                for aggregation, latest in self._targets:
                    if latest is not None and sample and ids is not None:
                        # what the aggregation's reservoir would keep, with the ids found above
                        aggregation.aggregate(measurement, False)
                        latest.keep(value, now, attributes, ids[TRACE_ID], ids[SPAN_ID])
                    else:
                        aggregation.aggregate(measurement, sample)
                return
            histogram.record(value, attributes=self._attributes)
            if self._resolvable:
                self._resolve()
        except Exception:  # telemetry must never break the bot
            pass

    def _resolve(self) -> None:
        """Find the series the SDK's path has made; any doubt leaves every record on that path."""
        self._targets = _SDK_PATH
        try:
            self._histogram._is_enabled()  # the fast path asks it on every record
            consumer = self._histogram._measurement_consumer
            storages = consumer._reader_storages
            exemplar_filter = consumer._sdk_config.exemplar_filter
            targets = []
            for storage in storages.values():
                for match in storage._get_or_init_view_instrument_match(self._histogram):
                    keys = match._view._attribute_keys
                    attributes = self._attributes
                    if keys is not None:
                        attributes = {k: v for k, v in attributes.items() if k in keys}
                    aggregation = dict.get(match._attributes_aggregation, _hash_attributes(attributes))
                    if aggregation is None:  # refused by the cardinality limit: the SDK path counts it
                        return
                    targets.append((aggregation, _latest_of(aggregation)))
        except Exception:  # not the SDK's histogram, or its internals changed: never try again
            self._resolvable = False
            return
        self._storages = storages
        self._config = _meter_config_of(self._histogram)
        self._filter = exemplar_filter
        self._trace_based = type(exemplar_filter) is TraceBasedExemplarFilter
        self._targets = tuple(targets)


class _On:
    """Stands for an instrument without a meter configuration, which the SDK treats as enabled."""

    class _config:  # read as the proxy's field is
        is_enabled = True


def _meter_config_of(histogram: Any) -> Any:
    """What answers ``histogram._is_enabled()`` in two attribute reads (``._config.is_enabled``)
    when the SDK's check has the shape read here, else None (the check is called)."""
    if not reads_only(getattr(type(histogram), "_is_enabled", None), ("_meter_config", "is_enabled")):
        return None
    proxy = histogram._meter_config
    if proxy is None:
        return _On
    getter = getattr(getattr(type(proxy), "is_enabled", None), "fget", None)
    plain = reads_only(getter, ("_config", "is_enabled"))
    return proxy if plain and hasattr(proxy, "_config") else None


def _latest_of(aggregation: Any) -> LatestPerBucket | None:
    """The aggregation's reservoir when it is crocotel's and the aggregation offers it measurements
    the SDK's way (so a bound record may hand it the ids it already has); else None."""
    reservoir = getattr(aggregation, "_reservoir", None)
    offers = getattr(type(aggregation), "_sample_exemplar", None)
    return reservoir if type(reservoir) is LatestPerBucket and offers is _SDK_SAMPLE_EXEMPLAR else None


_MAX_SERIES = 256
"""Attribute sets one :class:`SeriesHistogram` binds; records with others take the SDK's path."""


class SeriesHistogram:
    """An instrumentation's histogram whose records find their series without the SDK's attribute work.

    HTTP instrumentations record one duration per request with a fresh attribute dict of a
    few strings and numbers, drawn from a handful of combinations. Each combination (its
    keys, values and value types, in order) gets a :class:`BoundHistogram` the first time it
    is seen; records with a context of their own, odd values or more than ``_MAX_SERIES``
    combinations take the SDK's path. Anything else the instrument offers is the SDK's.
    """

    __slots__ = ("_histogram", "_series")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram: Any = histogram
        self._series: dict[tuple[Any, ...], BoundHistogram] = {}

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        """Record ``amount`` in the series of ``attributes``."""
        if context is None and attributes.__class__ is dict:
            try:
                key = (*attributes.items(), *map(type, attributes.values()))
                series = self._series.get(key)
                if series is None:
                    series = self._bind(key, attributes)
                if series is not None:
                    series.record(amount)
                    return
            except TypeError:  # an unhashable value: the SDK cleans or refuses it
                pass
        self._histogram.record(amount, attributes, context)

    def _bind(self, key: tuple[Any, ...], attributes: dict[str, Any]) -> BoundHistogram | None:
        """A series for a new combination of plain values; None past the bound or for anything else."""
        if len(self._series) >= _MAX_SERIES:
            return None
        for name, value in attributes.items():
            if name.__class__ is not str or value.__class__ not in _PLAIN:
                return None
        series = self._series[key] = BoundHistogram(self._histogram, dict(attributes))
        return series

    def __getattr__(self, name: str) -> Any:
        return getattr(self._histogram, name)


_PLAIN = frozenset({str, int, float, bool})
"""Attribute value types the SDK keeps as they are."""


class _SeriesMeter:
    """A meter whose histograms are :class:`SeriesHistogram` (for the SDK's histograms); the rest
    is the meter's own."""

    def __init__(self, meter: Any) -> None:
        self._meter = meter

    def create_histogram(self, *args: Any, **kwargs: Any) -> Any:
        histogram = self._meter.create_histogram(*args, **kwargs)
        return SeriesHistogram(histogram) if isinstance(histogram, _SdkHistogram) else histogram

    def __getattr__(self, name: str) -> Any:
        return getattr(self._meter, name)


class SeriesMeterProvider(MeterProvider):
    """Hands an instrumentation meters of the global (or given) provider whose histograms are
    :class:`SeriesHistogram`: for the per-request durations HTTP instrumentations record."""

    def __init__(self, inner: MeterProvider | None = None) -> None:
        self._inner = inner

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> Meter:
        provider = self._inner if self._inner is not None else get_meter_provider()
        meter: Meter = _SeriesMeter(provider.get_meter(name, version, schema_url, attributes))  # type: ignore[assignment]
        return meter
