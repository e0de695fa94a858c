"""Alerting end to end on 127.0.0.1: crocbot under crocotel -> Prometheus -> Alertmanager -> Telegram.

Debian's Prometheus scrapes crocbot while the Bot API stand-in answers every sendMessage with
502; it evaluates the shipped rules (rendered with ``for: 1s``, the expressions unchanged) and
sends to a real Alertmanager, rendered from collector/alertmanager.yml, which delivers to a
second stand-in's sendMessage (the on-call bot) and the Watchdog to a dead man's switch.
The same run's /metrics is the list of names the rules may use.
"""

from __future__ import annotations

import contextlib
import glob
import inspect
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from crocotel.testing import BotApiThread, OtlpReceiver
from tests.alerting_support import (
    RULE_FILES,
    Server,
    binary,
    http_json,
    load_rules,
    query,
    render_alertmanager,
    selectors,
    start_alertmanager,
    start_prometheus,
    stop,
    wait_for,
)
from tests.collector_support import agent_env, http_get, otelcol_binary, running_agent
from tests.conftest import BIN, REPO, base_env
from tests.telegram_support import prometheus_samples

pytestmark = pytest.mark.integration

ALERT_TOKEN = "987654321:AAF-alerting_bot_token_for_tests_0123"
ONCALL_CHAT = 4242
RUNBOOKS = "https://runbooks.test/crocotel"
# Written by Prometheus itself, or by the rules: not exported by crocotel.
PROMETHEUS_OWN = {"up"}
# (metric, label) pairs that only appear when something fails, from the SDK's own code (checked
# below): spans or logs dropped (error.type=queue_full) and failed exports (error.type=<class>).
FAILURE_ONLY_LABELS = {
    ("otel_sdk_processor_span_processed_total", "error_type"),
    ("otel_sdk_processor_log_processed_total", "error_type"),
    ("otel_sdk_exporter_span_exported_total", "error_type"),
    ("otel_sdk_exporter_log_exported_total", "error_type"),
}
# Collector series that appear only on failure, or for a signal the test does not send; each is
# documented in the Collector's exporterhelper / receiverhelper documentation.md (checked below
# when the Go module cache of scripts/build-collector is there).
FAILURE_ONLY_OTELCOL = {
    "otelcol_exporter_send_failed_spans_total",
    "otelcol_exporter_send_failed_log_records_total",
    "otelcol_exporter_send_failed_metric_points_total",
    "otelcol_exporter_enqueue_failed_spans_total",
    "otelcol_exporter_enqueue_failed_log_records_total",
    "otelcol_exporter_enqueue_failed_metric_points_total",
    "otelcol_receiver_refused_metric_points_total",
}


class _Switch(BaseHTTPRequestHandler):
    """The dead man's switch: records what Alertmanager's webhook posts."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with contextlib.suppress(ValueError):
            self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class Stack:
    bot_api: BotApiThread
    oncall: BotApiThread
    bot_metrics: str
    prometheus: Server
    alertmanager: Server
    switch: list[dict[str, Any]]
    bot: subprocess.Popen[str]
    scraped: list[str] = field(default_factory=list)


def render_rules(workdir: Path) -> list[Path]:
    """The shipped rule files with every ``for:`` shortened to 1s; expressions untouched."""
    rendered = []
    for path in RULE_FILES:
        text = re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>1s", path.read_text(encoding="utf-8"))
        out = workdir / path.name
        out.write_text(text, encoding="utf-8")
        rendered.append(out)
    return rendered


def short_timers(config: Path) -> None:
    """Alertmanager's waits shortened for the test (the routing tree is the shipped one)."""
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s+group_wait: )\S+$", r"\g<1>1s", text)
    text = re.sub(r"(?m)^(\s+group_interval: )\S+$", r"\g<1>2s", text)
    config.write_text(text, encoding="utf-8")


