"""The ``crocotel`` command: ``run``, ``config``, ``doctor`` and ``collector-config``."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from crocotel import config
from crocotel._version import __version__
from crocotel.collector import add_subcommand as add_collector_config
from crocotel.configurator import EXIT_CONFIG


def _autoinstrument_dir() -> str:
    """Directory of the upstream ``sitecustomize`` that bootstraps auto-instrumentation."""
    from opentelemetry.instrumentation import auto_instrumentation

    return str(Path(auto_instrumentation.__file__).parent)


def launch_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that makes any Python child start under crocotel, like ``opentelemetry-instrument``."""
    env = dict(os.environ if environ is None else environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    boot = _autoinstrument_dir()
    paths = [boot, os.getcwd(), *[p for p in paths if p not in (boot, os.getcwd())]]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["OTEL_PYTHON_DISTRO"] = "crocotel"
    env["OTEL_PYTHON_CONFIGURATOR"] = "crocotel"
    return env


def cmd_run(args: argparse.Namespace) -> int:
    """Validate the configuration, then replace this process with the instrumented command."""
    command: list[str] = [a for a in args.command if a != "--"] if args.command else []
    if not command:
        print("crocotel run: give the command to run, e.g. crocotel run -- python -m mybot", file=sys.stderr)
        return 2
    settings = config.load()
    if settings.strict and settings.problems:  # otherwise the child reports them once, as it starts
        for problem in settings.problems:
            print(problem.message(), file=sys.stderr)
        return EXIT_CONFIG
    executable = shutil.which(command[0])
    if executable is None:
        print(f"crocotel run: command {command[0]!r} not found on PATH", file=sys.stderr)
        return 127
    env = launch_env()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(executable, command, env)
    return 0  # pragma: no cover - execve does not return


def cmd_config(_args: argparse.Namespace) -> int:
    """Print every variable's effective value and where it came from; secrets masked."""
    settings = config.load()
    rows = config.describe(settings)
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {value}  [{source}]")
    print()
    if settings.traces_otlp:
        print(f"traces  -> {settings.traces_otlp.protocol} {settings.traces_otlp.endpoint}")
    if settings.logs_otlp:
        print(f"logs    -> {settings.logs_otlp.protocol} {settings.logs_otlp.endpoint}")
    if "prometheus" in settings.metrics_exporters:
        print(f"metrics -> http://{settings.prometheus_host}:{settings.prometheus_port}/metrics")
    for problem in settings.problems:
        print(problem.message(), file=sys.stderr)
    return 1 if settings.problems else 0


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _reachable(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


def _instrumentations(settings: config.Settings) -> list[tuple[str, str]]:
    """Each installed instrumentation and what ``opentelemetry-instrument`` does with it, and why."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    from crocotel.distro import installed_instrumentations
    from crocotel.policy import held_back

    disabled = {n.strip() for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    installed = installed_instrumentations()
    found: list[tuple[str, str]] = []
    for entry_point in metadata.entry_points(group="opentelemetry_instrumentor"):
        name = entry_point.name
        dist = getattr(entry_point, "dist", None)
        conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
        reason = held_back(name, settings.enable_instrumentations, installed)
        if name in disabled or "*" in disabled:
            state = "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
        elif conflict:
            state = f"inactive: {conflict}"
        elif reason is not None:
            state = f"disabled by crocotel: {reason}"
        else:
            state = "active"
        found.append((name, state))
    return sorted(found)


def cmd_doctor(_args: argparse.Namespace) -> int:
    """Check what usually goes wrong: config, ports, the Collector, instrumentations, redaction."""
    failures = 0

    def report(level: str, text: str) -> None:
        nonlocal failures
        failures += level == "FAIL"
        print(f"[{level:<4}] {text}")

    settings = config.load()
    if settings.problems:
        for problem in settings.problems:
            report("FAIL", problem.message())
    else:
        report("ok", "configuration is valid")
    if "prometheus" in settings.metrics_exporters:
        where = f"{settings.prometheus_host}:{settings.prometheus_port}"
        if _port_free(settings.prometheus_host, settings.prometheus_port):
            report("ok", f"metrics port {where} is free")
        else:
            report("FAIL", f"metrics port {where} is in use: set OTEL_EXPORTER_PROMETHEUS_PORT")
    for signal, otlp in (("traces", settings.traces_otlp), ("logs", settings.logs_otlp)):
        if otlp is None:
            continue
        if _reachable(otlp.endpoint):
            report("ok", f"{signal}: OTLP endpoint {otlp.endpoint} is reachable")
        else:
            report(
                "warn",
                f"{signal}: OTLP endpoint {otlp.endpoint} is not reachable; the bot will run, its "
                "telemetry will be dropped (set OTEL_EXPORTER_OTLP_ENDPOINT)",
            )
    distros = sorted(ep.name for ep in metadata.entry_points(group="opentelemetry_distro"))
    if distros != ["crocotel"]:
        report("warn", f"several distros installed ({', '.join(distros)}); `crocotel run` selects crocotel")
    for name, state in _instrumentations(settings):
        report("ok" if state == "active" else "info", f"instrumentation {name}: {state}")
    from crocotel.redaction import redact

    probe = "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/getMe +44 20 7946 0958"
    scrubbed = redact(probe)
    if "AAHdqTcv" in scrubbed or "7946" in scrubbed:
        report("FAIL", "redaction self-test: a planted token or phone number survived")
    else:
        report("ok", f"redaction self-test: {scrubbed}")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, separate so the docs and tests can inspect it."""
    parser = argparse.ArgumentParser(prog="crocotel", description="OpenTelemetry for Telegram bots")
    parser.add_argument("--version", action="version", version=f"crocotel {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run a command with crocotel telemetry (like opentelemetry-instrument)")
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command, e.g. python -m mybot")
    run.set_defaults(func=cmd_run)
    sub.add_parser("config", help="print the effective settings, secrets masked").set_defaults(
        func=cmd_config
    )
    sub.add_parser("doctor", help="check ports, the Collector, instrumentations").set_defaults(
        func=cmd_doctor
    )
    add_collector_config(sub)  # crocotel collector-config: crocotel/collector.py
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crocotel`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
