"""A venv set up the way the OpenTelemetry docs say: crocotel, then ``opentelemetry-bootstrap -a install``.

Built once per pyproject.toml and kept in the build cache (``tests.collector_support.cache_dir``),
so later runs reuse it. Building needs the package index: without it the tests that use it skip
locally and fail under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector_support import cache_dir
from tests.support import REPO


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def bootstrapped_bin() -> Path:
    """The ``bin`` directory of the bootstrapped venv, built on first use."""
    # crocotel is installed editable: the checkout's path is part of what the venv is
    recipe = (REPO / "pyproject.toml").read_bytes() + sys.version.encode() + str(REPO).encode()
    key = hashlib.sha256(recipe).hexdigest()[:12]
    venv = cache_dir() / "venvs" / f"bootstrapped-{key}"
    done = venv / ".complete"
    if done.exists():
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--upgrade", "pip"],
        [*pip, "-e", str(REPO)],
        [str(venv / "bin" / "opentelemetry-bootstrap"), "-a", "install"],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            _fail_or_skip(f"building the bootstrapped venv failed at {step[-2:]}: {result.stderr[-2000:]}")
    done.write_text("ok\n")
    return venv / "bin"
