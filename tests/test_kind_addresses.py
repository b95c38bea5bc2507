"""seatrial reads the restic repository through its own address of the bucket, not the one Velero's pods use
(on kind: the S3 container's address on the `kind` network, which the host may not reach)."""

from __future__ import annotations

from types import SimpleNamespace

from seatrial.checks.repository import restic_repository, through_endpoint

LOOPBACK = "http://127.0.0.1:40001"
IN_NETWORK = "http://172.18.0.4:9000"


def context(objects: dict[str, list[dict]]):
    config = SimpleNamespace(velero=SimpleNamespace(namespace="velero", storage_location="default"),
                             storage=SimpleNamespace(endpoint=LOOPBACK, bucket="velero", prefix="kind"))
    return SimpleNamespace(config=config, objects=lambda side, api, kind, ns: objects.get(kind, []))


def test_the_backup_repository_is_read_through_seatrials_endpoint():
    repo = {"spec": {"volumeNamespace": "harbor", "repositoryType": "restic", "backupStorageLocation": "default",
                     "resticIdentifier": f"s3:{IN_NETWORK}/velero/kind/restic/harbor"}}
    assert restic_repository(context({"BackupRepository": [repo]}), "harbor") == \
        f"s3:{LOOPBACK}/velero/kind/restic/harbor"


def test_without_a_backup_repository_the_bsl_path_goes_through_seatrials_endpoint():
    bsl = {"metadata": {"name": "default"}, "spec": {"config": {"s3Url": IN_NETWORK}}}
    assert restic_repository(context({"BackupStorageLocation": [bsl]}), "harbor") == \
        f"s3:{LOOPBACK}/velero/kind/restic/harbor"


def test_an_identifier_that_is_not_an_s3_url_is_left_alone():
    assert through_endpoint("s3:s3.amazonaws.com/bucket/restic/ns", LOOPBACK) == "s3:s3.amazonaws.com/bucket/restic/ns"
