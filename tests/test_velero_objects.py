"""seatrial.runbook.clients.velero: builders validate against the real CRD schemas and round-trip through the test API
server; readers read what the server stores; pod-volume selection follows Velero's GetVolumesByPod."""

from __future__ import annotations

import copy

import pytest
import yaml

from seatrial.runbook.clients import crds, velero
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.errors import BadInput

VELERO_NS = "velero"


@pytest.fixture
def cluster(kube_api):
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": VELERO_NS}})
    with Cluster(kube_api.kubeconfig, kube_api.context) as cluster:
        yield cluster


def backup(name: str = "harbor-2026", **overrides) -> dict:
    return velero.backup_manifest(name, velero_namespace=VELERO_NS, included_namespaces=["harbor"], **overrides)


def restore(name: str = "harbor-2026-r1", **overrides) -> dict:
    return velero.restore_manifest(name, velero_namespace=VELERO_NS, backup_name="harbor-2026", **overrides)


BUILT = {
    "backup default": lambda: backup(),
    "backup opt-in only, labels": lambda: backup(default_volumes_to_fs_backup=False, ttl="72h",
                                                 storage_location="minio", labels={"seatrial.io/run": "r1"}),
    "restore default": lambda: restore(),
    "restore mapped, update, modifier": lambda: restore(included_namespaces=["harbor"],
                                                        namespace_mapping={"harbor": "harbor-new"},
                                                        existing_resource_policy="update",
                                                        resource_modifier_configmap="harbor-rm", restore_pvs=False),
}


# -- builders ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(BUILT))
def test_builder_output_validates_against_the_crd_schema(case):
    obj = BUILT[case]()
    assert crds.validate(obj) == []
    assert crds.prune(copy.deepcopy(obj)) == [], "every field the builder writes is declared by the CRD"
    assert obj["metadata"]["namespace"] == VELERO_NS


@pytest.mark.parametrize("case", list(BUILT))
def test_builder_output_round_trips_through_the_api_server(case, cluster):
    obj = BUILT[case]()
    created = cluster.create(obj)
    stored = cluster.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], VELERO_NS)
    assert stored["spec"] == obj["spec"] == created["spec"]
    assert stored["metadata"].get("labels") == obj["metadata"].get("labels")


def test_backup_spec_says_what_the_migration_needs():
    spec = backup()["spec"]
    assert spec == {"includedNamespaces": ["harbor"], "defaultVolumesToFsBackup": True, "snapshotVolumes": False,
                    "storageLocation": "default", "ttl": "720h0m0s"}


def test_restore_references_the_modifier_configmap_as_velero_expects():
    spec = restore(resource_modifier_configmap="harbor-rm", namespace_mapping={"harbor": "h2"})["spec"]
    assert spec["resourceModifier"] == {"kind": "configmap", "name": "harbor-rm"}
    assert spec["namespaceMapping"] == {"harbor": "h2"} and spec["backupName"] == "harbor-2026"
    assert spec["restorePVs"] is True and "existingResourcePolicy" not in spec


@pytest.mark.parametrize("build, field", [
    (lambda: backup(ttl=720), "spec.ttl"),
    (lambda: backup(default_volumes_to_fs_backup="yes"), "spec.defaultVolumesToFsBackup"),
    (lambda: velero.backup_manifest("b", velero_namespace=VELERO_NS, included_namespaces="harbor"),
     "spec.includedNamespaces"),
    (lambda: restore(included_namespaces=["harbor", 7]), "spec.includedNamespaces[1]"),
    (lambda: restore(namespace_mapping={"harbor": 1}), "spec.namespaceMapping.harbor"),
], ids=["ttl-int", "fsb-string", "namespaces-string", "namespace-int", "mapping-int"])
def test_builder_refuses_what_the_schema_refuses_naming_the_field(build, field):
    with pytest.raises(BadInput) as caught:
        build()
    assert field in str(caught.value) and "fix:" in str(caught.value)


@pytest.mark.parametrize("build, words", [
    (lambda: backup(ttl="30 days"), "spec.ttl"),
    (lambda: backup(name="Harbor_Backup"), "backup name 'Harbor_Backup'"),
    (lambda: velero.backup_manifest("b", velero_namespace=VELERO_NS, included_namespaces=[]), "ALL namespaces"),
    (lambda: restore(existing_resource_policy="overwrite"), "spec.existingResourcePolicy"),
], ids=["ttl-not-duration", "bad-name", "no-namespaces", "bad-policy"])
def test_builder_refuses_what_velero_would_fail(build, words):
    with pytest.raises(BadInput, match=words.replace("(", r"\(")):
        build()


