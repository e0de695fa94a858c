"""What the runbooks and the dashboard ask Prometheus: their PromQL, with the dashboard's variables filled in.

Runbooks keep PromQL in fenced ```promql blocks (expressions separated by blank lines); an inline
code span with a ``job`` matcher and no ``<placeholder>`` counts as an expression too. The
dashboard's Prometheus targets use Grafana variables: ``$job`` and ``$instance`` become the
variables' "All" values, Grafana's built-ins fixed intervals.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support import REPO

RUNBOOKS = REPO / "runbooks"
DASHBOARD_DIR = REPO / "collector" / "grafana"
DASHBOARD_JSON = DASHBOARD_DIR / "crocotel-dashboard.json"

_BLOCK = re.compile(r"```promql\n(.*?)```", re.S)
_FENCE = re.compile(r"```.*?```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_JOB_MATCHER = re.compile(r'\{[^}]*\bjob=~?"[^"]*"[^}]*\}')
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it was written."""

    where: str
    promql: str


def runbook_files() -> list[Path]:
    return sorted(RUNBOOKS.glob("*.md"))


def runbook_expressions() -> list[Expression]:
    """Every PromQL expression of every runbook."""
    found: list[Expression] = []
    for path in runbook_files():
        text = path.read_text(encoding="utf-8")
        for block in _BLOCK.findall(text):
            for chunk in re.split(r"\n\s*\n", block):
                if chunk.strip():
                    found.append(Expression(path.name, chunk.strip()))
        for span in _INLINE.findall(_FENCE.sub(" ", text)):
            if _JOB_MATCHER.search(span) and "<" not in span and not span.startswith(("/", "{", "curl")):
                found.append(Expression(f"{path.name} (inline)", span))
    return found


def load_generator() -> ModuleType:
    """collector/grafana/dashboard.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("crocotel_dashboard", DASHBOARD_DIR / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD_JSON.read_text(encoding="utf-8"))
    return data


def variable_values(board: dict[str, Any]) -> dict[str, str]:
    """``$name`` -> the value a query uses when "All" is selected."""
    values = dict(BUILTINS)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            values["$" + variable["name"]] = variable["allValue"]
    return values


def fill(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):  # $instance before $i...
        expr = expr.replace(name, values[name])
    assert "$" not in expr.replace("$1", ""), f"unfilled variable in {expr}"
    return expr


@dataclass(frozen=True)
class PanelQuery:
    """One Prometheus target of a dashboard panel, variables filled in."""

    panel: str
    ref: str
    promql: str
    exemplar: bool


def dashboard_queries(board: dict[str, Any]) -> list[PanelQuery]:
    values = variable_values(board)
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "prometheus":
                found.append(
                    PanelQuery(
                        panel["title"],
                        target["refId"],
                        fill(target["expr"], values),
                        bool(target.get("exemplar")),
                    )
                )
    return found
