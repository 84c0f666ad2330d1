"""The deploy/ artifacts, parsed and cross-checked against the gateway (no containers run here).

Dockerfile, compose.yaml, kubernetes/, prometheus/ and grafana/: every file parses; the configs
they carry load with ``gateway.config.load_config``; ports, probe paths, secret files, images and
commands agree with each other and with the gateway; every PromQL expression names only metric
samples and labels the gateway exports (``gateway.metrics.Metrics`` with every package's family
set, ``gateway.server.telemetry.create_families``); promtool checks and unit-tests the rules and
parses every dashboard query.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from gateway import __version__
from gateway.config import Config, load_config
from gateway.metrics import Metrics
from gateway.server.telemetry import create_families
from gateway.tokens.keyfiles import KeyRingError, generate_private_key, load_key_files
from gateway.tokens.keyfiles import write_key_file as write_signing_key

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "rules_test.yml"
DASHBOARD = DEPLOY / "grafana" / "wxgate-dashboard.json"
OWNED_DIRS = [K8S, DEPLOY / "prometheus", DEPLOY / "grafana"]
# labels Prometheus attaches to every scraped series (not part of the families)
TARGET_LABELS = {"job", "instance", "namespace", "pod"}
VALID_SEALING_KEY = base64.b64encode(bytes(range(32))).decode()


# --------------------------------------------------------------------------- loading helpers


def _yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


@cache
def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of every manifest in deploy/kubernetes, by (kind, name)."""
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _yaml_docs(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"{path.name}: duplicate {key}"
            objects[key] = doc
    return objects


def k8s(kind: str, name: str = "wxgate") -> dict[str, Any]:
    return k8s_objects()[(kind, name)]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = k8s("Deployment")["spec"]["template"]["spec"]
    return spec


def main_container() -> dict[str, Any]:
    (container,) = [c for c in pod_spec()["containers"] if c["name"] == "wxgate"]
    return container


def volumes() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec()["volumes"]}


def mount_for(container: dict[str, Any], path: str) -> dict[str, Any]:
    """The volumeMount of ``container`` under which ``path`` lies (the longest match)."""
    best = None
    for m in container.get("volumeMounts", []):
        root = m["mountPath"].rstrip("/")
        if (path == root or path.startswith(root + "/")) and (
            best is None or len(root) > len(best["mountPath"].rstrip("/"))
        ):
            best = m
    assert best is not None, f"{path} is not on any volume of container {container['name']}"
    return best


def configmap_toml() -> str:
    text: str = k8s("ConfigMap", "wxgate-config")["data"]["gateway.toml"]
    return text


@cache
def compose() -> dict[str, Any]:
    (doc,) = _yaml_docs(DEPLOY / "compose.yaml")
    result: dict[str, Any] = doc
    return result