def test_resource_modifier_configmap_has_one_key_with_v1_rules(cluster):
    rules = [{"conditions": {"groupResource": "services", "resourceNameRegex": "^harbor$", "namespaces": ["harbor"]},
              "patches": [{"operation": "add", "path": "/spec/loadBalancerIP", "value": "192.168.1.240"}]}]
    cm = velero.resource_modifier_configmap("harbor-rm", VELERO_NS, rules)
    assert list(cm["data"]) == ["rules.yaml"]
    assert yaml.safe_load(cm["data"]["rules.yaml"]) == {"version": "v1", "resourceModifierRules": rules}
    assert cluster.create(cm)["data"] == cm["data"]


@pytest.mark.parametrize("rules, words", [
    ([], "empty"),
    ([{"patches": [{"operation": "add", "path": "/a", "value": "1"}]}], "groupResource"),
    ([{"conditions": {"groupResource": "services"}, "patches": [{}], "mergePatches": [{}]}], "exactly one"),
])
def test_resource_modifier_rules_that_velero_rejects_are_refused(rules, words):
    with pytest.raises(BadInput, match=words):
        velero.resource_modifier_configmap("rm", VELERO_NS, rules)


# -- phases and readers -------------------------------------------------------------------------
@pytest.mark.parametrize("phase", velero.BACKUP_PHASES)
def test_only_completed_is_a_successful_backup(phase):
    status = velero.BackupStatus.from_obj({"metadata": {"name": "b"}, "status": {"phase": phase}})
    assert status.succeeded is (phase == "Completed")


@pytest.mark.parametrize("phase, terminal", [
    ("Completed", True), ("PartiallyFailed", True), ("Failed", True), ("FailedValidation", True),
    ("Canceled", True), ("New", False), ("InProgress", False), ("Finalizing", False),
    ("FinalizingPartiallyFailed", False), ("WaitingForPluginOperations", False),
    ("WaitingForPluginOperationsPartiallyFailed", False), ("", False), (None, False),
])
def test_is_terminal(phase, terminal):
    assert velero.is_terminal(phase) is terminal


def test_backup_status_reads_what_the_server_stores(cluster):
    created = cluster.create(backup())
    created["status"] = {"phase": "PartiallyFailed", "errors": 2, "warnings": 5, "failureReason": "",
                         "startTimestamp": "2026-11-25T20:00:00Z", "completionTimestamp": "2026-11-25T20:05:00Z",
                         "validationErrors": ["bad thing"],
                         "progress": {"totalItems": 120, "itemsBackedUp": 118}}
    cluster.replace(created)
    status = velero.BackupStatus.from_obj(cluster.get("velero.io/v1", "Backup", "harbor-2026", VELERO_NS))
    assert status == velero.BackupStatus(
        name="harbor-2026", phase="PartiallyFailed", errors=2, warnings=5, items_backed_up=118, total_items=120,
        started="2026-11-25T20:00:00Z", completed="2026-11-25T20:05:00Z", failure_reason="",
        validation_errors=("bad thing",), storage_location="default")
    assert not status.succeeded and status.finished
    assert status.problems() == ["phase is PartiallyFailed, not Completed", "2 errors",
                                 "118 of 120 items backed up", "validation error: bad thing"]


def test_completed_backup_without_errors_has_no_problems():
    status = velero.BackupStatus.from_obj({"metadata": {"name": "b"}, "spec": {"storageLocation": "minio"},
                                           "status": {"phase": "Completed",
                                                      "progress": {"totalItems": 3, "itemsBackedUp": 3}}})
    assert status.succeeded and status.problems() == [] and status.storage_location == "minio"


def test_restore_status_reads_what_the_server_stores(cluster):
    created = cluster.create(restore())
    created["status"] = {"phase": "Completed", "warnings": 1, "progress": {"totalItems": 50, "itemsRestored": 50}}
    cluster.replace(created)
    status = velero.RestoreStatus.from_obj(cluster.get("velero.io/v1", "Restore", "harbor-2026-r1", VELERO_NS))
    assert (status.name, status.backup_name, status.phase, status.items_restored, status.total_items,
            status.warnings, status.errors) == ("harbor-2026-r1", "harbor-2026", "Completed", 50, 50, 1, 0)
    assert status.succeeded and status.problems() == []


