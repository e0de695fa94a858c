"""The SDK's metrics as Prometheus families, with trace exemplars.

The upstream ``PrometheusMetricReader`` drops the exemplars the SDK collects
(its exemplar support is an open pull request), so a latency spike on a
dashboard cannot lead to its trace. :class:`ExpositionReader` is a pull reader
whose collector turns each collection into prometheus_client families, with the
sampled span's ``trace_id`` and ``span_id`` on histogram buckets and counters;
prometheus_client renders them in the OpenMetrics format (the text format has
no exemplars and leaves them out).

Names follow the OpenTelemetry-to-Prometheus rules as the upstream exporter
applies them (``telegram.update.duration`` in ``s`` becomes
``telegram_update_duration_seconds``; counters get ``_total``); a test checks
both give the same names. Labels from instrumentation scope are kept, empty
ones left out (Prometheus treats an empty label as absent). Label dicts are
cached per series between scrapes, so a scrape of 10k series builds few objects.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    MetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar, Sample

__all__ = ["ExpositionCollector", "ExpositionReader", "label_name", "metric_name", "unit_suffix"]

_NAME_INVALID = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"{.*}")
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}  # fmt: skip
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def metric_name(name: str) -> str:
    """A Prometheus metric name for an instrument name (invalid runs become ``_``)."""
    if name and name[0].isdigit():
        name = "_" + name[1:]
    return _NAME_INVALID.sub("_", name)


def label_name(key: str) -> str:
    """A Prometheus label name for an attribute key (``telegram.api.method`` -> ``telegram_api_method``)."""
    if key and key[0].isdigit():
        key = "_" + key[1:]
    return _LABEL_INVALID.sub("_", key)


def unit_suffix(unit: str) -> str:
    """The name suffix for a UCUM unit: ``s`` -> ``seconds``, ``By`` -> ``bytes``, ``{update}`` -> ``""``."""
    unit = _ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    if slash:
        bottom = _NAME_INVALID.sub("_", bottom)
        if bottom:
            top = _NAME_INVALID.sub("_", top)
            top = _UNITS.get(top, top)
            bottom = _PER_UNITS.get(bottom, bottom)
            return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _NAME_INVALID.sub("_", unit).strip("_")


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _exemplar(exemplar: Any) -> Exemplar | None:
    """An OpenMetrics exemplar for an SDK exemplar recorded in a sampled span; else None."""
    trace_id, span_id = exemplar.trace_id, exemplar.span_id
    if not trace_id or not span_id:
        return None
    return Exemplar(
        {"trace_id": f"{trace_id:032x}", "span_id": f"{span_id:016x}"},
        exemplar.value,
        exemplar.time_unix_nano / 1e9,
    )


def _latest(exemplars: Sequence[Any]) -> Exemplar | None:
    if not exemplars:
        return None
    return _exemplar(max(exemplars, key=lambda e: e.time_unix_nano))


class _Labels:
    """Label dicts per series, kept for two scrapes so that series that vanish are forgotten."""

    def __init__(self) -> None:
        self._now: dict[int, tuple[object, object, dict[str, str]]] = {}
        self._before: dict[int, tuple[object, object, dict[str, str]]] = {}

    def turn(self) -> None:
        """Start a new scrape: what was not used during the last one is dropped."""
        self._before, self._now = self._now, {}

    def get(self, attributes: Mapping[str, Any], scope: object, base: dict[str, str]) -> dict[str, str]:
        """The labels of one series: scope labels, then its attributes, keys sanitized."""
        key = id(attributes)
        found = self._now.get(key) or self._before.get(key)
        if found is not None and found[0] is attributes and found[1] is scope:
            self._now[key] = found
            return found[2]
        labels = dict(base)
        for name, value in attributes.items():
            labels[label_name(name)] = _label_value(value)
        self._now[key] = (attributes, scope, labels)
        return labels


class _Buckets:
    """The ``le`` label dicts of one series' buckets, kept like :class:`_Labels`."""

    def __init__(self) -> None:
        self._now: dict[tuple[int, int], tuple[object, object, list[dict[str, str]]]] = {}
        self._before: dict[tuple[int, int], tuple[object, object, list[dict[str, str]]]] = {}

    def turn(self) -> None:
        self._before, self._now = self._now, {}

    def get(self, labels: dict[str, str], bounds: Sequence[float]) -> list[dict[str, str]]:
        key = (id(labels), id(bounds))
        found = self._now.get(key) or self._before.get(key)
        if found is not None and found[0] is labels and found[1] is bounds:
            self._now[key] = found
            return found[2]
        made = [{**labels, "le": _le(bound)} for bound in bounds]
        made.append({**labels, "le": "+Inf"})
        self._now[key] = (labels, bounds, made)
        return made


def _le(bound: float) -> str:
    """Bucket bounds as prometheus_client writes them (``0.005``, ``1.0``, ``60.0``)."""
    return repr(float(bound))


def _is_counter(data: Any) -> bool:
    """Monotonic cumulative sums are counters; others become gauges (the compatibility spec)."""
    return bool(data.is_monotonic) and data.aggregation_temporality == AggregationTemporality.CUMULATIVE


