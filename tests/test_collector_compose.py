"""collector/compose.yaml, without a Docker engine: schema, mounted files, images, wiring."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.collector_support import COLLECTOR_DIR, MANIFEST

COMPOSE = COLLECTOR_DIR / "compose.yaml"
_TAG = re.compile(r"^[a-z0-9./_-]+:[A-Za-z0-9._-]+$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _services(compose: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = compose["services"]
    return services


def test_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    """The Compose Specification's JSON schema, as vendored by check-jsonschema."""
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_has_the_whole_stack(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert {"bot", "agent", "jaeger", "tempo", "loki", "prometheus", "grafana", "gateway"} <= set(services)
    assert services["gateway"]["profiles"] == ["gateway"]
    assert all("profiles" not in s for name, s in services.items() if name != "gateway")


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes") or {})
    for name, service in _services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named:
                continue
            assert source.startswith("."), f"{name}: bind mount {source} is not inside the repository"
            assert (COLLECTOR_DIR / source).is_file(), f"{name}: {source} does not exist"


def test_the_bot_image_builds_from_files_that_exist(compose: dict[str, Any]) -> None:
    build = _services(compose)["bot"]["build"]
    context = (COLLECTOR_DIR / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file()
    assert dockerfile.with_name(dockerfile.name + ".dockerignore").is_file()
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    release = re.search(r"otlpreceiver v(\d+\.\d+\.\d+)", MANIFEST.read_text(encoding="utf-8"))
    assert release is not None
    for name, service in _services(compose).items():
        image = service.get("image")
        if image is None:
            continue
        assert _TAG.match(image) and not image.endswith(":latest"), f"{name}: {image} has no fixed tag"
        if "opentelemetry-collector" in image:
            assert image.endswith(":" + release.group(1)), f"{name}: {image} is not the pinned release"


def test_wiring(compose: dict[str, Any]) -> None:
    services = _services(compose)
    bot_env = services["bot"]["environment"]
    assert bot_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://agent:4318"
    agent_env = services["agent"]["environment"]
    assert agent_env["CROCOTEL_COLLECTOR_OTLP_HTTP_ENDPOINT"] == "0.0.0.0:4318"
    assert "http://jaeger:4318" in agent_env["CROCOTEL_COLLECTOR_TRACES_ENDPOINT"]
    assert agent_env["CROCOTEL_COLLECTOR_METRICS_ENDPOINT"] == "http://prometheus:9090/api/v1/otlp"
    assert "--web.enable-otlp-receiver" in services["prometheus"]["command"]
    prometheus = YAML(typ="safe").load((COLLECTOR_DIR / "prometheus.yaml").read_text(encoding="utf-8"))
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert f"bot:{bot_env['OTEL_EXPORTER_PROMETHEUS_PORT']}" in targets
    assert "agent:8888" in targets
    for service in services.values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{port} would be published on every interface"


def test_tempo_takes_otlp_on_the_port_the_agent_uses() -> None:
    tempo = YAML(typ="safe").load((COLLECTOR_DIR / "tempo.yaml").read_text(encoding="utf-8"))
    http = tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]
    assert http["endpoint"].endswith(":4318")


SHIPPED = (
    "builder-config.yaml",
    "builder-config-gateway.yaml",
    "otelcol-agent.yaml",
    "otelcol-gateway.yaml",
    "compose.yaml",
    "demo.Dockerfile",
    "demo.Dockerfile.dockerignore",
    "prometheus.yaml",
    "tempo.yaml",
    "grafana/dashboard.py",
    "grafana/crocotel-dashboard.json",
    "grafana/provisioning/datasources.yaml",
    "grafana/provisioning/dashboards.yaml",
)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_exist_and_are_described(name: str) -> None:
    readme = (COLLECTOR_DIR / "README.md").read_text(encoding="utf-8")
    assert (COLLECTOR_DIR / name).is_file()
    assert f"`{name}`" in readme, f"collector/README.md does not describe {name}"
