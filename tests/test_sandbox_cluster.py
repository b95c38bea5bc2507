"""A sandbox cluster behaves like a cluster: seen through the real kubectl and the real kubernetes client."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from seatrial.fixtures.installer import HARBOR_CHART_VERSION, vendored_chart
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.cluster import BucketSettings, SandboxCluster
from seatrial.fixtures.sandbox.environment import SANDBOX_HARBOR_VALUES
from seatrial.fixtures.sandbox.harbor_lifecycle import HarborLifecycle
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.helm import Helm, load_chart
from seatrial.runbook.secrets import Secret
from tests.waiting import wait_for

HARBOR_PODS = 9  # core, portal, registry x2 (one RWX PVC), jobservice, nginx, database-0, redis-0, trivy-0
HARBOR_PVCS = {"my-harbor-registry", "my-harbor-jobservice", "database-data-my-harbor-database-0",
               "data-my-harbor-redis-0", "data-my-harbor-trivy-0"}




class Kubectl:
    def __init__(self, kubeconfig: Path, context: str):
        self.kubeconfig, self.context = kubeconfig, context

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "KUBECACHEDIR": str(self.kubeconfig.parent / "kube-cache")}
        result = subprocess.run([require_tool("kubectl"), f"--kubeconfig={self.kubeconfig}",  # noqa: S603
                                 f"--context={self.context}", *args],
                                capture_output=True, text=True, env=env, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SandboxCluster]:
    bucket = BucketSettings("http://127.0.0.1:9", "velero", "sandbox", "minio",
                            Secret("AKIDSANDBOX", "access key"), Secret("sandbox-secret-key", "secret key"))
    with SandboxCluster("source", tmp_path, lb_pool="192.0.2.0/24", bucket=bucket) as running:
        yield running


@pytest.fixture
def kubectl(cluster: SandboxCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(write_kubeconfig(tmp_path / "kubeconfig", {"source": cluster.url}), "source")


@pytest.fixture
def core(kubectl: Kubectl) -> kubernetes.client.CoreV1Api:
    api = kubernetes.config.new_client_from_config(config_file=str(kubectl.kubeconfig), context="source")
    return kubernetes.client.CoreV1Api(api)


def with_release(kubectl: Kubectl, cluster: SandboxCluster) -> None:
    """`helm install my-harbor` of the vendored Harbor chart with the sandbox's values (the real engine)."""
    chart = load_chart(vendored_chart("harbor", HARBOR_CHART_VERSION))
    try:
        with Helm(kubectl.kubeconfig, kubectl.context, namespace="harbor") as helm:
            helm.install(chart, "my-harbor", {**SANDBOX_HARBOR_VALUES, "harborAdminPassword": "Sb1-cluster-test"},
                         create_namespace=True)
    finally:
        chart.close()
    wait_for("the Harbor pods to run", lambda: len(pods := cluster.store.list("v1", "Pod", "harbor")) == HARBOR_PODS
             and all(p["status"]["phase"] == "Running" for p in pods))


