"""One typed, immutable settings object read from ``OTEL_*`` and ``CROCOTEL_*``.

Every variable crocotel reads is declared in :data:`VARIABLES`, parsed here and
nowhere else, so that an error always names the variable, the bad value and what
is allowed, and ``crocotel config`` can print the effective settings. A bad value
never raises: it is recorded as a :class:`ConfigProblem` and the part of telemetry
it belongs to is switched off (unless ``CROCOTEL_STRICT`` asks for an exit).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote, urlsplit

from crocotel.policy import HELD_BACK

T = TypeVar("T")

TRACES_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTERS = ("prometheus", "otlp", "console", "none")
LOGS_EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf", "grpc")
LOG_FORMATS = ("json", "text", "logfmt", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class ConfigProblem:
    """One bad variable: what it was, what is allowed, and which part it turns off."""

    variable: str
    value: str
    allowed: str
    part: str

    def message(self) -> str:
        """The single line shown to the operator."""
        return (
            f"crocotel: invalid {self.variable}={self.value!r}: expected {self.allowed}; {self.part} disabled"
        )


class ConfigError(ValueError):
    """Raised by :func:`load` in strict mode, carrying every problem found."""

    def __init__(self, problems: tuple[ConfigProblem, ...]) -> None:
        super().__init__("\n".join(p.message() for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Variable:
    """A variable crocotel reads, for docs and for ``crocotel config``."""

    name: str
    default: str
    meaning: str
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("OTEL_SDK_DISABLED", "false", "true turns every signal off"),
    Variable("OTEL_SERVICE_NAME", "telegram-bot", "service.name on every signal"),
    Variable("OTEL_RESOURCE_ATTRIBUTES", "", "extra resource attributes, key=value,key=value"),
    Variable("OTEL_TRACES_EXPORTER", "otlp", "otlp, console or none (comma-separated)"),
    Variable("OTEL_METRICS_EXPORTER", "prometheus", "prometheus, otlp, console or none (comma-separated)"),
    Variable("OTEL_LOGS_EXPORTER", "otlp", "otlp, console or none (comma-separated)"),
    Variable("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf or grpc"),
    Variable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "per-signal protocol override"),
    Variable("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "", "per-signal protocol override"),
    Variable("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "", "per-signal protocol override"),
    Variable(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://localhost:4318 (grpc: http://localhost:4317)",
        "Collector base URL; /v1/<signal> is appended for http/protobuf",
    ),
    Variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "full URL for traces, used as is"),
    Variable("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "", "full URL for logs, used as is"),
    Variable("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "", "full URL for metrics, used as is"),
    Variable(
        "OTEL_EXPORTER_OTLP_HEADERS", "", "headers sent to the Collector (masked in output)", secret=True
    ),
    Variable("OTEL_EXPORTER_OTLP_TIMEOUT", "10", "seconds per export request"),
    Variable(
        "OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1", "address of the /metrics, /healthz, /readyz server"
    ),
    Variable("OTEL_EXPORTER_PROMETHEUS_PORT", "9464", "port of that server (0 picks a free one)"),
    Variable("OTEL_TRACES_SAMPLER", "parentbased_always_on", "sampler name"),
    Variable("OTEL_TRACES_SAMPLER_ARG", "1.0", "ratio 0..1 for the traceidratio samplers"),
    Variable("OTEL_BSP_MAX_QUEUE_SIZE", "2048", "spans buffered before dropping (bounds memory)"),
    Variable("OTEL_BLRP_MAX_QUEUE_SIZE", "2048", "log records buffered before dropping"),
    Variable("OTEL_METRIC_EXPORT_INTERVAL", "60000", "ms between OTLP metric exports"),
    Variable(
        "CROCOTEL_STRICT", "false", "true: exit non-zero on bad config instead of running without that part"
    ),
    Variable("CROCOTEL_SHUTDOWN_TIMEOUT", "5", "seconds allowed to flush on exit or SIGTERM"),
    Variable("CROCOTEL_LOG_FORMAT", "json", "json, text, logfmt, or none (leave the app's handlers alone)"),
    Variable("CROCOTEL_LOG_LEVEL", "INFO", "root log level when crocotel owns stdout logging"),
    Variable("CROCOTEL_REDACT", "on", "on or off: scrub tokens, phone numbers and secrets from every signal"),
    Variable("CROCOTEL_REDACT_HASH_KEY", "", "key for keyed hashes of redacted values (masked)", secret=True),
    Variable(
        "CROCOTEL_TRACE_GETUPDATES",
        "false",
        "true: trace every long-poll getUpdates call (default: only those that delivered updates or failed)",
    ),
    Variable(
        "CROCOTEL_ENABLE_INSTRUMENTATIONS",
        "",
        "upstream instrumentations crocotel holds back, to load anyway: " + ", ".join(HELD_BACK),
    ),
)

_DEFAULTS: Mapping[str, str] = {v.name: v.default for v in VARIABLES}


def _is_secret(name: str) -> bool:
    """Variables whose values are never printed, not even in an error (headers carry API keys)."""
    return name.endswith("_HEADERS") or any(v.secret and v.name == name for v in VARIABLES)


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how one signal is sent over OTLP."""

    protocol: str
    endpoint: str
    headers: Mapping[str, str]
    timeout: float


