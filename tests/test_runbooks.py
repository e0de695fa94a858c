"""runbooks/: one file per alert, reached by its runbook_url; every other file indexed as a scenario."""

from __future__ import annotations

import re

import pytest

from tests.alerting_support import DEFAULT_RUNBOOK_BASE, load_rules
from tests.runbook_support import RUNBOOKS, runbook_expressions, runbook_files
from tests.support import REPO

SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation"]
_TEMPLATE = re.compile(r'^\{\{ or \$externalLabels\.runbook_base_url "([^"]+)" \}\}(/.*)$')


def alerts() -> dict[str, dict[str, object]]:
    return {rule["alert"]: rule for rule in load_rules() if "alert" in rule}


def resolve(runbook_url: str, base: str = DEFAULT_RUNBOOK_BASE) -> str:
    """The URL Prometheus renders when runbook_base_url is not set, as a path in this repository."""
    match = _TEMPLATE.match(runbook_url)
    assert match is not None, runbook_url
    url = match.group(1) + match.group(2)
    assert url.startswith(base + "/"), url
    return url.removeprefix(base + "/")


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def scenarios() -> list[str]:
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    listed = sections(index)["Scenarios"]
    return re.findall(r"\]\(([^)]+\.md)\)", listed)


def test_every_alerts_runbook_url_resolves_to_its_file() -> None:
    rules = [rule for rule in load_rules() if "alert" in rule]
    assert len({r["alert"] for r in rules}) >= 21
    for rule in rules:
        path = resolve(rule["annotations"]["runbook_url"])
        assert path == f"runbooks/{rule['alert']}.md"
        assert (REPO / path).is_file(), f"{rule['alert']}: {path} does not exist"


def test_every_runbook_file_is_an_alerts_or_an_indexed_scenario() -> None:
    names = {f"{name}.md" for name in alerts()}
    listed = scenarios()
    assert len(listed) == len(set(listed)) >= 9
    assert not names & set(listed), "an alert's runbook listed as a scenario"
    files = {p.name for p in runbook_files()} - {"README.md"}
    assert files - names - set(listed) == set(), "runbooks neither an alert's nor indexed"
    assert set(listed) - files == set(), "index links to scenarios that do not exist"
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for name in alerts():
        assert f"[{name}.md]({name}.md)" in index, f"README does not index {name}"


def test_relative_links_resolve() -> None:
    for path in runbook_files():
        for target in re.findall(r"\]\(([^)#]+)\)", path.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (path.parent / target).resolve().exists(), f"{path.name}: {target}"


@pytest.mark.parametrize("name", sorted(alerts()))
def test_alert_runbook_has_the_five_sections_and_a_concrete_diagnosis(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {name}\n")
    found = sections(text)
    assert list(found) == SECTIONS, f"{name}: sections {list(found)}"
    for title, body in found.items():
        assert len(body.split()) >= 5, f"{name}: {title} is empty"
    diagnosis = found["Diagnosis"]
    assert "```promql" in diagnosis, f"{name}: Diagnosis has no PromQL"
    component = alerts()[name]["labels"]["component"]  # type: ignore[index]
    if component == "bot" and name not in {"BotTargetMissing", "BotRestarting"}:
        assert re.search(r"Jaeger|Tempo|trace_id|trace", diagnosis), f"{name}: no trace search"


def test_every_runbook_has_promql_and_it_names_the_bot_job() -> None:
    expressions = runbook_expressions()
    with_promql = {e.where.split(" ")[0] for e in expressions}
    for path in runbook_files():
        if path.name != "README.md":
            assert path.name in with_promql, f"{path.name} has no PromQL"
    for expression in expressions:  # the job names the alert rules and collector/prometheus.yaml use
        for job in re.findall(r'\bjob=~?"([^"]*)"', expression.promql):
            assert job in {"crocotel-bot", "crocotel-bot.*", "otelcol.*"}, expression
