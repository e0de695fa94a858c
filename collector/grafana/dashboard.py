"""The crocotel Grafana dashboard, built as code with Grafana's grafana-foundation-sdk.

    python collector/grafana/dashboard.py            # write collector/grafana/crocotel-dashboard.json
    python collector/grafana/dashboard.py --check    # exit 1 when the committed JSON is stale

Data sources are dashboard variables (``datasource`` for Prometheus, ``traces`` for Tempo,
``logs`` for Loki), so the JSON imports into any Grafana. Latency panels ask Prometheus for
exemplars; the Prometheus data source's ``exemplarTraceIdDestinations`` turns each into a link to
its trace (collector/grafana/provisioning/datasources.yaml does that for the compose stack).
Metric names are crocotel's (docs/telegram.md, docs/health-and-metrics.md); tests/test_dashboard.py
checks them against a real run and evaluates every expression in a real Prometheus.
"""

# ruff: noqa: E501  (PromQL expressions are kept whole, one per line, so they read as queries)
from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import heatmap, logs, loki, prometheus, stat, table, tempo, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models import prometheus as prom_model

OUTPUT = Path(__file__).with_name("crocotel-dashboard.json")
UID = "crocotel-bot"

PROM = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TRACES = model.DataSourceRef(type_val="tempo", uid="${traces}")
LOGS = model.DataSourceRef(type_val="loki", uid="${logs}")

BOT = 'job=~"$job", instance=~"$instance"'
"""Label matchers every bot query carries: the job and instance variables."""
COLLECTOR = 'job=~"otelcol.*"'
RATE = "$__rate_interval"

# Panels that only show data when something is wrong (an overflow, a refusing Collector); the
# dashboard test does not require data from them in a healthy run.
FAILURE_ONLY_PANELS = frozenset({"Metric series folded into overflow"})