def test_velero_namespace_is_installed(kubectl: Kubectl, cluster: SandboxCluster):
    ds = kubectl.json("get", "daemonset", "node-agent", "-n", "velero")
    assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] == 2
    pods = kubectl.json("get", "pods", "-n", "velero", "-l", "name=node-agent")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2"]
    assert all(p["metadata"]["name"].startswith("node-agent-") and p["status"]["phase"] == "Running" for p in pods)
    assert kubectl.json("get", "deployment", "velero", "-n", "velero")["status"]["readyReplicas"] == 1
    bsl = kubectl.json("get", "backupstoragelocations.velero.io", "default", "-n", "velero")
    assert bsl["spec"]["objectStorage"] == {"bucket": "velero", "prefix": "sandbox"}
    assert bsl["spec"]["config"] == {"region": "minio", "s3Url": "http://127.0.0.1:9", "s3ForcePathStyle": "true"}
    assert bsl["spec"]["default"] is True and bsl["spec"]["provider"] == "aws"
    repo = kubectl.json("get", "secret", "velero-repo-credentials", "-n", "velero")
    assert base64.b64decode(repo["data"]["repository-password"]) == b"static-passw0rd"
    cloud = base64.b64decode(kubectl.json("get", "secret", "cloud-credentials", "-n", "velero")["data"]["cloud"])
    assert b"aws_access_key_id=AKIDSANDBOX" in cloud
    nodes = kubectl.json("get", "nodes")["items"]
    assert [c["status"] for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready"] == ["True", "True"]
    sc = kubectl.json("get", "storageclass", "rook-ceph-block")
    assert (sc["provisioner"], sc["reclaimPolicy"]) == ("sandbox.seatrial.io/local", "Delete")


def test_harbor_release_runs_on_bound_local_volumes(kubectl: Kubectl, cluster: SandboxCluster):
    with_release(kubectl, cluster)
    pods = kubectl.json("get", "pods", "-n", "harbor")["items"]
    assert len(pods) == HARBOR_PODS and {p["status"]["phase"] for p in pods} == {"Running"}
    assert all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    pvcs = {p["metadata"]["name"]: p for p in kubectl.json("get", "pvc", "-n", "harbor")["items"]}
    assert set(pvcs) == HARBOR_PVCS and {p["status"]["phase"] for p in pvcs.values()} == {"Bound"}
    for pvc in pvcs.values():
        pv = kubectl.json("get", "pv", pvc["spec"]["volumeName"])
        assert pv["status"]["phase"] == "Bound" and pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]
        assert Path(pv["spec"]["local"]["path"]).is_dir()
        assert Path(pv["spec"]["local"]["path"]).is_relative_to(cluster.volumes_root)
    database = kubectl.json("get", "pod", "my-harbor-database-0", "-n", "harbor")
    pv = kubectl.json("get", "pv", pvcs["database-data-my-harbor-database-0"]["spec"]["volumeName"])
    pinned = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
    assert database["spec"]["nodeName"] == pinned[0]
    assert {"name": "database-data", "persistentVolumeClaim": {"claimName": "database-data-my-harbor-database-0"}} \
        in database["spec"]["volumes"]
    registry = kubectl.json("get", "deployment", "my-harbor-registry", "-n", "harbor")
    assert registry["status"]["readyReplicas"] == 2
    assert registry["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    keep = kubectl.json("get", "pvc", "my-harbor-registry", "-n", "harbor")["metadata"]["annotations"]
    assert keep["helm.sh/resource-policy"] == "keep"
    release = kubectl.json("get", "secret", "sh.helm.release.v1.my-harbor.v1", "-n", "harbor")
    assert release["type"] == "helm.sh/release.v1"


def test_static_load_balancer_ip_only_inside_the_pool(kubectl: Kubectl, core: kubernetes.client.CoreV1Api,
                                                     cluster: SandboxCluster):
    with_release(kubectl, cluster)
    lb = wait_for("the LoadBalancer ingress", lambda: (s := core.read_namespaced_service("my-harbor", "harbor").status)
                  and s.load_balancer and s.load_balancer.ingress)  # no status until the controller has seen it
    assert [i.ip for i in lb] == ["192.0.2.10"]
    outside = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "outside"},
               "spec": {"type": "LoadBalancer", "loadBalancerIP": "198.51.100.10", "ports": [{"port": 80}]}}
    core.create_namespaced_service("harbor", outside)
    service = wait_for("a ClusterIP", lambda: (s := core.read_namespaced_service("outside", "harbor")).spec.cluster_ip
                       and s)
    assert service.spec.ports[0].node_port
    cluster.settle()  # a static IP outside the pool stays pending
    assert not core.read_namespaced_service("outside", "harbor").status.load_balancer.ingress


def test_claim_with_missing_storage_class_stays_pending(core: kubernetes.client.CoreV1Api, cluster: SandboxCluster):
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "orphan"},
             "spec": {"storageClassName": "ceph-fast", "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    core.create_namespaced_persistent_volume_claim("default", claim)
    events = wait_for("a ProvisioningFailed event", lambda: [
        e for e in core.list_namespaced_event("default").items if e.involved_object.name == "orphan"])
    assert events[0].reason == "ProvisioningFailed" and "ceph-fast" in events[0].message
    cluster.settle()
    pvc = core.read_namespaced_persistent_volume_claim("orphan", "default")
    assert pvc.status.phase == "Pending" and not pvc.spec.volume_name
    cluster.store.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "ceph-fast"},
                          "provisioner": "sandbox.seatrial.io/local", "reclaimPolicy": "Delete"})
    wait_for("the claim to bind once its class exists",
             lambda: (c := core.read_namespaced_persistent_volume_claim("orphan", "default")).status
             and c.status.phase == "Bound")


