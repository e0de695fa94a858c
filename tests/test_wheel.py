"""A built wheel, installed into a fresh venv, works under ``opentelemetry-instrument``.

This catches what an editable install hides: missing modules, package data
(py.typed) or entry points.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from crocotel.testing import OtlpReceiver
from tests.support import REPO, SPAN_APP, base_env

pytestmark = pytest.mark.integration


def test_wheel_in_a_fresh_venv(tmp_path: Path, receiver: OtlpReceiver) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("crocotel-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "crocotel/py.typed" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # the pip bundled with older Pythons cannot resolve the 0.66bN pre-release pins
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_SERVICE_NAME="from-wheel")
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(venv / "bin" / "opentelemetry-instrument"), str(python), SPAN_APP, "exit", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr
    assert receiver.wait_for(lambda r: len(r.spans()) == 2, timeout=10)
    assert {s.resource["service.name"] for s in receiver.spans()} == {"from-wheel"}
    assert {s.resource["telemetry.distro.name"] for s in receiver.spans()} == {"crocotel"}