def start_bot(api: BotApiThread, receiver: OtlpReceiver, port: str) -> subprocess.Popen[str]:
    env = base_env(
        BOT_TOKEN=api.token,
        TELEGRAM_API_URL=api.url,
        POLL_TIMEOUT="1",
        OTEL_SERVICE_NAME="crocbot",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_PROMETHEUS_PORT=port,
    )
    return subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "-m", "examples.crocbot"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary("prometheus"), binary("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("alerting")
    switch = HTTPServer(("127.0.0.1", 0), _Switch)
    switch.received = []  # type: ignore[attr-defined]
    threading.Thread(target=switch.serve_forever, daemon=True).start()
    with contextlib.ExitStack() as stack:
        stack.callback(switch.shutdown)
        bot_api = stack.enter_context(BotApiThread())
        oncall = stack.enter_context(BotApiThread(token=ALERT_TOKEN))
        receiver = stack.enter_context(OtlpReceiver())

        # faults that only a failing run shows: flood control, a polling conflict, a handler error
        bot_api.flood_next("sendMessage", retry_after=1)
        bot_api.conflict_next()
        bot_api.push_message("/divide 1 0")
        bot_api.push_message("/start")
        port = base_env()["OTEL_EXPORTER_PROMETHEUS_PORT"]
        bot = start_bot(bot_api, receiver, port)
        stack.callback(lambda: (bot.terminate(), bot.wait(20)))
        bot_metrics = f"http://127.0.0.1:{port}/metrics"
        assert wait_for(lambda: http_get(bot_metrics)[0] == 200, 60), "the bot's /metrics never answered"

        token_file = workdir / "oncall-token"
        token_file.write_text(ALERT_TOKEN + "\n", encoding="utf-8")
        am_config = workdir / "alertmanager.yml"
        rendered = render_alertmanager(
            am_config,
            {
                "CROCOTEL_ALERT_TELEGRAM_BOT_TOKEN_FILE": str(token_file),
                "CROCOTEL_ALERT_TELEGRAM_CHAT_ID": str(ONCALL_CHAT),
                "CROCOTEL_ALERT_TELEGRAM_API_URL": oncall.url,
                "CROCOTEL_ALERT_WATCHDOG_URL": f"http://127.0.0.1:{switch.server_port}/watchdog",
            },
        )
        assert rendered.returncode == 0, rendered.stderr
        short_timers(am_config)
        alertmanager = start_alertmanager(am_config, workdir)
        stack.callback(stop, alertmanager.process)

        prom_config = workdir / "prometheus.yml"
        prom_config.write_text(
            json.dumps(
                {
                    "global": {
                        "scrape_interval": "1s",
                        "evaluation_interval": "1s",
                        "external_labels": {"runbook_base_url": RUNBOOKS},
                    },
                    "rule_files": [str(p) for p in render_rules(workdir)],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [alertmanager.url.removeprefix("http://")]}]}
                        ]
                    },
                    "scrape_configs": [
                        {
                            "job_name": "crocotel-bot",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        prometheus = start_prometheus(prom_config, workdir)
        stack.callback(stop, prometheus.process)

        bot_api.server_error_next("sendMessage", 502, times=100_000)  # from now on, every answer fails
        yield Stack(bot_api, oncall, bot_metrics, prometheus, alertmanager, switch.received, bot)  # type: ignore[attr-defined]


def alert_messages(stack: Stack, name: str) -> list[dict[str, object]]:
    return [m for m in stack.oncall.sent if name in str(m.get("text", ""))]


def drive(stack: Stack, done: Any, timeout: float) -> None:
    """Send the bot messages (every answer it tries fails with 502) until ``done()`` or the timeout."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        assert stack.bot.poll() is None, f"the bot exited: {stack.bot.stderr and stack.bot.stderr.read()}"
        stack.bot_api.push_message(f"hello {time.monotonic()}")
        time.sleep(0.5)


def test_a_sendmessage_outage_reaches_the_oncall_chat_with_the_runbook(stack: Stack) -> None:
    drive(stack, lambda: alert_messages(stack, "TelegramApiServerErrors"), 120)
    found = alert_messages(stack, "TelegramApiServerErrors")
    assert found, (
        f"no alert delivered; Alertmanager said:\n{stack.alertmanager.log.read_text()[-3000:]}\n"
        f"Prometheus alerts: {http_json(stack.prometheus.url + '/api/v1/alerts')}"
    )
    message = found[0]
    text = str(message["text"])
    assert int(str(message["chat_id"])) == ONCALL_CHAT
    assert text.startswith("FIRING [page] TelegramApiServerErrors (crocotel-bot)")
    assert "Telegram answers sendMessage of crocotel-bot with 5xx" in text
    assert f"Runbook: {RUNBOOKS}/runbooks/TelegramApiServerErrors.md" in text
    assert stack.bot_api.token not in text and ALERT_TOKEN not in text


def test_the_watchdog_reaches_the_dead_mans_switch(stack: Stack) -> None:
    def watchdog() -> list[dict[str, Any]]:
        return [
            alert
            for post in stack.switch
            for alert in post.get("alerts", [])
            if alert.get("labels", {}).get("alertname") == "Watchdog"
        ]

    found = wait_for(watchdog, 60)
    assert found, f"no Watchdog webhook; Alertmanager said:\n{stack.alertmanager.log.read_text()[-3000:]}"
    assert found[0]["annotations"]["runbook_url"] == f"{RUNBOOKS}/runbooks/Watchdog.md"
    assert not [m for m in stack.oncall.sent if "Watchdog" in str(m.get("text"))]  # not paged


def test_every_rule_expression_evaluates_without_error(stack: Stack) -> None:
    for rule in load_rules():
        answer = query(stack.prometheus, rule["expr"])
        assert answer["status"] == "success", (rule.get("alert") or rule.get("record"), answer)

    def evaluated() -> list[dict[str, Any]]:
        groups = http_json(stack.prometheus.url + "/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if all(r.get("lastEvaluation", "").startswith("2") for r in rules) else []

    rules = wait_for(evaluated, 30)
    assert len(rules) == len(load_rules())
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


def test_bot_down_inhibits_the_bots_other_alerts(stack: Stack) -> None:
    labels = {"job": "crocotel-bot-inhibit", "component": "bot"}
    alerts = [
        {"labels": {**labels, "alertname": "BotDown", "severity": "page"}},
        {"labels": {**labels, "alertname": "BotHandlerLatencyHigh", "severity": "ticket"}},
        {
            "labels": {
                **labels,
                "job": "crocotel-bot-other",
                "alertname": "BotHandlerLatencyHigh",
                "severity": "ticket",
            }
        },
    ]
    http_json(stack.alertmanager.url + "/api/v2/alerts", json.dumps(alerts).encode())

    def states() -> dict[tuple[str, str], str]:
        found = http_json(stack.alertmanager.url + "/api/v2/alerts?filter=component%3D%22bot%22")
        return {
            (a["labels"]["alertname"], a["labels"]["job"]): a["status"]["state"]
            for a in found
            if a["labels"]["job"].startswith(("crocotel-bot-inhibit", "crocotel-bot-other"))
        }

    def settled() -> dict[tuple[str, str], str]:
        now = states()
        return now if now.get(("BotHandlerLatencyHigh", "crocotel-bot-inhibit")) == "suppressed" else {}

    assert wait_for(settled, 20) == {
        ("BotDown", "crocotel-bot-inhibit"): "active",
        ("BotHandlerLatencyHigh", "crocotel-bot-inhibit"): "suppressed",
        ("BotHandlerLatencyHigh", "crocotel-bot-other"): "active",  # another bot: not silenced
    }


def exported(stack: Stack) -> dict[str, set[str]]:
    """Metric name -> label names, from the bot's own /metrics in this run."""
    status, text = http_get(stack.bot_metrics)
    assert status == 200
    names: dict[str, set[str]] = {}
    for name, labels, _value in prometheus_samples(text):
        names.setdefault(name, set()).update(labels)
    return names


def test_failure_only_labels_come_from_the_sdk() -> None:
    from opentelemetry.exporter.otlp.common import _exporter_metrics
    from opentelemetry.sdk._shared_internal import _processor_metrics

    assert '"queue_full"' in inspect.getsource(_processor_metrics)
    assert "ERROR_TYPE: type(error).__qualname__" in inspect.getsource(_exporter_metrics)


def test_rules_use_only_names_crocotel_exports(stack: Stack) -> None:
    def failed_a_lot() -> bool:  # flood control, a 409, a handler error, then 502s
        calls = [m for m, _ in stack.bot_api.calls]
        return calls.count("sendMessage") >= 6 and "getUpdates" in calls

    drive(stack, failed_a_lot, 60)
    time.sleep(1)  # the last answers counted
    names = exported(stack)
    recorded = {rule["record"] for rule in load_rules() if "record" in rule}
    problems = []
    for rule in load_rules():
        for selector in selectors(rule["expr"]):
            metric = selector.metric
            if metric in recorded or metric in PROMETHEUS_OWN or metric.startswith("otelcol_"):
                continue
            if metric not in names:
                problems.append(f"{rule.get('alert') or rule.get('record')}: {metric} is not exported")
                continue
            for label in selector.labels - {"job", "instance"} - names[metric]:
                if (metric, label) not in FAILURE_ONLY_LABELS:
                    problems.append(f"{rule.get('alert') or rule.get('record')}: {metric} has no {label}")
    assert problems == [], "\n".join(problems) + f"\nexported: {sorted(names)}"


def _go_docs() -> list[Path]:
    roots = [REPO / ".cache", Path(os.environ.get("CROCOTEL_CACHE_DIR", REPO / ".cache"))]
    found: list[Path] = []
    for root in roots:
        for helper in ("exporter/exporterhelper", "receiver/receiverhelper"):
            pattern = str(root / "go" / "mod" / "go.opentelemetry.io" / "collector" / helper)
            found += [Path(p) / "documentation.md" for p in glob.glob(pattern + "@*")]
    return [p for p in found if p.is_file()]


def test_pipeline_rules_use_only_names_the_collector_exports(tmp_path: Path) -> None:
    binary_path = otelcol_binary()
    wanted = {
        s.metric for rule in load_rules() for s in selectors(rule["expr"]) if s.metric.startswith("otelcol_")
    }
    with OtlpReceiver() as receiver:
        env = agent_env(
            tmp_path / "queue", receiver.endpoint, receiver.endpoint, receiver.endpoint, receiver.endpoint
        )
        with running_agent(binary_path, env, tmp_path / "agent.log") as agent:
            span = {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "x",
                    "startTimeUnixNano": "1", "endTimeUnixNano": "2"}  # fmt: skip
            for path, body in (
                ("/v1/traces", {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}),
                (
                    "/v1/logs",
                    {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]},
                ),
            ):
                request = urllib.request.Request(
                    agent.otlp_http + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert response.status == 200

            def seen() -> set[str]:
                names = {name for name, _labels, _v in prometheus_samples(agent.own_metrics())}
                return names if "otelcol_exporter_sent_spans_total" in names else set()

            names = wait_for(seen, 30)
    missing = wanted - names - FAILURE_ONLY_OTELCOL
    assert missing == set(), f"not exported by the Collector: {sorted(missing)}"
    docs = _go_docs()
    if docs:  # the allow-list is what the Collector documents, with Prometheus' _total suffix
        documented = {m.removesuffix("_total") for m in FAILURE_ONLY_OTELCOL}
        text = "".join(p.read_text(encoding="utf-8") for p in docs)
        assert {m for m in documented if f"### {m}\n" not in text} == set()