def test_deleting_the_namespace_removes_claims_volumes_and_directories(kubectl: Kubectl, cluster: SandboxCluster):
    with_release(kubectl, cluster)
    pvs = kubectl.json("get", "pv")["items"]
    directories = [Path(pv["spec"]["local"]["path"]) for pv in pvs]
    assert len(directories) == len(HARBOR_PVCS) and all(d.is_dir() for d in directories)
    (directories[0] / "data.bin").write_bytes(b"x" * 1000)
    kubectl("delete", "namespace", "harbor")
    wait_for("the PVs to go", lambda: not kubectl.json("get", "pv")["items"])
    wait_for("the directories to go", lambda: not any(d.exists() for d in directories))
    assert not cluster.store.list("v1", "PersistentVolumeClaim", "harbor")


def test_hostpath_annotation_and_prebound_volume(core: kubernetes.client.CoreV1Api, cluster: SandboxCluster):
    hostpath = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "kind-style", "annotations": {"sandbox.seatrial.io/hostpath": "true"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    core.create_namespaced_persistent_volume_claim("default", hostpath)
    pvc = wait_for("binding", lambda: (c := core.read_namespaced_persistent_volume_claim("kind-style", "default"))
                   .status and c.status.phase == "Bound" and c)  # no status until the binder has seen it
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.spec.host_path.path and pv.spec.local is None
    assert pvc.spec.storage_class_name == "rook-ceph-block"  # the default class
    directory = cluster.volumes_root / "static"
    directory.mkdir()
    core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "static-pv"},
        "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "local": {"path": str(directory)}},
        "status": {"phase": "Available"}})
    cluster.store.mutate("v1", "PersistentVolume", "static-pv", None,
                         lambda pv: pv.__setitem__("status", {"phase": "Available"}), subresource="status")
    core.create_namespaced_persistent_volume_claim("default", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "prebound"},
        "spec": {"volumeName": "static-pv", "storageClassName": "", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}})
    bound = wait_for("the prebound claim", lambda: (c := core.read_namespaced_persistent_volume_claim(
        "prebound", "default")).status and c.status.phase == "Bound" and c)
    assert bound.status.capacity == {"storage": "2Gi"}
    core.delete_namespaced_persistent_volume_claim("prebound", "default")
    wait_for("the Retain volume to be Released", lambda: (pv := core.read_persistent_volume("static-pv")).status
             and pv.status.phase == "Released")  # status is written after the claim's deletion is seen
    assert directory.is_dir()