@dataclass(frozen=True)
class Settings:
    """The effective configuration; built once by :func:`load`, never mutated."""

    sdk_disabled: bool = False
    service_name: str = "telegram-bot"
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    traces_exporters: tuple[str, ...] = ("otlp",)
    metrics_exporters: tuple[str, ...] = ("prometheus",)
    logs_exporters: tuple[str, ...] = ("otlp",)
    traces_otlp: OtlpSettings | None = None
    logs_otlp: OtlpSettings | None = None
    metrics_otlp: OtlpSettings | None = None
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0
    span_queue_size: int = 2048
    log_queue_size: int = 2048
    metric_export_interval_ms: int = 60000
    strict: bool = False
    shutdown_timeout: float = 5.0
    log_format: str = "json"
    log_level: str = "INFO"
    redact: bool = True
    redact_hash_key: bytes | None = None
    trace_getupdates: bool = False
    enable_instrumentations: tuple[str, ...] = ()
    instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def traces_enabled(self) -> bool:
        """Whether any span exporter is configured."""
        return not self.sdk_disabled and bool(self.traces_exporters)

    @property
    def logs_enabled(self) -> bool:
        """Whether any log record exporter is configured."""
        return not self.sdk_disabled and bool(self.logs_exporters)

    @property
    def metrics_enabled(self) -> bool:
        """Whether any metric reader is configured."""
        return not self.sdk_disabled and bool(self.metrics_exporters)


class _Reader:
    """Reads variables from one environment mapping and collects problems."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[ConfigProblem] = []

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def get(self, name: str, parse: Parser[T], default: T, part: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse.parse(value)
        except ValueError:
            shown = f"****** ({len(value)} characters, masked)" if _is_secret(name) else value
            self.problems.append(ConfigProblem(name, shown, parse.allowed, part))
            return parse.fallback if parse.has_fallback else default


class Parser(Generic[T]):
    """A parse function with the human description of what it accepts."""

    def __init__(
        self,
        parse: Callable[[str], T],
        allowed: str,
        *,
        fallback: T | None = None,
        has_fallback: bool = False,
    ) -> None:
        self.parse = parse
        self.allowed = allowed
        self.fallback: T = fallback  # type: ignore[assignment]
        self.has_fallback = has_fallback


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        norm = value.upper() if upper else value.lower()
        if norm not in options:
            raise ValueError(value)
        return norm

    return parse


def _choices(options: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        names = [n.strip().lower() for n in value.split(",") if n.strip()]
        if not names or any(n not in options for n in names):
            raise ValueError(value)
        return tuple(dict.fromkeys(n for n in names if n != "none"))

    return parse


def _bool(value: str) -> bool:
    norm = value.lower()
    if norm in _TRUE:
        return True
    if norm in _FALSE:
        return False
    raise ValueError(value)


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(value)
    return port


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def _ratio(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(value)
    return number


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(value)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(value) from None
    return value


def _host(value: str) -> str:
    if any(c.isspace() for c in value) or "/" in value:
        raise ValueError(value)
    return value


def _pairs(value: str) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k=v,k2=v2`` lists used by OTEL_* variables."""
    result: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(value)
        result[unquote(key.strip())] = unquote(val.strip())
    return result


