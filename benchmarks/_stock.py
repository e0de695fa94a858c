"""The stock OpenTelemetry setup the benchmarks compare against, and crocotel as users get it: a venv each.

``opentelemetry-distro`` with the OTLP and Prometheus exporters and the
aiohttp-client and logging instrumentations (what an operator installs without
crocotel), plus the bots' own libraries (aiogram, aiohttp and what pins their
speed) at exactly the versions this venv has, so a bare run here and a bare run
there do the same work. The instrumentation packages share one 0.66bN line; the
aiohttp-client instrumentation has no 0.66b2, so pip settles on 0.66b1 throughout.
Created on first use under ``.cache/`` (never committed), one venv per set of pins.

crocotel's own venv holds what ``pip install crocotel`` brings (this checkout, as a
wheel, reinstalled when the source changes) and the same bot libraries, and
nothing of the dev extras: the development venv also has httpx, python-telegram-bot
and their instrumentations, which ``opentelemetry-instrument`` would load and a
bot on aiohttp or aiogram would not have.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
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
    """The interpreter of a venv with crocotel (this checkout) and the bots' libraries.

    crocotel is installed the way a user gets it, as a built wheel: an editable install would
    add its import hook to every start-up and memory figure. The package is reinstalled
    whenever its source differs from what the venv holds.
    """
    project = (REPO / "pyproject.toml").read_bytes()
    here = [p for p in pins() if p not in OTEL_PINS]
    python = _venv(f"crocotel-venv-{hashlib.sha256(project).hexdigest()[:8]}", here)
    stamp = python.parent.parent / "crocotel-source"
    source = _source_hash()
    if not stamp.exists() or stamp.read_text() != source:
        with tempfile.TemporaryDirectory(prefix="crocotel-wheel-") as where:
            tree = Path(where) / "crocotel"
            for name in ("pyproject.toml", "README.md"):
                shutil.copy(REPO / name, Path(where) / name)
            shutil.copytree(REPO / "crocotel", tree, ignore=shutil.ignore_patterns("__pycache__"))
            pip = [str(python), "-m", "pip", "install", "-q", where]
            if stamp.exists():  # its dependencies are in place: only crocotel changed
                pip[4:4] = ["--force-reinstall", "--no-deps"]
            subprocess.run(pip, check=True, capture_output=True)
        stamp.write_text(source)
    return python


def _source_hash() -> str:
    """A digest of crocotel's package source and pyproject.toml."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
    for path in sorted((REPO / "crocotel").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


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
