"""The shipped Collector configs: rendered redaction block, manifests, env defaults, validation."""

from __future__ import annotations

import io
import re
import subprocess
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from crocotel import collector
from crocotel.cli import main
from tests.collector_support import AGENT_CONFIG, COLLECTOR_DIR, MANIFEST, otelcol_binary

GATEWAY_CONFIG = COLLECTOR_DIR / "otelcol-gateway.yaml"
GATEWAY_MANIFEST = COLLECTOR_DIR / "builder-config-gateway.yaml"
README = COLLECTOR_DIR / "README.md"
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
# Go module (last path element) -> the component type it registers.
MODULE_TYPES = {
    "otlpreceiver": "otlp",
    "memorylimiterprocessor": "memory_limiter",
    "filterprocessor": "filter",
    "transformprocessor": "transform",
    "redactionprocessor": "redaction",
    "tailsamplingprocessor": "tail_sampling",
    "routingconnector": "routing",
    "otlphttpexporter": "otlp_http",
    "loadbalancingexporter": "loadbalancing",
    "healthcheckextension": "health_check",
    "filestorage": "file_storage",
}
_ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+):-([^}]*)\}")


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _used_types(config: dict[str, Any]) -> set[tuple[str, str]]:
    """(section, type) of every component the service uses."""
    service = config["service"]
    used: set[str] = set(service.get("extensions", []))
    for pipeline in service["pipelines"].values():
        for role in ("receivers", "processors", "exporters"):
            used.update(pipeline.get(role, []))
    found = set()
    for section in SECTIONS:
        for component_id in config.get(section) or {}:
            if component_id in used:
                found.add((section, component_id.split("/")[0]))
    return found


def _manifest_types(path: Path) -> set[tuple[str, str]]:
    manifest = _load(path)
    found = set()
    for section in SECTIONS:
        for entry in manifest.get(section) or []:
            module = entry["gomod"].split()[0].rsplit("/", 1)[-1]
            found.add((section, MODULE_TYPES[module]))
    return found


# -- the generated redaction block ---------------------------------------------


def test_agent_patterns_match_rendered() -> None:
    """The agent config's generated block is exactly what `crocotel collector-config` renders now."""
    text = AGENT_CONFIG.read_text(encoding="utf-8")
    assert collector.extract_block(text) == collector.render_block(), (
        "otelcol-agent.yaml is stale: run crocotel collector-config --write collector/otelcol-agent.yaml"
    )


def test_rendered_block_carries_every_rule() -> None:
    block = collector.render_block()
    for pattern in collector.render_patterns():
        assert f"[REDACTED:{pattern.kind}]" in block
    statements = collector.transform_statements()
    assert set(statements) == {"trace", "log", "metric"}
    flat = [s for groups in statements.values() for group in groups for s in group]
    for target in ("span.name", "span.status.message", "spanevent.name", "log.body", "datapoint.attributes"):
        assert any(target in s for s in flat), target


def test_escaping_for_ottl_confmap_and_yaml() -> None:
    pattern = collector.Pattern("x", "a\"b'\\d$", "${pre}[REDACTED:x]")
    statements = collector.transform_statements([pattern])
    first = statements["trace"][0][0]
    expected = '"a\\"b\'\\\\d$", "${pre}[REDACTED:x]")'
    assert first == 'replace_all_patterns(resource.attributes, "value", ' + expected
    rendered = collector._yaml(collector._conf(first))
    assert rendered.startswith("'") and "b''" in rendered and "$$" in rendered and "$${pre}" in rendered
    assert YAML(typ="safe").load(rendered).replace("$$", "$") == first


def test_cli_prints_the_block() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["collector-config"]) == 0
    assert out.getvalue() == collector.render_block()


