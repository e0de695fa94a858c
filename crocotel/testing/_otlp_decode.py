"""Turning OTLP export requests into small, flat Python records for assertions.

Tests want "the span named X has attribute Y", not three levels of protobuf
nesting, so each span, log record and metric is flattened together with its
resource and scope, ids become lower-case hex and AnyValues become plain
Python values (str, bool, int, float, bytes, list, dict or None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

Attributes = dict[str, object]
"""Decoded key-values; nested kvlists become nested dicts."""

MetricPoint = tuple[Attributes, object]
"""One data point: its attributes and its value (a number, or a dict for distributions)."""


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as received, with its resource and scope."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: Attributes
    events: list[tuple[str, Attributes]]
    status_code: int
    status_message: str
    resource: Attributes
    scope: str
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    links: list[tuple[str, str, Attributes]] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float:
        """End minus start, in seconds."""
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e9


@dataclass(frozen=True)
class ReceivedLog:
    """One log record as received, with its resource and scope."""

    body: object
    severity_text: str
    severity_number: int
    trace_id: str
    span_id: str
    attributes: Attributes
    resource: Attributes
    scope: str
    time_unix_nano: int = 0
    event_name: str = ""


@dataclass(frozen=True)
class ReceivedMetric:
    """One metric of one export, with its points, resource and scope.

    ``kind`` is ``sum``, ``gauge``, ``histogram``, ``exponential_histogram``,
    ``summary`` or ``empty``. ``temporality`` is the AggregationTemporality
    number (0 for gauges and summaries); ``monotonic`` is set for sums only.
    """

    name: str
    unit: str
    kind: str
    points: list[MetricPoint]
    description: str = ""
    resource: Attributes = field(default_factory=dict)
    scope: str = ""
    temporality: int = 0
    monotonic: bool | None = None


def any_value(value: AnyValue) -> object:
    """An OTLP AnyValue as a plain Python value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bytes_value":
        return value.bytes_value
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "string_value_strindex":
        return value.string_value_strindex
    return None


def attributes(pairs: Iterable[KeyValue]) -> Attributes:
    """Repeated KeyValue as a dict; a repeated key keeps its last value."""
    return {pair.key: any_value(pair.value) for pair in pairs}


def spans_of(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Every span in one export request, in order."""
    found: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                found.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        attributes=attributes(span.attributes),
                        events=[(event.name, attributes(event.attributes)) for event in span.events],
                        status_code=span.status.code,
                        status_message=span.status.message,
                        resource=resource,
                        scope=scope,
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        links=[
                            (link.trace_id.hex(), link.span_id.hex(), attributes(link.attributes))
                            for link in span.links
                        ],
                    )
                )
    return found


def logs_of(request: ExportLogsServiceRequest) -> list[ReceivedLog]:
    """Every log record in one export request, in order."""
    found: list[ReceivedLog] = []
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                found.append(
                    ReceivedLog(
                        body=any_value(record.body),
                        severity_text=record.severity_text,
                        severity_number=record.severity_number,
                        trace_id=record.trace_id.hex(),
                        span_id=record.span_id.hex(),
                        attributes=attributes(record.attributes),
                        resource=resource,
                        scope=scope,
                        time_unix_nano=record.time_unix_nano,
                        event_name=record.event_name,
                    )
                )
    return found


def _number(point: NumberDataPoint) -> MetricPoint:
    kind = point.WhichOneof("value")
    value: object = point.as_int if kind == "as_int" else point.as_double if kind == "as_double" else None
    return attributes(point.attributes), value


def _histogram(point: HistogramDataPoint) -> MetricPoint:
    return attributes(point.attributes), {
        "count": point.count,
        "sum": point.sum if point.HasField("sum") else None,
        "bounds": list(point.explicit_bounds),
        "bucket_counts": list(point.bucket_counts),
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
    }


def _exponential(point: ExponentialHistogramDataPoint) -> MetricPoint:
    return attributes(point.attributes), {
        "count": point.count,
        "sum": point.sum if point.HasField("sum") else None,
        "scale": point.scale,
        "zero_count": point.zero_count,
        "positive": {"offset": point.positive.offset, "bucket_counts": list(point.positive.bucket_counts)},
        "negative": {"offset": point.negative.offset, "bucket_counts": list(point.negative.bucket_counts)},
        "min": point.min if point.HasField("min") else None,
        "max": point.max if point.HasField("max") else None,
    }


def _summary(point: SummaryDataPoint) -> MetricPoint:
    return attributes(point.attributes), {
        "count": point.count,
        "sum": point.sum,
        "quantiles": [(q.quantile, q.value) for q in point.quantile_values],
    }


def _metric(metric: Metric, resource: Attributes, scope: str) -> ReceivedMetric:
    kind = metric.WhichOneof("data")
    points: list[MetricPoint] = []
    temporality = 0
    monotonic: bool | None = None
    if kind == "sum":
        points = [_number(p) for p in metric.sum.data_points]
        temporality = metric.sum.aggregation_temporality
        monotonic = metric.sum.is_monotonic
    elif kind == "gauge":
        points = [_number(p) for p in metric.gauge.data_points]
    elif kind == "histogram":
        points = [_histogram(p) for p in metric.histogram.data_points]
        temporality = metric.histogram.aggregation_temporality
    elif kind == "exponential_histogram":
        points = [_exponential(p) for p in metric.exponential_histogram.data_points]
        temporality = metric.exponential_histogram.aggregation_temporality
    elif kind == "summary":
        points = [_summary(p) for p in metric.summary.data_points]
    return ReceivedMetric(
        name=metric.name,
        unit=metric.unit,
        kind=kind or "empty",
        points=points,
        description=metric.description,
        resource=resource,
        scope=scope,
        temporality=temporality,
        monotonic=monotonic,
    )


def metrics_of(request: ExportMetricsServiceRequest) -> list[ReceivedMetric]:
    """Every metric in one export request, in order."""
    found: list[ReceivedMetric] = []
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            found.extend(_metric(metric, resource, scope) for metric in scope_metrics.metrics)
    return found
