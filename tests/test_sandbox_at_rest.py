"""The sandbox at rest does no work: the store hands out read-only views and wakes waiters on a change,
controllers run on store events (no timer), and a restored pod leaves restore-wait when its
PodVolumeRestore completes, not at a timer tick. No timing assertions: synchronisation is by events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from seatrial.fixtures.kubeapi.store import ResourceType, Store
from seatrial.fixtures.kubeapi.types import register_standard_types
from seatrial.fixtures.sandbox import workloads
from seatrial.fixtures.sandbox.cluster import BucketSettings, SandboxCluster
from seatrial.fixtures.sandbox.controller import Controller
from seatrial.runbook.secrets import Secret

WAIT_S = 30.0


def wait_for(what: str, probe: Callable[[], object], store: Store):
    """Wait on the store's change signal (no sleeps) until `probe` is truthy."""
    deadline = time.monotonic() + WAIT_S
    revision = int(store.revision)
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S}s waiting for {what} (last probe: {value!r})")
        revision = store.wait_for_change(revision, timeout=1.0)
    return value


def configmap(name: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": data}


@pytest.fixture
def store() -> Store:
    return register_standard_types(Store("views"))  # the default namespace comes with it


def test_a_view_is_the_stored_object_and_keeps_what_it_was_after_a_write(store: Store):
    store.create(configmap("a", {"k": "1"}))
    view = store.view("v1", "ConfigMap", "a", "default")
    assert store.view("v1", "ConfigMap", "a", "default") is view  # no copy made
    assert store.list_views("v1", "ConfigMap", "default")[0] is view
    store.mutate("v1", "ConfigMap", "a", "default", lambda obj: obj["data"].update(k="2"))
    assert view["data"] == {"k": "1"}  # writes store a new object; the one handed out is unchanged
    assert store.view("v1", "ConfigMap", "a", "default")["data"] == {"k": "2"}


def test_get_and_list_still_hand_out_copies_to_change(store: Store):
    store.create(configmap("a", {"k": "1"}))
    copy = store.get("v1", "ConfigMap", "a", "default")
    copy["data"]["k"] = "changed"
    store.list("v1", "ConfigMap", "default")[0]["data"]["k"] = "changed too"
    assert store.view("v1", "ConfigMap", "a", "default")["data"] == {"k": "1"}


def test_subscribers_share_one_object_per_change(store: Store):
    seen: list[dict] = []
    store.subscribe(lambda event, obj, rtype: seen.append(obj))
    store.subscribe(lambda event, obj, rtype: seen.append(obj))
    store.create(configmap("a", {"k": "1"}))
    assert len(seen) == 2 and seen[0] is seen[1] is store.view("v1", "ConfigMap", "a", "default")
    store.delete("v1", "ConfigMap", "a", "default")
    assert seen[2] is seen[3] and seen[2]["metadata"]["resourceVersion"] == store.revision


def test_wait_for_change_wakes_on_a_write_from_another_thread(store: Store):
    revision = int(store.revision)
    writer = threading.Thread(target=store.create, args=(configmap("b", {}),))
    writer.start()
    assert store.wait_for_change(revision, timeout=WAIT_S) > revision
    writer.join()
    assert store.wait_for_change(int(store.revision), timeout=0) == int(store.revision)  # nothing new: no wait


class Recorder(Controller):
    kinds = frozenset({"ConfigMap"})

    def __init__(self, store: Store):
        super().__init__(store, name="recorder")
        self.ticks = 0
        self.handled = threading.Semaphore(0)

    def tick(self) -> None:
        self.ticks += 1

    def handle(self, event: str, obj: dict, rtype: ResourceType) -> None:
        self.handled.release()


def test_a_controller_reacts_to_a_change_without_a_timer(store: Store):
    controller = Recorder(store).start()
    try:
        assert controller.poll_interval() is None  # no period: nothing wakes it but events
        store.create(configmap("a", {}))
        assert controller.handled.acquire(timeout=WAIT_S)
        store.create(configmap("b", {}))
        assert controller.handled.acquire(timeout=WAIT_S)
        assert controller.ticks == 1  # the initial resync only
    finally:
        controller.stop()


@pytest.fixture
def cluster(tmp_path: Path):
    bucket = BucketSettings("http://127.0.0.1:9", "velero", "sandbox", "minio",
                            Secret("AKIDSANDBOX", "access key"), Secret("sandbox-secret-key", "secret key"))
    with SandboxCluster("source", tmp_path, lb_pool="192.0.2.0/24", bucket=bucket) as running:
        yield running


def test_a_cluster_at_rest_has_no_controller_polling(cluster: SandboxCluster):
    pods = cluster.store.list_views("v1", "Pod", "velero")
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)
    assert [c.name for c in cluster.controllers if c.poll_interval() is not None] == []


def _restored_pod(restore_uid: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app-0", "namespace": "default"},
            "spec": {"initContainers": [{"name": "restore-wait", "image": "velero/velero-restore-helper:v1.16.2",
                                         "args": [restore_uid], "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
                     "containers": [{"name": "app", "image": "busybox",
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-app-0"}}]}}


def test_a_completed_pod_volume_restore_releases_its_pod_without_a_poll(cluster: SandboxCluster,
                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(workloads, "RESTORE_WAIT_POLL_S", 3600.0)  # the disk poll cannot be what releases it
    store = cluster.store
    store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "data-app-0", "namespace": "default"},
                  "spec": {"storageClassName": "rook-ceph-block", "accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}}})
    store.create(_restored_pod("restore-uid-1"))
    pod = wait_for("the pod to wait in restore-wait", lambda: (p := store.view("v1", "Pod", "app-0", "default"))
                   .get("status", {}).get("initContainerStatuses") and p, store)
    assert pod["status"]["phase"] == "Pending"
    workload = next(c for c in cluster.controllers if isinstance(c, workloads.WorkloadController))
    pvc = store.view("v1", "PersistentVolumeClaim", "data-app-0", "default")
    directory = Path(store.view("v1", "PersistentVolume", pvc["spec"]["volumeName"])["spec"]["local"]["path"])
    (directory / ".velero").mkdir()
    (directory / ".velero" / "restore-uid-1").touch()
    store.create({"apiVersion": "velero.io/v1", "kind": "PodVolumeRestore",
                  "metadata": {"name": "r-1", "namespace": "velero"},
                  "spec": {"pod": {"kind": "Pod", "namespace": "default", "name": "app-0"}, "volume": "data",
                           "snapshotID": "abcd1234", "backupStorageLocation": "default", "repoIdentifier": "x",
                           "uploaderType": "restic", "sourceNamespace": "default"},
                  "status": {"phase": "Completed"}})
    wait_for("the pod to run", lambda: store.view("v1", "Pod", "app-0", "default")["status"]["phase"] == "Running",
             store)
    assert workload.poll_interval() is None  # nothing waits: no disk poll either
