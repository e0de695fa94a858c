"""The test kit bot authors get: the leak check, and the pytest fixtures from the installed plugin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crocotel.testing import assert_no_leaks, find_leaks
from crocotel.testing.botapi import DEFAULT_TOKEN
from crocotel.testing.leaks import shapes_of
from tests.conftest import REPO

PHONE = "+44 7911 123456"


def test_shapes_cover_a_tokens_secret_half_and_a_phones_digits() -> None:
    secret = DEFAULT_TOKEN.split(":", 1)[1]
    assert secret in shapes_of(DEFAULT_TOKEN) and DEFAULT_TOKEN.replace(":", "%3A") in shapes_of(
        DEFAULT_TOKEN
    )
    assert {"447911123456", "1123456"} <= set(shapes_of(PHONE))


def test_find_leaks_names_each_output_and_value() -> None:
    secret = DEFAULT_TOKEN.split(":", 1)[1]
    outputs = {"stdout": f"url /bot1:{secret}/x", "stderr": "call 447911123456", "otlp": "clean"}
    assert find_leaks(outputs, [DEFAULT_TOKEN, PHONE]) == [("stdout", 0), ("stderr", 1)]


def test_assert_no_leaks_fails_without_echoing_the_secret() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_no_leaks({"stdout": f"token {DEFAULT_TOKEN}"}, [DEFAULT_TOKEN])
    assert "planted value #0 found in stdout" in str(failure.value)
    assert DEFAULT_TOKEN.split(":", 1)[1] not in str(failure.value)


def test_assert_no_leaks_fails_when_an_output_carried_nothing() -> None:
    with pytest.raises(AssertionError, match="control 'CONTROL' missing from otlp"):
        assert_no_leaks({"stdout": "CONTROL [REDACTED:phone]", "otlp": ""}, [PHONE], controls=["CONTROL"])
    assert_no_leaks({"stdout": "CONTROL [REDACTED:phone]"}, [PHONE], controls=["CONTROL"])


def test_the_fixtures_come_from_the_installed_plugin() -> None:
    """A test file with no conftest gets ``bot_api`` and ``otlp_receiver`` from the entry point."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
         str(REPO / "tests" / "kit" / "test_kit_example.py")],
        cwd=REPO / "tests" / "kit", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
