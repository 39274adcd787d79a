"""deploy/: the compose file is valid Compose and the Kubernetes manifests agree with the
configuration they ship (port, probe paths, the secrets its ``*_env`` keys read)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from starlette.routing import Route

from proxy.app import create_app
from proxy.config import Config, parse

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KUSTOMIZE = DEPLOY / "kubernetes"
PROXY_TOML = KUSTOMIZE / "proxy.toml"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def compose_errors(document: dict[str, Any]) -> list[str]:
    """Where ``document`` breaks the Compose specification's JSON schema (shipped in a package)."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(vendored.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [error.message for error in validator.iter_errors(document)]


def env_names(table: Any) -> set[str]:
    """The environment variables the ``*_env`` keys of a TOML document read."""
    if isinstance(table, dict):
        own = {value for key, value in table.items() if key.endswith("_env")}
        return own | {name for value in table.values() for name in env_names(value)}
    if isinstance(table, list):
        return {name for item in table for name in env_names(item)}
    return set()


def shipped_config() -> tuple[dict[str, Any], set[str], Config]:
    """The replicas' TOML, the variables it reads, and the configuration it loads as with them."""
    text = PROXY_TOML.read_text()
    document = tomllib.loads(text)
    names = env_names(document)
    env = {name: "redis://redis:6379/0" if "REDIS" in name else f"x-{name}" for name in names}
    config = parse(text, str(PROXY_TOML), env)
    assert config.tokens.store == config.cache.backend == config.quota.backend == "redis"
    return document, names, config


def test_the_compose_file_is_valid_compose_and_wires_the_shipped_files() -> None:
    document = compose()
    assert compose_errors(document) == []
    broken = {**document, "services": {**document["services"], "proxy": {"replicas": 2}}}
    assert compose_errors(broken)  # the schema does reject what Compose would
    services = document["services"]
    assert services["proxy"]["deploy"]["replicas"] == 2
    assert {"redis", "prometheus", "grafana"} <= services.keys()
    configs = document["configs"].items()
    shipped = {name: (COMPOSE.parent / config["file"]).resolve() for name, config in configs}
    assert all(path.is_file() for path in shipped.values()), shipped
    assert shipped["alert-rules"] == (DEPLOY / "prometheus" / "alerts.yml").resolve()
    assert shipped["dashboard"] == (DEPLOY / "grafana" / "enphase-proxy.json").resolve()
    assert shipped["proxy-config"] == PROXY_TOML.resolve()
    _, names, _ = shipped_config()
    assert set(services["proxy"]["environment"]) == names
    prometheus = yaml.safe_load(shipped["prometheus-config"].read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    job = prometheus["scrape_configs"][0]
    assert job["dns_sd_configs"][0]["names"] == ["proxy"]
    assert job["dns_sd_configs"][0]["port"] == document_port()
    assert job["authorization"]["credentials_file"] == "/run/secrets/scrape-key"
    assert document["secrets"]["scrape-key"]["environment"] == "ENPHASE_PROXY_SCRAPE_KEY"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (tests/run.sh installs it)"
    checked = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(shipped["prometheus-config"])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def document_port() -> int:
    """The port the shipped configuration listens on."""
    port: int = tomllib.loads(PROXY_TOML.read_text())["server"]["port"]
    return port


def manifests() -> dict[str, dict[str, Any]]:
    """The kustomization's resources by kind."""
    kustomization = yaml.safe_load((KUSTOMIZE / "kustomization.yaml").read_text())
    found = {}
    for name in kustomization["resources"]:
        document = yaml.safe_load((KUSTOMIZE / name).read_text())
        found[document["kind"]] = document
    found["Kustomization"] = kustomization
    return found


def test_the_kubernetes_manifests_agree_with_the_configuration_they_ship() -> None:
    document, names, config = shipped_config()
    found = manifests()
    assert {"Deployment", "Service", "PodDisruptionBudget"} <= found.keys()
    generated = found["Kustomization"]["configMapGenerator"][0]
    assert generated["files"] == ["config.toml=proxy.toml"]

    deployment = found["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    pod = deployment["template"]["spec"]
    (container,) = pod["containers"]
    port = config.server.port
    assert document["server"]["host"] == "0.0.0.0"
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == generated["name"]
    assert container["args"][-1] == f"{mounts['config']}/config.toml"
    assert mounts["data"] == document["server"]["data_dir"]

    paths = {route.path for route in create_app(config).routes if isinstance(route, Route)}
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "http"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "http"}
    assert {"/healthz", "/readyz"} <= paths

    from_secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"]["name"] for env in container["env"]
    }
    assert set(from_secrets) == names  # every secret the TOML reads, and nothing else
    assert set(from_secrets.values()) == {"enphase-proxy"}

    selector = deployment["selector"]["matchLabels"]
    assert selector.items() <= deployment["template"]["metadata"]["labels"].items()
    service = found["Service"]["spec"]
    assert service["selector"] == selector
    assert service["ports"][0]["targetPort"] == "http"
    budget = found["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"] == selector
    assert 0 < budget["minAvailable"] < deployment["replicas"]
