"""Velero objects against the vendored CRD schemas (seatrial.runbook/crds.py)."""

import pytest

from seatrial.runbook.clients import crds


def restore(spec: dict) -> dict:
    return {"apiVersion": "velero.io/v1", "kind": "Restore", "metadata": {"name": "r", "namespace": "velero"},
            "spec": spec}


def test_every_vendored_crd_has_a_schema():
    assert {"Backup", "Restore", "PodVolumeBackup", "PodVolumeRestore", "BackupStorageLocation",
            "BackupRepository", "DeleteBackupRequest", "DataUpload", "DataDownload"} <= set(crds.kinds())
    assert crds.schema_for("Backup")["properties"]["spec"]["properties"]["ttl"]["type"] == "string"
    assert [c["metadata"]["name"] for c in crds.crd_objects()].count("backups.velero.io") == 1


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="Backup"):
        crds.schema_for("Frob")


def test_valid_restore_passes_including_nullable_fields():
    assert crds.validate(restore({"backupName": "b", "existingResourcePolicy": "update",
                                  "includedNamespaces": None, "restorePVs": True})) == []


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"backupName": "b", "existingResourcePolicy": 1}, "spec.existingResourcePolicy", "must be of type string"),
    ({"backupName": "b", "includedNamespaces": "harbor"}, "spec.includedNamespaces", "must be of type array"),
    ({"backupName": "b", "hooks": {"resources": [{}]}}, "spec.hooks.resources[0].name", "Required value"),
    ({"backupName": "b", "restorePVs": "yes"}, "spec.restorePVs", "must be of type boolean"),
])
def test_invalid_restore_names_the_field(spec, field, words):
    causes = crds.validate(restore(spec))
    assert [path for path, _ in causes] == [field]
    assert words in causes[0][1]


def test_enum_and_wrong_kind():
    bsl = {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation", "metadata": {"name": "default"},
           "spec": {"provider": "aws", "objectStorage": {"bucket": "b"}, "accessMode": "Sometimes"}}
    assert crds.validate(bsl) == [("spec.accessMode", 'Unsupported value: "Sometimes": supported values: '
                                                      '"ReadOnly", "ReadWrite"')]
    assert crds.validate({"kind": "Pod"})[0][0] == "kind"


def test_prune_drops_undeclared_fields_and_keeps_free_form_maps():
    backup = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "b", "anything": 1},
              "spec": {"ttl": "1h", "bogus": 1, "labelSelector": {"matchLabels": {"app": "x"}, "extra": 2}},
              "status": {"phase": "New", "nope": True}}
    assert crds.prune(backup) == ["spec.bogus", "spec.labelSelector.extra", "status.nope"]
    assert backup["spec"] == {"ttl": "1h", "labelSelector": {"matchLabels": {"app": "x"}}}
    assert backup["metadata"] == {"name": "b", "anything": 1}
