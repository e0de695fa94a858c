"""A bound histogram exports exactly what the SDK's own record path exports, and takes its shortcut.

Each scenario records the same values, in the same span contexts, once with
``histogram.record(value, attributes)`` and once through a
:class:`BoundHistogram`, into two identical meter providers, and compares
every data point field by field (timestamps aside): counts, sums, bounds,
buckets and exemplars with their trace ids and filtered attributes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import AlwaysOnExemplarFilter, Histogram, MeterProvider
from opentelemetry.sdk.metrics._internal import _disable_meter_configurator
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import DropAggregation, ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from crocotel.bound_metrics import BoundHistogram
from crocotel.cardinality import CardinalityGuard
from crocotel.exemplars import LatestPerBucket, reservoir_factory

ATTRS = {"telegram.api.method": "sendMessage", "telegram.api.outcome": "ok", "telegram.api.error_code": 0}
VALUES = [0.004, 0.02, 0.3, 1.5, 0.0, 7, 12.0, 0.02]
# one sampled span, one that is not, no span: the same three contexts for both paths
CONTEXTS = [
    trace.set_span_in_context(TracerProvider().get_tracer("t").start_span("call")),
    trace.set_span_in_context(TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_span("call")),
    None,
]


def readers() -> list[InMemoryMetricReader]:
    return [
        InMemoryMetricReader(),
        InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA}),
    ]


def points(reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    """Every data point the reader collects, without its timestamps."""
    data = reader.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    fields = {f.name: getattr(point, f.name) for f in dataclasses.fields(point)}
                    fields = {k: v for k, v in fields.items() if "time" not in k}
                    fields["exemplars"] = [
                        (e.value, e.span_id, e.trace_id, dict(e.filtered_attributes or {}))
                        for e in fields.get("exemplars", ())
                    ]
                    fields["attributes"] = dict(point.attributes)
                    out.append({"metric": metric.name, **fields})
    return sorted(out, key=repr)


@contextmanager
def current(context: context_api.Context | None) -> Iterator[None]:
    if context is None:
        yield
        return
    token = context_api.attach(context)
    try:
        yield
    finally:
        context_api.detach(token)


Scenario = Callable[[Callable[[float], None]], None]


def compare(
    make_provider: Callable[[list[InMemoryMetricReader]], MeterProvider], play: Scenario
) -> BoundHistogram:
    """Play the scenario through both paths; their exports must be equal. Returns the bound histogram."""
    plain_readers, bound_readers = readers(), readers()
    plain = make_provider(plain_readers).get_meter("m").create_histogram("telegram.api.duration", unit="s")
    histogram = (
        make_provider(bound_readers).get_meter("m").create_histogram("telegram.api.duration", unit="s")
    )
    bound = BoundHistogram(histogram, dict(ATTRS))
    for rounds in range(2):  # a second collection after the first: delta and cumulative both move on
        play(lambda v: plain.record(v, dict(ATTRS)))
        play(bound.record)
        for mine, theirs in zip(bound_readers, plain_readers, strict=True):
            assert points(mine) == points(theirs), f"collection {rounds + 1}"
    return bound


def spans_and_values(record: Callable[[float], None]) -> None:
    for i, value in enumerate(VALUES):
        with current(CONTEXTS[i % 3]):
            record(value)


def test_same_points_and_exemplars_as_the_sdk_path() -> None:
    bound = compare(lambda r: MeterProvider(metric_readers=r), spans_and_values)
    assert bound._targets, "the bound histogram never took its shortcut"
    assert len(bound._targets) == 2  # one series per reader


def test_views_that_keep_some_keys_or_other_buckets_or_drop() -> None:
    views = [
        View(instrument_name="telegram.api.duration", attribute_keys={"telegram.api.method"}),
        View(
            instrument_name="telegram.api.duration",
            name="narrow",
            aggregation=ExplicitBucketHistogramAggregation((0.01, 0.1, 1.0)),
        ),
        View(instrument_name="telegram.api.duration", name="dropped", aggregation=DropAggregation()),
    ]
    bound = compare(lambda r: MeterProvider(metric_readers=r, views=views), spans_and_values)
    assert len(bound._targets) == 6  # three views, two readers


def test_crocotels_reservoir_keeps_the_exemplars_the_sdk_path_keeps() -> None:
    """With crocotel's views (LatestPerBucket reservoirs), a bound record hands the reservoir the
    ids it found itself: the same exemplars as the SDK's path, which offers the measurement."""
    views = [
        View(instrument_name="telegram.api.duration", exemplar_reservoir_factory=reservoir_factory),
        View(
            instrument_name="telegram.api.duration",
            name="narrow",
            aggregation=ExplicitBucketHistogramAggregation((0.01, 0.1, 1.0)),
            exemplar_reservoir_factory=reservoir_factory,
        ),
    ]
    kept: list[tuple[Any, ...]] = []
    keep = LatestPerBucket.keep

    def noting(self: LatestPerBucket, *args: Any) -> None:
        kept.append(args)
        keep(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LatestPerBucket, "keep", noting)
        bound = compare(lambda r: MeterProvider(metric_readers=r, views=views), spans_and_values)
    assert [type(latest) for _, latest in bound._targets] == [LatestPerBucket] * 4
    sampled = CONTEXTS[0] and trace.get_current_span(CONTEXTS[0]).get_span_context()
    assert kept and all(args[3:] == (sampled.trace_id, sampled.span_id) for args in kept), kept


