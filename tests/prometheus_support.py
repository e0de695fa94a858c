"""A real Prometheus (Debian's ``prometheus``) on loopback, for the tests that scrape crocotel.

When the binary is missing the tests skip locally and fail under ``CI=true``
(``scripts/test`` installs it with apt-get).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port

INSTALL_HINT = "install it with: apt-get update && apt-get install -y prometheus"


def prometheus_binary() -> str:
    """Path of ``prometheus``; skips the test (fails it under CI=true) when it is not installed."""
    found = shutil.which("prometheus")
    if found:
        return found
    reason = "no prometheus binary on PATH; " + INSTALL_HINT
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Prometheus:
    """A running Prometheus and its HTTP API."""

    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.proc = proc
        self.log = log

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector."""
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def exemplars(self, expr: str, since: float) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.api(
            "query_exemplars", query=expr, start=str(since), end=str(time.time() + 60)
        )
        return data


@contextmanager
def prometheus(target: str, workdir: Path, interval: str = "1s") -> Iterator[Prometheus]:
    """Prometheus scraping ``target`` (host:port) every ``interval``, exemplar storage on."""
    binary = prometheus_binary()
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  scrape_timeout: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: bot\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    log = workdir / "prometheus.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("prometheus did not become ready:\n" + log.read_text()[-3000:])
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=3)  # its shutdown is not under test; a slow TSDB close only costs time
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
