"""The restore step's waits read ONE LIST per kind per round (PodVolumeRestores, PVCs, pods), whatever the
number of objects, and its Restore wait ONE GET per round; the annotate step patches only the pods whose
annotation differs. Requests are counted on the real test API server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from seatrial.fixtures.kubeapi.fixture import KubeApi
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.clients.velero import API_VERSION
from seatrial.runbook.migration.steps import annotate
from seatrial.runbook.migration.steps.restore import RestoreSeen, wait_for_data_and_pods
from seatrial.runbook.wait import wait_until

NS, VNS, RESTORE = "harbor", "velero", "restore-1"
READY = [{"type": "Ready", "status": "True"}]


def _pod(name: str, *, ready: bool, annotations: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}"}},
                                 {"name": "logs", "persistentVolumeClaim": {"claimName": f"logs-{name}"}}]},
            "status": {"phase": "Running", "conditions": READY if ready else []}}


def _populate(kube_api: KubeApi, count: int) -> None:
    store = kube_api.store
    for namespace in (NS, VNS):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for index in range(count):
        store.create(_pod(f"pod-{index}", ready=False))
        store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": f"data-pod-{index}", "namespace": NS},
                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                      "status": {"phase": "Bound"}})
        store.create({"apiVersion": API_VERSION, "kind": "PodVolumeRestore",
                      "metadata": {"name": f"{RESTORE}-{index}", "namespace": VNS,
                                   "labels": {"velero.io/restore-name": RESTORE}},
                      "spec": {"pod": {"kind": "Pod", "namespace": NS, "name": f"pod-{index}"}, "volume": "data",
                               "snapshotID": "abcd1234", "backupStorageLocation": "default",
                               "repoIdentifier": "s3:http://127.0.0.1:9/velero/restic/harbor",
                               "uploaderType": "restic", "sourceNamespace": NS},
                      "status": {"phase": "Completed"}})


def _after_rounds(monkeypatch: pytest.MonkeyPatch, rounds: int, change) -> None:
    """The wait's sleep (in the test's thread only) makes `change` after `rounds` rounds: no timing involved."""
    real_sleep, calls = time.sleep, Counter()

    def sleep(seconds: float) -> None:
        if threading.current_thread() is not threading.main_thread():
            real_sleep(seconds)
            return
        calls["sleep"] += 1
        if calls["sleep"] == rounds:
            change()

    monkeypatch.setattr("seatrial.runbook.wait.time.sleep", sleep)


def _reads(kube_api: KubeApi) -> Counter:
    return Counter(path.split("?")[0] for method, path in kube_api.server.requests if method == "GET")


@pytest.mark.parametrize("count", [3, 30])
def test_the_wait_after_a_restore_lists_each_kind_once_per_round(kube_api: KubeApi, monkeypatch, count: int):
    _populate(kube_api, count)

    def all_ready() -> None:
        for index in range(count):
            kube_api.store.mutate("v1", "Pod", f"pod-{index}", NS,
                                  lambda pod: pod["status"].__setitem__("conditions", READY), subresource="status")

    _after_rounds(monkeypatch, 2, all_ready)
    cluster = Cluster(kube_api.kubeconfig, kube_api.context)
    lines: list[str] = []
    kube_api.server.requests.clear()
    seen = wait_for_data_and_pods(cluster, velero_namespace=VNS, namespace=NS, restore=RESTORE, timeout=600,
                                  say=lines.append, interval=0.01)
    assert (seen.volumes, seen.claims, seen.pods_ready) == (count, count, count)
    reads = {path: n for path, n in _reads(kube_api).items()  # discovery aside
             if path.rsplit("/", 1)[-1] in ("podvolumerestores", "persistentvolumeclaims", "pods")}
    assert not [path for path in _reads(kube_api) if "/pods/" in path or "/podvolumerestores/" in path]
    assert reads == {f"/apis/{API_VERSION}/namespaces/{VNS}/podvolumerestores": 3,
                     f"/api/v1/namespaces/{NS}/persistentvolumeclaims": 3,
                     f"/api/v1/namespaces/{NS}/pods": 3}, reads  # 3 rounds, one LIST per kind each
    assert f"pods ready 0/{count}" in lines[0]


def test_the_restore_wait_reads_the_restore_once_per_round(kube_api: KubeApi, monkeypatch):
    _populate(kube_api, 1)
    kube_api.store.create({"apiVersion": API_VERSION, "kind": "Restore",
                           "metadata": {"name": RESTORE, "namespace": VNS},
                           "spec": {"backupName": "b"}, "status": {"phase": "InProgress"}})
    _after_rounds(monkeypatch, 3, lambda: kube_api.store.mutate(
        API_VERSION, "Restore", RESTORE, VNS, lambda r: r["status"].__setitem__("phase", "Completed"),
        subresource="status"))
    cluster = Cluster(kube_api.kubeconfig, kube_api.context)
    kube_api.server.requests.clear()
    lines: list[str] = []
    seen = wait_until(lambda: RestoreSeen(cluster.get(API_VERSION, "Restore", RESTORE, VNS)), timeout=600,
                      interval=0.01, what="the restore", progress=RestoreSeen.describe, on_progress=lines.append)
    assert seen.obj["status"]["phase"] == "Completed"
    assert _reads(kube_api)[f"/apis/{API_VERSION}/namespaces/{VNS}/restores/{RESTORE}"] == 4
    assert lines[0].startswith(f"  restore {RESTORE}: InProgress")


def _annotate_ctx(cluster: Cluster, lines: list[str]) -> SimpleNamespace:
    config = SimpleNamespace(source=SimpleNamespace(namespace=NS), volumes=SimpleNamespace(exclude=("logs",)))
    return SimpleNamespace(config=config, source=cluster, dry_run=False, say=lines.append)


def test_annotate_patches_only_the_pods_whose_annotation_differs(kube_api: KubeApi):
    store = kube_api.store
    for namespace in (NS, VNS):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for index in range(20):  # every 4th pod is already right; one carries an exclusion nobody configured
        annotations = {annotate.EXCLUDES: "logs"} if index % 4 == 0 else {}
        if index == 1:
            annotations = {annotate.EXCLUDES: "data"}
        store.create(_pod(f"pod-{index}", ready=True, annotations=annotations))
    cluster = Cluster(kube_api.kubeconfig, kube_api.context)
    lines: list[str] = []
    kube_api.server.requests.clear()
    result = annotate.apply(_annotate_ctx(cluster, lines))
    patched = sorted(path for method, path in kube_api.server.requests if method == "PATCH")
    assert len(patched) == result["patched"] == 15
    assert f"/api/v1/namespaces/{NS}/pods/pod-0" not in patched
    assert all(store.view("v1", "Pod", f"pod-{i}", NS)["metadata"]["annotations"][annotate.EXCLUDES] == "logs"
               for i in range(20))
    assert any("pod-1: data was excluded by an annotation" in line for line in lines)
    assert len(result["excluded"]) == 20

    kube_api.server.requests.clear()
    again = annotate.apply(_annotate_ctx(cluster, []))
    assert again["patched"] == 0
    assert [m for m, _ in kube_api.server.requests if m != "GET"] == []  # a re-run writes nothing
    assert _reads(kube_api)[f"/api/v1/namespaces/{NS}/pods"] == 1