def test_always_on_exemplars() -> None:
    compare(
        lambda r: MeterProvider(metric_readers=r, exemplar_filter=AlwaysOnExemplarFilter()), spans_and_values
    )


def test_values_the_sdk_refuses_are_refused_the_same_way() -> None:
    def odd_values(record: Callable[[float], None]) -> None:
        for value in (0.5, -1.0, math.nan, math.inf, 2.0):
            record(value)

    compare(lambda r: MeterProvider(metric_readers=r), odd_values)


def test_a_switched_off_meter_records_nothing() -> None:
    def make(r: list[InMemoryMetricReader]) -> MeterProvider:
        return MeterProvider(metric_readers=r, _meter_configurator=_disable_meter_configurator)

    compare(make, spans_and_values)


def test_a_meter_switched_off_later_stops_recording() -> None:
    plain_readers, bound_readers = readers(), readers()
    providers = [MeterProvider(metric_readers=plain_readers), MeterProvider(metric_readers=bound_readers)]
    plain = providers[0].get_meter("m").create_histogram("h")
    bound = BoundHistogram(providers[1].get_meter("m").create_histogram("h"), dict(ATTRS))
    plain.record(1.0, dict(ATTRS))
    bound.record(1.0)
    bound.record(1.0)  # shortcut taken
    plain.record(1.0, dict(ATTRS))
    for provider in providers:
        provider._set_meter_configurator(meter_configurator=_disable_meter_configurator)
    plain.record(5.0, dict(ATTRS))
    bound.record(5.0)
    for mine, theirs in zip(bound_readers, plain_readers, strict=True):
        assert points(mine) == points(theirs)
    assert [p["count"] for p in points(bound_readers[0])] == [2]


def test_a_series_refused_by_the_cardinality_limit_goes_to_overflow_and_is_counted() -> None:
    guard = CardinalityGuard(limit=2)
    guard.install()
    try:
        provider = MeterProvider(metric_readers=[reader := InMemoryMetricReader()])
        histogram = provider.get_meter("m").create_histogram("h")
        histogram.record(1.0, {"first": "series"})  # takes the one place below the limit
        histogram.record(1.0, {"second": "series"})  # becomes the overflow series
        bound = BoundHistogram(histogram, dict(ATTRS))
        for _ in range(3):
            bound.record(2.0)
    finally:
        guard.uninstall()
    counts = {tuple(sorted(p["attributes"])): p["count"] for p in points(reader)}
    assert counts == {("first",): 1, ("otel.metric.overflow",): 4}
    assert guard.overflowed() == {"h": 4}  # the second series' measurement and the three bound ones
    assert not bound._targets  # every record went through the SDK, which counts the overflow


def test_a_histogram_of_another_meter_provider_is_called_as_is() -> None:
    calls: list[tuple[float, Any]] = []

    class Recording:
        def record(self, value: float, attributes: Any = None, context: Any = None) -> None:
            calls.append((value, attributes))

    bound = BoundHistogram(Recording(), dict(ATTRS))  # type: ignore[arg-type]
    bound.record(1.0)
    bound.record(2.0)
    assert calls == [(1.0, ATTRS), (2.0, ATTRS)]
    BoundHistogram(NoOpMeterProvider().get_meter("m").create_histogram("h"), dict(ATTRS)).record(1.0)


def test_a_histogram_that_raises_never_reaches_the_caller() -> None:
    class Broken:
        def record(self, value: float, attributes: Any = None, context: Any = None) -> None:
            raise RuntimeError("broken")

    BoundHistogram(Broken(), dict(ATTRS)).record(1.0)  # type: ignore[arg-type]


