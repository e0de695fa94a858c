"""The stock OpenTelemetry setup the benchmarks compare against, and crocotel as users get it: a venv each.

``opentelemetry-distro`` with the OTLP and Prometheus exporters and the
aiohttp-client and logging instrumentations (what an operator installs without
crocotel), plus the bots' own libraries (aiogram, aiohttp and what pins their
speed) at exactly the versions this venv has, so a bare run here and a bare run
there do the same work. The instrumentation packages share one 0.66bN line; the
aiohttp-client instrumentation has no 0.66b2, so pip settles on 0.66b1 throughout.
Created on first use under ``.cache/`` (never committed), one venv per set of pins.

crocotel's own venv holds what ``pip install crocotel`` brings (this checkout,
editable, so the venv follows the code) and the same bot libraries, and
nothing of the dev extras: the development venv also has httpx, python-telegram-bot
and their instrumentations, which ``opentelemetry-instrument`` would load and a
bot on aiohttp or aiogram would not have.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"
OTEL_PINS = [
    "opentelemetry-distro>=0.66b0,<0.67",
    "opentelemetry-exporter-otlp~=1.45",
    "opentelemetry-exporter-prometheus>=0.66b0,<0.67",
    "opentelemetry-instrumentation-aiohttp-client>=0.66b0,<0.67",
    "opentelemetry-instrumentation-logging>=0.66b0,<0.67",
]
# The bots' libraries, pinned to what this venv runs: the bare baseline is then the same code in both venvs.
SAME_AS_HERE = ("aiogram", "aiohttp", "yarl", "multidict", "pydantic", "pydantic-core", "frozenlist")


def pins() -> list[str]:
    """Every requirement of the stock venv."""
    here = []
    for name in SAME_AS_HERE:
        try:
            here.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return OTEL_PINS + here


def stock_python() -> Path:
    """The stock venv's interpreter, creating the venv the first time."""
    return _venv("stock-venv-0.66", pins())


def crocotel_python() -> Path:
    """The interpreter of a venv with crocotel (this checkout, editable) and the bots' libraries."""
    project = (REPO / "pyproject.toml").read_bytes()
    here = [p for p in pins() if p not in OTEL_PINS]
    return _venv(f"crocotel-venv-{hashlib.sha256(project).hexdigest()[:8]}", ["-e", str(REPO), *here])


def _venv(name: str, wanted: list[str]) -> Path:
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:10]
    venv = CACHE / f"{name}-{key}"
    python = venv / "bin" / "python"
    if not (venv / "done").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
        (venv / "done").write_text("\n".join(wanted) + "\n")
    return python


if __name__ == "__main__":
    print(stock_python())
    print(crocotel_python())
