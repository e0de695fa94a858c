"""Run the frameworks' own test suites plain and instrumented; fail on instrumented-only failures.

Usage: python scripts/framework_suites/run.py [aiogram] [ptb]   (default: both)

For each framework:

1. download its sdist with pip (the exact version pinned in crocotel's ``dev``
   extra) and unpack it;
2. make a venv under the build cache (``$CROCOTEL_CACHE_DIR`` or ``~/.cache/crocotel``,
   ``framework-suites/<name>-<version>-<key>``; reused while the key, a hash of
   the install recipe, crocotel's install metadata (pyproject.toml but its extras)
   and the Python version, is the same; a checkout at another path only re-points the editable crocotel):
   the framework from its sdist with its test extras, pinned by the
   framework's own lock file (aiogram: ``uv.lock``) or its ``tests`` dependency
   group (python-telegram-bot), crocotel (editable), then
   ``opentelemetry-bootstrap -a install`` as users do;
3. run the suite three times from the unpacked source, each with a JUnit report:
   ``plain``; ``plugin`` (``-p crocotel_plugin``: crocotel's instrumentors on,
   nothing else); ``instrument`` (``opentelemetry-instrument python -m pytest``
   with crocotel's distro and every bootstrapped instrumentation, traces and
   logs exported to an in-process OTLP receiver);
4. re-run any test that failed only instrumented, plain and instrumented, to
   rule out flakiness; what still fails only instrumented is reported and makes
   the script exit 1, as does a run whose plugin saw no spans or no wraps.

The counts per run, spans produced and wall times are printed, and written to
``<cache>/framework-suites/last-report.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

import crocotel_plugin  # this directory is on sys.path when run as a script
from pip._vendor.packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
MODES = ("plain", "plugin", "instrument")
INSTALL_RECIPE = 2
"""Part of the cached venvs' key: bump it when :func:`venv` installs differently."""
CHECKOUT_MARK = ".checkout"
"""In a venv: the checkout its editable crocotel points to."""


@dataclasses.dataclass(frozen=True)
class Framework:
    """One framework's suite: how to get it, install its test dependencies, and run it offline."""

    key: str
    dist: str
    version: str
    extras: tuple[str, ...]
    group: str
    """The PEP 735 dependency group with the test requirements."""
    pytest_args: tuple[str, ...]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    harness: tuple[str, ...] = ()
    """What the comparison itself needs beyond the framework's pins (a per-test timeout)."""
    prepare: tuple[tuple[str, ...], ...] = ()
    """Commands run once in the unpacked source with the venv's bin first on PATH (what the sdist lacks)."""
    plugin_run: bool = True
    """Whether to run the suite a third time through the plugin (instrumentors on, no distro)."""

    @property
    def instrumentors(self) -> list[str]:
        """crocotel's instrumentation entry points for this framework (active when instrumented)."""
        return crocotel_instrumentors(self.dist)

    @property
    def modes(self) -> tuple[str, ...]:
        """plain and instrument always; plugin when crocotel has an instrumentor for the framework."""
        return MODES if self.instrumentors and self.plugin_run else ("plain", "instrument")


def crocotel_instrumentors(dist: str) -> list[str]:
    """Names of crocotel's ``opentelemetry_instrumentor`` entry points that instrument ``dist``."""
    from importlib import metadata

    found = []
    for ep in metadata.entry_points(group="opentelemetry_instrumentor"):
        if ep.value.startswith("crocotel."):
            needs = ep.load()().instrumentation_dependencies()
            if any(re.match(rf"{re.escape(dist)}\b", requirement) for requirement in needs):
                found.append(ep.name)
    return sorted(found)


