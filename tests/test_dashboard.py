"""collector/grafana/: the dashboard is what its generator makes, portable, and covers what the issue asks.

The metric names and the PromQL are checked against a real run in tests/test_promql_live.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from ruamel.yaml import YAML

from tests.alerting_support import selectors
from tests.runbook_support import DASHBOARD_DIR, DASHBOARD_JSON, dashboard, dashboard_queries, load_generator

PROVISIONING = DASHBOARD_DIR / "provisioning"


def test_committed_json_is_what_the_generator_makes() -> None:
    generator = load_generator()
    assert DASHBOARD_JSON.read_text(encoding="utf-8") == generator.render()
    done = subprocess.run(
        [sys.executable, str(DASHBOARD_DIR / "dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_check_fails_on_a_stale_file(tmp_path: Any, monkeypatch: Any) -> None:
    generator = load_generator()
    stale = tmp_path / "crocotel-dashboard.json"
    stale.write_text(DASHBOARD_JSON.read_text(encoding="utf-8").replace("Update rate", "Update speed"))
    monkeypatch.setattr(generator, "OUTPUT", stale)
    assert generator.main(["dashboard.py", "--check"]) == 1
    assert generator.main(["dashboard.py"]) == 0 and generator.main(["dashboard.py", "--check"]) == 0


def _datasource_refs(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            found.append(node["datasource"])
        for value in node.values():
            found += _datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += _datasource_refs(value)
    return found


def test_data_sources_are_variables() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    kinds = {name: v["query"] for name, v in variables.items() if v["type"] == "datasource"}
    assert kinds == {"datasource": "prometheus", "traces": "tempo", "logs": "loki"}
    refs = _datasource_refs(board["panels"]) + _datasource_refs(board["templating"]["list"])
    assert refs
    for ref in refs:
        uid = ref["uid"]
        assert uid.startswith("${") and uid.endswith("}"), f"hard-coded data source {ref}"
        assert kinds[uid[2:-1]] == ref["type"], ref


def test_provisioned_data_sources_back_the_variables_and_link_exemplars_to_traces() -> None:
    provisioned = YAML(typ="safe").load((PROVISIONING / "datasources.yaml").read_text(encoding="utf-8"))
    by_uid = {d["uid"]: d for d in provisioned["datasources"]}
    assert {d["type"] for d in by_uid.values()} >= {"prometheus", "tempo", "loki", "jaeger"}
    destinations = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {d["name"] for d in destinations} == {"trace_id"}  # the exemplar label crocotel writes
    assert {by_uid[d["datasourceUid"]]["type"] for d in destinations} == {"tempo", "jaeger"}
    providers = YAML(typ="safe").load((PROVISIONING / "dashboards.yaml").read_text(encoding="utf-8"))
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/crocotel"


def test_panels_cover_the_issue() -> None:
    board = dashboard()
    queries = dashboard_queries(board)
    metrics = {s.metric for q in queries for s in selectors(q.promql)}
    expected = {
        "telegram_update_duration_seconds_count",  # update rate by outcome
        "telegram_update_duration_seconds_bucket",  # update latency
        "telegram_handler_duration_seconds_bucket",  # handler latency
        "telegram_api_duration_seconds_count",  # Bot API requests, errors, 429, polling errors
        "telegram_api_retry_after_seconds_bucket",  # retry_after
        "crocotel_event_loop_lag_seconds_bucket",
        "process_memory_usage_bytes",
        "process_cpu_time_seconds_total",
        "crocotel_redactions_total",
        "otel_sdk_processor_span_processed_total",  # dropped spans
        "otel_sdk_processor_log_processed_total",  # dropped logs
        "otel_sdk_exporter_span_exported_total",  # export failures
        "otelcol_exporter_queue_size",
    }
    assert expected - metrics == set()
    texts = " ".join(q.promql for q in queries)
    assert "telegram_update_outcome" in texts and 'telegram_api_error_code="429"' in texts
    assert 'telegram_api_method="getUpdates"' in texts
    heatmaps = [p for p in board["panels"] if p["type"] == "heatmap"]
    assert {h["title"] for h in heatmaps} == {"Update latency heatmap", "Handler latency heatmap"}
    for panel in heatmaps:
        (target,) = panel["targets"]
        assert target["format"] == "heatmap" and target["exemplar"] is True
        assert panel["options"]["calculate"] is False  # Prometheus buckets, not recomputed
    latency = [
        q for q in queries if "histogram_quantile" in q.promql and "telegram_update_duration" in q.promql
    ]
    assert {q.promql.split("(")[1].split(",")[0] for q in latency} == {"0.5", "0.95", "0.99"}
    assert all(q.exemplar for q in latency)
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))