class ExpositionCollector:
    """A prometheus_client collector over the SDK's latest collection, exemplars included."""

    def __init__(self, collect: Callable[[], MetricsData | None], target_info: bool = True) -> None:
        self._collect = collect
        self._target_info = target_info
        self._labels = _Labels()
        self._buckets = _Buckets()
        self._lock = threading.Lock()
        self._scopes: dict[int, tuple[object, dict[str, str]]] = {}

    def collect(self) -> Iterator[Metric]:
        """Collect from the SDK now and yield the families; one collection at a time."""
        with self._lock:
            data = self._collect()
            if data is None:
                return iter(())
            self._labels.turn()
            self._buckets.turn()
            return iter(self._families(data))

    def describe(self) -> Iterable[Metric]:
        """Nothing: registering must not collect."""
        return ()

    def _scope_labels(self, scope: Any) -> dict[str, str]:
        found = self._scopes.get(id(scope))
        if found is not None and found[0] is scope:
            return found[1]
        labels = {"otel_scope_name": scope.name or ""}
        if scope.version:
            labels["otel_scope_version"] = scope.version
        if scope.schema_url:
            labels["otel_scope_schema_url"] = scope.schema_url
        for key, value in (scope.attributes or {}).items():
            labels[label_name("otel_scope_" + key)] = _label_value(value)
        if len(self._scopes) > 256:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, labels)
        return labels

    def _families(self, data: MetricsData) -> list[Metric]:
        families: dict[tuple[str, str], Metric] = {}
        out: list[Metric] = []
        for resource_metrics in data.resource_metrics:
            if self._target_info and not out:
                out.append(_target_info(resource_metrics.resource.attributes))
            for scope_metrics in resource_metrics.scope_metrics:
                scope = scope_metrics.scope
                base = self._scope_labels(scope)
                for metric in scope_metrics.metrics:
                    self._add(families, out, metric, scope, base)
        return out

    def _add(
        self,
        families: dict[tuple[str, str], Metric],
        out: list[Metric],
        metric: Any,
        scope: object,
        base: dict[str, str],
    ) -> None:
        data = metric.data
        name = metric_name(metric.name)
        unit = unit_suffix(metric.unit or "")
        if isinstance(data, Sum) and _is_counter(data):
            kind: Any = CounterMetricFamily
        elif isinstance(data, (Sum, Gauge)):
            kind = GaugeMetricFamily
        elif isinstance(data, HistogramData):
            kind = HistogramMetricFamily
        else:
            return  # exponential histograms: not in the text formats
        key = (name, kind.__name__)
        family = families.get(key)
        if family is None:
            family = kind(name, metric.description or "", unit=unit)
            families[key] = family
            out.append(family)
        samples = family.samples
        labels_of = self._labels.get
        if kind is HistogramMetricFamily:
            for point in data.data_points:
                self._histogram(samples, family.name, labels_of(point.attributes, scope, base), point)
        elif kind is CounterMetricFamily:
            total = family.name + "_total"
            for point in data.data_points:
                labels = labels_of(point.attributes, scope, base)
                samples.append(Sample(total, labels, point.value, None, _latest(point.exemplars)))
        else:
            for point in data.data_points:
                samples.append(Sample(family.name, labels_of(point.attributes, scope, base), point.value))

    def _histogram(
        self, samples: list[Sample], name: str, labels: dict[str, str], point: HistogramDataPoint
    ) -> None:
        bounds = point.explicit_bounds
        exemplars: dict[int, Exemplar] = {}
        for exemplar in point.exemplars:
            made = _exemplar(exemplar)
            if made is not None:
                exemplars[bisect.bisect_left(bounds, exemplar.value)] = made
        bucket = name + "_bucket"
        running = 0
        get = exemplars.get
        for index, (count, le_labels) in enumerate(
            zip(point.bucket_counts, self._buckets.get(labels, bounds), strict=True)
        ):
            running += count
            samples.append(Sample(bucket, le_labels, running, None, get(index)))
        samples.append(Sample(name + "_count", labels, point.count))
        samples.append(Sample(name + "_sum", labels, point.sum))


def _target_info(attributes: Mapping[str, Any]) -> InfoMetricFamily:
    labels = {label_name(key): _label_value(value) for key, value in attributes.items()}
    return InfoMetricFamily("target", "Target metadata", value=labels)


class ExpositionReader(MetricReader):
    """A pull reader for ``/metrics``: cumulative, collected when scraped, with exemplars."""

    def __init__(self) -> None:
        cumulative = AggregationTemporality.CUMULATIVE
        super().__init__(
            preferred_temporality={
                Counter: cumulative,
                UpDownCounter: cumulative,
                Histogram: cumulative,
                ObservableCounter: cumulative,
                ObservableUpDownCounter: cumulative,
                ObservableGauge: cumulative,
            }
        )
        self._latest: MetricsData | None = None
        self.collector = ExpositionCollector(self._pull)

    def _pull(self) -> MetricsData | None:
        self._latest = None
        self.collect()
        data, self._latest = self._latest, None
        return data

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._latest = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Nothing to release: the server owns the registry."""
