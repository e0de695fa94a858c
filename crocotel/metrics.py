"""Metric views and readers: second-sized buckets for bots, the ``/metrics`` reader.

The stock SDK buckets (0, 5, 10, ..., 10000) assume milliseconds, so a 42 ms
handler recorded in seconds lands in the 5 s bucket. Our views give every
histogram measured in seconds bucket bounds from 5 ms to 60 s, and histograms
in milliseconds the same bounds scaled.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry

BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
BUCKETS_MS: tuple[float, ...] = tuple(b * 1000 for b in BUCKETS_S)


def views() -> list[View]:
    """Histogram views keyed by unit, so every duration histogram gets bot-sized buckets."""
    return [
        View(
            instrument_type=Histogram,
            instrument_unit="s",
            aggregation=ExplicitBucketHistogramAggregation(BUCKETS_S),
        ),
        View(
            instrument_type=Histogram,
            instrument_unit="ms",
            aggregation=ExplicitBucketHistogramAggregation(BUCKETS_MS),
        ),
    ]


def prometheus_reader() -> tuple[MetricReader, CollectorRegistry]:
    """The ``/metrics`` pull reader (exemplars included) bound to a private registry, never the global one."""
    from crocotel.exposition import ExpositionReader

    registry = CollectorRegistry(auto_describe=False)
    reader = ExpositionReader()
    registry.register(reader.collector)
    return reader, registry