def _restored_pod(restore_uid: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "my-app-0", "labels": {"app": "my-app"}},
            "spec": {"initContainers": [{"name": "restore-wait", "image": "velero/velero-restore-helper:v1.16.2",
                                         "args": [restore_uid], "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
                     "containers": [{"name": "app", "image": "busybox",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-my-app-0"}},
                                 {"name": "config", "configMap": {"name": "my-app"}}]}}


def test_restored_pod_waits_for_its_volumes_then_is_adopted(core: kubernetes.client.CoreV1Api,
                                                            cluster: SandboxCluster):
    core.create_namespaced_persistent_volume_claim("default", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-my-app-0"},
        "spec": {"storageClassName": "rook-ceph-block", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod("default", _restored_pod("0f1e2d3c-restore-uid"))
    pod = wait_for("scheduling", lambda: (p := core.read_namespaced_pod("my-app-0", "default")).spec.node_name and p)
    cluster.settle()
    pod = core.read_namespaced_pod("my-app-0", "default")
    assert pod.status.phase == "Pending" and pod.status.init_container_statuses[0].name == "restore-wait"
    pvc = core.read_namespaced_persistent_volume_claim("data-my-app-0", "default")
    directory = Path(core.read_persistent_volume(pvc.spec.volume_name).spec.local.path)
    (directory / ".velero").mkdir()
    (directory / ".velero" / "0f1e2d3c-restore-uid").touch()
    wait_for("Running", lambda: core.read_namespaced_pod("my-app-0", "default").status.phase == "Running")
    apps = kubernetes.client.AppsV1Api(core.api_client)
    apps.create_namespaced_stateful_set("default", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "my-app"},
        "spec": {"replicas": 1, "serviceName": "my-app", "selector": {"matchLabels": {"app": "my-app"}},
                 "template": {"metadata": {"labels": {"app": "my-app"}},
                              "spec": {"containers": [{"name": "app", "image": "busybox"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    wait_for("the StatefulSet to count the adopted pod",
             lambda: apps.read_namespaced_stateful_set("my-app", "default").status.ready_replicas == 1)
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["my-app-0"]
    assert len(core.list_namespaced_persistent_volume_claim("default").items) == 1


def test_deployment_scales_and_reports_status(cluster: SandboxCluster, core: kubernetes.client.CoreV1Api):
    apps = kubernetes.client.AppsV1Api(core.api_client)
    apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})

    def status():  # None until the controller has reconciled the Deployment once (late under load)
        return apps.read_namespaced_deployment("web", "default").status

    wait_for("3 ready", lambda: (s := status()) is not None and s.ready_replicas == 3)
    names = [p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=web").items]
    assert len(names) == 3 and all(n.startswith("web-") and len(n.split("-")) == 3 for n in names)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    wait_for("scale down", lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 1
             or None)
    wait_for("status", lambda: (s := status()) is not None and s.replicas == 1)


def test_harbor_lifecycle_attaches_to_the_release_volumes_and_detaches_with_the_namespace(
        kubectl: Kubectl, cluster: SandboxCluster):
    calls: list[tuple] = []
    lifecycle = HarborLifecycle(cluster.store, lambda db, reg, **started: calls.append(("attach", db, reg)),
                                lambda: calls.append(("detach",)))
    cluster.add_controllers([lifecycle])
    cluster.settle()
    assert calls == []  # no release, no Harbor
    with_release(kubectl, cluster)
    wait_for("attach", lambda: calls)
    database = kubectl.json("get", "pvc", "database-data-my-harbor-database-0", "-n", "harbor")
    registry = kubectl.json("get", "pvc", "my-harbor-registry", "-n", "harbor")
    paths = [Path(kubectl.json("get", "pv", c["spec"]["volumeName"])["spec"]["local"]["path"])
             for c in (database, registry)]
    # the database lives in $PGDATA/pg<major> (Harbor 2.14's harbor-db: PostgreSQL 15), the registry at /storage
    assert calls == [("attach", paths[0] / "pgdata" / "pg15", paths[1])]
    kubectl("delete", "namespace", "harbor")
    wait_for("detach", lambda: len(calls) == 2)
    assert calls[1] == ("detach",)


def test_claim_restored_with_a_copied_bound_status_is_bound_for_real(cluster: SandboxCluster):
    cluster.store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                          "metadata": {"name": "restored", "namespace": "default"},
                          "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
                                   "resources": {"requests": {"storage": "1Gi"}}},
                          "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}})
    claim = wait_for("a real binding", lambda: (c := cluster.store.get("v1", "PersistentVolumeClaim", "restored",
                                                                        "default"))["spec"].get("volumeName") and c)
    pv = cluster.store.get("v1", "PersistentVolume", claim["spec"]["volumeName"])
    assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"] and Path(pv["spec"]["local"]["path"]).is_dir()


def test_template_changes_roll_the_pods(kubectl: Kubectl, cluster: SandboxCluster):
    with_release(kubectl, cluster)
    before = {p["metadata"]["name"] for p in kubectl.json("get", "pods", "-n", "harbor")["items"]}
    opt_in = '{"spec":{"template":{"metadata":{"annotations":{"backup.velero.io/backup-volumes":"registry-data"}}}}}'
    kubectl("patch", "deployment", "my-harbor-registry", "-n", "harbor", "--type=merge", "-p", opt_in)
    kubectl("patch", "statefulset", "my-harbor-database", "-n", "harbor", "--type=merge", "-p",
            opt_in.replace("registry-data", "database-data"))

    def rolled() -> list[dict] | None:
        pods = kubectl.json("get", "pods", "-n", "harbor")["items"]
        annotated = [p for p in pods if (p["metadata"].get("annotations") or {}).get("backup.velero.io/backup-volumes")]
        done = len(pods) == HARBOR_PODS and len(annotated) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
        return pods if done else None

    pods = wait_for("the registry and database pods to roll", rolled)
    registry = [p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("my-harbor-registry-")]
    assert len(registry) == 2 and not set(registry) & before  # both replicas rolled
    database = next(p for p in pods if p["metadata"]["name"] == "my-harbor-database-0")
    assert database["metadata"]["annotations"]["backup.velero.io/backup-volumes"] == "database-data"
    assert {p["metadata"]["name"] for p in pods if "registry" not in p["metadata"]["name"]} == \
        {n for n in before if "registry" not in n}  # the others did not move; the database kept its name
    claims = kubectl.json("get", "pvc", "-n", "harbor")["items"]
    assert len(claims) == len(HARBOR_PVCS)  # no new claims: the new pods mount the same volumes
