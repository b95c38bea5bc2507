"""The sandbox's Velero runs restic as the node-agent does: the repository is opened once, then ONE restic
process per volume (backup or restore), one at a time per repository (restic 0.14 stalls ~40 s when a
concurrent process removes a lock file it is about to read). Processes are counted by a stand-in `restic`
on PATH that logs its arguments and hands over to the real binary."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import boto3
import pytest

from seatrial.fixtures.sandbox.cluster import BucketSettings, SandboxCluster
from seatrial.fixtures.sandbox.velero import install_velero
from seatrial.fixtures.sandbox.volumes import claim_dir
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients import velero
from seatrial.runbook.secrets import Secret
from tests.waiting import wait_for

V, NS, REGION, PREFIX = "velero.io/v1", "app", "us-east-1", "restic-runs"
ACCESS_KEY, SECRET_KEY = Secret("AKIDRESTICRUNS", "access key"), Secret("restic-runs-secret", "secret key")
VOLUMES = 5


def _stand_in(directory: Path, log: Path) -> None:
    """`restic` that appends one line per run: its pid and subcommand (the first word after the flags)."""
    real = require_tool("restic")
    script = directory / "restic"
    script.write_text(f"""#!/bin/sh
sub=""
for arg in "$@"; do case "$arg" in -*|/*) ;; *) if [ -z "$sub" ]; then sub="$arg"; fi ;; esac; done
echo "start $$ $sub" >> {log}
"{real}" "$@"
code=$?
echo "end $$ $sub" >> {log}
exit $code
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _runs(log: Path) -> tuple[list[str], int]:
    """(subcommands in start order, the most runs that were going at once)."""
    subcommands, going, most = [], 0, 0
    for line in log.read_text().splitlines():
        what, _pid, sub = line.split(" ", 2)
        if what == "start":
            subcommands.append(sub)
            going += 1
            most = max(most, going)
        else:
            going -= 1
    return subcommands, most


def _phase(cluster: SandboxCluster, kind: str, name: str) -> str:
    try:
        return cluster.store.view(V, kind, name, "velero").get("status", {}).get("phase", "")
    except Exception:
        return ""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from seatrial.fixtures.sandbox.environment import start_s3

    (tmp_path / "bin").mkdir()
    _stand_in(tmp_path / "bin", tmp_path / "restic.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    s3 = start_s3()
    try:
        bucket = f"runs-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=s3.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY.reveal(),
                     aws_secret_access_key=SECRET_KEY.reveal()).create_bucket(Bucket=bucket)
        settings = BucketSettings(s3.endpoint, bucket, PREFIX, REGION, ACCESS_KEY, SECRET_KEY)
        with SandboxCluster("source", tmp_path, bucket=settings, lb_pool="192.0.2.0/24") as cluster:
            cluster.add_controllers(install_velero(cluster, s3_endpoint=s3.endpoint, bucket=bucket, prefix=PREFIX,
                                                   access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                                                   sync_period=3600))
            wait_for("the BSL to be Available", lambda: _phase(cluster, "BackupStorageLocation", "default"),
                     done=lambda phase: phase == velero.AVAILABLE)
            yield cluster
    finally:
        s3.stop()


def _app(store, count: int) -> None:
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for index in range(count):
        store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                      "metadata": {"name": f"data-{index}", "namespace": NS},
                      "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
                               "resources": {"requests": {"storage": "1Gi"}}}})
        store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{index}", "namespace": NS},
                      "spec": {"containers": [{"name": "main", "image": "busybox",
                                               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                               "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{index}"}}]}})


def test_one_restic_process_per_volume_and_the_repository_opened_once(source: SandboxCluster, tmp_path: Path):
    store = source.store
    _app(store, VOLUMES)
    wait_for(f"the {VOLUMES} pods to run", lambda: [p.get("status", {}).get("phase") for p in store.list_views(
        "v1", "Pod", NS)], done=lambda phases: phases == ["Running"] * VOLUMES)
    for index in range(VOLUMES):
        (claim_dir(store, NS, f"data-{index}") / "file").write_bytes(os.urandom(2048))
    log = tmp_path / "restic.log"
    for name in ("first", "second"):
        store.create(velero.backup_manifest(name, velero_namespace="velero", included_namespaces=[NS],
                                            default_volumes_to_fs_backup=True))
        wait_for(f"backup {name} to finish", lambda n=name: _phase(source, "Backup", n), done=velero.is_terminal)
        assert _phase(source, "Backup", name) == velero.COMPLETED
    subcommands, most = _runs(log)
    assert subcommands.count("backup") == 2 * VOLUMES
    assert len(subcommands) - subcommands.count("backup") <= 2  # `cat config` (and `init`) once, not per volume
    assert most == 1  # one repository: one restic process at a time
    pvbs = store.list_views(V, "PodVolumeBackup", "velero")
    assert len(pvbs) == 2 * VOLUMES and {p["status"]["phase"] for p in pvbs} == {"Completed"}
