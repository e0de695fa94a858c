"""Helpers for the Collector tests: find the built binary, run an agent on free loopback ports.

The binary comes from ``scripts/build-collector`` (``scripts/test`` exports its
output as ``CROCOTEL_OTELCOL``). Without that variable the newest binary built
from the current manifest in the build cache (``cache_dir()``) is used. When there is none,
the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parent.parent
COLLECTOR_DIR = REPO / "collector"
AGENT_CONFIG = COLLECTOR_DIR / "otelcol-agent.yaml"
MANIFEST = COLLECTOR_DIR / "builder-config.yaml"
BUILD_HINT = "build it with scripts/build-collector and export CROCOTEL_OTELCOL=<the path it prints>"

_STARTUP_TIMEOUT = 30.0
_STOP_TIMEOUT = 20.0


def cache_dir() -> Path:
    """Where scripts/build-collector and scripts/build-jaeger keep binaries (scripts/go-cache.sh)."""
    if os.environ.get("CROCOTEL_CACHE_DIR"):
        return Path(os.environ["CROCOTEL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crocotel"


def _cached_binary() -> Path | None:
    """The newest binary in the build cache that was built from the current manifest."""
    manifest = MANIFEST.read_bytes()
    found = [
        d / "otelcol-crocotel"
        for d in (cache_dir() / "otelcol").glob("otelcol-crocotel-*")
        if (d / "builder-config.yaml").is_file() and (d / "builder-config.yaml").read_bytes() == manifest
    ]
    found = [b for b in found if os.access(b, os.X_OK)]
    return max(found, key=lambda b: b.stat().st_mtime) if found else None


def otelcol_binary() -> Path:
    """Path of the Collector binary; skips the test (fails it under CI=true) when there is none."""
    env = os.environ.get("CROCOTEL_OTELCOL", "")
    binary = Path(env) if env else _cached_binary()
    if binary is not None and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    reason = f"no Collector binary ({'CROCOTEL_OTELCOL=' + env if env else 'CROCOTEL_OTELCOL unset'}); "
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + BUILD_HINT)
    pytest.skip(reason + BUILD_HINT)


JAEGER_HINT = "build it with scripts/build-jaeger and export CROCOTEL_JAEGER=<the path it prints>"


def jaeger_binary() -> Path:
    """Path of a Jaeger v2 binary (CROCOTEL_JAEGER, else the newest in the build cache).

    Skips the test when there is none; fails it under CI=true, where scripts/test builds one.
    """
    env = os.environ.get("CROCOTEL_JAEGER", "")
    if env:
        binary: Path | None = Path(env)
    else:
        found = [b for b in (cache_dir() / "jaeger").glob("jaeger-*/jaeger") if os.access(b, os.X_OK)]
        binary = max(found, key=lambda b: b.stat().st_mtime) if found else None
    if binary is not None and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    reason = f"no Jaeger binary ({'CROCOTEL_JAEGER=' + env if env else 'CROCOTEL_JAEGER unset'}); "
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + JAEGER_HINT)
    pytest.skip(reason + JAEGER_HINT)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except OSError:
        return 0, ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_values(text: str, name: str) -> list[float]:
    """Every sample value of metric ``name`` in a Prometheus text exposition."""
    values = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            values.append(float(match.group(3)))
    return values


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of metric ``name``'s samples whose labels include ``labels``, in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            found = dict(_LABEL.findall(match.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
    return total


@dataclass
class Agent:
    """A running agent Collector and the loopback addresses it uses."""

    process: subprocess.Popen[bytes]
    otlp_http: str  # base URL, e.g. http://127.0.0.1:PORT
    otlp_grpc: str  # host:port
    telemetry: str  # URL of the Collector's own /metrics
    health: str  # URL of the health_check extension
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def own_metrics(self) -> str:
        return http_get(self.telemetry)[1]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def agent_env(storage: Path, traces: str, logs: str, error_logs: str, metrics: str) -> dict[str, str]:
    """Environment for otelcol-agent.yaml on free loopback ports, exporting to the given base URLs."""
    return {
        "CROCOTEL_COLLECTOR_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_COLLECTOR_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{free_port()}",
        "CROCOTEL_COLLECTOR_TELEMETRY_HOST": "127.0.0.1",
        "CROCOTEL_COLLECTOR_TELEMETRY_PORT": str(free_port()),
        "CROCOTEL_COLLECTOR_STORAGE_DIR": str(storage),
        "CROCOTEL_COLLECTOR_TRACES_ENDPOINT": traces,
        "CROCOTEL_COLLECTOR_LOGS_ENDPOINT": logs,
        "CROCOTEL_COLLECTOR_ERROR_LOGS_ENDPOINT": error_logs,
        "CROCOTEL_COLLECTOR_METRICS_ENDPOINT": metrics,
        "CROCOTEL_COLLECTOR_RETRY_MAX_INTERVAL": "1s",
    }


def start_agent(
    binary: Path,
    env: dict[str, str],
    log_path: Path,
    config: Path = AGENT_CONFIG,
    prefix: str = "CROCOTEL_COLLECTOR_",
) -> Agent:
    """Start the Collector and wait until its health check answers 200.

    ``prefix`` names the config's variables: CROCOTEL_COLLECTOR_ (the agent) or
    CROCOTEL_GATEWAY_ (the gateway); both take the same endpoint variables.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    full_env.update(env)
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [str(binary), "--config", str(config)],
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    agent = Agent(
        process=process,
        otlp_http="http://" + env[prefix + "OTLP_HTTP_ENDPOINT"],
        otlp_grpc=env[prefix + "OTLP_GRPC_ENDPOINT"],
        telemetry=f"http://127.0.0.1:{env[prefix + 'TELEMETRY_PORT']}/metrics",
        health="http://" + env[prefix + "HEALTH_ENDPOINT"] + "/",
        log_path=log_path,
        env=env,
    )
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the Collector exited with {process.returncode}:\n{agent.log()[-4000:]}")
        if http_get(agent.health, timeout=1.0)[0] == 200:
            return agent
        time.sleep(0.1)
    stop_agent(agent)
    raise AssertionError(f"the Collector was not healthy within {_STARTUP_TIMEOUT} s:\n{agent.log()[-4000:]}")


def stop_agent(agent: Agent) -> int:
    """SIGTERM, wait (bounded), SIGKILL as a last resort; returns the exit status."""
    if agent.process.poll() is None:
        agent.process.send_signal(signal.SIGTERM)
        try:
            agent.process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            agent.process.kill()
            agent.process.wait(5)
    return int(agent.process.returncode)


@contextmanager
def running_agent(
    binary: Path,
    env: dict[str, str],
    log_path: Path,
    config: Path = AGENT_CONFIG,
    prefix: str = "CROCOTEL_COLLECTOR_",
) -> Iterator[Agent]:
    agent = start_agent(binary, env, log_path, config, prefix)
    try:
        yield agent
    finally:
        stop_agent(agent)
