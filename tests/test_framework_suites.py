"""Framework-suite machinery: the comparison finds instrumented-only failures, the plugin proves activation.

The suites themselves run in ``scripts/test`` (``scripts/framework-suites``);
these tests check the parts that decide pass or fail, on small real pytest runs.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO

SUITES = REPO / "scripts" / "framework_suites"


def load_runner() -> ModuleType:
    if str(SUITES) not in sys.path:
        sys.path.insert(0, str(SUITES))  # run.py imports the plugin next to it, as when run as a script
    spec = importlib.util.spec_from_file_location("framework_suites_run", SUITES / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


run = load_runner()

SUITE = """
import os
import pytest

class TestThings:
    def test_fine(self):
        assert True

    @pytest.mark.parametrize("n", [1, 2])
    def test_breaks_when_instrumented(self, n):
        assert os.environ.get("BREAK") != str(n)

def test_always_fails():
    assert False

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.fixture
def broken_teardown():
    yield
    if os.environ.get("BREAK"):
        raise RuntimeError("teardown")

def test_teardown(broken_teardown):
    pass
"""


def pytest_junit(directory: Path, name: str, **env: str) -> Path:
    junit = directory / f"{name}.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}", "tests"],
        cwd=directory,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        check=False,
        timeout=60,
    )
    return junit


def test_the_comparison_finds_exactly_the_tests_that_fail_only_instrumented(tmp_path: Path) -> None:
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    (tmp_path / "tests" / "sub" / "test_suite.py").write_text(SUITE)
    plain = run.junit_outcomes(pytest_junit(tmp_path, "plain"))
    broken = run.junit_outcomes(pytest_junit(tmp_path, "instrumented", BREAK="2"))
    assert sum(o == "passed" for o in plain.values()) == 4 and list(plain.values()).count("skipped") == 1
    found = run.instrumented_only(plain, broken)
    assert found == [
        "tests.sub.test_suite.TestThings::test_breaks_when_instrumented[2]",
        "tests.sub.test_suite::test_teardown",  # a teardown error counts as a failure
    ]
    assert [run.node_id(t, tmp_path) for t in found] == [
        "tests/sub/test_suite.py::TestThings::test_breaks_when_instrumented[2]",
        "tests/sub/test_suite.py::test_teardown",
    ]
    assert "tests.sub.test_suite::test_always_fails" not in found  # fails plain too: not ours
    passed = sorted(t for t, o in plain.items() if o == "passed")
    assert run.instrumented_only(plain, {}) == passed  # a test that vanished counts too


def test_lock_constraints_pick_the_versions_for_this_interpreter(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        textwrap.dedent(
            """
            version = 1
            [[package]]
            name = "aiohttp"
            version = "3.13.3"
            [[package]]
            name = "numpy"
            version = "1.0"
            resolution-markers = ["python_full_version < '3.0'"]
            [[package]]
            name = "numpy"
            version = "2.0"
            resolution-markers = ["python_full_version >= '3.0'"]
            [[package]]
            name = "aiogram"
            version = "3.31.0"
            source = { editable = "." }
            """
        )
    )
    assert run.lock_constraints(lock) == ["aiohttp==3.13.3", "numpy==2.0"]


def test_the_aiogram_version_is_pinned_exactly_in_the_dev_extra() -> None:
    from importlib import metadata

    assert run.pinned("aiogram") == metadata.version("aiogram")


def test_the_cached_venvs_key_follows_what_they_install_not_the_dev_extra(tmp_path: Path) -> None:
    """A new test tool in the dev extra must not throw the framework venvs and their plain runs
    away (minutes of CI); a new runtime dependency, entry point or packaging setting must."""
    base = (REPO / "pyproject.toml").read_text()
    pyproject = tmp_path / "pyproject.toml"

    def key(text: str) -> bytes:
        pyproject.write_text(text)
        return bytes(run.installed_metadata(pyproject))

    dev_tool = base.replace("dev = [\n", 'dev = [\n    "pytest-randomly>=3,<4",\n', 1)
    runtime = base.replace("dependencies = [\n", 'dependencies = [\n    "attrs>=23",\n', 1)
    command = 'crocotel-extra = "crocotel.cli:main"\n'
    scripts = base.replace("[project.scripts]\n", "[project.scripts]\n" + command, 1)
    table = "[tool.setuptools.package-data]\n"
    packaged = base.replace(table, table + 'x = ["*.txt"]\n', 1)
    assert len({base, dev_tool, runtime, scripts, packaged}) == 5  # each edit found its place
    assert key(dev_tool) == key(base)
    assert key(runtime) != key(base)
    assert key(scripts) != key(base)
    assert key(packaged) != key(base)


AIOGRAM_SUITE = """
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.types import Update

class Quiet(BaseSession):
    async def make_request(self, bot, method, timeout=None):
        raise AssertionError("no Bot API call expected")
    async def stream_content(self, *args, **kwargs):
        yield b""
    async def close(self):
        pass

async def test_one_update():
    router = Router()
    seen = []
    @router.message()
    async def handler(message):
        seen.append(message.text)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot("42:TEST", session=Quiet())
    update = Update.model_validate({"update_id": 1, "message": {"message_id": 1, "date": 0,
        "chat": {"id": 1, "type": "private"}, "text": "hi"}}, context={"bot": bot})
    await dispatcher.feed_update(bot, update)
    assert seen == ["hi"]
"""


@pytest.mark.integration
def test_the_plugin_instruments_and_proves_it(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_bot.py").write_text(AIOGRAM_SUITE)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "crocotel_plugin", "-q", "tests",
         "-o", "asyncio_mode=auto"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SUITES), "CROCOTEL_SUITE_MODE": "instrument",
             "CROCOTEL_SUITE_REPORT": str(report)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (written,) = tmp_path.glob("report.json.*")  # one per pytest process (xdist workers add theirs)
    found = run.crocotel_plugin.merge([json.loads(written.read_text())])
    assert "aiogram" in found["instrumentors"] and "aiohttp-web" in found["instrumentors"]
    handler_wrap = "aiogram.dispatcher.event.handler.HandlerObject.call (inherited from CallableObject)"
    assert handler_wrap in found["wraps"]
    assert found["spans"] == 2  # the update and its handler
    names = {"telegram.update message", "telegram.handler test_one_update.handler"}
    assert set(found["top_span_names"]) == names
    assert "crocotel_plugin[instrument]: 2 spans" in done.stderr