def pinned(dist: str) -> str:
    """The exact version of ``dist`` pinned in crocotel's dev extra (``name==X``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["optional-dependencies"]["dev"]:
        match = re.fullmatch(rf"{re.escape(dist)}(?:\[[^\]]*\])?==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise SystemExit(
        f"framework-suites: {dist} is not pinned exactly (==) in the dev extra of pyproject.toml"
    )


def frameworks() -> dict[str, Framework]:
    return {
        "aiogram": Framework(
            key="aiogram",
            dist="aiogram",
            version=pinned("aiogram"),
            extras=("redis", "mongo", "proxy", "i18n", "signature"),
            group="test",
            pytest_args=("tests",),
            # the sdist ships the test catalogues as .po only; aiogram's repository has them compiled
            prepare=(("pybabel", "compile", "--use-fuzzy", "-d", "tests/data/locales"),),
        ),
        "ptb": Framework(
            key="ptb",
            dist="python-telegram-bot",
            version=pinned("python-telegram-bot"),
            extras=("all", "ext"),
            group="tests",
            # the offline suite (tests marked req talk to Telegram), in 4 processes as PTB's own CI
            # does (-n auto): its time is mostly timers and sleeps, which overlap even on 2 cores.
            # loadfile keeps a file's tests in one process (two of test_updater's webhook tests hang
            # when they run at once); a per-test timeout turns any other hang into a failure.
            pytest_args=(
                "tests",
                "-m",
                "not req",
                "-n",
                "4",
                "--dist",
                "loadfile",
                "--timeout",
                "120",
                *_ptb_selection(),
            ),
            harness=("pytest-timeout>=2.3,<3",),
            env={"TEST_WITH_OPT_DEPS": "true"},
            # The suite takes minutes even in 4 processes: CI runs it plain and under
            # opentelemetry-instrument (what users launch, and where crocotel's instrumentors run
            # too); FRAMEWORK_SUITES_PTB_PLUGIN=1 adds the plugin run.
            plugin_run=os.environ.get("FRAMEWORK_SUITES_PTB_PLUGIN", "") == "1",
        ),
    }


def _ptb_selection() -> tuple[str, ...]:
    """Extra pytest arguments for python-telegram-bot (FRAMEWORK_SUITES_PTB_ARGS, split on spaces)."""
    return tuple(os.environ.get("FRAMEWORK_SUITES_PTB_ARGS", "").split())


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class RunResult:
    mode: str
    outcomes: dict[str, str]
    seconds: float
    report: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        found = {PASSED: 0, FAILED: 0, SKIPPED: 0}
        for outcome in self.outcomes.values():
            found[outcome] += 1
        return found


def junit_outcomes(path: Path) -> dict[str, str]:
    """test id -> passed / failed / skipped, from a pytest JUnit XML report (errors count as failed)."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        children = {child.tag for child in case}
        if children & {"failure", "error"}:
            outcome = FAILED
        elif "skipped" in children:
            outcome = SKIPPED
        else:
            outcome = PASSED
        if outcomes.get(test_id) != FAILED:  # a test with a teardown error appears twice
            outcomes[test_id] = outcome
    return outcomes


def instrumented_only(plain: Mapping[str, str], instrumented: Mapping[str, str]) -> list[str]:
    """Tests that passed plain and failed (or vanished) instrumented, sorted."""
    return sorted(t for t, outcome in plain.items() if outcome == PASSED and instrumented.get(t) != PASSED)


def node_id(test_id: str, root: Path) -> str:
    """A JUnit test id (``tests.test_x.TestY::test_z[p]``) as a pytest node id under ``root``.

    (``tests/test_x.py::TestY::test_z[p]``: the longest dotted prefix that is a file is the module.)
    """
    classname, _, name = test_id.partition("::")
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if (root / path).is_file():
            return "::".join([str(path), *parts[cut:], name])
    return f"{classname.replace('.', '/')}.py::{name}"


# ---------------------------------------------------------------- installation