def _q(expr: str, legend: str = "__auto", ref: str = "A", *, exemplar: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(PROM).range()
    return query.exemplar(True) if exemplar else query


def _series(
    title: str, description: str, unit: str, *targets: prometheus.Dataquery, w: int = 12
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit).datasource(PROM)
    panel = panel.height(8).span(w).fill_opacity(10).line_width(1)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def _heatmap(title: str, description: str, metric: str) -> heatmap.Panel:
    expr = f"sum by (le) (increase({metric}_bucket{{{BOT}}}[{RATE}]))"
    target = _q(expr, "{{le}}", exemplar=True).format(prom_model.PromQueryFormat.HEATMAP)
    return (
        heatmap.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .height(8)
        .span(12)
        .with_target(target)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit("s"))
        .color(
            heatmap.HeatmapColorOptions()
            .mode(heatmap_model.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .exponent(0.5)
            .steps(64)
        )
        .cell_values(heatmap.CellValues().unit("short"))
        .exemplars_color("rgba(255,0,255,0.7)")
    )


def _percentiles(metric: str, by: str = "") -> list[prometheus.Dataquery]:
    group = f"le{', ' + by if by else ''}"
    legend = f"p{{q}}{' {{' + by + '}}' if by else ''}"
    return [
        _q(
            f"histogram_quantile({q / 100:g}, sum by ({group}) (rate({metric}_bucket{{{BOT}}}[{RATE}])))",
            legend.replace("{q}", str(q)),
            ref,
            exemplar=True,
        )
        for ref, q in (("A", 50), ("B", 95), ("C", 99))
    ]


def _variables() -> list[dash.DatasourceVariable | dash.QueryVariable]:
    def datasource(name: str, label: str, kind: str) -> dash.DatasourceVariable:
        return dash.DatasourceVariable(name).label(label).type(kind)

    def query(name: str, label: str, promql: str, all_value: str) -> dash.QueryVariable:
        return (
            dash.QueryVariable(name)
            .label(label)
            .datasource(PROM)
            .query({"query": promql, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1})
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(all_value)
            .current(model.VariableOption(selected=True, text="All", value="$__all"))
        )

    return [
        datasource("datasource", "Prometheus", "prometheus"),
        datasource("traces", "Traces (Tempo)", "tempo"),
        datasource("logs", "Logs (Loki)", "loki"),
        query("job", "Bot job", 'label_values(target_info{job=~"crocotel-bot.*"}, job)', "crocotel-bot.*"),
        query("instance", "Instance", 'label_values(target_info{job=~"$job"}, instance)', ".*"),
        query("service", "Service", 'label_values(target_info{job=~"$job"}, service_name)', ".*"),
    ]


def _updates_row() -> dash.Row:
    row = dash.Row("Updates")
    row = row.with_panel(
        _series(
            "Update rate by outcome",
            "Updates finished per second: handled, unhandled (no handler took it) or error. "
            "The count of telegram_update_duration_seconds is the update counter.",
            "reqps",
            _q(
                f"sum by (telegram_update_outcome) (rate(telegram_update_duration_seconds_count{{{BOT}}}[{RATE}]))",
                "{{telegram_update_outcome}}",
            ),
        )
    )
    row = row.with_panel(
        _series(
            "Update errors by error type",
            "Updates that ended in an error, by the exception's module.QualName (error_type). "
            "The SLO (docs/alerting.md) allows 1% of updates to end like this.",
            "reqps",
            _q(
                f'sum by (error_type) (rate(telegram_update_duration_seconds_count{{{BOT}, telegram_update_outcome="error"}}[{RATE}]))',
                "{{error_type}}",
            ),
        )
    )
    row = row.with_panel(
        _series(
            "Update latency",
            "Time from an update's arrival in the bot to the end of its handling. Click an exemplar "
            "(a dot) to open the trace behind it.",
            "s",
            *_percentiles("telegram_update_duration_seconds"),
        )
    )
    row = row.with_panel(
        _heatmap(
            "Update latency heatmap",
            "Updates per latency bucket; exemplars link to traces.",
            "telegram_update_duration_seconds",
        )
    )
    row = row.with_panel(
        _series(
            "Handler latency p95 by handler",
            "95th percentile of each handler's run time (telegram_handler, the function name from code). "
            "BotHandlerLatencyHigh fires above 3 s for 15 minutes.",
            "s",
            _q(
                f"histogram_quantile(0.95, sum by (le, telegram_handler) (rate(telegram_handler_duration_seconds_bucket{{{BOT}}}[{RATE}])))",
                "{{telegram_handler}}",
                exemplar=True,
            ),
        )
    )
    row = row.with_panel(
        _heatmap(
            "Handler latency heatmap",
            "Handler runs per latency bucket, every handler together; exemplars link to traces.",
            "telegram_handler_duration_seconds",
        )
    )
    row = row.with_panel(
        _series(
            "Update lag and updates in flight",
            "Lag: now minus the message's date when the update arrives (Telegram keeps updates 24 h, "
            "a backlog shows here first). In flight: updates being handled right now.",
            "s",
            _q(
                f"histogram_quantile(0.95, sum by (le) (rate(telegram_update_lag_seconds_bucket{{{BOT}}}[{RATE}])))",
                "lag p95",
            ),
            _q(f"sum(telegram_updates_active{{{BOT}}})", "in flight", "B"),
        ).override_by_name("in flight", [model.DynamicConfigValue(id_val="unit", value="short")])
    )
    row = row.with_panel(
        table.Panel()
        .title("Errors by fingerprint")
        .description(
            "Exceptions counted by crocotel_errors_total over the dashboard's range, by fingerprint "
            "(<innermost app function>-<hash>): search the logs for error.fingerprint=<it>."
        )
        .datasource(PROM)
        .height(8)
        .span(12)
        .with_target(
            _q(
                f"topk(20, sum by (fingerprint, error_type) (increase(crocotel_errors_total{{{BOT}}}[$__range])))",
                "{{fingerprint}}",
            )
            .instant()
            .format(prom_model.PromQueryFormat.TABLE)
        )
    )
    return row


def _bot_api_row() -> dash.Row:
    api = "telegram_api_duration_seconds"
    row = dash.Row("Bot API")
    row = row.with_panel(
        _series(
            "Bot API requests by method",
            "Bot API calls per second by method, every outcome; getUpdates is the long poll.",
            "reqps",
            _q(
                f"sum by (telegram_api_method) (rate({api}_count{{{BOT}}}[{RATE}]))",
                "{{telegram_api_method}}",
            ),
        )
    )
    row = row.with_panel(
        _series(
            "Bot API errors by method and code",
            "Failed Bot API calls: error (Telegram answered with an error code: 400, 403 blocked, "
            "409 conflict, 429 flood control, 5xx) or network_error (no answer).",
            "reqps",
            _q(
                f'sum by (telegram_api_method, telegram_api_outcome, telegram_api_error_code) (rate({api}_count{{{BOT}, telegram_api_outcome!="ok"}}[{RATE}]))',
                "{{telegram_api_method}} {{telegram_api_outcome}} {{telegram_api_error_code}}",
            ),
        )
    )
    row = row.with_panel(
        _series(
            "Flood control: 429 answers and retry_after",
            "429 Too Many Requests per second by method, and the retry_after Telegram asked for "
            "(p95 over the range). TelegramApiFloodControl fires above 1% of a method's calls.",
            "reqps",
            _q(
                f'sum by (telegram_api_method) (rate({api}_count{{{BOT}, telegram_api_error_code="429"}}[{RATE}]))',
                "429 {{telegram_api_method}}",
            ),
            _q(
                f"histogram_quantile(0.95, sum by (le, telegram_api_method) (rate(telegram_api_retry_after_seconds_bucket{{{BOT}}}[{RATE}])))",
                "retry_after p95 {{telegram_api_method}}",
                "B",
            ),
        ).override_by_regexp("retry_after.*", [model.DynamicConfigValue(id_val="unit", value="s")])
    )
    row = row.with_panel(
        _series(
            "Bot API latency p95 by method (without getUpdates)",
            "95th percentile of a Bot API call's duration; the long poll is left out (it waits on purpose).",
            "s",
            _q(
                f'histogram_quantile(0.95, sum by (le, telegram_api_method) (rate({api}_bucket{{{BOT}, telegram_api_method!="getUpdates"}}[{RATE}])))',
                "{{telegram_api_method}}",
            ),
        )
    )
    row = row.with_panel(
        _series(
            "Polling errors",
            "getUpdates calls that failed, by error code and type: 409 means another process polls "
            "with the same token (or a webhook is set), network_error that Telegram was not reached.",
            "short",
            _q(
                f'sum by (telegram_api_error_code, error_type) (increase({api}_count{{{BOT}, telegram_api_method="getUpdates", telegram_api_outcome=~"error|network_error"}}[{RATE}]))',
                "{{telegram_api_error_code}} {{error_type}}",
            ),
            w=24,
        )
    )
    return row


def _runtime_row() -> dash.Row:
    row = dash.Row("Runtime")
    row = row.with_panel(
        _series(
            "Event-loop lag",
            "How late crocotel's 0.5 s heartbeat ran on the bot's event loop: time the loop was busy "
            "or blocked. BotEventLoopLagHigh fires when p99 stays above 0.5 s.",
            "s",
            _q(
                f"histogram_quantile(0.5, sum by (le, instance) (rate(crocotel_event_loop_lag_seconds_bucket{{{BOT}}}[{RATE}])))",
                "p50 {{instance}}",
            ),
            _q(
                f"histogram_quantile(0.99, sum by (le, instance) (rate(crocotel_event_loop_lag_seconds_bucket{{{BOT}}}[{RATE}])))",
                "p99 {{instance}}",
                "B",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Memory",
            "Resident (process_memory_usage_bytes) and virtual memory of the bot's process.",
            "bytes",
            _q(f"process_memory_usage_bytes{{{BOT}}}", "resident {{instance}}"),
            _q(f"process_memory_virtual_bytes{{{BOT}}}", "virtual {{instance}}", "B"),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "CPU",
            "CPU seconds per second (1 = one core), user and system.",
            "percentunit",
            _q(
                f"sum by (instance, type) (rate(process_cpu_time_seconds_total{{{BOT}}}[{RATE}]))",
                "{{type}} {{instance}}",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Asyncio tasks, threads, open files",
            "Live asyncio tasks on the bot's loops, threads and file descriptors: steady growth is a leak.",
            "short",
            _q(f"sum by (instance) (crocotel_event_loop_tasks{{{BOT}}})", "tasks {{instance}}"),
            _q(f"process_thread_count{{{BOT}}}", "threads {{instance}}", "B"),
            _q(f"process_open_file_descriptor_count{{{BOT}}}", "fds {{instance}}", "C"),
            w=8,
        )
    )
    row = row.with_panel(
        stat.Panel()
        .title("Health checks")
        .description(
            "crocotel_health_check: 1 passes, 0 fails. event_loop is /healthz; all four make /readyz."
        )
        .datasource(PROM)
        .height(8)
        .span(8)
        .with_target(_q(f"min by (check) (crocotel_health_check{{{BOT}}})", "{{check}}"))
        .mappings(
            [
                model.ValueMap(
                    options={
                        "0": model.ValueMappingResult(text="failing", color="red"),
                        "1": model.ValueMappingResult(text="ok", color="green"),
                    }
                )
            ]
        )
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("text"))
    )
    row = row.with_panel(
        _series(
            "Restarts",
            "Process restarts in the last hour (resets of process_uptime_seconds). "
            "BotCrashLooping pages at 3 in 15 minutes.",
            "short",
            _q(f"resets(process_uptime_seconds{{{BOT}}}[1h])", "{{instance}}"),
            w=8,
        )
    )
    return row


def _telemetry_row() -> dash.Row:
    row = dash.Row("Telemetry pipeline")
    row = row.with_panel(
        _series(
            "Redactions by kind and signal",
            "Values crocotel scrubbed before they left the process (bot_token, phone, secret) per signal. "
            "A jump after a deploy means new code logs or traces user data.",
            "short",
            _q(
                f"sum by (kind, signal) (rate(crocotel_redactions_total{{{BOT}}}[{RATE}]))",
                "{{kind}} {{signal}}",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Spans and log records: processed and dropped",
            "The bot's OpenTelemetry SDK queues: processed per second, and dropped (error_type set, "
            "queue_full). TelemetrySpansDropped / TelemetryLogsDropped fire on drops.",
            "short",
            _q(
                f'sum(rate(otel_sdk_processor_span_processed_total{{{BOT}, error_type=""}}[{RATE}]))',
                "spans processed",
            ),
            _q(
                f'sum by (error_type) (rate(otel_sdk_processor_span_processed_total{{{BOT}, error_type!=""}}[{RATE}]))',
                "spans dropped {{error_type}}",
                "B",
            ),
            _q(
                f'sum(rate(otel_sdk_processor_log_processed_total{{{BOT}, error_type=""}}[{RATE}]))',
                "logs processed",
                "C",
            ),
            _q(
                f'sum by (error_type) (rate(otel_sdk_processor_log_processed_total{{{BOT}, error_type!=""}}[{RATE}]))',
                "logs dropped {{error_type}}",
                "D",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "OTLP exports: sent and failed",
            "Items the bot's OTLP exporters delivered, and failed to deliver (error_type = the "
            "exception class). TelemetryExportFailing fires on failures.",
            "short",
            _q(
                f'sum(rate(otel_sdk_exporter_span_exported_total{{{BOT}, error_type=""}}[{RATE}]))',
                "spans sent",
            ),
            _q(
                f'sum by (error_type) (rate(otel_sdk_exporter_span_exported_total{{{BOT}, error_type!=""}}[{RATE}]))',
                "spans failed {{error_type}}",
                "B",
            ),
            _q(
                f'sum(rate(otel_sdk_exporter_log_exported_total{{{BOT}, error_type=""}}[{RATE}]))',
                "logs sent",
                "C",
            ),
            _q(
                f'sum by (error_type) (rate(otel_sdk_exporter_log_exported_total{{{BOT}, error_type!=""}}[{RATE}]))',
                "logs failed {{error_type}}",
                "D",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Collector queues",
            "The agent Collector's sending queues (on disk, file_storage): items waiting per exporter, "
            "against their capacity. A queue that only grows means its backend is down.",
            "short",
            _q(f"sum by (job, exporter) (otelcol_exporter_queue_size{{{COLLECTOR}}})", "{{exporter}} queued"),
            _q(
                f"max by (job, exporter) (otelcol_exporter_queue_capacity{{{COLLECTOR}}})",
                "{{exporter}} capacity",
                "B",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Collector: refused and failed",
            "Items the Collector's receivers refused (memory limiter) and its exporters failed to send "
            "or to queue. CollectorRefusingData / CollectorExportFailing fire on these.",
            "short",
            _q(
                f"sum by (job) (rate(otelcol_receiver_refused_spans_total{{{COLLECTOR}}}[{RATE}]) "
                f"+ rate(otelcol_receiver_refused_log_records_total{{{COLLECTOR}}}[{RATE}]))",
                "refused {{job}}",
            ),
            _q(
                f"sum by (job, exporter) (rate(otelcol_exporter_send_failed_spans_total{{{COLLECTOR}}}[{RATE}]))",
                "send failed spans {{exporter}}",
                "B",
            ),
            _q(
                f"sum by (job, exporter) (rate(otelcol_exporter_send_failed_log_records_total{{{COLLECTOR}}}[{RATE}]))",
                "send failed logs {{exporter}}",
                "C",
            ),
            _q(
                f"sum by (job, exporter) (rate(otelcol_exporter_sent_spans_total{{{COLLECTOR}}}[{RATE}]))",
                "sent spans {{exporter}}",
                "D",
            ),
            w=8,
        )
    )
    row = row.with_panel(
        _series(
            "Metric series folded into overflow",
            "Measurements crocotel's cardinality guard folded into a metric's otel_metric_overflow series "
            "(CROCOTEL_METRICS_CARDINALITY_LIMIT). Empty is good: see runbooks/cardinality-explosion.md.",
            "short",
            _q(f"sum by (metric) (rate(crocotel_metrics_overflow_total{{{BOT}}}[{RATE}]))", "{{metric}}"),
            w=8,
        )
    )
    return row


def _traces_and_logs_row() -> dash.Row:
    return (
        dash.Row("Traces and logs")
        .with_panel(
            table.Panel()
            .title("Recent failed updates (traces)")
            .description("Update traces that ended in an error, from the traces data source (TraceQL).")
            .datasource(TRACES)
            .height(10)
            .span(12)
            .with_target(
                tempo.TempoQuery()
                .ref_id("A")
                .datasource(TRACES)
                .query_type("traceql")
                .query(
                    '{ resource.service.name =~ "$service" && name =~ "telegram.update.*" && status = error }'
                )
                .limit(20)
            )
        )
        .with_panel(
            logs.Panel()
            .title("Error logs")
            .description(
                "ERROR records of the bot from Loki (the agent routes them to their own queue). Each "
                "carries trace_id: runbooks/trace-one-update.md finds every line of that update."
            )
            .datasource(LOGS)
            .height(10)
            .span(12)
            .with_target(
                loki.Dataquery()
                .ref_id("A")
                .datasource(LOGS)
                .expr('{service_name=~"$service"} | severity_text=~"ERROR|CRITICAL|FATAL"')
                .max_lines(200)
            )
        )
    )


def build() -> dict[str, object]:
    """The dashboard as the JSON object Grafana imports."""
    board = (
        dash.Dashboard("crocotel: Telegram bot")
        .uid(UID)
        .description(
            "Updates, handlers, Bot API, runtime and the telemetry pipeline of bots run under crocotel."
        )
        .tags(["crocotel", "telegram"])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .link(
            dash.DashboardLink("Runbooks")
            .type(model.DashboardLinkType.LINK)
            .url("https://github.com/crocotel/crocotel/blob/main/runbooks/README.md")
            .target_blank(True)
        )
    )
    for variable in _variables():
        board = board.with_variable(variable)
    for row in (_updates_row(), _bot_api_row(), _runtime_row(), _telemetry_row(), _traces_and_logs_row()):
        board = board.with_row(row)
    encoded: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    # Grafana keeps the panels of an expanded row beside it, not inside it (only a collapsed row
    # holds its panels); ids are numbered in reading order so the file stays stable.
    flat: list[dict[str, object]] = []
    for panel in encoded["panels"]:  # type: ignore[attr-defined]
        inner = panel.pop("panels", [])
        panel["panels"] = []
        flat += [panel, *inner]
    for number, panel in enumerate(flat, start=1):
        panel["id"] = number
    encoded["panels"] = flat
    return encoded


def panels(board: dict[str, object]) -> list[dict[str, object]]:
    """The dashboard's panels that show data (rows left out)."""
    return [p for p in board["panels"] if p["type"] != "row"]  # type: ignore[attr-defined,index]


def render() -> str:
    """The committed file's exact text."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