def test_cli_check_and_write(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    stale = AGENT_CONFIG.read_text(encoding="utf-8").replace("[REDACTED:phone]", "[REDACTED:old]", 1)
    config.write_text(stale, encoding="utf-8")
    with redirect_stdout(io.StringIO()):
        assert main(["collector-config", "--check", str(config)]) == 1
        assert main(["collector-config", "--write", str(config)]) == 0
        assert main(["collector-config", "--check", str(config)]) == 0
    assert config.read_text(encoding="utf-8") == AGENT_CONFIG.read_text(encoding="utf-8")
    config.write_text("processors: {}\n", encoding="utf-8")
    assert main(["collector-config", "--check", str(config)]) == 2


# -- manifests and documentation ----------------------------------------------


def test_manifests_list_exactly_the_components_used() -> None:
    agent, gateway = _used_types(_load(AGENT_CONFIG)), _used_types(_load(GATEWAY_CONFIG))
    assert _manifest_types(GATEWAY_MANIFEST) == gateway
    not_served = {("exporters", "loadbalancing")}
    assert _manifest_types(MANIFEST) == agent | (gateway - not_served)


def test_every_module_is_on_one_release() -> None:
    versions = set()
    for path in (MANIFEST, GATEWAY_MANIFEST):
        for section in (*SECTIONS, "providers"):
            for entry in _load(path).get(section) or []:
                module, version = entry["gomod"].split()
                versions.add(version if "/confmap/" not in module else "stable:" + version)
    assert versions == {"v0.149.0", "stable:v1.55.0"}


def test_every_env_variable_is_documented_with_its_default() -> None:
    readme = README.read_text(encoding="utf-8")
    for path in (AGENT_CONFIG, GATEWAY_CONFIG):
        for name, default in _ENV_REF.findall(path.read_text(encoding="utf-8")):
            row = next((line for line in readme.splitlines() if f"`{name}`" in line), None)
            assert row is not None, f"{name} ({path.name}) is not in collector/README.md"
            assert f"`{default}`" in row, f"{name}: README does not give the default {default}"


# -- the real binary -------------------------------------------------------------


def _validate(binary: Path, config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"CROCOTEL_COLLECTOR_STORAGE_DIR": str(tmp_path), "CROCOTEL_GATEWAY_STORAGE_DIR": str(tmp_path)}
    return subprocess.run(
        [str(binary), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_agent_config_validates(tmp_path: Path) -> None:
    result = _validate(otelcol_binary(), AGENT_CONFIG, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]


def test_a_broken_pattern_fails_validation(tmp_path: Path) -> None:
    """Validation compiles every OTTL statement and regex, so the checks above mean something."""
    broken = tmp_path / "broken.yaml"
    text = AGENT_CONFIG.read_text(encoding="utf-8")
    broken.write_text(text.replace('replace_pattern(span.name, "', 'replace_pattern(span.name, "(', 1))
    result = _validate(otelcol_binary(), broken, tmp_path)
    assert result.returncode != 0
    assert "unable to parse OTTL" in result.stderr


def test_gateway_config_validates_except_the_loadbalancing_exporter(tmp_path: Path) -> None:
    """The loadbalancing exporter is swapped for a stand-in; everything else is validated for real."""
    binary = otelcol_binary()
    yaml = YAML()
    config = yaml.load(GATEWAY_CONFIG.read_text(encoding="utf-8"))
    balancer = config["exporters"].pop("loadbalancing")
    assert balancer["routing_key"] == "traceID"
    assert set(balancer["resolver"]) == {"dns"}
    assert balancer["protocol"]["otlp"]["tls"]["insecure"] is True
    config["exporters"]["otlp_http/loadbalancing_stand_in"] = {"endpoint": "http://127.0.0.1:4418"}
    for pipeline in config["service"]["pipelines"].values():
        exporters = pipeline["exporters"]
        pipeline["exporters"] = [
            "otlp_http/loadbalancing_stand_in" if name == "loadbalancing" else name for name in exporters
        ]
    derived = tmp_path / "gateway-derived.yaml"
    with derived.open("w", encoding="utf-8") as out:
        yaml.dump(config, out)
    result = _validate(binary, derived, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.parametrize("path", [AGENT_CONFIG, GATEWAY_CONFIG], ids=lambda p: p.name)
def test_configs_keep_dollar_signs_escaped(path: Path) -> None:
    """Outside ${env:...} references every `$` is doubled, or the Collector would expand it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    text = _ENV_REF.sub("", "\n".join(line for line in lines if not line.lstrip().startswith("#")))
    assert "$" not in text.replace("$$", "")
