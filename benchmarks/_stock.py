"""The stock OpenTelemetry setup the benchmarks compare against, in a venv of its own.

``opentelemetry-distro`` with the OTLP exporter and the aiohttp-client
instrumentation (what an operator installs without crocotel), plus aiogram for
the bot benchmarks. The instrumentation packages share one 0.66bN line; the
aiohttp-client instrumentation has no 0.66b2, so pip settles on 0.66b1 throughout.
Created on first use under ``.cache/`` (never committed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STOCK = Path(__file__).resolve().parent.parent / ".cache" / "stock-venv-0.66"
PINS = [
    "opentelemetry-distro>=0.66b0,<0.67",
    "opentelemetry-exporter-otlp~=1.45",
    "opentelemetry-instrumentation-aiohttp-client>=0.66b0,<0.67",
    "aiogram>=3,<4",
]


def stock_python() -> Path:
    """The stock venv's interpreter, creating the venv the first time."""
    python = STOCK / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(STOCK)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PINS], check=True)
    return python
