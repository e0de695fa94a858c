"""examples/deploy/: Kubernetes manifests valid against their schemas, fly.toml and the Dockerfile
matching crocotel's defaults, and the Dockerfile's command really starting a bot through crocotel."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from crocotel import config
from crocotel.testing import BotApiThread
from tests.support import BIN, REPO, base_env, free_port

DEPLOY = REPO / "examples" / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_VERSION = "1.33"
PROBE_PATHS = {"/healthz", "/readyz"}


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


# -- Kubernetes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_kubernetes_manifests_validate_against_their_schemas(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        # kubernetes-validate ships the core API schemas only; the PodMonitor CRD is checked
        # against the Deployment it scrapes below.
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        return
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION


def test_strict_validation_catches_a_misspelt_field() -> None:
    (deployment,) = by_kind("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def _port(container: dict[str, Any], name_or_number: object) -> int:
    for port in container["ports"]:
        if name_or_number in (port["name"], port["containerPort"]):
            return int(port["containerPort"])
    raise AssertionError(f"no port {name_or_number} on {container['name']}")


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_deployment_probes_port_and_sidecar() -> None:
    (deployment,) = by_kind("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"  # never two pollers
    pod = spec["template"]["spec"]
    (bot,) = pod["containers"]
    env = _env(bot)
    port = config.PROMETHEUS_PORT.default
    assert env["OTEL_EXPORTER_PROMETHEUS_PORT"] == str(port)
    assert env["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"
    assert bot["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert _port(bot, bot[probe]["httpGet"]["port"]) == port
    assert "value" not in next(e for e in bot["env"] if e["name"] == "BOT_TOKEN")  # from a Secret
    assert pod["securityContext"]["runAsNonRoot"] is True

    (agent,) = [c for c in pod["initContainers"] if c["name"] == "otelcol-agent"]
    assert agent["restartPolicy"] == "Always"  # a native sidecar: up before the bot, down after it
    agent_env = _env(agent)
    assert (
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://" + agent_env["CROCOTEL_COLLECTOR_OTLP_HTTP_ENDPOINT"]
    )
    assert agent_env["CROCOTEL_COLLECTOR_OTLP_HTTP_ENDPOINT"].startswith("127.0.0.1:")  # loopback only
    storage = agent_env["CROCOTEL_COLLECTOR_STORAGE_DIR"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (queue,) = [m for m in agent["volumeMounts"] if m["mountPath"] == storage]
    claim = volumes[queue["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim in {p["metadata"]["name"] for p in by_kind("PersistentVolumeClaim")}
    (config_mount,) = [m for m in agent["volumeMounts"] if m["name"] == "agent-config"]
    assert f"--config={config_mount['mountPath']}/otelcol-agent.yaml" in agent["args"]
    agent_config = (REPO / "collector" / "otelcol-agent.yaml").read_text(encoding="utf-8")
    for name in agent_env:
        assert f"${{env:{name}:-" in agent_config, f"{name} is not a variable of otelcol-agent.yaml"


def test_podmonitor_scrapes_the_deployments_ports_with_the_alert_rules_job_names() -> None:
    (deployment,) = by_kind("Deployment")
    (monitor,) = by_kind("PodMonitor")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    containers = pod["spec"]["containers"] + pod["spec"]["initContainers"]
    ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
    jobs = {}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
        (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        jobs[ports[endpoint["port"]]] = relabel["replacement"]
    assert jobs == {config.PROMETHEUS_PORT.default: "crocotel-bot", 8888: "otelcol-agent"}
    rules = "".join(
        p.read_text(encoding="utf-8") for p in (REPO / "collector" / "alerts").glob("*.rules.yaml")
    )
    assert 'job=~"crocotel-bot.*"' in rules and 'job=~"otelcol.*"' in rules


# -- fly.toml -----------------------------------------------------------------------------------


def fly() -> dict[str, Any]:
    with (DEPLOY / "fly.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_fly_toml_matches_crocotels_defaults() -> None:
    app = fly()
    port = config.PROMETHEUS_PORT.default
    assert app["metrics"] == {"port": port, "path": "/metrics"}
    checks = app["checks"]
    assert {c["path"] for c in checks.values()} == PROBE_PATHS
    assert all(c["type"] == "http" and c["port"] == port for c in checks.values())
    assert app["env"]["OTEL_EXPORTER_PROMETHEUS_PORT"] == str(port)
    assert app["env"]["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"
    assert "http_service" not in app and "services" not in app  # a polling bot serves nobody
    assert app["deploy"]["strategy"] == "rolling" and app["kill_signal"] == "SIGTERM"
    assert (DEPLOY / app["build"]["dockerfile"]).is_file()


# -- Dockerfile ---------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in dockerfile():
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def docker_cmd() -> list[str]:
    (cmd,) = [rest for instruction, rest in dockerfile() if instruction == "CMD"]
    command: list[str] = json.loads(cmd)  # exec form: SIGTERM reaches crocotel, not a shell
    return command


def test_dockerfile_is_non_root_and_listens_on_every_interface_inside_only() -> None:
    steps = dockerfile()
    users = [rest for instruction, rest in steps if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert [i for i, _ in steps].index("USER") < [i for i, _ in steps].index("CMD")
    env = docker_env()
    assert env["OTEL_EXPORTER_PROMETHEUS_HOST"] == "0.0.0.0"
    assert env["OTEL_EXPORTER_PROMETHEUS_PORT"] == str(config.PROMETHEUS_PORT.default)
    assert [rest for instruction, rest in steps if instruction == "EXPOSE"] == [
        str(config.PROMETHEUS_PORT.default)
    ]
    assert config.PROMETHEUS_HOST.default == "127.0.0.1"  # why the image must override it
    assert "BOT_TOKEN" not in env
    command = docker_cmd()
    assert command[:3] == ["crocotel", "run", "--"] or command[0] == "opentelemetry-instrument"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.integration
def test_the_dockerfiles_command_runs_a_bot_through_crocotel_answering_every_probe_path() -> None:
    """The image's ENV and CMD (host on 127.0.0.1 and a free port for the test, mybot -> crocbot)."""
    command = docker_cmd()
    assert command[-2:] == ["-m", "mybot"]
    command = [str(Path(BIN) / command[0]), *command[1:-1], "examples.crocbot"]
    command = [sys.executable if part == "python" else part for part in command]
    port = free_port()
    with BotApiThread() as api:
        image_env = docker_env()
        image_env.update(
            OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",  # tests stay on loopback
            OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # no agent: must not hurt
        )
        env = base_env(**image_env, BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url, POLL_TIMEOUT="1")
        api.push_message("/start")
        proc = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (api.sent and _ready(base)):
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                time.sleep(0.2)
            assert api.sent, "the bot never answered /start"
            paths = {c["path"] for c in fly()["checks"].values()} | {fly()["metrics"]["path"]}
            (deployment,) = by_kind("Deployment")
            bot_container = deployment["spec"]["template"]["spec"]["containers"][0]
            paths |= {bot_container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe")}
            assert paths == PROBE_PATHS | {"/metrics"}
            for path in sorted(paths):
                status, body = _get(base + path)
                assert status == 200, (path, status, body[:300])
            assert "telegram_update_duration_seconds_count" in _get(base + "/metrics")[1]
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err


def _ready(base: str) -> bool:
    try:
        return _get(base + "/readyz")[0] == 200
    except OSError:
        return False
