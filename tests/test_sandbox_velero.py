"""The sandbox's Velero against real parts: moto over HTTP, the real restic, sandbox clusters.

One module-wide scene: `source` with namespace `app` (pod-a opts in its volume by VOLUME name, pod-b
by PVC name: the trap), a Backup of it; `late`, a cluster that shares the bucket but never syncs;
`target`, which syncs. Each test then restores or inspects what it needs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from seatrial.fixtures.sandbox.cluster import BucketSettings, SandboxCluster
from seatrial.fixtures.sandbox.velero import install_velero
from seatrial.fixtures.sandbox.velero.podvolume import RESTIC_DEPRECATION
from seatrial.fixtures.sandbox.volumes import claim_dir
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients import velero
from seatrial.runbook.clients.restic import Restic
from seatrial.runbook.secrets import Secret
from tests.waiting import wait_for

V = "velero.io/v1"
NS = "app"
BACKUP = "nightly"
REGION = "us-east-1"
PREFIX = "velero-tests"
ACCESS_KEY = Secret("AKIDVELEROTEST", "access key")
SECRET_KEY = Secret("velero-test-secret-key", "secret key")
SOURCE_LB_IP = "192.0.2.10"




def phase_of(cluster: SandboxCluster, kind: str, name: str) -> str:
    try:
        return cluster.store.get(V, kind, name, "velero").get("status", {}).get("phase", "")
    except Exception:
        return ""


def wait_terminal(cluster: SandboxCluster, kind: str, name: str, timeout: float = 20.0) -> dict:
    wait_for(f"{kind} {name} to finish", lambda: velero.is_terminal(phase_of(cluster, kind, name)), timeout)
    return cluster.store.get(V, kind, name, "velero")


def checksums(directory: Path) -> dict[str, str]:
    """sha256 per file, ignoring Velero's .velero/ directory."""
    found = {}
    for root, dirs, files in os.walk(directory):
        if Path(root) == directory and ".velero" in dirs:
            dirs.remove(".velero")
        for name in files:
            path = Path(root) / name
            found[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def gz_json(client, bucket: str, key: str):
    return json.loads(gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read()))


# -- the scene ---------------------------------------------------------------------------------------
def app_objects() -> list[dict]:
    def claim(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
                         "resources": {"requests": {"storage": "1Gi"}}}}

    def pod(name: str, volume: str, claim_name: str, opt_in: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "labels": {"app": name},
                             "annotations": {velero.OPT_IN_ANNOTATION: opt_in}},
                "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                         "volumeMounts": [{"name": volume, "mountPath": "/data"}]}],
                         "volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim_name}}]}}

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"team": "registry"}}},
        claim("data-a"), claim("data-b"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
         "data": {"mode": "production"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "front", "namespace": NS},
         "spec": {"type": "LoadBalancer", "loadBalancerIP": SOURCE_LB_IP, "selector": {"app": "pod-a"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}},
        pod("pod-a", "vol-a", "data-a", "vol-a"),  # opt-in by volume name: backed up
        pod("pod-b", "vol-b", "data-b", "data-b"),  # opt-in by PVC name: "No volume named data-b", no data
    ]


@dataclass
class Scene:
    s3: object
    client: object
    bucket: str
    source: SandboxCluster
    late: SandboxCluster
    target: SandboxCluster
    backup: dict
    source_sums: dict[str, str]

    def key(self, *parts: str) -> str:
        return "/".join([PREFIX, *parts])

    def restore(self, cluster: SandboxCluster, name: str, **options) -> dict:
        cluster.store.create(velero.restore_manifest(name, velero_namespace="velero", backup_name=BACKUP, **options))
        return wait_terminal(cluster, "Restore", name, timeout=30)


