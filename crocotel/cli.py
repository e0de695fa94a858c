"""The ``crocotel`` command: ``run``, ``config``, ``doctor`` and ``collector-config``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crocotel import config
from crocotel._version import __version__
from crocotel.configurator import EXIT_CONFIG

__all__ = ["build_parser", "launch_env", "main"]


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
    command: list[str] = list(args.command or [])
    if command[:1] == ["--"]:  # only the separator: later "--" belong to the command
        command = command[1:]
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
    """Print every variable's effective value and where it came from; secrets masked.

    Every line also passes the redaction rules: a token pasted into, say,
    ``OTEL_RESOURCE_ATTRIBUTES`` is not printed back.
    """
    from crocotel.redaction import redact

    settings = config.load()
    rows = config.describe(settings)
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(redact(f"{name:<{width}}  {value}  [{source}]"))
    print()
    signals = (
        ("traces", settings.traces_otlp),
        ("logs", settings.logs_otlp),
        ("metrics", settings.metrics_otlp),
    )
    for signal, otlp in signals:
        if otlp is not None:
            print(redact(f"{signal:<7} -> {otlp.protocol} {config.mask_url(otlp.endpoint)}"))
    if "prometheus" in settings.metrics_exporters:
        print(f"metrics -> http://{settings.prometheus_host}:{settings.prometheus_port}/metrics")
    for problem in settings.problems:
        print(redact(problem.message()), file=sys.stderr)
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


def _otlp_answer(otlp: config.OtlpSettings, timeout: float = 3.0) -> str | None:
    """Send one empty trace export the way the exporter would; None if an OTLP receiver took it.

    A bare TCP connect would call any listening port "reachable"; an empty export request is
    what tells an OTLP receiver from a web server, a database or a wrong protocol.
    """
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    body = ExportTraceServiceRequest().SerializeToString()
    headers = dict(otlp.headers)
    if otlp.protocol == "grpc":
        return _grpc_answer(otlp.endpoint, body, headers, timeout)
    parts = urlsplit(otlp.endpoint)
    url = otlp.endpoint if parts.path.endswith("/v1/traces") else f"{parts.scheme}://{parts.netloc}/v1/traces"
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get("Content-Type", "")
            if response.status == 200 and "protobuf" in kind:
                return None
            return f"answered HTTP {response.status} ({kind or 'no content type'}), not as an OTLP receiver"
    except urllib.error.HTTPError as exc:
        return f"answered HTTP {exc.code}, not as an OTLP/HTTP receiver (wrong port or path?)"
    except (OSError, ValueError) as exc:
        return f"not reachable ({type(exc).__name__})"


def _grpc_answer(endpoint: str, body: bytes, headers: dict[str, str], timeout: float) -> str | None:
    """The gRPC variant of :func:`_otlp_answer`: one empty Export call."""
    import grpc

    parts = urlsplit(endpoint)
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 4317)}"
    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials())
        if parts.scheme == "https"
        else grpc.insecure_channel(target)
    )
    try:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        export(body, timeout=timeout, metadata=tuple((k.lower(), v) for k, v in headers.items()))
        return None
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        name = getattr(code, "name", "error")
        return f"did not take an OTLP/gRPC export ({name})"
    finally:
        channel.close()


def _bot_probes(host: str, port: int, timeout: float = 2.0) -> dict[str, tuple[int, dict[str, Any]]] | None:
    """The running bot's /healthz and /readyz checks, or None when what listens there is not crocotel."""
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for path in ("/healthz", "/readyz"):
        try:
            with urllib.request.urlopen(f"http://{shown}:{port}{path}", timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except OSError:
            return None
        try:
            checks = json.loads(body)["checks"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(checks, dict):
            return None
        found[path] = (status, checks)
    return found


def _instrumentations(settings: config.Settings) -> list[tuple[str, str]]:
    """Each installed instrumentation and what ``opentelemetry-instrument`` does with it, and why."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    from crocotel.distro import installed_instrumentations
    from crocotel.instrumentation_policy import held_back

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
            report("ok", f"metrics port {where} is free (no bot is serving there now)")
        else:
            probes = _bot_probes(settings.prometheus_host, settings.prometheus_port)
            if probes is None:
                report("FAIL", f"metrics port {where} is in use: set OTEL_EXPORTER_PROMETHEUS_PORT")
            else:
                report("ok", f"a crocotel bot is serving on {where}")
                for path, (status, checks) in probes.items():
                    for name, check in checks.items():
                        level = "ok" if check.get("ok") else ("FAIL" if path == "/healthz" else "warn")
                        numbers = ", ".join(f"{k}={v}" for k, v in check.items() if k not in ("ok", "state"))
                        extra = f" ({numbers})" if numbers else ""
                        report(level, f"{path} {status}: {name} {check.get('state')}{extra}")
    for signal, otlp in (("traces", settings.traces_otlp), ("logs", settings.logs_otlp)):
        if otlp is None:
            continue
        shown = config.mask_url(otlp.endpoint)
        answer = _otlp_answer(otlp)
        if answer is None:
            report("ok", f"{signal}: an OTLP receiver answers at {shown}")
        else:
            report(
                "warn",
                f"{signal}: {shown} {answer}; the bot will run, its telemetry will be dropped "
                "(set OTEL_EXPORTER_OTLP_ENDPOINT)",
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
    elif not all(m in scrubbed for m in ("/bot[REDACTED:bot_token]/getMe", "[REDACTED:phone]")):
        # e.g. [REDACTED:error]: nothing leaks, but every scrubbed value would be lost
        report("FAIL", f"redaction self-test: token and phone were not replaced as expected: {scrubbed}")
    else:
        report("ok", f"redaction self-test: {scrubbed}")
    return 1 if failures else 0


def cmd_collector_config(args: argparse.Namespace) -> int:
    """Print the Collector's generated redaction block, or check or refresh it in a file."""
    from crocotel import collector

    if args.write is None and args.check is None:
        sys.stdout.write(collector.render_block())
        return 0
    status, message = collector.check_or_write(Path(args.write or args.check), write=args.write is not None)
    if message:
        print(message, file=sys.stderr if status == 2 else sys.stdout)
    return status


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
    collector = sub.add_parser(
        "collector-config",
        help="print the agent Collector's redaction processors, rendered from the redaction rules",
    )
    where = collector.add_mutually_exclusive_group()
    where.add_argument("--write", metavar="FILE", help="replace the generated block in FILE")
    where.add_argument("--check", metavar="FILE", help="exit 1 if FILE's generated block is stale")
    collector.set_defaults(func=cmd_collector_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crocotel`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
