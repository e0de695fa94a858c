"""One typed, immutable settings object read from ``OTEL_*`` and ``CROCOTEL_*``.

Every variable crocotel reads is declared in :data:`VARIABLES`, parsed here and
nowhere else, so that an error always names the variable, the bad value and what
is allowed, and ``crocotel config`` can print the effective settings. A bad value
never raises: it is recorded as a :class:`ConfigProblem` and the part of telemetry
it belongs to is switched off (unless ``CROCOTEL_STRICT`` asks for an exit).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

from crocotel.instrumentation_policy import HELD_BACK

__all__ = [
    "VARIABLES",
    "ConfigError",
    "ConfigProblem",
    "OtlpSettings",
    "Settings",
    "Variable",
    "describe",
    "load",
    "mask_url",
]

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


def _seconds_or_off(value: str) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError(value)
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def _cardinality(value: str) -> int:
    number = int(value)
    if not 2 <= number <= 1_000_000:
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
SECONDS_OR_OFF = Parser(_seconds_or_off, "0 (off) or a positive number of seconds")
POSITIVE_INT = Parser(_positive_int, "a positive integer")
CARDINALITY = Parser(_cardinality, "an integer from 2 to 1000000")
RATIO = Parser(_ratio, "a number from 0 to 1")
URL = Parser(_url, "an http:// or https:// URL with a host")
HOST = Parser(_host, "a host name or IP address")
PAIRS = Parser(_pairs, "comma-separated key=value pairs")
PROTOCOL = Parser(_choice(PROTOCOLS), "one of " + ", ".join(PROTOCOLS))
LOG_FORMAT_NAME = Parser(_choice(LOG_FORMATS), "one of " + ", ".join(LOG_FORMATS))
OPTIONAL_LOG_LEVEL: Parser[str | None] = Parser(
    _choice(LOG_LEVELS, upper=True), "one of " + ", ".join(LOG_LEVELS)
)
SAMPLER_NAME = Parser(_choice(SAMPLERS), "one of " + ", ".join(SAMPLERS))
TEXT = Parser(str, "any text")
LENIENT_BOOL = Parser(_lenient_bool, "true or false")
KEY: Parser[bytes | None] = Parser(str.encode, "any text")


def _exporters(options: tuple[str, ...]) -> Parser[tuple[str, ...]]:
    return Parser(
        _choices(options),
        "a comma-separated list of " + ", ".join(options),
        fallback=(),
        has_fallback=True,
    )


_OTLP_DEFAULT = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
_OTLP_PATH = {"traces": "v1/traces", "logs": "v1/logs", "metrics": "v1/metrics"}
SIGNALS = ("traces", "logs", "metrics")


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One variable crocotel reads, declared once: everything else is derived from it.

    ``name`` is the environment variable, ``parser`` turns its text into a ``T`` (or says what
    is allowed), ``default`` is the typed value when it is unset, ``part`` names what an
    invalid value switches off (shown in the problem line), ``secret`` keeps the value out of
    every output, ``field`` is the :class:`Settings` attribute it fills directly (None when
    :func:`load` combines it with others), and ``shown_default`` is how docs and
    ``crocotel config`` show the default when ``str(default)`` would not say it well.
    """

    name: str
    parser: Parser[T]
    default: T
    meaning: str
    part: str
    field: str | None = None
    secret: bool = False
    shown_default: str | None = None

    @property
    def default_text(self) -> str:
        """The default as shown to people."""
        if self.shown_default is not None:
            return self.shown_default
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple):
            return ",".join(self.default)
        if self.default is None:
            return ""
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


def _v(
    name: str,
    parser: Parser[T],
    default: T,
    meaning: str,
    part: str,
    field: str | None = None,
    **extra: object,
) -> Variable[T]:
    return Variable(name, parser, default, meaning, part, field, **extra)  # type: ignore[arg-type]


