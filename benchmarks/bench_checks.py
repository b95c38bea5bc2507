"""Requests and wall time of each step's checks at growing object counts (run by hand, not in the suite).

For each size N the script builds a migrated Harbor-like namespace with N PVCs on two real test API
servers (source and target, in this process) and a bucket on moto (a child process, behind a counting
proxy): N pods each mounting one PVC, N PVs, a Completed Backup with N PodVolumeBackups (and the
bucket's tarball and side files), a Completed Restore with N PodVolumeRestores. Then it runs the
annotate, backup and restore checks exactly as the runner does (`python -m pytest checks/test_<step>.py
--seatrial-config ...`, one process per step) and counts the Kubernetes and S3 requests they make.

    .venv/bin/python benchmarks/bench_checks.py [--sizes 10,100,1000]

Prints, per step: requests and wall time at each size, then the ratios largest/smallest. Targets
(issue 13): requests(1,000)/requests(10) <= 1.2 per step; backup checks' wall time at 1,000 <= 10x at 10.
The volumes are recorded as kopia (the repository prefix holds data), so no restic repository with N
snapshots is needed; the restic snapshot check's S3 cost is measured in tests/test_restic_cache.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from fixtures.counting_proxy import CountingProxy  # noqa: E402
from fixtures.kubeapi.kubeconfig import write_kubeconfig  # noqa: E402
from fixtures.kubeapi.server import ApiServer  # noqa: E402
from fixtures.kubeapi.store import Store  # noqa: E402
from fixtures.kubeapi.types import register_standard_types  # noqa: E402
from fixtures.s3server import MotoProcess  # noqa: E402
from runbook.journal import Journal  # noqa: E402
from runbook.s3 import s3_client  # noqa: E402
from runbook.secrets import Secret  # noqa: E402
from runbook.velero_layout import Layout, group_resource, item_path, write_backup, write_restore_files  # noqa: E402

NS, VNS, BUCKET, PREFIX = "harbor", "velero", "velero", "bench"
BACKUP, RESTORE = "harbor-backup-1", "harbor-restore-1"
STEPS = ("annotate", "backup", "restore")
V = "velero.io/v1"
STAMP = "2026-11-28T10:00:00Z"


def _namespace(store: Store, name: str) -> None:
    if name != "default":
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _workload(store: Store, count: int, root: Path, *, ready: bool) -> list[dict]:
    """N Bound PVCs on local PVs and N Running pods mounting them; the PVCs as stored."""
    claims = []
    for index in range(count):
        pvc = store.create({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"data-{index}", "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": "1Gi"}}, "volumeName": f"pv-{index}"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}})
        store.create({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{index}"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "local": {"path": str(root / f"pv-{index}")},
                     "claimRef": {"namespace": NS, "name": f"data-{index}", "uid": pvc["metadata"]["uid"]}},
            "status": {"phase": "Bound"}})
        store.create({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"app-{index}", "namespace": NS},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox",
                                                           "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{index}"}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})
        claims.append(pvc)
    return claims


def _pvbs(store: Store, claims: list[dict], backup_uid: str) -> list[dict]:
    return [store.create({
        "apiVersion": V, "kind": "PodVolumeBackup",
        "metadata": {"name": f"{BACKUP}-{index}", "namespace": VNS,
                     "labels": {"velero.io/backup-name": BACKUP, "velero.io/backup-uid": backup_uid,
                                "velero.io/pvc-uid": pvc["metadata"]["uid"]},
                     "annotations": {"velero.io/pvc-name": pvc["metadata"]["name"]}},
        "spec": {"node": "node-1", "pod": {"kind": "Pod", "namespace": NS, "name": f"app-{index}"}, "volume": "data",
                 "backupStorageLocation": "default", "repoIdentifier": "", "uploaderType": "kopia",
                 "tags": {"backup": BACKUP, "ns": NS, "volume": "data"}},
        "status": {"phase": "Completed", "snapshotID": f"k{index:031x}", "startTimestamp": STAMP,
                   "completionTimestamp": STAMP, "progress": {"totalBytes": 4096, "bytesDone": 4096}}})
        for index, pvc in enumerate(claims)]


def build(count: int, root: Path, source: Store, target: Store, s3) -> None:
    for store in (source, target):
        _namespace(store, NS)
        _namespace(store, VNS)
        store.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"},
                      "provisioner": "sandbox.seatrial.io/local", "reclaimPolicy": "Delete"})
    claims = _workload(source, count, root / "source", ready=True)
    _workload(target, count, root / "target", ready=True)
    backup_obj = {"apiVersion": V, "kind": "Backup", "metadata": {"name": BACKUP, "namespace": VNS},
                  "spec": {"includedNamespaces": [NS], "defaultVolumesToFsBackup": True, "storageLocation": "default",
                           "ttl": "720h0m0s"},
                  "status": {"phase": "Completed", "startTimestamp": STAMP, "completionTimestamp": STAMP,
                             "progress": {"totalItems": 3 * count, "itemsBackedUp": 3 * count}}}
    backups = [store.create(dict(backup_obj)) for store in (source, target)]
    pvbs = _pvbs(source, claims, backups[0]["metadata"]["uid"])
    _pvbs(target, claims, backups[1]["metadata"]["uid"])
    restore = target.create({"apiVersion": V, "kind": "Restore", "metadata": {"name": RESTORE, "namespace": VNS},
                             "spec": {"backupName": BACKUP, "includedNamespaces": [NS]},
                             "status": {"phase": "Completed", "startTimestamp": STAMP, "completionTimestamp": STAMP,
                                        "progress": {"totalItems": 3 * count, "itemsRestored": 3 * count}}})
    for index in range(count):
        target.create({
            "apiVersion": V, "kind": "PodVolumeRestore",
            "metadata": {"name": f"{RESTORE}-{index}", "namespace": VNS,
                         "labels": {"velero.io/restore-name": RESTORE,
                                    "velero.io/restore-uid": restore["metadata"]["uid"]}},
            "spec": {"pod": {"kind": "Pod", "namespace": NS, "name": f"app-{index}"}, "volume": "data",
                     "snapshotID": f"k{index:031x}", "backupStorageLocation": "default", "repoIdentifier": "",
                     "uploaderType": "kopia", "sourceNamespace": NS},
            "status": {"phase": "Completed", "progress": {"totalBytes": 4096, "bytesDone": 4096}}})
    client = s3_client(s3.endpoint, region="us-east-1", access_key=Secret("bench", "key"),
                       secret_key=Secret("bench-secret", "secret"))
    client.create_bucket(Bucket=BUCKET)
    layout = Layout(PREFIX)
    travelling = [("persistentvolumeclaims", o) for o in source.list("v1", "PersistentVolumeClaim", NS)]
    items = [(item_path(gr, NS, o["metadata"]["name"]), o) for gr, o in travelling]
    items += [(item_path(group_resource("v1", "pods"), NS, o["metadata"]["name"]), o)
              for o in source.list("v1", "Pod", NS)]
    volume_info = [{"pvcName": c["metadata"]["name"], "pvcNamespace": NS, "pvName": f"pv-{i}",
                    "backupMethod": "PodVolumeBackup", "skipped": False} for i, c in enumerate(claims)]
    write_backup(client, BUCKET, layout, BACKUP, metadata=backups[0], items=items, pod_volume_backups=pvbs,
                 volume_info=volume_info, results={}, resource_list={}, logs="")
    write_restore_files(client, BUCKET, layout, RESTORE, logs="", results={}, resource_list={}, volume_info=[])
    client.put_object(Bucket=BUCKET, Key=layout.kopia_repo(NS).rstrip("/") + "/kopia.repository", Body=b"{}")


def write_config(root: Path, kubeconfig: Path, endpoint: str) -> Path:
    (root / "credentials-velero").write_text("[default]\naws_access_key_id = bench\naws_secret_access_key = "
                                             "bench-secret\n")
    (root / "harbor-password").write_text("bench-harbor-password\n")
    data = {
        "source": {"kubeconfig": str(kubeconfig), "context": "source", "namespace": NS, "release": "my-harbor"},
        "target": {"kubeconfig": str(kubeconfig), "context": "target", "namespace": NS, "release": "my-harbor"},
        "storage": {"endpoint": endpoint, "bucket": BUCKET, "prefix": PREFIX, "region": "us-east-1",
                    "path_style": True, "credentials_file": "./credentials-velero"},
        "velero": {"namespace": VNS, "uploader": "kopia"},
        "harbor": {"source_url": "http://127.0.0.1:9", "target_url": "http://127.0.0.1:9", "username": "admin",
                   "password_file": "./harbor-password"},
        "volumes": {"exclude": []},
        "run_dir": "./run",
    }
    path = root / "seatrial.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    journal = Journal(root / "run")
    journal.record_name("backup", BACKUP)
    journal.record_name("restore", RESTORE)
    return path


def run_step(step: str, config: Path, junit: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "checks" / f"test_{step.replace('-', '_')}.py"),
               f"--seatrial-config={config}", "-q", "-p", "no:cacheprovider", "-p", "no:pytest-kind",
               "-p", "runbook.pytest_redact", f"--junitxml={junit}", "--rootdir", str(PROJECT_ROOT),
               f"--confcutdir={PROJECT_ROOT / 'checks'}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)  # noqa: S603
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return time.perf_counter() - started, last


def measure(count: int) -> dict[str, tuple[int, int, int, float, str]]:
    """step -> (Kubernetes requests, of which list pages after the first, S3 requests, wall seconds, pytest's
    summary line)."""
    results = {}
    with TemporaryDirectory(prefix=f"seatrial-bench-{count}-") as tmp:
        root = Path(tmp)
        source, target = register_standard_types(Store("source")), register_standard_types(Store("target"))
        s3 = MotoProcess()
        try:
            with ApiServer(source) as source_api, ApiServer(target) as target_api, CountingProxy(s3.endpoint) as proxy:
                build(count, root, source, target, proxy)
                kubeconfig = write_kubeconfig(root / "kubeconfig", {"source": source_api.url,
                                                                    "target": target_api.url})
                config = write_config(root, kubeconfig, proxy.endpoint)
                for step in STEPS:
                    source_api.requests.clear()
                    target_api.requests.clear()
                    proxy.reset()
                    wall, summary = run_step(step, config, root / f"{step}-{uuid.uuid4().hex[:6]}.xml")
                    requests = source_api.requests + target_api.requests
                    pages = sum(1 for _, path in requests if "continue=" in path)
                    results[step] = (len(requests), pages, proxy.total(), wall, summary)
        finally:
            s3.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated PVC counts (1000 takes minutes)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    table = {}
    for count in sizes:
        table[count] = measure(count)
        for step, (kube, pages, s3, wall, summary) in table[count].items():
            print(f"{count:>6} PVCs  {step:<9} kube {kube:>5} (further list pages {pages:>3})  s3 {s3:>4}  "
                  f"wall {wall:6.2f} s   ({summary})")
    small, large = sizes[0], sizes[-1]
    if small != large:
        print(f"ratios {large} PVCs / {small} PVCs (targets: requests <= 1.2, backup checks' wall time <= 10); "
              "'calls' counts a paged LIST once (limit=500: one more page per 500 objects of a kind):")
        for step in STEPS:
            k0, p0, s0, w0, _ = table[small][step]
            k1, p1, s1, w1, _ = table[large][step]
            print(f"  {step:<9} requests {(k1 + s1) / max(1, k0 + s0):5.2f}, calls "
                  f"{(k1 - p1 + s1) / max(1, k0 - p0 + s0):5.2f} (kube {k1 / max(1, k0):.2f}, s3 {s1 / max(1, s0):.2f})"
                  f"   wall time {w1 / w0:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