PVB = {
    "apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
    "metadata": {"name": "harbor-2026-x7k2p", "namespace": VELERO_NS,
                 "labels": {"velero.io/backup-name": "harbor-2026", "velero.io/backup-uid": "u1",
                            "velero.io/pvc-uid": "p1"},
                 "annotations": {"velero.io/pvc-name": "data-harbor-database-0"}},
    "spec": {"node": "node-1", "backupStorageLocation": "default", "volume": "database-data",
             "pod": {"kind": "Pod", "namespace": "harbor", "name": "harbor-database-0", "uid": "pod-uid"},
             "repoIdentifier": "s3:http://127.0.0.1:9000/velero/restic/harbor", "uploaderType": "restic",
             "tags": {"backup": "harbor-2026", "ns": "harbor", "pod": "harbor-database-0", "volume": "database-data"}},
    "status": {"phase": "Completed", "snapshotID": "3f2a9c1e", "path": "/host_pods/pod-uid/volumes/x",
               "progress": {"totalBytes": 4096, "bytesDone": 4096}},
}


def test_pod_volume_backup_info_reads_a_stored_pvb(cluster):
    cluster.create(PVB)
    info = velero.PodVolumeBackupInfo.from_obj(cluster.get("velero.io/v1", "PodVolumeBackup", PVB["metadata"]["name"],
                                                           VELERO_NS))
    assert info == velero.PodVolumeBackupInfo(
        name="harbor-2026-x7k2p", backup_name="harbor-2026", pod_namespace="harbor", pod_name="harbor-database-0",
        volume="database-data", pvc_name="data-harbor-database-0", phase="Completed", snapshot_id="3f2a9c1e",
        total_bytes=4096, bytes_done=4096, uploader_type="restic",
        repo_identifier="s3:http://127.0.0.1:9000/velero/restic/harbor")
    assert info.succeeded and info.pod_volume == "harbor/harbor-database-0:database-data"


def test_pod_volume_restore_info_reads_a_stored_pvr(cluster):
    pvr = {"apiVersion": "velero.io/v1", "kind": "PodVolumeRestore",
           "metadata": {"name": "harbor-2026-r1-abcde", "namespace": VELERO_NS,
                        "labels": {"velero.io/restore-name": "harbor-2026-r1"}},
           "spec": {"pod": {"kind": "Pod", "namespace": "harbor-new", "name": "harbor-database-0"},
                    "volume": "database-data", "backupStorageLocation": "default", "snapshotID": "3f2a9c1e",
                    "repoIdentifier": "s3:http://127.0.0.1:9000/velero/restic/harbor", "uploaderType": "restic",
                    "sourceNamespace": "harbor"},
           "status": {"phase": "InProgress", "progress": {"totalBytes": 4096, "bytesDone": 1024}}}
    cluster.create(pvr)
    info = velero.PodVolumeRestoreInfo.from_obj(cluster.get("velero.io/v1", "PodVolumeRestore",
                                                            "harbor-2026-r1-abcde", VELERO_NS))
    assert (info.restore_name, info.pod_volume, info.source_namespace, info.snapshot_id, info.phase,
            info.bytes_done, info.total_bytes) == ("harbor-2026-r1", "harbor-new/harbor-database-0:database-data",
                                                   "harbor", "3f2a9c1e", "InProgress", 1024, 4096)
    assert not info.succeeded


def test_storage_location_info_reads_a_stored_bsl(cluster):
    bsl = {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
           "metadata": {"name": "default", "namespace": VELERO_NS},
           "spec": {"provider": "aws", "default": True, "accessMode": "ReadOnly",
                    "objectStorage": {"bucket": "velero", "prefix": "/clusters/a/"},
                    "config": {"region": "minio", "s3ForcePathStyle": "true", "s3Url": "http://127.0.0.1:9000"}},
           "status": {"phase": "Available"}}
    cluster.create(bsl)
    info = velero.StorageLocationInfo.from_obj(cluster.get("velero.io/v1", "BackupStorageLocation", "default",
                                                           VELERO_NS))
    assert (info.name, info.phase, info.bucket, info.prefix, info.provider, info.default, info.access_mode) == (
        "default", "Available", "velero", "clusters/a", "aws", True, "ReadOnly")
    assert info.available and info.s3_url == "http://127.0.0.1:9000" and info.config["region"] == "minio"
    bare = velero.StorageLocationInfo.from_obj({"metadata": {"name": "x"}, "spec": {}})
    assert bare.access_mode == "ReadWrite" and not bare.available and bare.config == {}