SDK_DISABLED = _v("OTEL_SDK_DISABLED", LENIENT_BOOL, False, "true turns every signal off", "", "sdk_disabled")
SERVICE_NAME = _v("OTEL_SERVICE_NAME", TEXT, "telegram-bot", "service.name on every signal", "")
RESOURCE_ATTRIBUTES = _v(
    "OTEL_RESOURCE_ATTRIBUTES",
    PAIRS,
    {},
    "extra resource attributes, key=value,key=value",
    "extra resource attributes",
    "resource_attributes",
    shown_default="",
)
TRACES_EXPORTER = _v(
    "OTEL_TRACES_EXPORTER",
    _exporters(TRACES_EXPORTERS),
    ("otlp",),
    "otlp, console or none (comma-separated)",
    "traces",
)
METRICS_EXPORTER = _v(
    "OTEL_METRICS_EXPORTER",
    _exporters(METRICS_EXPORTERS),
    ("prometheus",),
    "prometheus, otlp, console or none (comma-separated)",
    "metrics",
)
LOGS_EXPORTER = _v(
    "OTEL_LOGS_EXPORTER",
    _exporters(LOGS_EXPORTERS),
    ("otlp",),
    "otlp, console or none (comma-separated)",
    "OTLP logs",
)
OTLP_PROTOCOL = _v("OTEL_EXPORTER_OTLP_PROTOCOL", PROTOCOL, "http/protobuf", "http/protobuf or grpc", "")
OTLP_ENDPOINT = _v(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    URL,
    "",
    "Collector base URL; /v1/<signal> is appended for http/protobuf",
    "",
    shown_default="http://localhost:4318 (grpc: http://localhost:4317)",
)
OTLP_HEADERS = _v(
    "OTEL_EXPORTER_OTLP_HEADERS",
    PAIRS,
    {},
    "headers sent to the Collector (masked in output)",
    "",
    secret=True,
    shown_default="",
)
OTLP_TIMEOUT = _v("OTEL_EXPORTER_OTLP_TIMEOUT", SECONDS, 10.0, "seconds per export request", "")
# Per-signal overrides, (signal, what) -> variable; the general one above applies when unset.
OTLP_PER_SIGNAL: dict[tuple[str, str], Variable[Any]] = {}
for _signal in SIGNALS:
    _upper = _signal.upper()
    OTLP_PER_SIGNAL[(_signal, "protocol")] = _v(
        f"OTEL_EXPORTER_OTLP_{_upper}_PROTOCOL",
        PROTOCOL,
        "",
        f"protocol for {_signal} (overrides the general one)",
        "",
    )
    OTLP_PER_SIGNAL[(_signal, "endpoint")] = _v(
        f"OTEL_EXPORTER_OTLP_{_upper}_ENDPOINT", URL, "", f"full URL for {_signal}, used as is", ""
    )
    OTLP_PER_SIGNAL[(_signal, "headers")] = _v(
        f"OTEL_EXPORTER_OTLP_{_upper}_HEADERS",
        PAIRS,
        {},
        f"headers for {_signal} (masked in output)",
        "",
        secret=True,
        shown_default="",
    )
    OTLP_PER_SIGNAL[(_signal, "timeout")] = _v(
        f"OTEL_EXPORTER_OTLP_{_upper}_TIMEOUT",
        SECONDS,
        0.0,
        f"seconds per {_signal} export request",
        "",
        shown_default="",
    )
