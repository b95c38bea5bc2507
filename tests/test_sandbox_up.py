"""The whole sandbox, started: what kubectl, the kubernetes client, Harbor's registry and the CLI see."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import requests

from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.sandbox.volumes import claim_dir
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.registry import RegistryClient
from seatrial.runbook.config import load_config
from tests.waiting import wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def kubectl(sandbox: Sandbox, context: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECACHEDIR": str(sandbox.root / "kube-cache")}
    result = subprocess.run([require_tool("kubectl"), f"--kubeconfig={sandbox.kubeconfig}",  # noqa: S603
                             f"--context={context}", *args], capture_output=True, text=True, env=env, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


def kubectl_json(sandbox: Sandbox, context: str, *args: str) -> dict:
    return json.loads(kubectl(sandbox, context, *args, "-o", "json").stdout)


def client(sandbox: Sandbox, context: str) -> kubernetes.client.CoreV1Api:
    api = kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context=context)
    return kubernetes.client.CoreV1Api(api)


def test_source_release_runs_on_bound_volumes(sandbox: Sandbox):
    pods = kubectl_json(sandbox, "source", "get", "pods", "-n", "harbor")["items"]
    assert len(pods) == 9 and {p["status"]["phase"] for p in pods} == {"Running"}  # the registry runs two replicas
    claims = kubectl_json(sandbox, "source", "get", "pvc", "-n", "harbor")["items"]
    assert len(claims) == 5 and {c["status"]["phase"] for c in claims} == {"Bound"}
    service = kubectl_json(sandbox, "source", "get", "service", "my-harbor", "-n", "harbor")
    assert service["spec"]["type"] == "LoadBalancer"
    assert [i["ip"] for i in service["status"]["loadBalancer"]["ingress"]] == ["192.0.2.10"]
    table = kubectl(sandbox, "source", "get", "pods", "-n", "harbor").stdout
    assert "my-harbor-database-0" in table and "Running" in table


def test_target_has_velero_and_no_harbor_yet(sandbox: Sandbox):
    missing = kubectl(sandbox, "target", "get", "namespace", "harbor", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    node_agent = kubectl_json(sandbox, "target", "get", "daemonset", "node-agent", "-n", "velero")
    assert node_agent["status"]["numberReady"] == node_agent["status"]["desiredNumberScheduled"] == 2
    source_bsl = kubectl_json(sandbox, "source", "get", "backupstoragelocation", "default", "-n", "velero")
    target_bsl = kubectl_json(sandbox, "target", "get", "backupstoragelocation", "default", "-n", "velero")
    assert source_bsl["spec"]["objectStorage"] == target_bsl["spec"]["objectStorage"]
    # the pods' name for the bucket (in-cluster DNS), not the address seatrial uses: as on real clusters
    assert target_bsl["spec"]["config"]["s3Url"].startswith("http://minio.velero.svc.cluster.local:")
    assert target_bsl["spec"]["config"]["s3Url"] != sandbox.s3_endpoint
    assert requests.get(f"{sandbox.target_harbor_url}/api/v2.0/health", timeout=5).status_code == 503
    assert requests.get(f"{sandbox.source_harbor_url}/api/v2.0/health", timeout=5).status_code == 200


def test_the_static_load_balancer_ip_is_not_honoured_on_target(sandbox: Sandbox):
    core = client(sandbox, "target")
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lb-trap"}})
    try:
        core.create_namespaced_service("lb-trap", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-harbor"},
            "spec": {"type": "LoadBalancer", "loadBalancerIP": "192.0.2.10", "ports": [{"port": 443}]}})
        sandbox.target.settle()  # every controller has seen the Service: what it would assign, it has
        service = core.read_namespaced_service("my-harbor", "lb-trap")
        assert service.spec.cluster_ip, "no ClusterIP was assigned"
        assert not (service.status and service.status.load_balancer and service.status.load_balancer.ingress)
    finally:
        core.delete_namespace("lb-trap")


def test_source_harbor_serves_every_seeded_artifact(sandbox: Sandbox):
    assert len(sandbox.pushed) == 2 * 2 * 2 + 1  # and one multi-arch index
    assert sum(a.repository == "multi-arch" for a in sandbox.pushed) == 1
    with RegistryClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as registry:
        for artifact in sandbox.pushed:
            verified = registry.verify_artifact(artifact.full_repository, artifact.digest)
            assert verified.blobs_verified == len(artifact.blobs)
            assert registry.pull_manifest(artifact.full_repository, artifact.tag).digest == artifact.digest
    registry_dir = claim_dir(sandbox.source.store, "harbor", "my-harbor-registry")
    assert registry_dir is not None and registry_dir.is_relative_to(sandbox.source.volumes_root)
    for artifact in sandbox.pushed:
        for digest, size in artifact.blobs:
            algorithm, hex_digest = digest.split(":")
            blob = registry_dir / "docker/registry/v2/blobs" / algorithm / hex_digest[:2] / hex_digest / "data"
            assert blob.stat().st_size == size, f"{digest} is not on the registry volume"
    database_dir = claim_dir(sandbox.source.store, "harbor", "database-data-my-harbor-database-0")
    assert database_dir is not None and any(database_dir.iterdir()), "Harbor's state is not on the database volume"


def test_configuration_is_complete_and_secrets_stay_private(sandbox: Sandbox):
    config = load_config(sandbox.config_path)
    assert (config.source.context, config.target.context) == ("source", "target")
    assert config.velero.uploader == "restic"
    assert config.storage.endpoint == sandbox.s3_endpoint and config.storage.bucket == "velero"
    assert config.harbor.password == sandbox.admin_password
    assert config.fixup.services["my-harbor"].load_balancer_ip == "198.51.100.10"
    for private in (sandbox.root / "harbor-admin-password", sandbox.root / "credentials-velero"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    hidden = [sandbox.admin_password.reveal(), sandbox.secret_key.reveal(), sandbox.access_key.reveal()]
    for public in (sandbox.config_path, sandbox.root / "sandbox.json", sandbox.kubeconfig):
        assert not [s for s in hidden if s in public.read_text()], f"a secret is in {public.name}"
    assert sandbox.secret_key.reveal() in (sandbox.root / "credentials-velero").read_text()
    assert sandbox.admin_password.reveal() not in repr(sandbox.admin_password)


def test_cli_up_status_down(tmp_path: Path):
    require_tool("docker-registry")
    root = tmp_path / "cli"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "seatrial.fixtures.sandbox", *args, "--dir", str(root)],  # noqa: S603
                              capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)

    up = run("up", "--projects", "1", "--repositories", "1", "--artifacts", "1")
    try:
        assert up.returncode == 0, up.stderr
        assert re.search(r"sandbox up in \d+(\.\d+)? s", up.stdout), up.stdout  # measured by benchmarks, not here
        again = run("up")
        assert again.returncode == 0 and "already running" in again.stdout
        status = run("status")
        assert status.returncode == 0 and "healthy" in status.stdout.splitlines()[-1], status.stdout
        pid = json.loads((root / "sandbox.json").read_text())["pid"]
        password = (root / "harbor-admin-password").read_text().strip()
        assert password not in up.stdout + status.stdout + (root / "sandbox.log").read_text()
    finally:
        down = run("down")
    assert down.returncode == 0 and "stopped" in down.stdout
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "no sandbox is running" in run("status").stdout


def test_fresh_sandbox_with_another_storage_class_on_target(fresh_sandbox):
    damaged = fresh_sandbox(projects=1, repositories=1, artifacts=1, target_storage_classes=("ceph-ssd",))
    core = client(damaged, "target")
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    core.create_namespaced_persistent_volume_claim("harbor", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "my-harbor-registry"},
        "spec": {"storageClassName": "rook-ceph-block", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "5Gi"}}}})
    damaged.target.settle()  # the binder has seen the claim: a volume it could make, it has made
    claim = core.read_namespaced_persistent_volume_claim("my-harbor-registry", "harbor")
    assert claim.status and claim.status.phase == "Pending" and not claim.spec.volume_name
    reasons = [e.reason for e in core.list_namespaced_event("harbor").items]
    assert "ProvisioningFailed" in reasons
    # deleting the source namespace takes the Harbor twin down and the volume directories away
    directories = [Path(pv["spec"]["local"]["path"]) for pv in damaged.source.store.list("v1", "PersistentVolume")]
    assert len(directories) == 5
    kubectl(damaged, "source", "delete", "namespace", "harbor")

    def left_over() -> list[str]:
        health = requests.get(f"{damaged.source_harbor_url}/api/v2.0/health", timeout=30).status_code
        return [str(d) for d in directories if d.exists()] + ([f"Harbor health {health}"] if health != 503 else [])

    wait_for("the namespace's volumes and its Harbor to go with it", left_over, done=lambda left: not left)
    assert kubectl_json(damaged, "source", "get", "pv")["items"] == []