def _lenient_bool(value: str) -> bool:
    return value.lower() in _TRUE


BOOL = Parser(_bool, "true or false")
SWITCH = Parser(_bool, "on or off")
PORT = Parser(_port, "an integer from 0 to 65535")
SECONDS = Parser(_positive_float, "a positive number of seconds")
POSITIVE_INT = Parser(_positive_int, "a positive integer")
RATIO = Parser(_ratio, "a number from 0 to 1")
URL = Parser(_url, "an http:// or https:// URL with a host")
HOST = Parser(_host, "a host name or IP address")
PAIRS = Parser(_pairs, "comma-separated key=value pairs")
PROTOCOL = Parser(_choice(PROTOCOLS), "one of " + ", ".join(PROTOCOLS))
LOG_FORMAT = Parser(_choice(LOG_FORMATS), "one of " + ", ".join(LOG_FORMATS))
LOG_LEVEL = Parser(_choice(LOG_LEVELS, upper=True), "one of " + ", ".join(LOG_LEVELS))
SAMPLER = Parser(_choice(SAMPLERS), "one of " + ", ".join(SAMPLERS))


def _exporters(options: tuple[str, ...]) -> Parser[tuple[str, ...]]:
    return Parser(
        _choices(options),
        "a comma-separated list of " + ", ".join(options),
        fallback=(),
        has_fallback=True,
    )


_OTLP_DEFAULT = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
_OTLP_PATH = {"traces": "v1/traces", "logs": "v1/logs", "metrics": "v1/metrics"}