_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` interpolation with an empty environment."""
    if re.search(r"\$(?![{$])", text):
        raise AssertionError(f"bare $ in a compose value (write $$): {text!r}")
    return _INTERPOLATION.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(2) or ""), text)


def file_keys(raw: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``*_file`` setting of a raw TOML tree: (key path, file path)."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            where = f"{path}.{key}" if path else key
            if key.endswith("_file"):
                yield where, value
            else:
                yield from file_keys(value, where)
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            yield from file_keys(item, f"{path}[{i}]")


def load_with_secrets(
    toml_text: str, mounts: dict[str, Path], tmp_path: Path, values: dict[str, str]
) -> Config:
    """``load_config`` on ``toml_text`` with each ``*_file`` path rewritten into ``tmp_path``.

    ``mounts`` maps a mount directory in the container to the local directory holding the
    files; ``values`` gives each file's content by its name.
    """
    for container_dir, local_dir in mounts.items():
        local_dir.mkdir(parents=True, exist_ok=True)
        for where, path in file_keys(tomllib.loads(toml_text)):
            if path.startswith(container_dir.rstrip("/") + "/"):
                name = PurePosixPath(path).name
                assert name in values, f"{where}: no value for secret file {name}"
                (local_dir / name).write_text(values[name] + "\n", encoding="utf-8")
        toml_text = toml_text.replace(f'"{container_dir.rstrip("/")}/', f'"{local_dir}/')
    config_path = tmp_path / "gateway.toml"
    config_path.write_text(toml_text, encoding="utf-8")
    return load_config(config_path, {})


@pytest.fixture(scope="module")
def k8s_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The ConfigMap's gateway.toml loaded with the example Secret's values as its files."""
    tmp_path = tmp_path_factory.mktemp("k8s")
    values = dict(k8s("Secret", "wxgate-secrets")["stringData"])
    assert values["session-key-encryption-key"] == "REPLACE_ME", "the example holds a placeholder"
    values["session-key-encryption-key"] = VALID_SEALING_KEY
    # placeholders the config refuses: a console Token and a 43-character EncodingAESKey
    assert values["wechat-mp-server-token"] == values["wechat-mp-encoding-aes-key"] == "REPLACE_ME"
    values |= {"wechat-mp-server-token": "consoleToken1", "wechat-mp-encoding-aes-key": "A" * 43}
    paths = [path for _, path in file_keys(tomllib.loads(configmap_toml()))]
    mounts = {mount_for(main_container(), p)["mountPath"] for p in paths}
    local = {m: tmp_path / f"secrets{i}" for i, m in enumerate(sorted(mounts))}
    return load_with_secrets(configmap_toml(), local, tmp_path, values)


def compose_toml() -> str:
    return interpolate(compose()["configs"]["gateway_toml"]["content"])


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp_path = tmp_path_factory.mktemp("compose")
    targets = [s["target"] for s in compose()["services"]["wxgate"]["secrets"]]
    values = {t: "REPLACE_ME" for t in targets}
    values["session-key-encryption-key"] = VALID_SEALING_KEY
    values["users-url"] = "postgresql://wxgate:pw@postgres:5432/wxgate"
    return load_with_secrets(compose_toml(), {"/run/secrets": tmp_path / "s"}, tmp_path, values)


# --------------------------------------------------------------------------- Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    lines, current = [], ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    out = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def docker_exec_form(instruction: str) -> list[str]:
    (args,) = [a for i, a in dockerfile() if i == instruction]
    value = json.loads(args)
    assert isinstance(value, list), f"{instruction} must use the exec (JSON) form"
    return value


def image_uid() -> int:
    users = [a for i, a in dockerfile() if i == "USER"]
    assert users, "the image must switch to a non-root USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "USER must be numeric (Kubernetes runAsNonRoot can only verify a uid)"
    return int(uid)


def test_dockerfile_shape() -> None:
    instructions = dockerfile()
    froms = [a.split()[0] for i, a in instructions if i == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert image_uid() != 0
    assert docker_exec_form("ENTRYPOINT") == ["wxgate"]
    assert docker_exec_form("CMD") == ["serve", "--config", "/etc/wxgate/gateway.toml"]
    runs = " ".join(a for i, a in instructions if i == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), (
        "the image installs the project (pip install .)"
    )
    assert not re.search(r"\[(test|dev)", runs), "no test or dev extras in the image"
    assert not re.search(r"build-essential|\bgcc\b|\bgit\b|\bcurl\b", runs), "no dev tools"
    # every path the build copies exists and is let through by .dockerignore
    for i, args in instructions:
        if i == "COPY" and not args.startswith("--from"):
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), src
                assert not dockerignored(src), f".dockerignore excludes {src}"
    for excluded in (".venv", ".git", "var", "tests", "deploy/secrets/x", "gateway/__pycache__"):
        assert dockerignored(excluded), f".dockerignore should exclude {excluded}"


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, pat) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerfile_ports_and_healthcheck_match_the_config(k8s_config: Config) -> None:
    exposed = {
        int(a.split("/")[0]) for a in " ".join(a for i, a in dockerfile() if i == "EXPOSE").split()
    }
    assert exposed == {k8s_config.server.port, k8s_config.metrics.port}
    (health,) = [a for i, a in dockerfile() if i == "HEALTHCHECK"]
    url = re.search(r"http://[^'\"]+", health)
    assert url is not None
    parts = urlsplit(url.group(0))
    assert (parts.port, parts.path) == (k8s_config.server.port, "/healthz")
    assert "python" in health and "curl" not in health


# --------------------------------------------------------------------------- YAML / JSON


def test_every_yaml_and_json_file_parses() -> None:
    files = [p for d in OWNED_DIRS for p in sorted(d.rglob("*")) if p.is_file()]
    files.append(DEPLOY / "compose.yaml")
    assert len(files) >= 12
    for path in files:
        if path.suffix in (".yaml", ".yml"):
            assert _yaml_docs(path), f"{path} is empty"
        elif path.suffix == ".json":
            assert json.loads(path.read_text(encoding="utf-8")), f"{path} is empty"
        elif path.suffix != ".md":
            pytest.fail(f"unexpected file in deploy/: {path}")


def test_kustomization_ties_the_manifests_and_leaves_secrets_out() -> None:
    (kust,) = _yaml_docs(K8S / "kustomization.yaml")
    resources = kust["resources"]
    for name in resources:
        assert (K8S / name).is_file(), name
    assert not any("secret" in r for r in resources), "applying must never overwrite secrets"
    kinds = {doc["kind"] for r in resources for doc in _yaml_docs(K8S / r)}
    assert {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    for (kind, name), obj in k8s_objects().items():
        assert "namespace" not in obj["metadata"], f"{kind}/{name} must be namespace-agnostic"
    (image,) = kust["images"]
    assert image["name"] == "wxgate"
    assert str(image["newTag"]) == __version__


# --------------------------------------------------------------------------- Kubernetes


def test_configmap_config_loads_and_is_production_shaped(k8s_config: Config) -> None:
    c = k8s_config
    assert not c.dev
    assert c.issuer.startswith("https://") and c.public_url.startswith("https://")
    assert urlsplit(c.store.url).scheme in ("redis", "rediss")
    assert urlsplit(c.users.url).scheme in ("postgresql", "postgres")
    assert c.server.trusted_proxies, "a placeholder CIDR for the cluster"
    assert c.cookie_secure
    assert c.wechat.apps and all(a.secret for a in c.wechat.apps.values())
    assert c.tokens.introspection_clients
    assert all(ic.client_secret for ic in c.tokens.introspection_clients)


def test_configmap_is_mounted_where_the_image_reads_it() -> None:
    config_path = docker_exec_form("CMD")[-1]
    mount = mount_for(main_container(), config_path)
    volume = volumes()[mount["name"]]
    assert volume["configMap"]["name"] == "wxgate-config"
    key = str(PurePosixPath(config_path).relative_to(mount["mountPath"]))
    assert key in k8s("ConfigMap", "wxgate-config")["data"]


def test_secret_mounts_provide_every_file_key() -> None:
    container = main_container()
    found = list(file_keys(tomllib.loads(configmap_toml())))
    assert len(found) >= 6
    for where, path in found:
        mount = mount_for(container, path)
        volume = volumes()[mount["name"]]
        assert "secret" in volume, f"{where}: {path} is not on a Secret volume"
        secret = k8s("Secret", volume["secret"]["secretName"])
        name = str(PurePosixPath(path).relative_to(mount["mountPath"]))
        assert name in secret["stringData"], f"{where}: Secret has no key {name}"
        mode = volume["secret"]["defaultMode"]
        assert mode & 0o007 == 0, f"{where}: secret files must not be world-readable"


def test_signing_keys_reach_the_gateway_with_owner_only_permissions(
    k8s_config: Config, tmp_path: Path
) -> None:
    """The Secret's files are 0440 under fsGroup, which the gateway refuses; the init container
    copies them into an emptyDir with mode 0600. Run its script against a simulated mount."""
    keys_dir = str(k8s_config.keys_dir)
    main_mount = mount_for(main_container(), keys_dir)
    keys_volume = volumes()[main_mount["name"]]
    assert "emptyDir" in keys_volume and keys_volume["emptyDir"].get("medium") == "Memory"
    signing_secret = k8s("Secret", "wxgate-signing-keys")
    assert all(k.endswith((".pem", ".json")) for k in signing_secret["stringData"])
    secret_volumes = [
        n
        for n, v in volumes().items()
        if v.get("secret", {}).get("secretName") == "wxgate-signing-keys"
    ]
    assert len(secret_volumes) == 1
    assert secret_volumes[0] not in {m["name"] for m in main_container()["volumeMounts"]}
    (init,) = [
        c
        for c in pod_spec()["initContainers"]
        if secret_volumes[0] in {m["name"] for m in c["volumeMounts"]}
    ]
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert init_mounts[main_mount["name"]] == main_mount["mountPath"]
    assert init["image"] == main_container()["image"]

    # a Secret mount as the kubelet writes it under fsGroup: files 0440
    secret_dir = tmp_path / "secret"
    key = write_signing_key(
        secret_dir, generate_private_key("RS256"), "RS256", created=0.0, activates_at=0.0
    )
    for f in secret_dir.iterdir():
        f.chmod(0o440)
    with pytest.raises(KeyRingError, match="too open"):
        load_key_files(secret_dir, "RS256", strict_permissions=True)
    emptydir = tmp_path / "emptydir"
    emptydir.mkdir()
    script = init["command"][-1]
    script = script.replace(init_mounts[secret_volumes[0]], str(secret_dir))
    script = script.replace(main_mount["mountPath"], str(emptydir))
    subprocess.run([*init["command"][:-1], script], check=True, capture_output=True, timeout=10)
    local_keys = emptydir / Path(keys_dir).relative_to(main_mount["mountPath"])
    loaded = load_key_files(local_keys, "RS256", strict_permissions=True)
    assert [k.kid for k in loaded] == [key.kid]
    assert stat.S_IMODE((local_keys / f"{key.kid}.pem").stat().st_mode) == 0o600


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_probes_match_the_gateway_endpoints_and_port(k8s_config: Config, tmp_path: Path) -> None:
    from gateway.server.app import create_app

    c = main_container()
    expected = {
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        http = c[probe]["httpGet"]
        assert http["path"] == path, probe
        assert _port_number(c, http["port"]) == k8s_config.server.port, probe
    # the paths are routes of the gateway built from this very config (not started)
    server = dataclasses.replace(k8s_config.server, data_dir=str(tmp_path / "data"))
    app = create_app(dataclasses.replace(k8s_config, server=server))
    assert {"/healthz", "/readyz"} <= {r.canonical for r in app.router.resources()}


def test_metrics_scrape_settings_match_the_config(k8s_config: Config) -> None:
    m = k8s_config.metrics
    assert m.enabled and m.host and m.port and not m.main_listener
    c = main_container()
    annotations = k8s("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == m.port
    assert annotations["prometheus.io/path"] == m.path
    assert _port_number(c, "metrics") == m.port
    service_ports = {p["name"]: p for p in k8s("Service")["spec"]["ports"]}
    for port in service_ports.values():
        _port_number(c, port["targetPort"])  # every targetPort names a container port
    assert _port_number(c, service_ports["http"]["targetPort"]) == k8s_config.server.port
    (endpoint,) = k8s("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["port"] in service_ports and endpoint["path"] == m.path
    for rule in k8s("NetworkPolicy")["spec"]["ingress"]:
        for port in rule["ports"]:
            _port_number(c, port["port"])


def test_termination_grace_covers_the_drain(k8s_config: Config) -> None:
    spec = pod_spec()
    drain = k8s_config.server.drain_seconds + k8s_config.server.grace_seconds
    assert spec["terminationGracePeriodSeconds"] > drain
    assert "preStop" not in main_container().get("lifecycle", {}), "the app drains on SIGTERM"


def test_pod_security_and_writable_paths(k8s_config: Config) -> None:
    spec = pod_spec()
    sc = spec["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == image_uid()
    for container in spec["containers"] + spec["initContainers"]:
        csc = container["securityContext"]
        assert csc["readOnlyRootFilesystem"] is True, container["name"]
        assert csc["allowPrivilegeEscalation"] is False, container["name"]
        assert csc["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "memory" in container["resources"]["limits"], container["name"]
    c = main_container()
    for path in (str(k8s_config.data_dir), "/tmp"):
        mount = mount_for(c, path)
        assert "emptyDir" in volumes()[mount["name"]], path
        assert not mount.get("readOnly"), path
    assert "command" not in c, "keep the image's ENTRYPOINT"
    assert c.get("args", docker_exec_form("CMD")) == docker_exec_form("CMD")


def test_replicas_disruption_budget_and_autoscaler() -> None:
    deployment = k8s("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2

    def selects(selector: dict[str, str]) -> bool:
        return all(pod_labels.get(k) == v for k, v in selector.items())

    assert selects(deployment["spec"]["selector"]["matchLabels"])
    assert selects(k8s("Service")["spec"]["selector"])
    assert selects(k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert selects(k8s("NetworkPolicy")["spec"]["podSelector"]["matchLabels"])
    hpa = k8s("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "wxgate",
    }
    assert hpa["minReplicas"] >= 2
    assert "cpu" in main_container()["resources"]["requests"], "the HPA needs a CPU request"


# --------------------------------------------------------------------------- compose


def test_compose_config_loads(compose_config: Config) -> None:
    c = compose_config
    assert not c.dev and c.issuer.startswith("https://")
    assert urlsplit(c.store.url).scheme == "redis" and urlsplit(c.store.url).hostname == "redis"
    assert urlsplit(c.users.url).hostname == "postgres"


def test_compose_services_secrets_and_health(compose_config: Config) -> None:
    services = compose()["services"]
    wxgate = services["wxgate"]
    assert {"wxgate", "redis", "postgres"} <= set(services)
    conditions = {name: d["condition"] for name, d in wxgate["depends_on"].items()}
    assert conditions == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "keys-init": "service_completed_successfully",
    }
    for name in ("wxgate", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    # every *_file of the config is a secret of the service, mounted at /run/secrets/<target>
    targets = {f"/run/secrets/{s['target']}" for s in wxgate["secrets"]}
    for where, path in file_keys(tomllib.loads(compose_toml())):
        assert path in targets, f"{where}: {path} is not a secret of the wxgate service"
    top_secrets = compose()["secrets"]
    for service in services.values():
        for s in service.get("secrets", []):
            assert s["source"] in top_secrets
    # config mounted where the image reads it; stop timeout longer than the drain
    (cfg,) = wxgate["configs"]
    assert cfg["target"] == docker_exec_form("CMD")[-1]
    drain = compose_config.server.drain_seconds + compose_config.server.grace_seconds
    grace = re.fullmatch(r"(\d+)s", wxgate["stop_grace_period"])
    assert grace is not None and int(grace.group(1)) > drain
    url = re.search(r"http://[^'\"]+", " ".join(wxgate["healthcheck"]["test"]))
    assert url is not None
    parts = urlsplit(url.group(0))
    assert parts.port == compose_config.server.port and parts.path in ("/healthz", "/readyz")
    published = [p.rsplit(":", 1)[-1] for p in wxgate["ports"]]
    assert published == [str(compose_config.server.port)]
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"


def test_images_and_commands_are_consistent() -> None:
    services = compose()["services"]
    images = {interpolate(services[n]["image"]) for n in ("wxgate", "keys-init")}
    k8s_images = {c["image"] for c in pod_spec()["containers"] + pod_spec()["initContainers"]}
    assert images == k8s_images == {f"wxgate:{__version__}"}
    for name in ("wxgate", "keys-init"):
        build = services[name]["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert "entrypoint" not in services["wxgate"], "keep the image's ENTRYPOINT"
    assert services["wxgate"]["command"] == docker_exec_form("CMD")
    assert "--config /etc/wxgate/gateway.toml" in " ".join(services["keys-init"]["command"])


# --------------------------------------------------------------------------- metric names


@cache
def _collected() -> tuple[dict[str, set[str]], dict[str, str]]:
    metrics = Metrics()
    holders = (metrics, *create_families(metrics))  # every package's families, as the app's
    for family in (f for holder in holders for f in vars(holder).values()):
        if isinstance(family, MetricWrapperBase):
            names = family._labelnames  # touch one child so labelled families emit samples
            if names:
                family.labels(*["x"] * len(names))
    labels: dict[str, set[str]] = {}
    families: dict[str, str] = {}
    for family in metrics.registry.collect():
        families.setdefault(family.name, family.name)
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            families[sample.name] = family.name
    return labels, families


def exported_samples() -> dict[str, set[str]]:
    """Every sample name the gateway can export, with its label names (``le`` included)."""
    return _collected()[0]


def family_of(sample: str) -> str:
    return _collected()[1][sample]


def family_names() -> set[str]:
    return set(_collected()[1].values())


_METRIC = re.compile(r"(?<![\w:])(wxgate_[a-z0-9_]+)(?![\w:])")
_RECORDED = re.compile(r"(?<![\w:])([a-z_]+:[a-z0-9_:]+)")
_SELECTOR = re.compile(r"(?<![\w:])([a-z_][a-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_AGG_BY = re.compile(r"\bby\s*\(([^)]*)\)\s*\(")
_MATCHING = re.compile(r"\b(?:on|ignoring)\s*\(([^)]*)\)")


def _labels(text: str) -> set[str]:
    return {x.strip() for x in text.split(",") if x.strip()}


def _span_after(expr: str, open_index: int) -> str:
    depth = 0
    for i in range(open_index, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[i], 0)
        if depth == 0:
            return expr[open_index : i + 1]
    raise AssertionError(f"unbalanced parentheses in {expr!r}")


def check_promql(expr: str, recorded: dict[str, set[str]], where: str) -> set[str]:
    """Assert ``expr`` uses only exported samples and their labels; return the samples used."""
    samples = exported_samples()
    assert not re.search(r"\)\s*(by|without)\s*\(", expr), f"{where}: write `sum by (...) (...)`"
    used = set(_METRIC.findall(expr))
    for name in used:
        assert name in samples, f"{where}: {name} is not exported by the gateway"
    for name in _RECORDED.findall(expr):
        assert name in recorded, f"{where}: {name} is not a recording rule"

    def known(series: str) -> set[str]:
        if series in samples:
            return samples[series] | TARGET_LABELS
        if series in recorded:
            return recorded[series]
        return TARGET_LABELS  # up, and other target-level series

    for series, matchers in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(matchers):
            assert label in known(series), f"{where}: {series} has no label {label!r}"
    for match in _AGG_BY.finditer(expr):
        scope = _span_after(expr, match.end() - 1)
        inner = set(_METRIC.findall(scope)) | set(_RECORDED.findall(scope))
        for label in _labels(match.group(1)):
            for series in inner:
                assert label in known(series), f"{where}: {series} has no label {label!r}"
    for match in _MATCHING.finditer(expr):
        for label in _labels(match.group(1)):
            for series in used | set(_RECORDED.findall(expr)):
                assert label in known(series), f"{where}: {series} has no label {label!r}"
    return used


def rules() -> list[dict[str, Any]]:
    (doc,) = _yaml_docs(RULES)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def recorded_labels() -> dict[str, set[str]]:
    recorded: dict[str, set[str]] = {}
    for rule in rules():
        if "record" in rule:
            expr = rule["expr"]
            labels = set().union(*(_labels(m.group(1)) for m in _AGG_BY.finditer(expr)))
            for name in _RECORDED.findall(expr):
                labels |= recorded[name]  # recording rules may only use earlier ones
            recorded[rule["record"]] = labels - {"le"}
    return recorded


def test_rules_use_only_exported_metrics_and_labels() -> None:
    recorded = recorded_labels()
    used: set[str] = set()
    for rule in rules():
        where = rule.get("alert") or rule["record"]
        used |= check_promql(rule["expr"], recorded, where)
        for text in rule.get("annotations", {}).values():
            for name in _METRIC.findall(text):
                assert name in exported_samples(), f"{where}: annotation names {name}"
    assert "wxgate_wechat_config_errors_total" in used


def test_alerts_are_actionable() -> None:
    alerts = [r for r in rules() if "alert" in r]
    assert len(alerts) >= 12
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names))
    for alert in alerts:
        where = alert["alert"]
        assert re.fullmatch(r"\d+[smh]", str(alert.get("for", ""))), f"{where}: needs `for`"
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), where
        for key in ("summary", "description", "runbook"):
            assert alert["annotations"].get(key, "").strip(), f"{where}: no {key}"
    by_name = {a["alert"]: a for a in alerts}
    assert 'wxgate_signing_keys{state="active"}' in by_name["WxgateNoActiveSigningKey"]["expr"]
    assert "up{" in by_name["WxgateDown"]["expr"]


def dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return result


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expr) of every panel target and query variable."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            out.append((f"panel {panel['title']!r}", target["expr"]))
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["definition"]))
    return out


def test_dashboard_is_importable_and_parameterised() -> None:
    d = dashboard()
    assert 36 <= d["schemaVersion"] <= 41 and d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert {"job", "instance"} <= set(variables)
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    assert len(rows) >= 7
    for panel in d["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            expr = target["expr"]
            assert 'job=~"$job"' in expr and 'instance=~"$instance"' in expr, panel["title"]


def test_dashboard_uses_only_exported_metrics_and_covers_every_family() -> None:
    used: set[str] = set()
    for where, expr in dashboard_queries():
        used |= check_promql(expr, {}, where)
    families = family_names()
    shown = {family_of(u) for u in used}
    assert shown == families, f"families without a panel: {sorted(families - shown)}"


# --------------------------------------------------------------------------- promtool


def promtool() -> str:
    path = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if path is None:
        message = "promtool not found (make deps installs the prometheus package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests() -> None:
    (doc,) = _yaml_docs(RULES_TEST)
    tested = {a["alertname"] for t in doc["tests"] for a in t.get("alert_rule_test", [])}
    assert len(tested) >= 4
    assert tested <= {r["alert"] for r in rules() if "alert" in r}
    result = run_promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_checks_and_targets_the_metrics_listener(compose_config: Config) -> None:
    """deploy/prometheus/prometheus.yml passes promtool and scrapes the compose service's own
    metrics listener (never the traffic port), which compose exposes on the backend network."""
    scrape = DEPLOY / "prometheus" / "prometheus.yml"
    result = run_promtool("check", "config", str(scrape))
    assert result.returncode == 0, result.stdout + result.stderr
    (doc,) = _yaml_docs(scrape)
    (job,) = doc["scrape_configs"]
    m = compose_config.metrics
    assert job["job_name"] == "wxgate" and job["metrics_path"] == m.path
    assert m.enabled and m.host and not m.main_listener
    (target,) = job["static_configs"][0]["targets"]
    assert int(target.rsplit(":", 1)[1]) == m.port != compose_config.server.port
    assert str(m.port) in [str(p) for p in compose()["services"]["wxgate"]["expose"]]


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every dashboard query, its Grafana variables replaced, through Prometheus' parser."""
    grafana_vars = {"$__rate_interval": "5m", "$job": ".*", "$instance": ".*"}
    exprs = []
    for _, expr in dashboard_queries():
        if expr.startswith("label_values("):
            continue
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        exprs.append({"expr": expr, "eval_time": "1m", "exp_samples": []})
    test_file = tmp_path / "dashboard_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": [], "promql_expr_test": exprs}],
            }
        ),
        encoding="utf-8",
    )
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