PROMETHEUS_HOST = _v(
    "OTEL_EXPORTER_PROMETHEUS_HOST",
    HOST,
    "127.0.0.1",
    "address of the /metrics, /healthz, /readyz server",
    "the /metrics server",
    "prometheus_host",
)
PROMETHEUS_PORT = _v(
    "OTEL_EXPORTER_PROMETHEUS_PORT",
    PORT,
    9464,
    "port of that server (0 picks a free one)",
    "the /metrics server",
    "prometheus_port",
)
SAMPLER = _v(
    "OTEL_TRACES_SAMPLER",
    SAMPLER_NAME,
    "parentbased_always_on",
    "sampler name",
    "sampling (using the default)",
    "sampler",
)
SAMPLER_ARG = _v(
    "OTEL_TRACES_SAMPLER_ARG",
    RATIO,
    1.0,
    "ratio 0..1 for the traceidratio samplers",
    "sampler ratio (using 1.0)",
    "sampler_arg",
    shown_default="1.0",
)
SPAN_QUEUE = _v(
    "OTEL_BSP_MAX_QUEUE_SIZE",
    POSITIVE_INT,
    2048,
    "spans buffered before dropping (bounds memory)",
    "span queue size (using 2048)",
    "span_queue_size",
)
LOG_QUEUE = _v(
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    POSITIVE_INT,
    2048,
    "log records buffered before dropping",
    "log queue size (using 2048)",
    "log_queue_size",
)
METRIC_INTERVAL = _v(
    "OTEL_METRIC_EXPORT_INTERVAL",
    POSITIVE_INT,
    60000,
    "ms between OTLP metric exports",
    "metric export interval (using 60000)",
    "metric_export_interval_ms",
)
STRICT = _v(
    "CROCOTEL_STRICT",
    BOOL,
    False,
    "true: exit non-zero on bad config instead of running without that part",
    "strict mode",
    "strict",
)
SHUTDOWN_TIMEOUT = _v(
    "CROCOTEL_SHUTDOWN_TIMEOUT",
    SECONDS,
    5.0,
    "seconds allowed to flush on exit or SIGTERM",
    "custom shutdown timeout (using 5)",
    "shutdown_timeout",
)
LOG_FORMAT = _v(
    "CROCOTEL_LOG_FORMAT",
    LOG_FORMAT_NAME,
    "json",
    "json, text, logfmt, or none (leave the app's handlers alone)",
    "crocotel log formatting (app handlers kept)",
)
LOG_LEVEL: Variable[str | None] = _v(
    "CROCOTEL_LOG_LEVEL",
    OPTIONAL_LOG_LEVEL,
    None,
    "when set, the root logger's level (unset: every logger keeps the level the app gave it)",
    "custom log level (levels unchanged)",
    "log_level",
)
REDACT = _v(
    "CROCOTEL_REDACT",
    SWITCH,
    True,
    "on or off: scrub tokens, phone numbers and secrets from every signal",
    "nothing (redaction stays on)",
    "redact",
    shown_default="on",
)
REDACT_HASH_KEY = _v(
    "CROCOTEL_REDACT_HASH_KEY",
    KEY,
    None,
    "key for keyed hashes of redacted values (masked)",
    "",
    "redact_hash_key",
    secret=True,
)
TRACE_GETUPDATES = _v(
    "CROCOTEL_TRACE_GETUPDATES",
    BOOL,
    False,
    "true: trace every long-poll getUpdates call (default: only those that delivered updates or failed)",
    "getUpdates tracing (using false)",
    "trace_getupdates",
)
HEALTH_LOOP_BOUND = _v(
    "CROCOTEL_HEALTH_LOOP_BOUND",
    SECONDS,
    5.0,
    "seconds the event loop may go without running its heartbeat before /healthz answers 503",
    "custom loop bound (using 5)",
    "health_loop_bound",
)
READY_POLL_WINDOW = _v(
    "CROCOTEL_READY_POLL_WINDOW",
    SECONDS,
    90.0,
    "seconds without a successful getUpdates (empty long polls count) before /readyz answers 503",
    "custom poll window (using 90)",
    "ready_poll_window",
)
READY_API_FAILURE_WINDOW = _v(
    "CROCOTEL_READY_API_FAILURE_WINDOW",
    SECONDS,
    60.0,
    "seconds of only failing Bot API calls (no answer, 5xx, 401, 404, 409) before /readyz answers 503",
    "custom Bot API failure window (using 60)",
    "ready_api_failure_window",
)
METRICS_CARDINALITY_LIMIT = _v(
    "CROCOTEL_METRICS_CARDINALITY_LIMIT",
    CARDINALITY,
    2000,
    'series per metric, the overflow series (otel_metric_overflow="true") included',
    "custom cardinality limit (using 2000)",
    "cardinality_limit",
)
ERROR_FINGERPRINTS = _v(
    "CROCOTEL_ERROR_FINGERPRINTS",
    POSITIVE_INT,
    100,
    "error fingerprints with their own label in crocotel_errors_total; later ones count as other",
    "custom error fingerprint limit (using 100)",
    "error_fingerprints",
)
HEAP_TRIM_INTERVAL = _v(
    "CROCOTEL_HEAP_TRIM_INTERVAL",
    SECONDS_OR_OFF,
    10.0,
    "seconds between returns of the C heap's free pages to the system after an export (glibc); 0: never",
    "custom heap trim interval (using 10)",
    "heap_trim_interval",
)
ENABLE_INSTRUMENTATIONS = _v(
    "CROCOTEL_ENABLE_INSTRUMENTATIONS",
    Parser(_choices(tuple(HELD_BACK)), "a comma-separated list of " + ", ".join(HELD_BACK)),
    (),
    "upstream instrumentations crocotel holds back, to load anyway (docs/instrumentations.md)",
    "loading held-back instrumentations",
    "enable_instrumentations",
)