def start_cluster(name: str, root: Path, settings: BucketSettings, *, sync_period: float,
                  lb_pool: str) -> SandboxCluster:
    cluster = SandboxCluster(name, root, bucket=settings, lb_pool=lb_pool).start()
    cluster.add_controllers(install_velero(cluster, s3_endpoint=settings.endpoint, bucket=settings.bucket,
                                           prefix=settings.prefix, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                                           region=REGION, sync_period=sync_period, pod_volume_timeout=15.0))
    wait_for(f"{name}'s BSL to be validated", lambda: phase_of(cluster, "BackupStorageLocation", "default"))
    return cluster


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    require_tool("restic")
    from seatrial.fixtures.sandbox.environment import start_s3

    root = tmp_path_factory.mktemp("velero")
    s3 = start_s3()
    clusters: list[SandboxCluster] = []
    try:
        bucket = f"velero-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3", endpoint_url=s3.endpoint, region_name=REGION,
                              aws_access_key_id=ACCESS_KEY.reveal(), aws_secret_access_key=SECRET_KEY.reveal())
        client.create_bucket(Bucket=bucket)
        settings = BucketSettings(s3.endpoint, bucket, PREFIX, REGION, ACCESS_KEY, SECRET_KEY)
        source = start_cluster("source", root, settings, sync_period=3600, lb_pool="192.0.2.0/24")
        clusters.append(source)
        late = start_cluster("late", root, settings, sync_period=3600, lb_pool="203.0.113.0/24")
        clusters.append(late)
        for obj in app_objects():
            source.store.create(obj)
        wait_for("the app pods to run", lambda: all(
            p.get("status", {}).get("phase") == "Running" for p in source.store.list("v1", "Pod", NS)))
        data_a, data_b = claim_dir(source.store, NS, "data-a"), claim_dir(source.store, NS, "data-b")
        (data_a / "blobs").mkdir()
        for index in range(3):
            (data_a / "blobs" / f"blob-{index}").write_bytes(os.urandom(4096 + index))
        (data_a / "state.json").write_text('{"read_only": true}')
        (data_b / "lost.txt").write_text("never backed up")
        source.store.create(velero.backup_manifest(BACKUP, velero_namespace="velero", included_namespaces=[NS],
                                                   default_volumes_to_fs_backup=False))
        backup = wait_terminal(source, "Backup", BACKUP, timeout=30)
        target = start_cluster("target", root, settings, sync_period=0.3, lb_pool="198.51.100.0/24")
        clusters.append(target)
        yield Scene(s3, client, bucket, source, late, target, backup, checksums(data_a))
    finally:
        for cluster in reversed(clusters):
            cluster.stop()
        s3.stop()


# -- backup ------------------------------------------------------------------------------------------
def test_backup_completes_with_one_pvb_and_warns_about_the_pvc_name(scene: Scene):
    status = scene.backup["status"]
    assert status["phase"] == "Completed", status
    assert status["errors"] == 0 and status["warnings"] == 3  # 1 for pod-b's PVC name, 1 per pod: restic deprecation
    assert status["progress"]["itemsBackedUp"] == status["progress"]["totalItems"] > 0
    assert status["formatVersion"] == "1.1.0" and status["expiration"] > status["startTimestamp"]
    pvbs = scene.source.store.list(V, "PodVolumeBackup", "velero")
    assert len(pvbs) == 1
    info = velero.PodVolumeBackupInfo.from_obj(pvbs[0])
    assert info.pod_volume == f"{NS}/pod-a:vol-a" and info.pvc_name == "data-a" and info.phase == "Completed"
    assert info.snapshot_id and info.total_bytes == info.bytes_done > 12000
    assert info.repo_identifier == f"s3:{scene.s3.endpoint}/{scene.bucket}/{PREFIX}/restic/{NS}"
    assert pvbs[0]["metadata"]["name"].startswith(f"{BACKUP}-")
    assert pvbs[0]["metadata"]["ownerReferences"][0]["uid"] == scene.backup["metadata"]["uid"]
    assert pvbs[0]["metadata"]["labels"]["velero.io/backup-uid"] == scene.backup["metadata"]["uid"]
    assert pvbs[0]["spec"]["uploaderType"] == "restic" and pvbs[0]["spec"]["tags"]["volume"] == "vol-a"
    repo = scene.source.store.get(V, "BackupRepository", f"{NS}-default-restic", "velero")
    assert repo["status"]["phase"] == "Ready" and repo["spec"]["resticIdentifier"] == info.repo_identifier


