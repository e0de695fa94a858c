"""crocotel's exemplar reservoir gives the exemplars the SDK's aligned-bucket reservoir gives.

The same offers (values on, between and past the bucket bounds, in sampled and unsampled
spans, with attributes the point has and has not) go to both; each collection must be equal,
exemplar for exemplar. Then the views: every crocotel histogram view keeps its exemplars this
way, and /metrics-bound data from a whole meter provider still carries the trace ids.
"""

from __future__ import annotations

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.metrics import (
    AlignedHistogramBucketExemplarReservoir,
    AlwaysOnExemplarFilter,
    MeterProvider,
    SimpleFixedSizeExemplarReservoir,
)
from opentelemetry.sdk.metrics._internal.aggregation import (
    _ExplicitBucketHistogramAggregation,
    _SumAggregation,
)
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from crocotel import metrics
from crocotel.exemplars import LatestPerBucket, reservoir_factory

BOUNDS = (0.005, 0.01, 0.1, 1.0)
SAMPLED = trace.set_span_in_context(TracerProvider().get_tracer("t").start_span("a"))
OTHER = trace.set_span_in_context(TracerProvider().get_tracer("t").start_span("b"))
UNSAMPLED = trace.set_span_in_context(TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_span("c"))
POINT = {"telegram.api.method": "sendMessage"}
# (value, context, attributes): on a bound, between bounds, past the last, the same bucket twice
OFFERS = [
    (0.005, SAMPLED, POINT),
    (0.004, OTHER, {**POINT, "extra": "x"}),
    (0.05, UNSAMPLED, POINT),
    (0.1, SAMPLED, None),
    (1.0, OTHER, {"extra": 1}),
    (7.5, SAMPLED, POINT),
    (0.07, SAMPLED, {**POINT, "extra": True}),
    (0.0, OTHER, {}),
]


def test_the_same_exemplars_as_the_sdks_aligned_reservoir() -> None:
    ours, theirs = LatestPerBucket(boundaries=BOUNDS), AlignedHistogramBucketExemplarReservoir(BOUNDS)
    for _ in range(2):  # each collection starts afresh
        for n, (value, context, attributes) in enumerate(OFFERS):
            for reservoir in (ours, theirs):
                reservoir.offer(value, 1_000 + n, attributes, context)
        mine = ours.collect(POINT)
        assert mine == theirs.collect(POINT)
        assert [e.value for e in mine] == [0.0, 0.07, 1.0, 7.5]  # the latest of each bucket offered to
        assert ours.collect(POINT) == [] == theirs.collect(POINT)


def test_an_offer_with_no_span_has_no_ids() -> None:
    reservoir = LatestPerBucket(boundaries=BOUNDS)
    reservoir.offer(0.5, 1, POINT, context_api.Context())
    (exemplar,) = reservoir.collect(POINT)
    assert (exemplar.trace_id, exemplar.span_id, exemplar.filtered_attributes) == (None, None, {})


def test_views_use_it_for_explicit_buckets_and_the_sdk_default_otherwise() -> None:
    assert reservoir_factory(_ExplicitBucketHistogramAggregation) is LatestPerBucket
    assert reservoir_factory(_SumAggregation) is SimpleFixedSizeExemplarReservoir
    assert all(view._exemplar_reservoir_factory is reservoir_factory for view in metrics.views())


def test_a_provider_with_crocotels_views_exports_the_latest_sampled_exemplar_per_bucket() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=metrics.views())
    histogram = provider.get_meter("m").create_histogram("telegram.api.duration", unit="s")
    span = trace.get_current_span(SAMPLED).get_span_context()
    for value, context in ((0.03, OTHER), (0.035, SAMPLED), (0.04, UNSAMPLED), (2.0, SAMPLED)):
        token = context_api.attach(context)
        try:
            histogram.record(value, {"telegram.api.method": "getMe"})
        finally:
            context_api.detach(token)
    data = reader.get_metrics_data()
    assert data is not None
    (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert point.count == 4
    got = [(e.value, e.trace_id, e.span_id, e.filtered_attributes) for e in point.exemplars]
    # one bucket (0.025, 0.05]: the unsampled span's value is not offered (trace-based filter)
    assert got == [(0.035, span.trace_id, span.span_id, {}), (2.0, span.trace_id, span.span_id, {})]
    always = InMemoryMetricReader()
    everything = MeterProvider(
        metric_readers=[always], views=metrics.views(), exemplar_filter=AlwaysOnExemplarFilter()
    )
    everything.get_meter("m").create_histogram("h", unit="ms").record(3.0)
    exported = always.get_metrics_data()
    assert exported is not None
    (only,) = exported.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert [(e.value, e.trace_id) for e in only.exemplars] == [(3.0, None)]