def _cache() -> Path:
    """Per user, outside the checkout, like the Go builds (scripts/go-cache.sh): CI reuses it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = os.environ.get("CROCOTEL_CACHE_DIR") or str(Path(base) / "crocotel")
    cache = Path(root).resolve() / "framework-suites"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def _run(cmd: Sequence[str | Path], log: Path, **kwargs: Any) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(map(str, cmd))}\n")
        out.flush()
        done = subprocess.run(
            [str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs
        )
    if done.returncode != 0:
        sys.stdout.write(log.read_text()[-6000:])
        raise SystemExit(f"framework-suites: {cmd[0]} ... failed ({done.returncode}); log: {log}")


def sdist(fw: Framework, cache: Path, log: Path) -> Path:
    """The unpacked sdist of ``fw`` (downloaded with pip once, then reused)."""
    source = cache / "src" / f"{fw.dist}-{fw.version}"
    if (source / ".unpacked").exists():
        return source
    downloads = cache / "sdists"
    downloads.mkdir(exist_ok=True)
    pattern = f"{fw.dist.replace('-', '_')}-{fw.version}.tar.gz"
    archives = [
        p
        for p in downloads.iterdir()
        if p.name.lower().replace("-", "_") == pattern.lower().replace("-", "_")
    ]
    if not archives:
        _run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             f"{fw.dist}=={fw.version}", "-d", downloads],
            log,
        )  # fmt: skip
        archives = [
            p
            for p in downloads.iterdir()
            if p.name.lower().replace("-", "_") == pattern.lower().replace("-", "_")
        ]
    shutil.rmtree(source, ignore_errors=True)
    source.parent.mkdir(exist_ok=True)
    with tarfile.open(archives[0]) as archive:
        top = archive.getnames()[0].split("/")[0]
        archive.extractall(source.parent, filter="data")
    (source.parent / top).rename(source) if (source.parent / top) != source else None
    (source / ".unpacked").touch()
    return source


def lock_constraints(lock_file: Path) -> list[str]:
    """``name==version`` for every package in a uv.lock that applies to this interpreter."""
    lock = tomllib.loads(lock_file.read_text())
    chosen: dict[str, str] = {}
    for package in lock.get("package", []):
        if "version" not in package or ("source" in package and "editable" in package["source"]):
            continue
        markers = package.get("resolution-markers")
        if markers and not any(Marker(m).evaluate() for m in markers):
            continue
        chosen.setdefault(package["name"], package["version"])
    return [f"{name}=={version}" for name, version in sorted(chosen.items())]


def dependency_group(pyproject: Path, group: str) -> list[str]:
    """The requirements of a PEP 735 dependency group (includes expanded)."""
    groups = tomllib.loads(pyproject.read_text()).get("dependency-groups", {})
    found: list[str] = []
    for item in groups.get(group, []):
        found.extend(dependency_group(pyproject, item["include-group"]) if isinstance(item, dict) else [item])
    return found


def prepare(fw: Framework, source: Path, where: Path, log: Path) -> None:
    """Run the framework's prepare commands in its source once (a marker keyed by the commands)."""
    marker = source / f".prepared-{hashlib.sha256(repr(fw.prepare).encode()).hexdigest()[:12]}"
    if marker.exists():
        return
    env = dict(os.environ, PATH=f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}")
    for command in fw.prepare:
        _run(command, log, env=env, cwd=source)
    marker.touch()


def installed_metadata(pyproject: Path) -> bytes:
    """What of crocotel's pyproject.toml an install without extras depends on: the build system,
    setuptools' settings and the project table but its optional dependencies, so a new test tool
    in the dev extra leaves the cached venvs (and their plain runs, minutes) alone."""
    data = tomllib.loads(pyproject.read_text())
    project = {k: v for k, v in data.get("project", {}).items() if k != "optional-dependencies"}
    setuptools = data.get("tool", {}).get("setuptools")
    return json.dumps([data.get("build-system"), setuptools, project], sort_keys=True).encode()


def venv(fw: Framework, source: Path, cache: Path, log: Path) -> Path:
    """A venv with the framework, its pinned test dependencies, crocotel and bootstrap's instrumentations."""
    digest = hashlib.sha256()
    for part in (
        f"{INSTALL_RECIPE} {fw.dist} {fw.version} {fw.extras} {fw.group} {fw.harness}".encode(),
        installed_metadata(ROOT / "pyproject.toml"),
        sys.version.encode(),
    ):
        digest.update(part)
    where = cache / "venvs" / f"{fw.key}-{fw.version}-{digest.hexdigest()[:12]}"
    pip = [where / "bin" / "python", "-m", "pip", "install", "--quiet"]
    checkout = where / CHECKOUT_MARK
    if (where / ".ready").exists():
        # The key leaves the checkout's path out: a CI clone at a new path re-points the editable
        # crocotel (seconds) instead of rebuilding the venv and rerunning the plain suites (minutes).
        if not checkout.exists() or checkout.read_text() != str(ROOT):
            _run([*pip, "--no-deps", "-e", ROOT], log)
            checkout.write_text(str(ROOT))
        return where
    for stale in where.parent.glob(f"{fw.key}-*"):  # older keys: bounded cache
        shutil.rmtree(stale, ignore_errors=True)
    _run([sys.executable, "-m", "venv", where], log)
    _run([*pip, "--upgrade", "pip"], log)
    requirements = [f"{source}[{','.join(fw.extras)}]", "-e", str(ROOT)]
    constraints = where / "constraints.txt"
    requirements.extend(dependency_group(source / "pyproject.toml", fw.group))
    requirements.extend(fw.harness)
    if (source / "uv.lock").exists():
        # the lock also pins what crocotel needs from it (aiohttp...); the rest of crocotel's stays free
        constraints.write_text("\n".join(lock_constraints(source / "uv.lock")) + "\n")
    else:
        constraints.write_text("")
    _run([*pip, "-c", constraints, *requirements], log)
    env = dict(os.environ, PATH=f"{where / 'bin'}{os.pathsep}{os.environ['PATH']}")
    _run([where / "bin" / "opentelemetry-bootstrap", "-a", "install"], log, env=env)
    checkout.write_text(str(ROOT))
    (where / ".ready").touch()
    return where