def test_the_telegram_instruments_record_through_bound_series() -> None:
    from crocotel.instrumentation._instruments import TelegramInstruments

    reader = InMemoryMetricReader()
    instruments = TelegramInstruments(MeterProvider(metric_readers=[reader]).get_meter("m"))
    for _ in range(3):
        instruments.api_call("sendMessage", 0.1, "ok")
        instruments.api_call("sendMessage", 0.2, "error", 429, "TelegramRetryAfter", 3.0)
        instruments.handler("echo", "root", 0.05)
        instruments.update_finished("message", "handled", None, 0.3)
        instruments.lag("message", 1.0)
    histograms = [p for p in points(reader) if "count" in p]  # the active-updates gauge aside
    counts = {(p["metric"], tuple(sorted(p["attributes"].items()))): p["count"] for p in histograms}
    assert counts == {
        (
            "telegram.api.duration",
            (("telegram.api.method", "sendMessage"), ("telegram.api.outcome", "ok")),
        ): 3,
        (
            "telegram.api.duration",
            (
                ("error.type", "TelegramRetryAfter"),
                ("telegram.api.error_code", 429),
                ("telegram.api.method", "sendMessage"),
                ("telegram.api.outcome", "error"),
            ),
        ): 3,
        ("telegram.api.retry_after", (("telegram.api.method", "sendMessage"),)): 3,
        ("telegram.handler.duration", (("telegram.handler", "echo"), ("telegram.router", "root"))): 3,
        (
            "telegram.update.duration",
            (("telegram.update.outcome", "handled"), ("telegram.update.type", "message")),
        ): 3,
        ("telegram.update.lag", (("telegram.update.type", "message"),)): 3,
    }


# what HTTP instrumentations record per request: a fresh dict each time, a few combinations,
# and odd ones: a bool where an int was, a float, a list, a context of its own, a refused value
SERIES_RECORDS: list[tuple[float, Any, bool]] = [
    (0.1, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": 200}, False),
    (0.2, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": 200}, True),
    (0.3, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": 502}, False),
    (0.4, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": True}, False),
    (0.5, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": 200.0}, False),
    (0.6, {"http.request.method": "POST", "server.port": 1}, False),
    (0.7, {"http.request.method": "POST", "server.port": True}, False),
    (0.8, {"http.request.method": "GET", "tags": ["a", "b"]}, False),
    (0.9, {"http.request.method": "GET", "tags": ("a", "b")}, False),
    (-1.0, {"http.request.method": "POST", "server.port": 443, "http.response.status_code": 200}, False),
    (1.0, {}, False),
    (1.1, None, False),
]


def play_series(record: Callable[[float, Any, Any], None]) -> None:
    for i, (value, attributes, own_context) in enumerate(SERIES_RECORDS * 2):
        context = CONTEXTS[0] if own_context else None
        with current(CONTEXTS[i % 3]):
            record(value, None if attributes is None else dict(attributes), context)


def test_series_histogram_exports_what_the_sdk_path_exports() -> None:
    from crocotel.bound_metrics import SeriesHistogram

    plain_readers, series_readers = readers(), readers()
    views = [
        View(instrument_name="http.client.request.duration", name="narrow", attribute_keys={"server.port"})
    ]
    plain = MeterProvider(metric_readers=plain_readers, views=[View(instrument_name="*"), *views])
    mine = MeterProvider(metric_readers=series_readers, views=[View(instrument_name="*"), *views])
    theirs = plain.get_meter("m").create_histogram("http.client.request.duration", unit="s")
    histogram = SeriesHistogram(
        mine.get_meter("m").create_histogram("http.client.request.duration", unit="s")
    )
    for rounds in range(2):
        play_series(lambda v, a, c: theirs.record(v, a, c))
        play_series(histogram.record)
        for a, b in zip(series_readers, plain_readers, strict=True):
            assert points(a) == points(b), f"collection {rounds + 1}"
    bound = histogram._series.values()
    assert len(bound) == 7  # combinations of plain values (bools and floats apart from ints), and {}
    assert all(series._targets for series in bound), "a series never took its shortcut"


def test_series_histogram_binds_a_bounded_number_of_combinations() -> None:
    from crocotel import bound_metrics

    reader = InMemoryMetricReader()
    histogram = bound_metrics.SeriesHistogram(
        MeterProvider(metric_readers=[reader]).get_meter("m").create_histogram("h")
    )
    for i in range(bound_metrics._MAX_SERIES + 50):
        histogram.record(1.0, {"n": i})
    assert len(histogram._series) == bound_metrics._MAX_SERIES
    assert len([p for p in points(reader) if p["metric"] == "h"]) == bound_metrics._MAX_SERIES + 50


def test_instrumentation_meters_hand_out_series_histograms_of_the_sdk_only() -> None:
    from crocotel.bound_metrics import SeriesHistogram, SeriesMeterProvider

    meter = SeriesMeterProvider(MeterProvider(metric_readers=[InMemoryMetricReader()])).get_meter("m", "1")
    assert isinstance(meter.create_histogram("h", unit="s"), SeriesHistogram)
    assert not isinstance(meter.create_counter("c"), SeriesHistogram)
    noop = SeriesMeterProvider(NoOpMeterProvider()).get_meter("m")
    assert not isinstance(noop.create_histogram("h"), SeriesHistogram)
