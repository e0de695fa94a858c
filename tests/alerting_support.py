"""Helpers for the alerting tests: Debian's Prometheus and Alertmanager, the rule files, PromQL names.

The binaries (prometheus, promtool, prometheus-alertmanager, amtool) come from Debian's packages,
which ``scripts/test`` installs. Without them a test skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.support import REPO, free_port

ALERTS = REPO / "collector" / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yaml"))
RULE_TESTS = sorted((ALERTS / "tests").glob("*.test.yaml"))
AM_TEMPLATE = REPO / "collector" / "alertmanager.yml"
RENDER_AM = REPO / "collector" / "render-alertmanager"
DEFAULT_RUNBOOK_BASE = "https://github.com/crocotel/crocotel/blob/main"
INSTALL_HINT = "install Debian's packages: apt-get install -y prometheus prometheus-alertmanager"
_START_TIMEOUT = 30.0


def binary(name: str) -> str:
    """Path of a Prometheus-project binary; skips the test (fails it under CI=true) without it."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed; {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def load_rules() -> list[dict[str, Any]]:
    """Every rule of every shipped rule file, each with the file it came from under ``file``."""
    yaml = YAML(typ="safe")
    rules = []
    for path in RULE_FILES:
        for group in yaml.load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "file": path.name})
    return rules


# -- PromQL: which metric names and matcher labels an expression uses ------------------------

_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    ]
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.])[a-zA-Z_:][a-zA-Z0-9_:]*")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\")")


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name and the label names its matchers use."""

    metric: str
    labels: frozenset[str]


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of a PromQL expression (enough PromQL for our rule files)."""
    found: list[Selector] = []
    rest = expr
    for match in _SELECTOR.finditer(expr):
        name, body = match.group(1) or "", match.group(2)
        labels = {m.group(1) for m in _MATCHER.finditer(body)}
        if not name:
            named = re.search(r'__name__\s*=\s*"([^"]+)"', body)
            name = named.group(1) if named else ""
        if name and name not in _KEYWORDS:
            found.append(Selector(name, frozenset(labels - {"__name__"})))
        rest = rest.replace(match.group(0), " ", 1)
    rest = _STRING.sub(" ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range and subquery durations
    rest = _LIST.sub(" ", rest)
    for match in _IDENT.finditer(rest):
        name = match.group(0)
        after = rest[match.end() :].lstrip()
        if name in _KEYWORDS or after.startswith("("):
            continue  # a keyword, a function or an aggregation
        found.append(Selector(name, frozenset()))
    return found


# -- running Prometheus and Alertmanager ------------------------------------------------------


def http_json(url: str, data: bytes | None = None, timeout: float = 5.0) -> Any:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read().decode("utf-8")
    return json.loads(body) if body else None


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {_START_TIMEOUT} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(3)  # how Prometheus or Alertmanager stop is not under test
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Server:
    """A running Prometheus or Alertmanager on loopback."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path


def start(command: list[str], url: str, ready_path: str, log: Path) -> Server:
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, url, log)
    try:
        wait_ready(url + ready_path, process, log)
    except BaseException:
        stop(process)
        raise
    return server


def start_alertmanager(config: Path, workdir: Path) -> Server:
    port = free_port()
    command = [
        binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance on loopback
        "--log.level=debug",
    ]
    return start(command, f"http://127.0.0.1:{port}", "/-/ready", workdir / "alertmanager.log")


def start_prometheus(config: Path, workdir: Path) -> Server:
    port = free_port()
    command = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=2s",  # alerts fired before Alertmanager was known are resent soon
    ]
    return start(command, f"http://127.0.0.1:{port}", "/-/ready", workdir / "prometheus.log")


def render_alertmanager(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run collector/render-alertmanager with exactly ``env`` (plus PATH)."""
    return subprocess.run(
        ["bash", str(RENDER_AM), str(out)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def query(prometheus: Server, promql: str) -> Any:
    return http_json(f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))


def wait_for(check: Any, timeout: float, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy (bounded); returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def lines(text: str) -> Iterator[str]:
    return iter(text.splitlines())
