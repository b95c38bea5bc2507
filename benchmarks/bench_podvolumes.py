"""The sandbox's Velero moving many volumes (run by hand, not in the suite): N pods with one PVC each in a
source cluster, a file-system Backup of them, then a Restore on a target cluster that syncs from the same
bucket; prints the seconds each took and the restic processes started (counted by a stand-in `restic` on
PATH that hands over to the real one).

    .venv/bin/python benchmarks/bench_podvolumes.py [--volumes 40] [--kib 256]
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

NS, V, REGION, PREFIX = "app", "velero.io/v1", "us-east-1", "podvolumes"


def wait_for(what: str, probe, timeout: float = 1800.0):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def phase(cluster, kind: str, name: str) -> str:
    try:
        return (cluster.store.get(V, kind, name, "velero").get("status") or {}).get("phase", "")
    except Exception:
        return ""


def counting_restic(directory: Path) -> Path:
    import shutil

    log = directory / "restic.log"
    script = directory / "restic"
    script.write_text(f'#!/bin/sh\necho run >> {log}\nexec "{shutil.which("restic")}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=40)
    parser.add_argument("--kib", type=int, default=256, help="data per volume")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import boto3

    from seatrial.fixtures.sandbox.cluster import BucketSettings, SandboxCluster
    from seatrial.fixtures.sandbox.environment import start_s3
    from seatrial.fixtures.sandbox.velero import install_velero
    from seatrial.fixtures.sandbox.volumes import claim_dir
    from seatrial.runbook.clients import velero
    from seatrial.runbook.secrets import Secret

    access, secret = Secret("AKIDBENCH", "access key"), Secret("bench-secret", "secret key")
    with TemporaryDirectory(prefix="seatrial-podvolumes-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        log = counting_restic(root / "bin")
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
        s3 = start_s3()
        clusters = []
        try:
            bucket = f"pv-{uuid.uuid4().hex[:8]}"
            boto3.client("s3", endpoint_url=s3.endpoint, region_name=REGION, aws_access_key_id=access.reveal(),
                         aws_secret_access_key=secret.reveal()).create_bucket(Bucket=bucket)
            settings = BucketSettings(s3.endpoint, bucket, PREFIX, REGION, access, secret)
            for name, period, pool in (("source", 3600.0, "192.0.2.0/24"), ("target", 1.0, "198.51.100.0/24")):
                cluster = SandboxCluster(name, root, bucket=settings, lb_pool=pool).start()
                cluster.add_controllers(install_velero(cluster, s3_endpoint=s3.endpoint, bucket=bucket, prefix=PREFIX,
                                                       access_key=access, secret_key=secret, region=REGION,
                                                       sync_period=period))
                clusters.append(cluster)
            source, target = clusters
            store = source.store
            store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
            for index in range(args.volumes):
                store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                              "metadata": {"name": f"data-{index}", "namespace": NS},
                              "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
                                       "resources": {"requests": {"storage": "1Gi"}}}})
                store.create({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": f"pod-{index}", "namespace": NS},
                              "spec": {"containers": [{"name": "c", "image": "busybox", "volumeMounts": [
                                  {"name": "data", "mountPath": "/data"}]}],
                                       "volumes": [{"name": "data",
                                                    "persistentVolumeClaim": {"claimName": f"data-{index}"}}]}})
            started = time.perf_counter()
            wait_for("the pods", lambda: sum(1 for p in store.list("v1", "Pod", NS)
                                             if (p.get("status") or {}).get("phase") == "Running") == args.volumes)
            pods_up = time.perf_counter() - started
            for index in range(args.volumes):
                (claim_dir(store, NS, f"data-{index}") / "data.bin").write_bytes(os.urandom(args.kib * 1024))
            store.create(velero.backup_manifest("bench", velero_namespace="velero", included_namespaces=[NS],
                                                default_volumes_to_fs_backup=True))
            started = time.perf_counter()
            wait_for("the backup", lambda: velero.is_terminal(phase(source, "Backup", "bench")))
            backup_s = time.perf_counter() - started
            backup_runs = len(log.read_text().splitlines())
            wait_for("the sync", lambda: phase(target, "Backup", "bench")  # the Backup first, its PVBs after
                     and len(target.store.list(V, "PodVolumeBackup", "velero")) == args.volumes)
            target.store.create(velero.restore_manifest("bench-restore", velero_namespace="velero",
                                                        backup_name="bench"))
            started = time.perf_counter()
            wait_for("the restore", lambda: velero.is_terminal(phase(target, "Restore", "bench-restore")))
            restore_s = time.perf_counter() - started
            restore_runs = len(log.read_text().splitlines()) - backup_runs
            pvbs = len(target.store.list(V, "PodVolumeBackup", "velero"))
            pvrs = target.store.list(V, "PodVolumeRestore", "velero")
            print(f"target: {pvbs} PodVolumeBackups synced, {len(pvrs)} PodVolumeRestores "
                  f"{sorted({(p.get('status') or {}).get('phase') for p in pvrs})}")
            print(f"{args.volumes} volumes x {args.kib} KiB: pods running in {pods_up:.1f} s; backup "
                  f"{phase(source, 'Backup', 'bench')} in {backup_s:.1f} s ({backup_runs} restic runs); restore "
                  f"{phase(target, 'Restore', 'bench-restore')} in {restore_s:.1f} s ({restore_runs} restic runs)")
        finally:
            for cluster in reversed(clusters):
                cluster.stop()
            s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
