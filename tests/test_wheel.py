"""A built wheel, installed into a fresh venv, works under ``opentelemetry-instrument``.

This catches what an editable install hides: missing modules, package data
(py.typed) or entry points.
"""

from __future__ import annotations

import shutil
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
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[testing]"],
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

    _every_subcommand_runs(venv / "bin", tmp_path, env)
    _the_test_kit_works(python, tmp_path, env)


def _every_subcommand_runs(bin_dir: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """What a pip user can type: every subcommand ``crocotel --help`` lists runs from the wheel."""
    empty = tmp_path / "empty"
    empty.mkdir()
    crocotel = str(bin_dir / "crocotel")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [crocotel, *args], cwd=empty, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    listed = run("--help").stdout
    commands = set(listed.split("{", 1)[1].split("}", 1)[0].split(","))
    assert commands == {"run", "config", "doctor", "collector-config"}, listed
    results = {
        "run": run("run", "--", str(bin_dir / "python"), "-c", "print('RAN')"),
        "config": run("config"),
        "doctor": run("doctor"),
        "collector-config": run("collector-config"),
    }
    assert results["run"].returncode == 0 and "RAN" in results["run"].stdout, results["run"].stderr
    assert results["config"].returncode == 0 and "OTEL_SERVICE_NAME" in results["config"].stdout
    assert "[ok  ] redaction self-test" in results["doctor"].stdout, results["doctor"].stdout
    assert "transform/redact" in results["collector-config"].stdout
    for name, done in results.items():
        assert "Traceback" not in done.stderr, (name, done.stderr)


def _the_test_kit_works(python: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """``crocotel[testing]`` gives a bot author the fixtures and the leak check, from the wheel."""
    suite = tmp_path / "my_bot_tests"
    suite.mkdir()
    shutil.copy(REPO / "tests" / "kit" / "test_kit_example.py", suite / "test_kit_example.py")
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