def test_backup_layout_in_the_bucket(scene: Scene):
    listed = {o["Key"] for o in scene.client.list_objects_v2(Bucket=scene.bucket,
                                                             Prefix=scene.key("backups", BACKUP, ""))["Contents"]}
    expected = {"velero-backup.json", f"{BACKUP}.tar.gz", f"{BACKUP}-logs.gz", f"{BACKUP}-podvolumebackups.json.gz",
                f"{BACKUP}-volumesnapshots.json.gz", f"{BACKUP}-itemoperations.json.gz",
                f"{BACKUP}-resource-list.json.gz", f"{BACKUP}-results.gz", f"{BACKUP}-volumeinfo.json.gz"}
    assert {scene.key("backups", BACKUP, name) for name in expected} <= listed
    metadata_key = scene.key("backups", BACKUP, "velero-backup.json")
    metadata = json.loads(scene.client.get_object(Bucket=scene.bucket, Key=metadata_key)["Body"].read())
    assert metadata["status"]["phase"] == "Completed"
    results = gz_json(scene.client, scene.bucket, scene.key("backups", BACKUP, f"{BACKUP}-results.gz"))
    assert results["warnings"]["namespaces"][NS] == [RESTIC_DEPRECATION, RESTIC_DEPRECATION,
                                                     f"No volume named data-b found in pod {NS}/pod-b, skipping"]
    assert results["errors"] == {}
    volume_info = gz_json(scene.client, scene.bucket, scene.key("backups", BACKUP, f"{BACKUP}-volumeinfo.json.gz"))
    by_claim = {i["pvcName"]: i for i in volume_info}
    assert by_claim["data-a"]["backupMethod"] == "PodVolumeBackup" and not by_claim["data-a"]["skipped"]
    assert by_claim["data-b"]["skipped"] is True and by_claim["data-b"]["skippedReason"]
    resources = gz_json(scene.client, scene.bucket, scene.key("backups", BACKUP, f"{BACKUP}-resource-list.json.gz"))
    assert sorted(resources["v1/Pod"]) == [f"{NS}/pod-a", f"{NS}/pod-b"]
    assert resources["v1/Namespace"] == [NS] and len(resources["v1/PersistentVolume"]) == 2
    pvbs = gz_json(scene.client, scene.bucket, scene.key("backups", BACKUP, f"{BACKUP}-podvolumebackups.json.gz"))
    assert [p["status"]["phase"] for p in pvbs] == ["Completed"]


