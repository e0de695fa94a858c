"""The exemplar reservoir of crocotel's histogram views: the latest sampled measurement per bucket.

It keeps what the SDK's ``AlignedHistogramBucketExemplarReservoir`` keeps, the last
measurement offered in each bucket since the last collection, and gives the same
exemplars. The SDK's offer walks the bucket bounds in a Python loop and fills a bucket
object through half a dozen calls under a lock, on the bot's thread, for every
sampled measurement (each histogram record of an update in a sampled trace, four to
five per update); here an offer finds the bucket by bisection and stores one tuple,
and the exemplar is built when a reader collects, once per scrape or export.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Exemplar, ExemplarReservoir, SimpleFixedSizeExemplarReservoir
from opentelemetry.util.types import Attributes

from crocotel.current import current_span
from crocotel.span_context import SPAN_ID, TRACE_ID, fields_of

__all__ = ["LatestPerBucket", "reservoir_factory"]

try:
    from opentelemetry.sdk.metrics._internal.aggregation import _ExplicitBucketHistogramAggregation
except ImportError:  # another SDK: the views keep the SDK's own reservoirs
    _ExplicitBucketHistogramAggregation = None  # type: ignore[assignment, misc]


class LatestPerBucket(ExemplarReservoir):
    """The latest measurement offered in each histogram bucket (``value <= bound``, as the SDK's)."""

    def __init__(self, boundaries: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._boundaries = tuple(boundaries)
        self._latest: dict[int, tuple[float, int, Attributes, int, int]] = {}
        self._lock = threading.Lock()

    def offer(self, value: float, time_unix_nano: int, attributes: Attributes, context: Context) -> None:
        """Keep ``value`` as its bucket's latest, with the ids of the span current in ``context``."""
        ids = fields_of(current_span(context).get_span_context())
        self.keep(value, time_unix_nano, attributes, ids[TRACE_ID], ids[SPAN_ID])

    def keep(
        self, value: float, time_unix_nano: int, attributes: Attributes, trace_id: int, span_id: int
    ) -> None:
        """Keep ``value`` as its bucket's latest, with the ids of the span it was measured in."""
        entry = (value, time_unix_nano, attributes, trace_id, span_id)
        with self._lock:
            self._latest[bisect_left(self._boundaries, value)] = entry

    def collect(self, point_attributes: Attributes) -> list[Exemplar]:
        """The kept measurements as exemplars, by bucket, without the point's own attributes; then
        start afresh (as the SDK's reservoirs do after each collection)."""
        with self._lock:
            latest, self._latest = self._latest, {}
        exemplars = []
        for index in sorted(latest):
            value, time_unix_nano, attributes, trace_id, span_id = latest[index]
            filtered = (
                {k: v for k, v in attributes.items() if not point_attributes or k not in point_attributes}
                if attributes
                else None
            )
            valid = trace_id != 0 and span_id != 0
            exemplars.append(
                Exemplar(
                    filtered,
                    value,
                    time_unix_nano,
                    span_id if valid else None,
                    trace_id if valid else None,
                )
            )
        return exemplars


def reservoir_factory(aggregation_type: type) -> Callable[..., ExemplarReservoir]:
    """For a view's ``exemplar_reservoir_factory``: :class:`LatestPerBucket` for explicit-bucket
    histograms, the SDK's default reservoir for anything else."""
    if _ExplicitBucketHistogramAggregation is not None and issubclass(
        aggregation_type, _ExplicitBucketHistogramAggregation
    ):
        return LatestPerBucket
    return SimpleFixedSizeExemplarReservoir
