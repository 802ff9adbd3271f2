"""The deploy files, checked by the tools ops would run (no Docker engine or cluster needed):
hadolint for the Dockerfiles, the compose-spec JSON schema for docker-compose.yml,
kubernetes-validate --strict for deploy/k8s/, plus the rules of docs/operations.md that no schema
knows (durable Redis, probes, loopback-only internal ports, no secrets in committed files)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from frontdesk.settings import Settings
from tests.conftest import CLINIC_SITE, ROOT

BIN = Path(sys.executable).parent
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, check=False
    )


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for path in MANIFESTS for d in documents(path)}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", value))


# --- Dockerfile ---------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["deploy/Dockerfile", "deploy/site.Dockerfile"])
def test_dockerfiles_are_hadolint_clean(dockerfile: str) -> None:
    result = run(BIN / "hadolint", "--failure-threshold", "warning", "--no-color", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    assert run(BIN / "hadolint", "--failure-threshold", "warning", bad).returncode != 0


def test_dockerfile_is_multi_stage_locked_and_non_root() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert "uv sync --locked --no-dev" in text
    assert "--no-dev --no-install-project" in text  # dependencies in their own cached layer
    [user] = re.findall(r"^USER (\S+)", text, re.M)
    uid = user.split(":")[0]
    assert uid.isdigit()  # numeric: runAsNonRoot can verify it
    assert int(uid) != 0
    assert re.search(r'^ENTRYPOINT \["frontdesk"\]', text, re.M)
    assert re.search(r"^STOPSIGNAL SIGTERM", text, re.M)


# --- docker compose -----------------------------------------------------------------------


def test_compose_matches_the_compose_spec() -> None:
    result = run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_fails_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  web:\n    image: x\n    stop_grace_period: [1]\n    portz: []\n")
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", bad)
    assert result.returncode != 0


def test_compose_redis_is_durable() -> None:
    redis = compose()["services"]["redis"]
    conf = (ROOT / "deploy" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync always$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    assert "./deploy/redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    named = [v.split(":")[0] for v in redis["volumes"] if not v.startswith(".")]
    assert named == ["redis-data"]
    assert "redis-data" in compose()["volumes"]
    assert redis["healthcheck"]["test"][-1] == "ping"


def internal_port(service: str) -> int:
    port: int = getattr(Settings(), f"{service}_internal_port")
    return port


@pytest.mark.parametrize("service", ["content", "forms"])
def test_compose_services_are_served_and_checked_for_readiness(service: str) -> None:
    spec = compose()["services"][service]
    assert spec["command"] == ["serve", service]
    probe = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{internal_port(service)}/health/ready" in probe
    assert spec["volumes"] == ["./examples/clinic-site:/site:ro"]
    assert spec["environment"]["FRONTDESK_SITE_DIR"] == "/site"


@pytest.mark.parametrize("service", ["content", "forms"])
def test_compose_publishes_internal_ports_on_loopback_only(service: str) -> None:
    spec = compose()["services"][service]
    port = internal_port(service)
    assert spec["environment"]["FRONTDESK_INTERNAL_HOST"] == "0.0.0.0"  # inside the container
    published = [p for p in spec["ports"] if p.split(":")[-1] == str(port)]
    assert published == [f"127.0.0.1:{port}:{port}"]
    public = getattr(Settings(), f"{service}_port")
    assert f"{public}:{public}" in spec["ports"]


def test_compose_publishes_the_inbox_on_loopback_only() -> None:
    spec = compose()["services"]["inbox"]
    port = Settings().inbox_port
    assert spec["command"] == ["serve", "inbox"]
    assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"http://127.0.0.1:{port}/health/ready" in " ".join(spec["healthcheck"]["test"])
    # The worker writes the sign-in links: it must know the inbox's origin too.
    worker = compose()["services"]["worker"]
    assert worker["environment"]["FRONTDESK_INBOX_URL"] == f"http://127.0.0.1:{port}"


def test_k8s_inbox_is_cluster_internal_behind_a_network_policy() -> None:
    objects = k8s_objects()
    deployment = objects[("Deployment", "frontdesk-inbox")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"] == ["serve", "inbox"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": Settings().inbox_port
    }
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    labels = deployment["spec"]["selector"]["matchLabels"]
    service = objects[("Service", "frontdesk-inbox")]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == labels
    policy = objects[("NetworkPolicy", "frontdesk-inbox")]["spec"]
    assert policy["podSelector"]["matchLabels"] == labels
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert all("podSelector" in source for source in rule["from"])  # never every pod
    assert (
        objects[("PodDisruptionBudget", "frontdesk-inbox")]["spec"]["selector"]["matchLabels"]
        == labels
    )
    config = objects[("ConfigMap", "frontdesk-config")]["data"]
    assert config["FRONTDESK_INBOX_URL"].startswith("https://")
    # No ingress object anywhere routes to the inbox.
    assert not [k for k in objects if k[0] == "Ingress"]


def test_compose_worker_is_scalable_checked_and_drains() -> None:
    worker = compose()["services"]["worker"]
    assert worker["command"] == ["worker"]
    assert worker["healthcheck"]["test"] == ["CMD", "frontdesk", "health", "worker"]
    # `--scale worker=N` needs no fixed name and no host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert seconds(worker["stop_grace_period"]) > Settings().job_timeout


def test_compose_needs_no_secret_and_holds_none() -> None:
    secret = {"SECRET_KEY", "SMTP_PASSWORD", "SMTP_USERNAME", "STAFF_TOKENS", "PREVIEW_TOKENS"}
    for service in compose()["services"].values():
        assert not {f"FRONTDESK_{v}" for v in secret} & service.get("environment", {}).keys()
        assert "secrets" not in service
        for env_file in service.get("env_file", []):
            assert env_file["required"] is False  # starts without a .env


def test_compose_has_a_mail_catcher_with_a_web_page() -> None:
    services = compose()["services"]
    mail = services["mail"]
    assert "8025:8025" in mail["ports"]
    assert services["worker"]["environment"]["FRONTDESK_SMTP_HOST"] == "mail"


# --- Kubernetes ---------------------------------------------------------------------------


def test_k8s_manifests_validate_strictly() -> None:
    result = run(BIN / "kubernetes-validate", "--strict", "--quiet", *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(MANIFESTS) >= 5


def test_kubernetes_validate_fails_on_an_unknown_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {}, ports: [{port: 80}]}\n"
    )
    assert run(BIN / "kubernetes-validate", "--strict", "--quiet", bad).returncode != 0


def test_kustomization_lists_every_manifest() -> None:
    [kustomization] = documents(K8S / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)


@pytest.mark.parametrize("name", ["content", "forms", "worker"])
def test_k8s_deployments_have_probes_resources_and_budgets(name: str) -> None:
    objects = k8s_objects()
    deployment = objects[("Deployment", f"frontdesk-{name}")]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]
    assert container["livenessProbe"]
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
    assert refs == ["frontdesk-config", "frontdesk-secrets"]
    labels = deployment["spec"]["selector"]["matchLabels"]
    budget = objects[("PodDisruptionBudget", f"frontdesk-{name}")]
    assert budget["spec"]["selector"]["matchLabels"] == labels
    if name == "worker":
        assert container["args"] == ["worker"]
        assert container["livenessProbe"]["exec"]["command"] == ["frontdesk", "health", "worker"]
        assert pod["terminationGracePeriodSeconds"] > Settings().job_timeout
    else:
        assert container["args"] == ["serve", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {
            "http": getattr(Settings(), f"{name}_port"),
            "internal": internal_port(name),
        }
        # Probes and Prometheus use the internal port; the public Service never routes to it.
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == "internal"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(internal_port(name))
        service = objects[("Service", f"frontdesk-{name}")]
        assert service["spec"]["selector"] == labels
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
        hpa = objects[("HorizontalPodAutoscaler", f"frontdesk-{name}")]
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"frontdesk-{name}"
        assert hpa["spec"]["minReplicas"] >= 2  # a PDB with minAvailable 1 needs two to drain


def test_k8s_secret_holds_credentials_and_redis_is_external() -> None:
    objects = k8s_objects()
    secret = objects[("Secret", "frontdesk-secrets")]["stringData"]
    assert secret["FRONTDESK_REDIS_URL"].startswith("rediss://")
    assert {"FRONTDESK_SMTP_USERNAME", "FRONTDESK_SMTP_PASSWORD"} <= secret.keys()
    config = objects[("ConfigMap", "frontdesk-config")]["data"]
    assert not {k for k in config if "PASSWORD" in k or "TOKENS" in k or "REDIS_URL" in k}
    assert config["FRONTDESK_INTERNAL_HOST"] == "0.0.0.0"  # the kubelet probes the pod IP
    assert not [k for k in objects if k[0] == "StatefulSet"]  # no Redis in the cluster


def test_site_configmap_rebuilds_the_site_directory(tmp_path: Path) -> None:
    sys.path.insert(0, str(K8S))
    try:
        import site_configmap
    finally:
        sys.path.remove(str(K8S))
    out = tmp_path / "site-configmap.yaml"
    result = run(BIN / "python", K8S / "site_configmap.py", CLINIC_SITE)
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)
    assert run(BIN / "kubernetes-validate", "--strict", "--quiet", out).returncode == 0
    [configmap] = documents(out)
    # What the init container does with the mounted keys, on a copy of them.
    mounted = tmp_path / "site-configmap"
    mounted.mkdir()
    for key, text in configmap["data"].items():
        (mounted / key).write_text(text)
    rebuilt = tmp_path / "site"
    script = site_configmap.UNPACK.replace('"/site-configmap"', repr(str(mounted)))
    script = script.replace('"/site"', repr(str(rebuilt)))
    subprocess.run([sys.executable, "-c", script], check=True)

    def tree(root: Path) -> dict[Path, bytes]:
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert tree(rebuilt) == tree(CLINIC_SITE)
    # Every Deployment's init container runs exactly that script.
    for name in ("content", "forms", "inbox", "worker"):
        pod = k8s_objects()[("Deployment", f"frontdesk-{name}")]["spec"]["template"]["spec"]
        [init] = pod["initContainers"]
        assert init["command"][-1] == site_configmap.UNPACK


def test_compose_profile_ha_is_the_failover_drill_topology() -> None:
    """``--profile ha``: the primary ``redis``, two durable replicas of it announced by name, three
    sentinels with quorum 2 watching it under the settings' default primary name; nothing else of
    the stack needs the profile."""
    services = compose()["services"]
    ha = {name for name, spec in services.items() if "ha" in spec.get("profiles", [])}
    assert ha == {"redis-replica-1", "redis-replica-2", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert all(spec.get("profiles") is None for name, spec in services.items() if name not in ha)
    for name in ("redis-replica-1", "redis-replica-2"):
        replica = services[name]
        command = " ".join(replica["command"])
        assert "/usr/local/etc/redis/redis.conf --replicaof redis 6379" in command
        assert f"--replica-announce-ip {name}" in command
        assert "./deploy/redis.conf:/usr/local/etc/redis/redis.conf:ro" in replica["volumes"]
        assert f"{name}-data:/data" in replica["volumes"]
    master = Settings().redis_sentinel_master
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        sentinel = services[name]
        script = " ".join(sentinel["command"])
        assert f"sentinel monitor {master} redis 6379 2" in script
        assert "--sentinel" in script
        assert f"{name}-data:/data" in sentinel["volumes"]
        assert sentinel["healthcheck"]["test"][-1] == "ping"
    volumes = compose()["volumes"]
    assert {f"{name}-data" for name in ha} <= volumes.keys()
