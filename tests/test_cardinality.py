"""100k distinct attribute values on one app-created metric: bounded series, overflow visible, flat memory."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families as parse_text

from crocotel.testing import BotApiThread
from tests.health_support import App, get, loop_app

pytestmark = pytest.mark.integration

LIMIT = 500


def add_values(app: App, count: int) -> int:
    """Add ``count`` new distinct values; the app's resident memory afterwards."""
    for _ in range(count // 10_000):
        app.send("metric 10000")
        assert app.reply() == "DONE"
    app.send("rss")
    return int(app.reply())


def samples(app: App, name: str) -> list[tuple[dict[str, str], float]]:
    status, _, text = get(f"{app.base}/metrics")
    assert status == 200
    return [(s.labels, s.value) for f in parse_text(text.decode()) for s in f.samples if s.name == name]


def test_100k_distinct_values_stay_bounded_with_an_overflow_series(api: BotApiThread) -> None:
    with loop_app(api, CROCOTEL_METRICS_CARDINALITY_LIMIT=str(LIMIT)) as app:
        after_10k = add_values(app, 10_000)
        assert len(samples(app, "app_requests_total")) == LIMIT
        after_100k = add_values(app, 90_000)
        series = samples(app, "app_requests_total")
        assert len(series) == LIMIT  # LIMIT - 1 values of their own, and the overflow series
        overflow = [value for labels, value in series if labels.get("otel_metric_overflow") == "true"]
        assert overflow == [100_000 - (LIMIT - 1)]  # nothing lost: the rest is counted there
        assert sum(value for _, value in series) == 100_000
        counted = {
            labels["metric"]: value for labels, value in samples(app, "crocotel_metrics_overflow_total")
        }
        assert counted["app.requests"] == 100_000 - (LIMIT - 1)
        assert after_100k - after_10k < 3 * 1024 * 1024, (after_10k, after_100k)
        out, err = app.stop()
    assert out == "" and err == ""
