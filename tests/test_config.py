"""Config parsing: defaults, OTLP resolution, and errors that name variable, value and what is allowed."""

from __future__ import annotations

import pytest

from crocotel import config


def problem_for(env: dict[str, str], variable: str) -> config.ConfigProblem:
    settings = config.load(env)
    matches = [p for p in settings.problems if p.variable == variable]
    assert matches, f"no problem reported for {variable}: {settings.problems}"
    return matches[0]


def test_defaults_need_nothing() -> None:
    s = config.load({})
    assert s.problems == ()
    assert s.traces_exporters == ("otlp",)
    assert s.metrics_exporters == ("prometheus",)
    assert (s.prometheus_host, s.prometheus_port) == ("127.0.0.1", 9464)
    assert s.traces_otlp is not None and s.traces_otlp.endpoint == "http://localhost:4318/v1/traces"
    assert s.logs_otlp is not None and s.logs_otlp.endpoint == "http://localhost:4318/v1/logs"
    assert s.shutdown_timeout == 5.0
    assert s.log_format == "json" and s.redact is True


def test_otlp_endpoint_resolution_follows_the_spec() -> None:
    s = config.load(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:9999/custom",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc,x-tenant=bots",
        }
    )
    assert s.traces_otlp is not None and s.traces_otlp.endpoint == "http://collector:4318/v1/traces"
    assert s.logs_otlp is not None and s.logs_otlp.endpoint == "http://logs:9999/custom"
    assert dict(s.traces_otlp.headers) == {"api-key": "abc", "x-tenant": "bots"}


def test_grpc_uses_the_base_endpoint() -> None:
    s = config.load({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert s.traces_otlp is not None
    assert (s.traces_otlp.protocol, s.traces_otlp.endpoint) == ("grpc", "http://localhost:4317")


def test_unknown_exporter_lists_the_valid_names_and_turns_traces_off() -> None:
    p = problem_for({"OTEL_TRACES_EXPORTER": "otlpp"}, "OTEL_TRACES_EXPORTER")
    text = p.message()
    assert "OTEL_TRACES_EXPORTER" in text and "'otlpp'" in text
    for name in ("otlp", "console", "none"):
        assert name in text
    assert config.load({"OTEL_TRACES_EXPORTER": "otlpp"}).traces_enabled is False


def test_bad_protocol_names_allowed_values() -> None:
    text = problem_for({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL").message()
    assert "'http/json'" in text and "http/protobuf" in text and "grpc" in text


def test_non_numeric_port_disables_only_metrics() -> None:
    s = config.load({"OTEL_EXPORTER_PROMETHEUS_PORT": "94x4"})
    text = problem_for({"OTEL_EXPORTER_PROMETHEUS_PORT": "94x4"}, "OTEL_EXPORTER_PROMETHEUS_PORT").message()
    assert "'94x4'" in text and "0 to 65535" in text
    assert "prometheus" not in s.metrics_exporters
    assert s.traces_enabled and s.logs_enabled


@pytest.mark.parametrize("value", ["-1", "0", "abc", "inf"])
def test_negative_or_silly_timeout_is_rejected(value: str) -> None:
    p = problem_for({"CROCOTEL_SHUTDOWN_TIMEOUT": value}, "CROCOTEL_SHUTDOWN_TIMEOUT")
    assert "positive number of seconds" in p.message() and repr(value) in p.message()
    assert config.load({"CROCOTEL_SHUTDOWN_TIMEOUT": value}).shutdown_timeout == 5.0


def test_bad_endpoint_disables_that_signal_only() -> None:
    s = config.load({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"})
    assert "otlp" not in s.traces_exporters
    assert s.logs_otlp is not None
    assert any(p.variable == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" for p in s.problems)


def test_every_problem_is_one_line() -> None:
    s = config.load(
        {
            "OTEL_TRACES_EXPORTER": "jaeger",
            "CROCOTEL_LOG_FORMAT": "xml",
            "CROCOTEL_LOG_LEVEL": "LOUD",
            "OTEL_TRACES_SAMPLER": "sometimes",
            "CROCOTEL_STRICT": "maybe",
        }
    )
    assert {p.variable for p in s.problems} == {
        "OTEL_TRACES_EXPORTER",
        "CROCOTEL_LOG_FORMAT",
        "CROCOTEL_LOG_LEVEL",
        "OTEL_TRACES_SAMPLER",
        "CROCOTEL_STRICT",
    }
    assert all("\n" not in p.message() for p in s.problems)
    assert s.log_format == "none", "a bad log format must leave the app's handlers alone"


def test_none_exporter_means_off() -> None:
    s = config.load({"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
    assert not s.traces_enabled and not s.logs_enabled and s.problems == ()


def test_describe_masks_secrets() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer sk-live-1234567890",
        "CROCOTEL_REDACT_HASH_KEY": "k3y",
    }
    rows = config.describe(config.load(env), env)
    text = "\n".join(f"{n} {v} {src}" for n, v, src in rows)
    assert "sk-live" not in text and "k3y" not in text
    assert "OTEL_EXPORTER_OTLP_HEADERS ****** (set) env" in text


def test_sdk_disabled_turns_everything_off() -> None:
    s = config.load({"OTEL_SDK_DISABLED": "true"})
    assert not (s.traces_enabled or s.metrics_enabled or s.logs_enabled)


def test_readme_documents_every_variable() -> None:
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    missing = [v.name for v in config.VARIABLES if f"`{v.name}`" not in readme and v.name not in readme]
    assert missing == [], f"README configuration table lacks {missing}"


def test_a_malformed_secret_is_never_echoed() -> None:
    bad = "authorization Bearer sk-live-abcdef0123456789"  # no '=': malformed, and a secret
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        text = problem_for({name: bad}, name).message()
        assert "sk-live" not in text and "Bearer" not in text
        assert name in text and "masked" in text and "key=value" in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CROCOTEL_HEALTH_LOOP_BOUND", "soon"),
        ("CROCOTEL_READY_POLL_WINDOW", "-5"),
        ("CROCOTEL_READY_API_FAILURE_WINDOW", "0"),
        ("CROCOTEL_METRICS_CARDINALITY_LIMIT", "1"),
    ],
)
def test_health_windows_and_cardinality_limit_are_validated(variable: str, value: str) -> None:
    text = problem_for({variable: value}, variable).message()
    assert text.startswith(f"crocotel: invalid {variable}={value!r}: expected ") and "using" in text
    assert config.load({variable: value}).cardinality_limit == 2000


def test_every_variable_read_is_declared_and_shown() -> None:
    """load() reads nothing that is not declared; crocotel config shows every declared one."""

    class Recording(dict[str, str]):
        def __init__(self) -> None:
            super().__init__()
            self.asked: set[str] = set()

        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            self.asked.add(key)
            return super().get(key, default)

    env = Recording()
    env.update({"OTEL_METRICS_EXPORTER": "prometheus,otlp,console"})
    settings = config.load(env)
    declared = {v.name for v in config.VARIABLES}
    assert env.asked and env.asked <= declared, env.asked - declared
    shown = {name for name, _, _ in config.describe(settings, env)}
    assert shown == declared


def test_settings_defaults_come_from_the_declarations() -> None:
    loaded = config.load({})
    for variable in config.VARIABLES:
        if variable.field is not None and variable.field != "redact_hash_key":
            assert getattr(loaded, variable.field) == variable.default, variable.name
            assert getattr(config.Settings(), variable.field) == variable.default, variable.name