VARIABLES: tuple[Variable[Any], ...] = (
    SDK_DISABLED,
    SERVICE_NAME,
    RESOURCE_ATTRIBUTES,
    TRACES_EXPORTER,
    METRICS_EXPORTER,
    LOGS_EXPORTER,
    OTLP_PROTOCOL,
    OTLP_ENDPOINT,
    OTLP_HEADERS,
    OTLP_TIMEOUT,
    *OTLP_PER_SIGNAL.values(),
    PROMETHEUS_HOST,
    PROMETHEUS_PORT,
    SAMPLER,
    SAMPLER_ARG,
    SPAN_QUEUE,
    LOG_QUEUE,
    METRIC_INTERVAL,
    STRICT,
    SHUTDOWN_TIMEOUT,
    LOG_FORMAT,
    LOG_LEVEL,
    REDACT,
    REDACT_HASH_KEY,
    TRACE_GETUPDATES,
    HEALTH_LOOP_BOUND,
    READY_POLL_WINDOW,
    READY_API_FAILURE_WINDOW,
    METRICS_CARDINALITY_LIMIT,
    ERROR_FINGERPRINTS,
    HEAP_TRIM_INTERVAL,
    ENABLE_INSTRUMENTATIONS,
)
"""Every variable crocotel reads, in the order ``crocotel config`` and the docs show them."""

_BY_NAME: dict[str, Variable[Any]] = {v.name: v for v in VARIABLES}


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")


def mask_url(value: str) -> str:
    """``value`` with any ``user:password@`` in a URL replaced by ``******@``: credentials
    in an endpoint are as secret as a header."""
    return _USERINFO.sub(r"\g<scheme>******@", value)


def _shown(name: str, value: str) -> str:
    """How a variable's value may be printed: masked whole when secret, URL credentials masked."""
    if _is_secret(name):
        return f"****** ({len(value)} characters, masked)"
    return mask_url(value)


def _is_secret(name: str) -> bool:
    """Variables whose values are never printed, not even in an error (headers carry API keys)."""
    variable = _BY_NAME.get(name)
    return variable is not None and variable.secret


@dataclass(frozen=True)
class OtlpSettings:
    """Where and how one signal is sent over OTLP."""

    protocol: str
    endpoint: str
    headers: Mapping[str, str]
    timeout: float


@dataclass(frozen=True)
class Settings:
    """The effective configuration; built once by :func:`load`, never mutated.

    Each field's default is its variable's (see :data:`VARIABLES`); the exporter lists and
    OTLP settings are what :func:`load` made of several variables together.
    """

    sdk_disabled: bool = SDK_DISABLED.default
    service_name: str = SERVICE_NAME.default
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    traces_exporters: tuple[str, ...] = TRACES_EXPORTER.default
    metrics_exporters: tuple[str, ...] = METRICS_EXPORTER.default
    logs_exporters: tuple[str, ...] = LOGS_EXPORTER.default
    traces_otlp: OtlpSettings | None = None
    logs_otlp: OtlpSettings | None = None
    metrics_otlp: OtlpSettings | None = None
    prometheus_host: str = PROMETHEUS_HOST.default
    prometheus_port: int = PROMETHEUS_PORT.default
    sampler: str = SAMPLER.default
    sampler_arg: float = SAMPLER_ARG.default
    span_queue_size: int = SPAN_QUEUE.default
    log_queue_size: int = LOG_QUEUE.default
    metric_export_interval_ms: int = METRIC_INTERVAL.default
    strict: bool = STRICT.default
    shutdown_timeout: float = SHUTDOWN_TIMEOUT.default
    log_format: str = LOG_FORMAT.default
    log_level: str | None = LOG_LEVEL.default
    redact: bool = REDACT.default
    redact_hash_key: bytes | None = REDACT_HASH_KEY.default
    trace_getupdates: bool = TRACE_GETUPDATES.default
    health_loop_bound: float = HEALTH_LOOP_BOUND.default
    ready_poll_window: float = READY_POLL_WINDOW.default
    ready_api_failure_window: float = READY_API_FAILURE_WINDOW.default
    cardinality_limit: int = METRICS_CARDINALITY_LIMIT.default
    error_fingerprints: int = ERROR_FINGERPRINTS.default
    heap_trim_interval: float = HEAP_TRIM_INTERVAL.default
    enable_instrumentations: tuple[str, ...] = ENABLE_INSTRUMENTATIONS.default
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

    def get(self, variable: Variable[T], part: str | None = None) -> T:
        """The variable's value; its default when unset, its parser's fallback when invalid."""
        value = self.raw(variable.name)
        if value is None:
            return variable.default
        parser = variable.parser
        try:
            return parser.parse(value)
        except ValueError:
            problem = ConfigProblem(
                variable.name, _shown(variable.name, value), parser.allowed, part or variable.part
            )
            self.problems.append(problem)
            return parser.fallback if parser.has_fallback else variable.default

    def failed(self, *variables: Variable[Any]) -> bool:
        """Whether any of ``variables`` was reported invalid."""
        names = {v.name for v in variables}
        return any(p.variable in names for p in self.problems)


