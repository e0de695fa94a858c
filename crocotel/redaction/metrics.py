"""Redaction for metrics: the OTLP exporter wrapper and the Prometheus output.

Metric attributes should be bounded sets from code, but a handler name or an
error label can still carry user text; this is the last line of defence.
For Prometheus, either filter families with :func:`redact_families` or
register a :class:`RedactingCollector` around the collector (or a private
``CollectorRegistry``) that the ``PrometheusMetricReader`` fills.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.sdk.metrics.export import Metric as OtelMetric
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar, Sample

from crocotel.redaction._common import ResourceCache
from crocotel.redaction.engine import Redactor

__all__ = ["RedactingCollector", "RedactingMetricExporter", "redact_families"]

_log = logging.getLogger(__name__)
_SIGNAL = "metrics"


class RedactingMetricExporter(MetricExporter):
    """Passes redacted copies of metrics data (point and exemplar attributes, resource) to ``inner``."""

    def __init__(self, inner: MetricExporter, redactor: Redactor) -> None:
        super().__init__(
            preferred_temporality=getattr(inner, "_preferred_temporality", None),
            preferred_aggregation=getattr(inner, "_preferred_aggregation", None),
        )
        self._inner = inner
        self._redactor = redactor
        self._resources = ResourceCache(redactor, _SIGNAL)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Redact, then export through ``inner``."""
        return self._inner.export(self.redact(metrics_data), timeout_millis=timeout_millis, **kwargs)

    def redact(self, data: MetricsData) -> MetricsData:
        """The redacted copy of ``data`` (``data`` itself when clean)."""
        resource_metrics = _map(data.resource_metrics, self._resource_metrics)
        if resource_metrics is data.resource_metrics:
            return data
        return MetricsData(resource_metrics=resource_metrics)

    def _resource_metrics(self, item: ResourceMetrics) -> ResourceMetrics | None:
        resource = self._resources.get(item.resource)
        scopes = _map(item.scope_metrics, self._scope_metrics)
        if resource is item.resource and scopes is item.scope_metrics:
            return item
        return dataclasses.replace(item, resource=resource, scope_metrics=scopes)

    def _scope_metrics(self, item: ScopeMetrics) -> ScopeMetrics | None:
        metrics = _map(item.metrics, self._metric)
        return item if metrics is item.metrics else dataclasses.replace(item, metrics=metrics)

    def _metric(self, metric: OtelMetric) -> OtelMetric | None:
        """A metric whose points could not be redacted is dropped, never passed on."""
        try:
            points = _map(metric.data.data_points, self._point)
            if points is metric.data.data_points:
                return metric
            data: Any = metric.data
            return dataclasses.replace(metric, data=dataclasses.replace(data, data_points=points))
        except Exception:
            self._redactor.count("error", _SIGNAL)
            _log.debug("dropped a metric that could not be redacted", exc_info=True)
            return None

    def _point(self, point: Any) -> Any:
        attrs = self._redactor.attributes(point.attributes, _SIGNAL)
        exemplars = _map(point.exemplars, self._exemplar)
        if attrs is point.attributes and exemplars is point.exemplars:
            return point
        return dataclasses.replace(point, attributes=attrs, exemplars=exemplars)

    def _exemplar(self, exemplar: Any) -> Any:
        attrs = self._redactor.attributes(exemplar.filtered_attributes, _SIGNAL)
        if attrs is exemplar.filtered_attributes:
            return exemplar
        return dataclasses.replace(exemplar, filtered_attributes=attrs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush ``inner``."""
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut down ``inner``."""
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def _map(items: Sequence[Any], func: Any) -> Sequence[Any]:
    """Apply ``func`` to each item (None drops it); ``items`` itself if nothing changed."""
    out = []
    changed = False
    for item in items:
        new = func(item)
        changed = changed or new is not item
        if new is not None:
            out.append(new)
    return out if changed else items


def redact_families(families: Iterable[Metric], redactor: Redactor) -> Iterator[Metric]:
    """Yield the families with sample and exemplar label values redacted.

    A family that cannot be redacted is left out.
    """
    for family in families:
        try:
            yield _family(family, redactor)
        except Exception:
            redactor.count("error", _SIGNAL)
            _log.debug("dropped a metric family that could not be redacted", exc_info=True)


def _family(family: Metric, redactor: Redactor) -> Metric:
    samples = [_sample(sample, redactor) for sample in family.samples]
    if all(new is old for new, old in zip(samples, family.samples, strict=True)):
        return family
    redacted = copy.copy(family)
    redacted.samples = samples
    return redacted


def _sample(sample: Sample, redactor: Redactor) -> Sample:
    labels = _labels(sample.labels, redactor)
    exemplar = sample.exemplar if sample.exemplar is None else _exemplar(sample.exemplar, redactor)
    native = sample.native_histogram
    if native is not None and native.nh_exemplars:
        exemplars = [_exemplar(item, redactor) for item in native.nh_exemplars]
        if any(new is not old for new, old in zip(exemplars, native.nh_exemplars, strict=True)):
            native = native._replace(nh_exemplars=exemplars)
    if labels is sample.labels and exemplar is sample.exemplar and native is sample.native_histogram:
        return sample
    return sample._replace(labels=labels, exemplar=exemplar, native_histogram=native)


def _exemplar(exemplar: Exemplar, redactor: Redactor) -> Exemplar:
    labels = _labels(exemplar.labels, redactor)
    return exemplar if labels is exemplar.labels else exemplar._replace(labels=labels)


def _labels(labels: dict[str, str], redactor: Redactor) -> dict[str, str]:
    """Label values stay strings, as the exposition format needs."""
    redacted: Mapping[str, Any] | None = redactor.attributes(labels, _SIGNAL)
    if redacted is labels or redacted is None:
        return labels
    return {key: value if isinstance(value, str) else str(value) for key, value in redacted.items()}


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class RedactingCollector:
    """A prometheus_client collector that redacts what ``inner`` collects.

    ``inner`` is any object with ``collect()``: a collector or a ``CollectorRegistry``.
    """

    def __init__(self, inner: _Collector, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def collect(self) -> Iterator[Metric]:
        """The inner families, redacted."""
        return redact_families(self._inner.collect(), self._redactor)

    def describe(self) -> Iterable[Metric]:
        """The inner description when it has one; else nothing, so registering does not collect."""
        describe = getattr(self._inner, "describe", None)
        return describe() if callable(describe) else []
