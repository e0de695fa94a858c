"""The shipped alert rules and Alertmanager config, checked by Debian's promtool and amtool."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.alerting_support import (
    AM_TEMPLATE,
    DEFAULT_RUNBOOK_BASE,
    RULE_FILES,
    RULE_TESTS,
    binary,
    load_rules,
    render_alertmanager,
)

ALERT_TOKEN = "987654321:AAF-alerting_bot_token_for_tests_0123"
SEVERITIES = {"page", "ticket", "none"}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=120)


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def test_promtool_check_rules() -> None:
    done = run(binary("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass() -> None:
    done = run(binary("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    yaml = YAML(typ="safe")
    firing: dict[str, list[dict[str, Any]]] = {}
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                if expected:
                    firing.setdefault(check["alertname"], []).extend(expected)
                else:
                    quiet.add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - set(firing) == set(), "alerts without a test where they fire"
    assert names - quiet - {"Watchdog"} == set(), "alerts without a test where they stay quiet"
    for name, expectations in firing.items():
        for expected in expectations:
            assert expected["exp_labels"]["severity"] in SEVERITIES, name
            annotations = expected["exp_annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}, name
            assert annotations["runbook_url"] == f"{DEFAULT_RUNBOOK_BASE}/runbooks/{name}.md"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["labels"]["component"] in {"bot", "pipeline"}, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        assert annotations["runbook_url"] == (
            f'{{{{ or $externalLabels.runbook_base_url "{DEFAULT_RUNBOOK_BASE}" }}}}/runbooks/{name}.md'
        )


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "alert-bot-token"
    path.write_text(ALERT_TOKEN + "\n", encoding="utf-8")
    return path


def render_env(token_file: Path, **extra: str) -> dict[str, str]:
    env = {
        "CROCOTEL_ALERT_TELEGRAM_BOT_TOKEN_FILE": str(token_file),
        "CROCOTEL_ALERT_TELEGRAM_CHAT_ID": "-1001234567890",
        "CROCOTEL_ALERT_WATCHDOG_URL": "http://127.0.0.1:9/watchdog",
    }
    env.update(extra)
    return env


def test_rendered_alertmanager_config_passes_amtool(tmp_path: Path, token_file: Path) -> None:
    out = tmp_path / "alertmanager.yml"
    done = render_alertmanager(
        out, render_env(token_file, CROCOTEL_ALERT_TELEGRAM_API_URL="http://127.0.0.1:1")
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the token
    text = out.read_text(encoding="utf-8")
    assert text.count(ALERT_TOKEN) == 2 and "telegram_api_url: http://127.0.0.1:1" in text
    assert ALERT_TOKEN not in done.stdout + done.stderr
    checked = run(binary("amtool"), "check-config", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 receivers" in checked.stdout and "3 inhibit rules" in checked.stdout


def test_the_template_holds_no_secret() -> None:
    text = AM_TEMPLATE.read_text(encoding="utf-8")
    assert "${file_from_env:CROCOTEL_ALERT_TELEGRAM_BOT_TOKEN_FILE}" in text
    assert "bot_token_file" not in text.split("receivers:")[1]  # Debian's 0.25 does not know it
    from crocotel.redaction import redact

    rest = text.replace('bot_token: "${file_from_env:CROCOTEL_ALERT_TELEGRAM_BOT_TOKEN_FILE}"', "")
    assert "bot_token:" not in rest
    assert redact(rest) == rest  # nothing token-, phone- or secret-shaped anywhere else


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=Watchdog", "severity=none"], "watchdog"),
        (["alertname=BotDown", "severity=page", "job=crocotel-bot"], "telegram-page"),
        (["alertname=BotErrorBudgetBurn", "severity=page", "window=1h"], "telegram-page"),
        (["alertname=BotHandlerLatencyHigh", "severity=ticket"], "telegram-ticket"),
        (["alertname=SomethingNew"], "telegram-ticket"),
    ],
)
def test_routing_by_severity(tmp_path: Path, token_file: Path, labels: list[str], receiver: str) -> None:
    out = tmp_path / "alertmanager.yml"
    assert render_alertmanager(out, render_env(token_file)).returncode == 0
    done = run(binary("amtool"), "config", "routes", "test", f"--config.file={out}", *labels)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == receiver


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CROCOTEL_ALERT_TELEGRAM_CHAT_ID": ""}, "CROCOTEL_ALERT_TELEGRAM_CHAT_ID is not set"),
        ({"CROCOTEL_ALERT_TELEGRAM_CHAT_ID": "@oncall"}, "expected a numeric chat id"),
        ({"CROCOTEL_ALERT_WATCHDOG_URL": "ftp://x"}, "expected an http:// or https:// URL"),
        ({"CROCOTEL_ALERT_TELEGRAM_API_URL": 'http://x"y'}, "without quotes"),
        ({"CROCOTEL_ALERT_TELEGRAM_BOT_TOKEN_FILE": "/nonexistent"}, "cannot read that file"),
    ],
)
def test_render_refuses_bad_values(
    tmp_path: Path, token_file: Path, change: dict[str, str], message: str
) -> None:
    out = tmp_path / "alertmanager.yml"
    env = {k: v for k, v in render_env(token_file, **change).items() if v}
    done = render_alertmanager(out, env)
    assert done.returncode == 1
    assert message in done.stderr
    assert not out.exists()


def test_render_never_prints_what_the_token_file_holds(tmp_path: Path) -> None:
    wrong = tmp_path / "token"
    wrong.write_text("password=hunter2-not-a-token\n", encoding="utf-8")
    done = render_alertmanager(tmp_path / "out.yml", render_env(wrong))
    assert done.returncode == 1 and "does not hold a bot token" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
