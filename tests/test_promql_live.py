"""Every PromQL expression of the runbooks and the dashboard, evaluated by a real Prometheus.

One run for all of them: crocbot (the demo's bot) under opentelemetry-instrument, fed the demo's
synthetic users (examples/demo/traffic.py: commands, errors, a blocked user, flood control, a
polling conflict) plus a message whose error text holds a phone number (so a redaction is
counted), exports OTLP to the agent Collector; Debian's Prometheus scrapes the bot as
``crocotel-bot`` and the agent as ``otelcol-agent``, with exemplar storage on. Expressions must
evaluate without error, the bot panels must return data, and every metric a panel reads must be one
the bot (or the Collector) exported in this run.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from examples.demo.slow_service import SlowService
from examples.demo.traffic import Traffic
from tests.alerting_support import Server, binary, http_json, selectors, start, stop, wait_for
from tests.collector_support import agent_env, http_get, otelcol_binary, running_agent
from tests.runbook_support import dashboard, dashboard_queries, load_generator, runbook_expressions
from tests.support import BIN, REPO, base_env, free_port
from tests.telegram_support import prometheus_samples
from tests.test_alerting_e2e import FAILURE_ONLY_LABELS, FAILURE_ONLY_OTELCOL

pytestmark = pytest.mark.integration

# The error handler's log record of this ValueError carries the text: a phone number to redact.
PHONE_INPUT = "/divide +7(916)123-45-67 2"
READY_WHEN = (  # series the checks below need, each with data, before anything is asserted
    'sum(telegram_update_duration_seconds_count{job="crocotel-bot"}) > 100',
    'sum(telegram_api_duration_seconds_count{job="crocotel-bot", telegram_api_error_code="409"})',
    'sum(telegram_api_retry_after_seconds_count{job="crocotel-bot"})',
    'sum(crocotel_redactions_total{job="crocotel-bot"})',
    'sum(crocotel_errors_total{job="crocotel-bot"})',
    'sum(otelcol_exporter_sent_spans_total{job="otelcol-agent"})',
)


@dataclass
class Run:
    prometheus: Server
    bot_metrics: str
    agent_metrics: str


def query(prometheus: Server, promql: str) -> dict[str, Any]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        answer: dict[str, Any] = http_json(url)
    except Exception as error:  # an HTTP 400 for a bad expression: its body says why
        body = getattr(error, "read", lambda: b"")().decode()
        return {"status": "error", "error": f"{error} {body}"}
    return answer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    prometheus_binary = binary("prometheus")
    collector = otelcol_binary()
    workdir = tmp_path_factory.mktemp("promql")
    with contextlib.ExitStack() as stack:
        api = stack.enter_context(BotApiThread())
        quotes = stack.enter_context(SlowService(delay=0.05, fail_every=7))
        receiver = stack.enter_context(OtlpReceiver())
        endpoint = receiver.endpoint
        agent = stack.enter_context(
            running_agent(
                collector,
                agent_env(workdir / "queue", endpoint, endpoint, endpoint, endpoint),
                workdir / "agent.log",
            )
        )
        port = free_port()
        env = base_env(
            BOT_TOKEN=api.token,
            TELEGRAM_API_URL=api.url,
            QUOTES_URL=quotes.url,
            POLL_TIMEOUT="1",
            OTEL_SERVICE_NAME="crocbot",
            OTEL_EXPORTER_OTLP_ENDPOINT=agent.otlp_http,
            OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        )
        output = stack.enter_context((workdir / "bot.out").open("wb"))  # read on failure; a pipe would fill
        bot = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "-m", "examples.crocbot"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        stack.callback(lambda: (bot.terminate(), bot.wait(30)))
        bot_metrics = f"http://127.0.0.1:{port}/metrics"
        assert wait_for(lambda: http_get(bot_metrics)[0] == 200, 60), "the bot's /metrics never answered"

        config = workdir / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "crocotel-bot", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
                        {
                            "job_name": "otelcol-agent",
                            "static_configs": [{"targets": [agent.telemetry.split("/")[2]]}],
                        },
                    ],
                }
            ),
            encoding="utf-8",
        )
        prom_port = free_port()
        prometheus = start(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--enable-feature=exemplar-storage",
            ],
            f"http://127.0.0.1:{prom_port}",
            "/-/ready",
            workdir / "prometheus.log",
        )
        stack.callback(stop, prometheus.process)

        keep_going = threading.Event()
        keep_going.set()

        def users() -> None:
            Traffic(api, total=240, rate=40.0).run(keep_going.is_set)  # faults: 409, 429, 403, errors
            api.push_message(PHONE_INPUT)
            while keep_going.is_set():  # then steady traffic, so rates stay non-zero while we query
                api.push_message("hello")
                api.push_message("/start")
                time.sleep(0.2)

        traffic = threading.Thread(target=users, daemon=True)
        traffic.start()
        stack.callback(traffic.join, 10)
        stack.callback(keep_going.clear)  # runs first (callbacks run last in, first out), then the join

        def ready() -> list[str]:
            return [q for q in READY_WHEN if not query(prometheus, q)["data"]["result"]]

        assert wait_for(lambda: not ready(), 90, interval=1.0), (
            f"no data for {ready()}; bot output and Prometheus log in {workdir}"
        )
        time.sleep(3)  # a few more scrapes, so every rate() has points on both sides
        yield Run(prometheus, bot_metrics, agent.telemetry)


def test_every_runbook_expression_evaluates(run: Run) -> None:
    expressions = runbook_expressions()
    assert len(expressions) >= 100
    failed = []
    for expression in expressions:
        answer = query(run.prometheus, expression.promql)
        if answer["status"] != "success":
            failed.append(f"{expression.where}: {expression.promql}\n  -> {answer.get('error')}")
    assert failed == [], "\n".join(failed)


def test_every_dashboard_query_evaluates_and_bot_panels_have_data(run: Run) -> None:
    board = dashboard()
    exempt = load_generator().FAILURE_ONLY_PANELS
    results: dict[str, list[int]] = {}
    failed = []
    for target in dashboard_queries(board):
        answer = query(run.prometheus, target.promql)
        if answer["status"] != "success":
            failed.append(f"{target.panel}/{target.ref}: {answer.get('error')}")
            continue
        results.setdefault(target.panel, []).append(len(answer["data"]["result"]))
    assert failed == [], "\n".join(failed)
    empty = sorted(panel for panel, sizes in results.items() if not any(sizes) and panel not in exempt)
    assert empty == [], f"panels without data: {empty}"
    assert exempt <= set(results)


def test_latency_heatmaps_carry_exemplars_of_traces(run: Run) -> None:
    board = dashboard()
    since = time.time() - 600
    for target in dashboard_queries(board):
        if not target.exemplar or "increase(" not in target.promql:
            continue
        url = f"{run.prometheus.url}/api/v1/query_exemplars?" + urllib.parse.urlencode(
            {"query": target.promql, "start": str(since), "end": str(time.time() + 60)}
        )
        found = http_json(url)["data"]
        exemplars = [e["labels"] for series in found for e in series["exemplars"]]
        assert exemplars, f"{target.panel}: no exemplars"
        assert all(len(e["trace_id"]) == 32 and len(e["span_id"]) == 16 for e in exemplars)


def _exported(url: str) -> dict[str, set[str]]:
    status, text = http_get(url)
    assert status == 200
    names: dict[str, set[str]] = {}
    for name, labels, _value in prometheus_samples(text):
        names.setdefault(name, set()).update(labels)
    return names


def test_every_metric_a_panel_reads_is_exported(run: Run) -> None:
    bot = _exported(run.bot_metrics)
    collector = _exported(run.agent_metrics)
    problems = []
    for target in dashboard_queries(dashboard()):
        for selector in selectors(target.promql):
            names = collector if selector.metric.startswith("otelcol_") else bot
            if selector.metric not in names:
                if (
                    selector.metric not in FAILURE_ONLY_OTELCOL
                    and selector.metric != "crocotel_metrics_overflow_total"
                ):
                    problems.append(f"{target.panel}: {selector.metric} is not exported")
                continue
            for label in selector.labels - {"job", "instance"} - names[selector.metric]:
                if (selector.metric, label) not in FAILURE_ONLY_LABELS:
                    problems.append(f"{target.panel}: {selector.metric} has no label {label}")
    assert problems == [], "\n".join(problems)
