"""The sandbox serves the kubelet's Summary API through the API server's node proxy, as a real cluster does:
`/api/v1/nodes/{node}/proxy/stats/summary`, each pod's `volume[]` with `pvcRef` and `usedBytes` measured on the real
PV directory. Read through seatrial's own client and the real kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from seatrial.fixtures.kubeapi.fixture import KubeApi
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.cluster import SandboxCluster
from seatrial.fixtures.sandbox.kubelet_stats import disk_usage
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.kube import Cluster, ObjectMissing
from seatrial.runbook.errors import ApiError
from tests.waiting import wait_for

NS = "default"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SandboxCluster]:
    with SandboxCluster("source", tmp_path) as running:
        yield running


def _pod_with_claim(cluster: SandboxCluster, kube: Cluster) -> tuple[str, Path]:
    kube.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-app", "namespace": NS},
                 "spec": {"storageClassName": "rook-ceph-block", "accessModes": ["ReadWriteOnce"],
                          "resources": {"requests": {"storage": "1Gi"}}}})
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": NS},
                 "spec": {"containers": [{"name": "app", "image": "busybox",
                                          "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                          "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-app"}}]}})
    pod = wait_for("the pod to run", lambda: (p := kube.get("v1", "Pod", "app", NS)).get("status", {}).get(
        "phase") == "Running" and p)
    claim = kube.get("v1", "PersistentVolumeClaim", "data-app", NS)
    directory = Path(kube.get("v1", "PersistentVolume", claim["spec"]["volumeName"])["spec"]["local"]["path"])
    return pod["spec"]["nodeName"], directory


def _volume(summary: dict, pod: str) -> dict:
    entry = next(p for p in summary["pods"] if p["podRef"]["name"] == pod)
    return next(v for v in entry["volume"] if v["name"] == "data")


def test_the_kubelet_reports_a_volume_by_its_pvc_with_the_bytes_its_directory_uses(cluster: SandboxCluster,
                                                                                   tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": cluster.url})
    with Cluster(kubeconfig, "source") as kube:
        node, directory = _pod_with_claim(cluster, kube)
        empty = _volume(kube.kubelet_stats(node), "app")
        assert empty["pvcRef"] == {"name": "data-app", "namespace": NS}
        assert empty["inodesUsed"] == 2, empty  # the root and lost+found, as a fresh ext4 volume holds
        assert empty["usedBytes"] == disk_usage(directory)[0] < 64 * 1024, empty

        (directory / "base").mkdir()
        (directory / "base" / "table").write_bytes(b"\x01" * 3_000_000)
        full = _volume(kube.kubelet_stats(node), "app")
        assert full["usedBytes"] >= 3_000_000 and full["inodesUsed"] == 4, full
        assert full["capacityBytes"] >= full["availableBytes"] > 0

        other = next(n for n in cluster.nodes if n != node)
        assert not any(p["podRef"]["name"] == "app" for p in kube.kubelet_stats(other)["pods"])
        with pytest.raises(ObjectMissing, match='nodes "no-such-node" not found'):
            kube.kubelet_stats("no-such-node")

    done = subprocess.run([require_tool("kubectl"), f"--kubeconfig={kubeconfig}", "--context=source",
                           f"--cache-dir={tmp_path / 'kube-cache'}", "get", "--raw",
                           f"/api/v1/nodes/{node}/proxy/stats/summary"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert _volume(json.loads(done.stdout), "app")["usedBytes"] == full["usedBytes"]


def test_a_node_without_a_kubelet_answers_as_an_unreachable_one_once(kube_api: KubeApi) -> None:
    """The plain test API server has nodes but no kubelets: a 500 "error trying to reach service", read once
    (not retried: a volume whose usage cannot be read is judged unknown, not waited for)."""
    kube_api.store.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
    with Cluster(kube_api.kubeconfig, kube_api.context) as kube, pytest.raises(ApiError) as failed:
        kube.kubelet_stats("node-1")
    assert failed.value.status == 500 and "error trying to reach service" in failed.value.message
    assert sum(1 for _m, path in kube_api.server.requests if "/proxy/stats/summary" in path) == 1