# ---------------------------------------------------------------- running


def run_suite(
    fw: Framework, mode: str, where: Path, source: Path, out: Path, endpoint: str, only: Iterable[str] = ()
) -> RunResult:
    """One run of the suite in ``mode``; its outcomes from JUnit XML, its wall time, the plugin's report."""
    tag = f"{mode}-rerun" if only else mode
    junit, report = out / f"{fw.key}-{tag}.xml", out / f"{fw.key}-{tag}.json"
    junit.unlink(missing_ok=True)
    for old in out.glob(f"{report.name}.*"):
        old.unlink()
    python = str(where / "bin" / "python")
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header", f"--junitxml={junit}"]
    cmd += list(only) or list(fw.pytest_args)
    if only:
        cmd += [a for a in fw.pytest_args if a not in ("tests",)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CROCOTEL_", "PYTEST_"))}
    env.update(fw.env)
    if mode != "plain":  # for experiments: FRAMEWORK_SUITES_ENV="CROCOTEL_LOG_FORMAT=none ..."
        env.update(
            item.split("=", 1) for item in os.environ.get("FRAMEWORK_SUITES_ENV", "").split() if "=" in item
        )
    env["PATH"] = f"{where / 'bin'}{os.pathsep}{env['PATH']}"
    if mode != "plain":
        cmd[3:3] = ["-p", "crocotel_plugin"]
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            CROCOTEL_SUITE_MODE="instrument" if mode == "plugin" else "observe",
            CROCOTEL_SUITE_REPORT=str(report),
        )
    if mode == "instrument":
        cmd[:1] = [str(where / "bin" / "opentelemetry-instrument"), python]
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_METRICS_EXPORTER="none",  # no /metrics port to clash with the suite's own servers
            OTEL_SERVICE_NAME=f"{fw.key}-suite",
        )
    started = time.monotonic()
    with (out / f"{fw.key}-{tag}.log").open("w") as log:
        subprocess.run(cmd, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    if not junit.exists():
        raise SystemExit(
            f"framework-suites: {fw.key} {tag} wrote no JUnit report; see {out / f'{fw.key}-{tag}.log'}"
        )
    found = crocotel_plugin.merge([json.loads(p.read_text()) for p in sorted(out.glob(f"{report.name}.*"))])
    return RunResult(mode, junit_outcomes(junit), seconds, found)


def plain_baseline(fw: Framework, where: Path, source: Path, out: Path, endpoint: str) -> RunResult:
    """The plain run, kept in the venv it ran in and reused while that venv lives.

    A plain run does not load crocotel's instrumentation, so its outcomes depend only on what
    the venv's key covers (the framework's version and pins, crocotel's dependencies, Python);
    a later run of the same venv reuses them and only the instrumented runs spend time. Any
    test that then fails only instrumented is re-run plain before it counts (see main), so a
    stale or flaky baseline cannot fail a run on its own. FRAMEWORK_SUITES_FRESH=1 re-runs it.
    """
    kept = where / f".plain-{fw.key}.json"
    if kept.exists() and os.environ.get("FRAMEWORK_SUITES_FRESH") != "1":
        data = json.loads(kept.read_text())
        return RunResult("plain", dict(data["outcomes"]), 0.0, None)
    result = run_suite(fw, "plain", where, source, out, endpoint)
    kept.write_text(json.dumps({"outcomes": result.outcomes, "seconds": result.seconds}))
    return result


def compare(fw: Framework, runs: dict[str, RunResult], reruns: dict[str, list[str]]) -> list[str]:
    """Print the counts; return the problems (instrumented-only failures, instrumentation not active)."""
    problems = []
    print(f"\n== {fw.dist} {fw.version}: {' '.join(fw.pytest_args)}")
    print(f"   {'run':<26}{'passed':>8}{'failed':>8}{'skipped':>8}{'spans':>9}   wall")
    for mode, run in runs.items():
        c = run.counts()
        spans = "" if run.report is None else str(run.report["spans"])
        wall = f"{run.seconds:.0f} s" if run.seconds else "kept from an earlier run of this venv"
        print(f"   {mode:<26}{c[PASSED]:>8}{c[FAILED]:>8}{c[SKIPPED]:>8}{spans:>9}   {wall}")
    for mode in fw.modes[1:]:
        run = runs[mode]
        if run.report is None:
            problems.append(f"{fw.key} {mode}: the plugin wrote no report")
            continue
        print(f"   {mode} active: {', '.join(run.report['instrumentors'])}")
        print(f"   {mode} wraps: {'; '.join(run.report['wraps'])}")
        print(f"   {mode} top spans: {run.report['top_span_names']}")
        if "otlp_spans_received" in run.report:
            print(f"   {mode}: {run.report['otlp_spans_received']} spans received over OTLP")
        missing = [i for i in fw.instrumentors if i not in run.report["instrumentors"]]
        if missing:
            problems.append(f"{fw.key} {mode}: crocotel instrumentation not active: {missing}")
        if fw.instrumentors and (not run.report["spans"] or not run.report["wraps"]):
            problems.append(f"{fw.key} {mode}: no spans or no wraps: the instrumentation did not run")
        failing = reruns.get(mode, [])
        print(f"   instrumented-only failures ({mode}): {len(failing)}")
        for test in failing:
            print(f"     {test}")
            problems.append(f"{fw.key} {mode}: {test} fails only instrumented")
    return problems


def main(argv: Sequence[str]) -> int:
    chosen = list(argv) or ["aiogram", "ptb"]
    known = frameworks()
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"framework-suites: unknown framework(s) {unknown}; known: {sorted(known)}")
    sys.path.insert(0, str(ROOT))
    from crocotel.testing import OtlpReceiver

    cache = _cache()
    out = cache / "runs"
    out.mkdir(exist_ok=True)
    problems: list[str] = []
    summary: dict[str, Any] = {}
    with OtlpReceiver() as receiver:
        for name in chosen:
            fw = known[name]
            log = out / f"{fw.key}-install.log"
            log.write_text("")
            started = time.monotonic()
            source = sdist(fw, cache, log)
            where = venv(fw, source, cache, log)
            prepare(fw, source, where, log)
            install_seconds = time.monotonic() - started
            runs = {}
            for mode in fw.modes:
                if mode == "plain":
                    runs[mode] = plain_baseline(fw, where, source, out, receiver.endpoint)
                    continue
                runs[mode] = run_suite(fw, mode, where, source, out, receiver.endpoint)
                if mode == "instrument" and runs[mode].report is not None:
                    runs[mode].report["otlp_spans_received"] = len(receiver.spans())
                receiver.clear()  # bounded memory: one run's telemetry at a time
            reruns: dict[str, list[str]] = {}
            for mode in fw.modes[1:]:
                suspects = instrumented_only(runs["plain"].outcomes, runs[mode].outcomes)
                if suspects:  # rule out flakiness: must pass plain and fail instrumented once more
                    ids = [node_id(t, source) for t in suspects]
                    again_plain = run_suite(fw, "plain", where, source, out, receiver.endpoint, ids)
                    again = run_suite(fw, mode, where, source, out, receiver.endpoint, ids)
                    reruns[mode] = [
                        t
                        for t in suspects
                        if again_plain.outcomes.get(t) == PASSED and again.outcomes.get(t) != PASSED
                    ]
                    flaky = [t for t in suspects if t not in reruns[mode]]
                    if flaky:
                        print(
                            f"   {fw.key} {mode}: {len(flaky)} failure(s) not reproduced on re-run: {flaky}"
                        )
            problems += compare(fw, runs, reruns)
            total = sum(r.seconds for r in runs.values())
            print(f"   wall: install {install_seconds:.0f} s, suites {total:.0f} s; logs in {out}")
            summary[fw.key] = {
                "version": fw.version,
                "install_seconds": round(install_seconds, 1),
                "runs": {
                    m: {**r.counts(), "seconds": round(r.seconds, 1), "spans": r.report and r.report["spans"]}
                    for m, r in runs.items()
                },
                "instrumented_only": reruns,
            }
    (cache / "last-report.json").write_text(json.dumps(summary, indent=1))
    if problems:
        print("\nframework-suites: FAILED", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("\nframework-suites: no test fails only when instrumented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
