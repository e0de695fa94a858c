"""Metric views and readers: second-sized buckets for bots, the ``/metrics`` reader.

The stock SDK buckets (0, 5, 10, ..., 10000) assume milliseconds, so a 42 ms
handler recorded in seconds lands in the 5 s bucket. Our views give every
histogram measured in seconds bucket bounds from 5 ms to 60 s, and histograms
in milliseconds the same bounds scaled.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry

from crocotel.exemplars import reservoir_factory

BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
BUCKETS_MS: tuple[float, ...] = tuple(b * 1000 for b in BUCKETS_S)

# Buckets fitted per instrument (seconds): a handler is milliseconds, a long poll up to a minute,
# the lag of a message has Telegram's one-second resolution and can reach a day (Telegram keeps
# updates 24 h), and flood control can ask for hours.
_LONG: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
BUCKETS_BY_NAME: dict[str, tuple[float, ...]] = {
    "telegram.update.duration": BUCKETS_S,
    "telegram.handler.duration": (0.001, 0.0025, *BUCKETS_S[:-1]),
    "telegram.api.duration": (*BUCKETS_S[1:], 90.0),
    "telegram.update.lag": (*_LONG, 21600.0, 86400.0),
    "telegram.api.retry_after": (*_LONG, 14400.0, 86400.0),
    "crocotel.event_loop.lag": (0.001, 0.0025, *BUCKETS_S[:-1]),
}


class _Unclaimed(View):
    """A view for the histograms no per-name view claims (the SDK applies every view that matches)."""

    def _match(self, instrument: Any) -> bool:
        return instrument.name not in BUCKETS_BY_NAME and bool(super()._match(instrument))


def views() -> list[View]:
    """Histogram views: fitted buckets for the named instruments, bot-sized ones by unit for the rest;
    exemplars kept by :class:`crocotel.exemplars.LatestPerBucket`."""
    named = [
        View(
            instrument_type=Histogram,
            instrument_name=n,
            aggregation=ExplicitBucketHistogramAggregation(b),
            exemplar_reservoir_factory=reservoir_factory,
        )
        for n, b in BUCKETS_BY_NAME.items()
    ]
    return [
        *named,
        _Unclaimed(
            instrument_type=Histogram,
            instrument_unit="s",
            aggregation=ExplicitBucketHistogramAggregation(BUCKETS_S),
            exemplar_reservoir_factory=reservoir_factory,
        ),
        _Unclaimed(
            instrument_type=Histogram,
            instrument_unit="ms",
            aggregation=ExplicitBucketHistogramAggregation(BUCKETS_MS),
            exemplar_reservoir_factory=reservoir_factory,
        ),
    ]


def prometheus_reader() -> tuple[MetricReader, CollectorRegistry]:
    """The ``/metrics`` pull reader (exemplars included) bound to a private registry, never the global one."""
    from crocotel.exposition import ExpositionReader

    registry = CollectorRegistry(auto_describe=False)
    reader = ExpositionReader()
    registry.register(reader.collector)
    return reader, registry