def _otlp(reader: _Reader, signal: str, part: str) -> OtlpSettings | None:
    """Resolve protocol, endpoint, headers and timeout for one signal, per the OTLP spec."""
    own = {what: OTLP_PER_SIGNAL[(signal, what)] for what in ("protocol", "endpoint", "headers", "timeout")}

    def pick(what: str, general: Variable[T]) -> Variable[T]:
        return own[what] if reader.raw(own[what].name) else general

    before = len(reader.problems)
    protocol = reader.get(pick("protocol", OTLP_PROTOCOL), part)
    signal_endpoint = reader.get(own["endpoint"], part)
    base = reader.get(OTLP_ENDPOINT, part)
    headers = reader.get(pick("headers", OTLP_HEADERS), part)
    timeout = reader.get(pick("timeout", OTLP_TIMEOUT), part)
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
    r = _Reader(os.environ if environ is None else environ)
    values: dict[str, Any] = {v.field: r.get(v) for v in VARIABLES if v.field is not None}

    attributes = values["resource_attributes"]
    values["service_name"] = (
        r.get(SERVICE_NAME)
        if r.raw(SERVICE_NAME.name)
        else attributes.get("service.name", SERVICE_NAME.default)
    )
    exporters = {
        "traces": r.get(TRACES_EXPORTER),
        "metrics": r.get(METRICS_EXPORTER),
        "logs": r.get(LOGS_EXPORTER),
    }
    parts = {"traces": "traces", "logs": "OTLP logs", "metrics": "OTLP metrics"}
    for signal in SIGNALS:
        otlp = _otlp(r, signal, parts[signal]) if "otlp" in exporters[signal] else None
        if "otlp" in exporters[signal] and otlp is None:
            exporters[signal] = tuple(e for e in exporters[signal] if e != "otlp")
        values[f"{signal}_otlp"] = otlp
        values[f"{signal}_exporters"] = exporters[signal]
    if r.failed(PROMETHEUS_HOST, PROMETHEUS_PORT):
        values["metrics_exporters"] = tuple(e for e in exporters["metrics"] if e != "prometheus")
    # an invalid format leaves the app's handlers alone rather than guessing one
    log_format = r.get(LOG_FORMAT)
    values["log_format"] = "none" if r.failed(LOG_FORMAT) else log_format
    return Settings(**values, problems=tuple(r.problems))


def describe(settings: Settings, environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """Rows of (variable, effective value, source) for ``crocotel config``; secrets masked."""
    env = os.environ if environ is None else environ
    invalid = {p.variable for p in settings.problems}
    rows: list[tuple[str, str, str]] = []
    for var in VARIABLES:
        raw = (env.get(var.name) or "").strip()
        value = "****** (set)" if var.secret and raw else mask_url(raw or var.default_text)
        source = "INVALID, ignored" if var.name in invalid else "env" if raw else "default"
        rows.append((var.name, value, source))
    return rows