def test_restic_snapshot_carries_the_backup_tag(scene: Scene):
    pvb = scene.source.store.list(V, "PodVolumeBackup", "velero")[0]
    repository = Restic(pvb["spec"]["repoIdentifier"], Secret("static-passw0rd"),
                        env={"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
    snapshots = repository.snapshots({"backup": BACKUP})
    assert [s["short_id"] for s in snapshots] == [pvb["status"]["snapshotID"]]
    assert "pod=pod-a" in snapshots[0]["tags"] and snapshots[0]["hostname"] == "velero"


def test_same_backup_name_in_another_cluster_is_refused(scene: Scene):
    scene.late.store.create(velero.backup_manifest(BACKUP, velero_namespace="velero", included_namespaces=[NS]))
    try:
        backup = wait_terminal(scene.late, "Backup", BACKUP)
    finally:  # `late` stands for a cluster that has not synced this backup
        scene.late.store.delete(V, "Backup", BACKUP, "velero")
    assert backup["status"]["phase"] == "Failed"
    assert backup["status"]["failureReason"] == "backup already exists in object storage"


def test_unknown_storage_location_fails_validation(scene: Scene):
    manifest = velero.backup_manifest("elsewhere", velero_namespace="velero", included_namespaces=[NS],
                                      storage_location="nowhere")
    scene.late.store.create(manifest)
    backup = wait_terminal(scene.late, "Backup", "elsewhere")
    assert backup["status"]["phase"] == "FailedValidation"
    assert "'nowhere' wasn't found" in backup["status"]["validationErrors"][0]


# -- sync and restore ------------------------------------------------------------------------------
def test_sync_brings_the_backup_and_its_pvbs_to_the_target(scene: Scene):
    backup = wait_for("the backup to sync", lambda: scene.target.store.list(
        V, "Backup", "velero", match=lambda b: b["metadata"]["name"] == BACKUP))[0]
    assert backup["status"]["phase"] == "Completed"
    assert backup["metadata"]["labels"][velero.STORAGE_LOCATION_LABEL] == "default"
    assert backup["metadata"]["uid"] != scene.backup["metadata"]["uid"]
    pvbs = wait_for("the PVBs to sync", lambda: scene.target.store.list(V, "PodVolumeBackup", "velero"))
    assert len(pvbs) == 1 and pvbs[0]["status"]["snapshotID"]
    assert pvbs[0]["metadata"]["ownerReferences"][0]["uid"] == backup["metadata"]["uid"]


def test_restore_before_sync_fails_validation(scene: Scene):
    restore = scene.restore(scene.late, "too-early")
    assert restore["status"]["phase"] == "FailedValidation"
    assert restore["status"]["validationErrors"] == [f'Error retrieving backup: backups.velero.io "{BACKUP}" not found']


def test_restore_on_target_brings_fresh_claims_and_the_data(scene: Scene):
    wait_for("the backup to sync", lambda: phase_of(scene.target, "Backup", BACKUP) == "Completed")
    wait_for("the PVBs to sync", lambda: scene.target.store.list(V, "PodVolumeBackup", "velero"))
    restore = scene.restore(scene.target, "move")
    status = restore["status"]
    assert status["phase"] == "Completed", status
    assert status["errors"] == 0 and status["progress"]["itemsRestored"] == status["progress"]["totalItems"]
    store = scene.target.store
    wait_for("both claims bound", lambda: all(c.get("status", {}).get("phase") == "Bound"
                                              for c in store.list("v1", "PersistentVolumeClaim", NS)))
    source_pvs = {p["metadata"]["name"] for p in scene.source.store.list("v1", "PersistentVolume")}
    target_a, target_b = claim_dir(store, NS, "data-a"), claim_dir(store, NS, "data-b")
    assert target_a.name not in source_pvs and target_b.name not in source_pvs
    assert checksums(target_a) == scene.source_sums
    assert (target_a / ".velero" / restore["metadata"]["uid"]).is_file()
    assert checksums(target_b) == {}  # the PVC-name trap: Completed backup, empty volume
    pvrs = store.list(V, "PodVolumeRestore", "velero")
    assert [(p["spec"]["pod"]["name"], p["spec"]["volume"], p["status"]["phase"]) for p in pvrs] == \
        [("pod-a", "vol-a", "Completed")]
    assert pvrs[0]["spec"]["sourceNamespace"] == NS and pvrs[0]["status"]["progress"]["bytesDone"] > 12000
    pod_a = store.get("v1", "Pod", "pod-a", NS)
    assert pod_a["spec"]["initContainers"][0]["name"] == "restore-wait"
    assert pod_a["spec"]["initContainers"][0]["args"] == [restore["metadata"]["uid"]]
    assert pod_a["metadata"]["labels"]["velero.io/restore-name"] == "move"
    wait_for("the restored pods to run", lambda: all(p.get("status", {}).get("phase") == "Running"
                                                     for p in store.list("v1", "Pod", NS)))
    service = store.get("v1", "Service", "front", NS)
    assert service["spec"]["loadBalancerIP"] == SOURCE_LB_IP  # untouched: the fixup step's job
    files = {o["Key"] for o in scene.client.list_objects_v2(Bucket=scene.bucket,
                                                            Prefix=scene.key("restores", "move", ""))["Contents"]}
    assert {scene.key("restores", "move", n) for n in (
        "restore-move-logs.gz", "restore-move-results.gz", "restore-move-resource-list.json.gz",
        "restore-move-itemoperations.json.gz", "move-volumeinfo.json.gz")} <= files
    listed = gz_json(scene.client, scene.bucket, scene.key("restores", "move", "restore-move-resource-list.json.gz"))
    assert f"{NS}/pod-a(created)" in listed["v1/Pod"]


def test_restore_into_the_existing_namespace_restores_no_data(scene: Scene):
    data_a = claim_dir(scene.source.store, NS, "data-a")
    (data_a / "state.json").write_text('{"read_only": false}')  # changed after the backup
    restore = scene.restore(scene.source, "over-existing")
    status = restore["status"]
    assert status["phase"] == "Completed" and status["errors"] == 0 and status["warnings"] >= 2
    results = gz_json(scene.client, scene.bucket, scene.key("restores", "over-existing",
                                                             "restore-over-existing-results.gz"))
    assert 'could not restore, Pod "pod-a" already exists. Warning: the in-cluster version is different than ' \
           "the backed-up version" in results["warnings"]["namespaces"][NS]
    assert not scene.source.store.list(V, "PodVolumeRestore", "velero")
    assert (data_a / "state.json").read_text() == '{"read_only": false}'


def test_resource_modifier_sets_the_load_balancer_ip(scene: Scene):
    wait_for("the backup to sync", lambda: phase_of(scene.target, "Backup", BACKUP) == "Completed")
    rules = [{"conditions": {"groupResource": "services", "resourceNameRegex": "^front$", "namespaces": [NS]},
              "patches": [{"operation": "add", "path": "/spec/loadBalancerIP", "value": "198.51.100.10"}]}]
    scene.target.store.create(velero.resource_modifier_configmap("lb-fixup", "velero", rules))
    restore = scene.restore(scene.target, "with-fixup", namespace_mapping={NS: "app-fixed"},
                            resource_modifier_configmap="lb-fixup")
    assert restore["status"]["phase"] == "Completed", restore["status"]
    service = scene.target.store.get("v1", "Service", "front", "app-fixed")
    assert service["spec"]["loadBalancerIP"] == "198.51.100.10"


def test_missing_resource_modifier_configmap_fails_validation(scene: Scene):
    restore = scene.restore(scene.target, "no-rules", resource_modifier_configmap="absent")
    assert restore["status"]["phase"] == "FailedValidation"
    assert restore["status"]["validationErrors"] == ["failed to get resource modifiers configmap velero/absent"]


def test_skips_and_errors_of_pod_volume_backup(scene: Scene):
    """Pending pod and hostPath PV: warnings (volumes skipped); empty volume: Completed PVB with no
    snapshot; node-agent missing on the pod's node: an error, so PartiallyFailed."""
    store, edge = scene.source.store, "edge"

    def claim(name: str, storage_class: str, annotations: dict | None = None) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": edge, "annotations": annotations or {}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                         "resources": {"requests": {"storage": "1Gi"}}}}

    def pod(name: str, volume: dict, node: str | None = None) -> dict:
        spec = {"containers": [{"name": "main", "image": "busybox:1.36",
                                "volumeMounts": [{"name": volume["name"], "mountPath": "/data"}]}],
                "volumes": [volume]}
        if node:
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": edge, "annotations": {velero.OPT_IN_ANNOTATION: volume["name"]}}, "spec": spec}

    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": edge}})
    store.create(claim("pending", "no-such-class"))
    store.create(claim("on-host", "rook-ceph-block", {"sandbox.seatrial.io/hostpath": "true"}))
    store.create(claim("empty", "rook-ceph-block"))
    store.create(pod("waits", {"name": "data", "persistentVolumeClaim": {"claimName": "pending"}}))
    store.create(pod("host", {"name": "data", "persistentVolumeClaim": {"claimName": "on-host"}}))
    store.create(pod("hollow", {"name": "data", "persistentVolumeClaim": {"claimName": "empty"}}))
    store.create(claim("bare", "rook-ceph-block"))
    store.create(pod("stray", {"name": "scratch", "emptyDir": {}}, node="node-9"))
    store.create(pod("xfs", {"name": "data", "persistentVolumeClaim": {"claimName": "bare"}}))
    wait_for("the edge pods to settle", lambda: all(
        store.get("v1", "Pod", name, edge).get("status", {}).get("phase") == "Running"
        for name in ("host", "hollow", "stray", "xfs")))
    # a filesystem without lost+found (xfs): the volume directory has no entries at all
    (claim_dir(store, edge, "bare") / "lost+found").rmdir()
    store.create(velero.backup_manifest("edge-backup", velero_namespace="velero", included_namespaces=[edge]))
    status = wait_terminal(scene.source, "Backup", "edge-backup", timeout=30)["status"]
    assert status["phase"] == "PartiallyFailed" and status["errors"] == 1 and status["warnings"] == 2 + 5
    results = gz_json(scene.client, scene.bucket, scene.key("backups", "edge-backup", "edge-backup-results.gz"))
    assert results["errors"]["namespaces"][edge] == ["daemonset pod not found in running state in node node-9"]
    warnings = " ".join(results["warnings"]["namespaces"][edge])
    assert "pod is not running" in warnings and "is a hostPath volume" in warnings
    pvbs = store.list(V, "PodVolumeBackup", "velero",
                      match=lambda p: p["metadata"]["labels"]["velero.io/backup-name"] == "edge-backup")
    by_pod = {p["spec"]["pod"]["name"]: p["status"] for p in pvbs}
    assert sorted(by_pod) == ["hollow", "xfs"] and {s["phase"] for s in by_pod.values()} == {"Completed"}
    # ext4's lost+found alone: restic writes a snapshot of 0 bytes (fidelity-audit.md Appendix A)
    assert by_pod["hollow"]["snapshotID"] and by_pod["hollow"]["progress"]["totalBytes"] == 0
    assert "message" not in by_pod["hollow"]
    # no entries at all: restic's "snapshot is empty", which Velero turns into a PVB without a snapshot
    assert not by_pod["xfs"].get("snapshotID")
    assert by_pod["xfs"]["message"] == "volume was empty so no snapshot was taken"


def test_storage_locations_with_foreign_directories_or_no_bucket_are_unavailable(scene: Scene):
    scene.client.put_object(Bucket=scene.bucket, Key="foreign/not-velero/readme.txt", Body=b"other data")
    scene.client.put_object(Bucket=scene.bucket, Key="foreign/notes.txt", Body=b"a plain file does not count")
    store = scene.late.store
    for name, bucket, prefix in (("foreign", scene.bucket, "foreign"), ("nobucket", "no-such-bucket", "x"),
                                 ("fresh", scene.bucket, "fresh")):
        store.create({"apiVersion": V, "kind": "BackupStorageLocation",
                      "metadata": {"name": name, "namespace": "velero"},
                      "spec": {"provider": "aws", "objectStorage": {"bucket": bucket, "prefix": prefix},
                               "config": {"region": REGION, "s3Url": scene.s3.endpoint, "s3ForcePathStyle": "true"}}})
    for name in ("foreign", "nobucket", "fresh"):
        wait_for(f"BSL {name} validated", lambda name=name: phase_of(scene.late, "BackupStorageLocation", name))
    foreign = store.get(V, "BackupStorageLocation", "foreign", "velero")["status"]
    assert foreign["phase"] == "Unavailable" and foreign["lastValidationTime"]
    assert "invalid top-level directories: ['not-velero']" in foreign["message"]
    assert phase_of(scene.late, "BackupStorageLocation", "nobucket") == "Unavailable"
    assert phase_of(scene.late, "BackupStorageLocation", "fresh") == "Available"
    store.create(velero.backup_manifest("to-foreign", velero_namespace="velero", included_namespaces=[NS],
                                        storage_location="foreign"))
    backup = wait_terminal(scene.late, "Backup", "to-foreign")
    assert backup["status"]["phase"] == "FailedValidation"
    assert backup["status"]["validationErrors"] == [
        "backup can't be created because BackupStorageLocation foreign is in Unavailable status."]


def test_restore_waits_with_a_pending_claim_until_its_storage_class_exists(scene: Scene):
    """Missing StorageClass on target: the PVC stays Pending, its PodVolumeRestore New and the Restore
    InProgress (Velero waits up to --pod-volume-operation-timeout); once the class exists it finishes."""
    store, mapped = scene.target.store, "app-no-class"
    wait_for("the backup to sync", lambda: phase_of(scene.target, "Backup", BACKUP) == "Completed")
    wait_for("the PVBs to sync", lambda: store.list(V, "PodVolumeBackup", "velero"))  # synced after the Backup
    storage_class = store.get("storage.k8s.io/v1", "StorageClass", "rook-ceph-block")
    store.delete("storage.k8s.io/v1", "StorageClass", "rook-ceph-block")
    try:
        store.create(velero.restore_manifest("no-class", velero_namespace="velero", backup_name=BACKUP,
                                             namespace_mapping={NS: mapped}))
        pvr = wait_for("the PodVolumeRestore", lambda: store.list(
            V, "PodVolumeRestore", "velero",
            match=lambda p: p["metadata"]["labels"]["velero.io/restore-name"] == "no-class"))[0]
        # the binder has seen the claim and refused it for its class: from here on nothing may move until it exists
        wait_for("the claim's ProvisioningFailed event", lambda: store.list(
            "v1", "Event", mapped, match=lambda e: e["involvedObject"]["name"] == "data-a"
            and e["reason"] == "ProvisioningFailed"))
        assert phase_of(scene.target, "Restore", "no-class") == "InProgress"
        assert store.get(V, "PodVolumeRestore", pvr["metadata"]["name"], "velero")["status"]["phase"] == "New"
        assert store.get("v1", "PersistentVolumeClaim", "data-a", mapped)["status"]["phase"] == "Pending"
    finally:
        storage_class["metadata"] = {"name": "rook-ceph-block",
                                     "annotations": storage_class["metadata"].get("annotations") or {}}
        store.create(storage_class)
    restore = wait_terminal(scene.target, "Restore", "no-class", timeout=20)
    assert restore["status"]["phase"] == "Completed", restore["status"]
    assert checksums(claim_dir(store, mapped, "data-a")) == scene.source_sums


def test_existing_resource_policy_update_and_an_invalid_policy(scene: Scene):
    store = scene.source.store
    store.mutate("v1", "ConfigMap", "settings", NS, lambda cm: cm.__setitem__("data", {"mode": "staging"}))
    manifest = velero.restore_manifest("update-settings", velero_namespace="velero", backup_name=BACKUP,
                                       existing_resource_policy="update")
    manifest["spec"]["includedResources"] = ["configmaps"]
    store.create(manifest)
    restore = wait_terminal(scene.source, "Restore", "update-settings")
    assert restore["status"]["phase"] == "Completed" and restore["status"]["warnings"] == 0
    assert store.get("v1", "ConfigMap", "settings", NS)["data"] == {"mode": "production"}
    listed = gz_json(scene.client, scene.bucket, scene.key("restores", "update-settings",
                                                           "restore-update-settings-resource-list.json.gz"))
    published = f"{NS}/kube-root-ca.crt"  # the target's own, in every namespace (fixtures/kubeapi/namespaces.py)
    assert {kind: [e for e in entries if not e.startswith(published)] for kind, entries in listed.items()} == {
        "v1/ConfigMap": [f"{NS}/settings(updated)"]}
    invalid = velero.restore_manifest("merge-policy", velero_namespace="velero", backup_name=BACKUP)
    invalid["spec"]["existingResourcePolicy"] = "merge"  # what kubectl would let through
    store.create(invalid)
    refused = wait_terminal(scene.source, "Restore", "merge-policy")
    assert refused["status"]["phase"] == "FailedValidation"
    assert refused["status"]["validationErrors"] == ["Invalid ExistingResourcePolicy: merge"]