def _otlp(reader: _Reader, signal: str, part: str) -> OtlpSettings | None:
    """Resolve protocol, endpoint, headers and timeout for one signal, per the OTLP spec."""
    upper = signal.upper()
    protocol_var = f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"
    protocol_name = protocol_var if reader.raw(protocol_var) else "OTEL_EXPORTER_OTLP_PROTOCOL"
    before = len(reader.problems)
    protocol = reader.get(protocol_name, PROTOCOL, "http/protobuf", part)
    signal_endpoint = reader.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", URL, "", part)
    base = reader.get("OTEL_EXPORTER_OTLP_ENDPOINT", URL, "", part)
    headers = reader.get(f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", PAIRS, {}, part) or reader.get(
        "OTEL_EXPORTER_OTLP_HEADERS", PAIRS, {}, part
    )
    timeout_var = f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT"
    timeout_name = timeout_var if reader.raw(timeout_var) else "OTEL_EXPORTER_OTLP_TIMEOUT"
    timeout = reader.get(timeout_name, SECONDS, 10.0, part)
    if len(reader.problems) > before:
        return None
    if signal_endpoint:
        endpoint = signal_endpoint
    else:
        root = (base or _OTLP_DEFAULT[protocol]).rstrip("/")
        endpoint = root if protocol == "grpc" else f"{root}/{_OTLP_PATH[signal]}"
    return OtlpSettings(protocol, endpoint, headers, timeout)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; never raises, problems are in ``Settings.problems``."""
    env = os.environ if environ is None else environ
    r = _Reader(env)
    d = _DEFAULTS

    sdk_disabled = _lenient_bool(r.raw("OTEL_SDK_DISABLED") or "false")
    strict = r.get("CROCOTEL_STRICT", BOOL, False, "strict mode")
    resource_attributes = r.get("OTEL_RESOURCE_ATTRIBUTES", PAIRS, {}, "extra resource attributes")
    service_name = (
        r.raw("OTEL_SERVICE_NAME") or resource_attributes.get("service.name") or d["OTEL_SERVICE_NAME"]
    )

    traces = r.get("OTEL_TRACES_EXPORTER", _exporters(TRACES_EXPORTERS), ("otlp",), "traces")
    metrics = r.get("OTEL_METRICS_EXPORTER", _exporters(METRICS_EXPORTERS), ("prometheus",), "metrics")
    logs = r.get("OTEL_LOGS_EXPORTER", _exporters(LOGS_EXPORTERS), ("otlp",), "OTLP logs")

    traces_otlp = _otlp(r, "traces", "traces") if "otlp" in traces else None
    if "otlp" in traces and traces_otlp is None:
        traces = tuple(e for e in traces if e != "otlp")
    logs_otlp = _otlp(r, "logs", "OTLP logs") if "otlp" in logs else None
    if "otlp" in logs and logs_otlp is None:
        logs = tuple(e for e in logs if e != "otlp")
    metrics_otlp = _otlp(r, "metrics", "OTLP metrics") if "otlp" in metrics else None
    if "otlp" in metrics and metrics_otlp is None:
        metrics = tuple(e for e in metrics if e != "otlp")

    before = len(r.problems)
    host = r.get("OTEL_EXPORTER_PROMETHEUS_HOST", HOST, "127.0.0.1", "the /metrics server")
    port = r.get("OTEL_EXPORTER_PROMETHEUS_PORT", PORT, 9464, "the /metrics server")
    if len(r.problems) > before:
        metrics = tuple(e for e in metrics if e != "prometheus")

    sampler = r.get("OTEL_TRACES_SAMPLER", SAMPLER, "parentbased_always_on", "sampling (using the default)")
    sampler_arg = r.get("OTEL_TRACES_SAMPLER_ARG", RATIO, 1.0, "sampler ratio (using 1.0)")
    span_queue = r.get("OTEL_BSP_MAX_QUEUE_SIZE", POSITIVE_INT, 2048, "span queue size (using 2048)")
    log_queue = r.get("OTEL_BLRP_MAX_QUEUE_SIZE", POSITIVE_INT, 2048, "log queue size (using 2048)")
    interval = r.get(
        "OTEL_METRIC_EXPORT_INTERVAL", POSITIVE_INT, 60000, "metric export interval (using 60000)"
    )
    shutdown_timeout = r.get("CROCOTEL_SHUTDOWN_TIMEOUT", SECONDS, 5.0, "custom shutdown timeout (using 5)")
    log_format = r.get(
        "CROCOTEL_LOG_FORMAT", LOG_FORMAT, "json", "crocotel log formatting (app handlers kept)"
    )
    if any(p.variable == "CROCOTEL_LOG_FORMAT" for p in r.problems):
        log_format = "none"
    log_level = r.get("CROCOTEL_LOG_LEVEL", LOG_LEVEL, "INFO", "custom log level (using INFO)")
    redact = r.get("CROCOTEL_REDACT", SWITCH, True, "nothing (redaction stays on)")
    hash_key = r.raw("CROCOTEL_REDACT_HASH_KEY")
    trace_getupdates = r.get("CROCOTEL_TRACE_GETUPDATES", BOOL, False, "getUpdates tracing (using false)")
    enable_instrumentations = r.get(
        "CROCOTEL_ENABLE_INSTRUMENTATIONS",
        Parser(_choices(tuple(HELD_BACK)), "a comma-separated list of " + ", ".join(HELD_BACK)),
        (),
        "loading held-back instrumentations",
    )

    return Settings(
        sdk_disabled=sdk_disabled,
        service_name=service_name,
        resource_attributes=resource_attributes,
        traces_exporters=traces,
        metrics_exporters=metrics,
        logs_exporters=logs,
        traces_otlp=traces_otlp,
        logs_otlp=logs_otlp,
        metrics_otlp=metrics_otlp,
        prometheus_host=host,
        prometheus_port=port,
        sampler=sampler,
        sampler_arg=sampler_arg,
        span_queue_size=span_queue,
        log_queue_size=log_queue,
        metric_export_interval_ms=interval,
        strict=strict,
        shutdown_timeout=shutdown_timeout,
        log_format=log_format,
        log_level=log_level,
        redact=redact,
        redact_hash_key=hash_key.encode() if hash_key else None,
        trace_getupdates=trace_getupdates,
        enable_instrumentations=enable_instrumentations,
        problems=tuple(r.problems),
    )


def describe(settings: Settings, environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """Rows of (variable, effective value, source) for ``crocotel config``; secrets masked."""
    env = os.environ if environ is None else environ
    rows: list[tuple[str, str, str]] = []
    for var in VARIABLES:
        raw = env.get(var.name) or ""
        value = raw or var.default
        if var.secret and raw:
            value = "****** (set)"
        source = "env" if raw else "default"
        if any(p.variable == var.name for p in settings.problems):
            source = "INVALID, ignored"
        rows.append((var.name, value, source))
    return rows