# -- pod volumes ------------------------------------------------------------------------------
def pvc(name: str, claim: str) -> dict:
    return {"name": name, "persistentVolumeClaim": {"claimName": claim}}


DATABASE = [pvc("database-data", "database-data-harbor-database-0"), {"name": "shm", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": "/var/log"}}, {"name": "cfg", "configMap": {"name": "c"}},
            {"name": "sec", "secret": {"secretName": "s"}}, {"name": "kube-api-access-x", "projected": {"sources": []}},
            {"name": "podinfo", "downwardAPI": {"items": []}}, {"name": "default-token-abcd", "emptyDir": {}}]
OPT_IN = "backup.velero.io/backup-volumes"
OPT_OUT = "backup.velero.io/backup-volumes-excludes"


@pytest.mark.parametrize("annotations, default_fsb, expected", [
    ({}, True, ["database-data", "shm"]),
    ({OPT_OUT: "shm"}, True, ["database-data"]),
    ({OPT_OUT: "database-data,shm"}, True, []),
    ({"backup.velero.io/backup-volumes-exclude": "shm"}, True, ["database-data", "shm"]),  # no trailing s: ignored
    ({}, False, []),
    ({OPT_IN: "database-data"}, False, ["database-data"]),
    ({OPT_IN: "database-data-harbor-database-0"}, False, ["database-data-harbor-database-0"]),  # a PVC name
    ({OPT_IN: "database-data, shm"}, False, ["database-data", " shm"]),  # Velero does not trim
    ({OPT_IN: "database-data"}, True, ["database-data", "shm"]),  # opt-in ignored when FSB is the default
], ids=["default-all", "exclude-one", "exclude-all", "exclude-without-s", "opt-in-none", "opt-in-volume-name",
        "opt-in-pvc-name", "opt-in-untrimmed", "opt-in-under-default"])
def test_fs_backup_volumes_follows_get_volumes_by_pod(annotations, default_fsb, expected):
    subject = {"metadata": {"name": "p", "annotations": annotations}, "spec": {"volumes": DATABASE}}
    assert velero.fs_backup_volumes(subject, default_fsb) == expected


def test_pvc_name_in_the_opt_in_annotation_covers_nothing():
    subject = {"metadata": {"annotations": {OPT_IN: "database-data-harbor-database-0,shm"}},
               "spec": {"volumes": DATABASE}}
    assert velero.opt_in_names_without_volume(subject) == ["database-data-harbor-database-0"]
    assert velero.pvc_volumes(subject) == {"database-data": "database-data-harbor-database-0"}
    covered = set(velero.fs_backup_volumes(subject, False)) & set(velero.pvc_volumes(subject))
    assert covered == set()


def test_opt_in_and_opt_out_read_pods_templates_and_bare_metadata():
    template = {"metadata": {"annotations": {OPT_IN: "a,b", OPT_OUT: "redis-data"}}, "spec": {}}
    assert velero.pod_volume_opt_in(template) == {"a", "b"}
    assert velero.pod_volume_opt_out(template["metadata"]) == {"redis-data"}
    assert velero.pod_volume_opt_in({"name": "no-annotations"}) == set()


@pytest.mark.parametrize("args, expected", [
    (("http://127.0.0.1:9000", "velero", "", "harbor"), "s3:http://127.0.0.1:9000/velero/restic/harbor"),
    (("http://127.0.0.1:9000/", "velero", "/clusters/a/", "harbor"),
     "s3:http://127.0.0.1:9000/velero/clusters/a/restic/harbor"),
])
def test_restic_repo_identifier(args, expected):
    assert velero.restic_repo_identifier(*args) == expected


def test_restic_repo_identifier_refuses_what_velero_refuses():
    with pytest.raises(BadInput, match="s3Url"):
        velero.restic_repo_identifier("", "velero", "", "harbor")
    with pytest.raises(BadInput, match="prefix"):
        velero.restic_repo_identifier("http://m:9000", "velero/a", "", "harbor")
