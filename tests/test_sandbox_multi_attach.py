"""The attach/detach controller in the sandbox: a ReadWriteOnce volume of a network-attached class (Rook RBD's
kind) used by a running pod on one node cannot attach for a pod on the other node; that pod waits in
ContainerCreating with a FailedAttachVolume event until the first pod is gone. So a Deployment with a RWO PVC
and RollingUpdate hangs as the seed's registry did, and Recreate does not. Through the real kubectl."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.cluster import SandboxCluster
from tests.test_sandbox_cluster import Kubectl, wait_for

NS = "default"
LABELS = {"app": "registry"}


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    with SandboxCluster("target", tmp_path, network_classes=("rook-ceph-block",)) as cluster:
        yield Kubectl(write_kubeconfig(tmp_path / "kubeconfig", {"target": cluster.url}), "target")


def apply(kubectl: Kubectl, tmp_path: Path, strategy: str, image: str) -> None:
    manifest = tmp_path / "registry.yaml"
    manifest.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "registry", "namespace": NS},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "registry", "namespace": NS},
         "spec": {"replicas": 1, "strategy": {"type": strategy}, "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS}, "spec": {
                      "containers": [{"name": "registry", "image": image}],
                      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "registry"}}]}}}}]))
    kubectl("apply", "-f", str(manifest))


def pods(kubectl: Kubectl) -> list[dict]:
    return kubectl.json("get", "pods", "-n", NS, "-l", "app=registry")["items"]


def rolled_out(kubectl: Kubectl, image: str):
    found = pods(kubectl)
    return (len(found) == 1 and found[0]["status"].get("phase") == "Running"
            and found[0]["spec"]["containers"][0]["image"] == image and found[0])


def test_a_rolling_update_with_a_rwo_volume_hangs_until_the_old_pod_is_gone(kubectl: Kubectl, tmp_path: Path):
    apply(kubectl, tmp_path, "RollingUpdate", "registry:2.8.1")
    old = wait_for("the first registry pod to run", lambda: rolled_out(kubectl, "registry:2.8.1"))
    pv = kubectl.json("get", "pv", kubectl.json("get", "pvc", "registry", "-n", NS)["spec"]["volumeName"])
    assert "nodeAffinity" not in pv["spec"]  # attachable anywhere: the volume follows its pod

    apply(kubectl, tmp_path, "RollingUpdate", "registry:2.8.3")

    def stuck():
        new = [p for p in pods(kubectl) if p["metadata"]["name"] != old["metadata"]["name"]]
        waiting = new and (new[0]["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting")
        return waiting and waiting.get("reason") == "ContainerCreating" and new[0]

    new = wait_for("the new pod to wait in ContainerCreating", stuck)
    assert new["status"]["phase"] == "Pending" and new["spec"]["nodeName"] != old["spec"]["nodeName"]
    events = wait_for("the FailedAttachVolume event", lambda: [
        e for e in kubectl.json("get", "events", "-n", NS)["items"]
        if e["involvedObject"]["name"] == new["metadata"]["name"] and e["reason"] == "FailedAttachVolume"])
    assert events[0]["message"] == (f'Multi-Attach error for volume "{pv["metadata"]["name"]}" Volume is already '
                                    f'used by pod(s) {old["metadata"]["name"]}')
    assert events[0]["type"] == "Warning" and events[0]["source"]["component"] == "attachdetach-controller"
    assert kubectl.json("get", "pod", old["metadata"]["name"], "-n", NS)["status"]["phase"] == "Running"

    kubectl("delete", "pod", old["metadata"]["name"], "-n", NS)
    done = wait_for("the new pod to run once the old one is gone", lambda: rolled_out(kubectl, "registry:2.8.3"))
    assert done["metadata"]["name"] == new["metadata"]["name"]


def test_recreate_stops_the_old_pod_first_and_does_not_hang(kubectl: Kubectl, tmp_path: Path):
    apply(kubectl, tmp_path, "Recreate", "registry:2.8.1")
    wait_for("the first registry pod to run", lambda: rolled_out(kubectl, "registry:2.8.1"))
    apply(kubectl, tmp_path, "Recreate", "registry:2.8.3")
    wait_for("the new registry pod to run", lambda: rolled_out(kubectl, "registry:2.8.3"))


def test_the_scheduler_spreads_a_workloads_pods_and_a_cordoned_node_gets_none(kubectl: Kubectl, tmp_path: Path):
    manifest = tmp_path / "web.yaml"

    def deploy(name: str) -> None:
        manifest.write_text(yaml.safe_dump(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
             "spec": {"replicas": 4, "selector": {"matchLabels": {"app": name}},
                      "template": {"metadata": {"labels": {"app": name}},
                                   "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}))
        kubectl("apply", "-f", str(manifest))

    def nodes(name: str):
        found = kubectl.json("get", "pods", "-n", NS, "-l", f"app={name}")["items"]
        return len(found) == 4 and all(p["status"].get("phase") == "Running" for p in found) and sorted(
            p["spec"]["nodeName"] for p in found)

    deploy("spread")
    assert wait_for("4 spread pods to run", lambda: nodes("spread")) == ["node-1", "node-1", "node-2", "node-2"]
    kubectl("cordon", "node-1")
    deploy("cordoned")
    assert wait_for("4 pods to run beside the cordon", lambda: nodes("cordoned")) == ["node-2"] * 4
