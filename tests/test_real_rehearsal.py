"""`make rehearse ENV=real` (python -m seatrial.fixtures.rehearse --env real): both real clusters, Velero and Harbor
installed by the one installer, the chart's Velero pods run by the process runner (the real server validating both
backup storage locations, the real node-agent moving the volumes with restic), then every step green with its
checks; it leaves nothing running."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from seatrial.fixtures.real.velero_build import velero_binaries
from seatrial.fixtures.tools import tools_required
from tests.leftovers import left_over

pytestmark = pytest.mark.real


@pytest.fixture
def velero_built():
    if velero_binaries() is None:
        missing = ("the real Velero server is not built: python3 seatrial/fixtures/real/build.py "
                   "--only velero-1.16,plugin-for-aws")
        if tools_required():
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)


def rehearse(root: Path, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "real", "--dir", str(root),
                           *options], capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def every_volume_identical(report: str) -> None:
    assert "not judged" not in report, [line for line in report.splitlines() if "not judged" in line][:3]
    rows = [line for line in report.split("## Volumes", 1)[1].split("\n## ", 1)[0].splitlines()
            if line.startswith("| my-harbor") and "volumes.exclude" not in line]
    parity = [re.search(r"\| identical \((\d+) files?(\)|;)", row) for row in rows]
    assert len(rows) == 4 and all(parity), rows  # database, job logs, registry, trivy
    assert max(int(found.group(1)) for found in parity if found) > 0, rows  # the registry's blobs compared


def test_rehearse_env_real_runs_every_step_green_on_the_real_velero(tmp_path: Path, velero_built):
    root = tmp_path / "rehearsal"
    out = rehearse(root)
    for name in ("source", "target"):
        assert f"{name}: backup storage location default Available (validated by the Velero server)" in out
    for step in ("preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw-target", "verify-harbor",
                 "upgrade"):
        assert f"== {step}" in out and f"  {step}: " in out and "checks green" in out.split(f"== {step}")[1]
    assert "FAILED" not in out and "Traceback" not in out
    assert "rehearsal on real green" in out and "S3 versitygw" in out
    report = (root / "run" / "report.md").read_text()
    # the volumes went through restic: the backup's checks found each snapshot in the restic repository (report.md
    # names no uploader; the check's fact is in the JUnit file)
    assert "restic snapshots of s3:" in (root / "run" / "junit" / "backup.xml").read_text()
    # every check judged: the empty volumes shown empty by the kubelet stats the node proxy reaches, and each
    # restored volume compared with its snapshot file by file (volumes.csi_directories of the real configuration)
    every_volume_identical(report)
    logs = root / "logs"
    for cluster in ("source", "target"):  # the chart's pods really ran: the server and a node-agent per node
        names = [p.name for p in (logs / cluster).iterdir()]
        assert any(n.startswith("velero_velero-") and n.endswith("_velero.log") for n in names), names
        assert sum(n.startswith("velero_node-agent-") for n in names) == 2, names
    alive = left_over(root)
    assert not alive, f"processes of {root} still running:\n{alive}"


def test_rehearse_env_real_with_velero_1_18_moves_the_volumes_with_kopia_in_data_path_pods(tmp_path: Path,
                                                                                          velero_built):
    """Velero 1.17+ runs each volume's backup and restore in a pod of its own (`velero pod-volume backup|restore`),
    which the node-agent creates and watches to its termination message: the process runner runs those too."""
    if velero_binaries("velero-1.18") is None:
        pytest.fail("Velero 1.18 is not built: make real-binaries", pytrace=False)
    root = tmp_path / "rehearsal"
    # the target's classes under another name (no rook-ceph-block there): the restore's change-storage-class
    # ConfigMap, honoured by the real Velero, is what gets the claims Bound
    out = rehearse(root, "--velero-chart", "12.1.0", "--target-storage-class", "ceph-rbd")
    assert "rehearsal on real green" in out and "chart 12.1.0" in out and "S3 versitygw" in out
    # each restored volume read back from its kopia snapshot with the kopia CLI and compared file by file; the
    # emptyDirs kopia snapshots too (core's psc, the database's shm) are not compared as volumes
    every_volume_identical((root / "run" / "report.md").read_text())
    assert "rook-ceph-block: ceph-rbd" in (root / "seatrial.yaml").read_text()
    bound = {case.get("name"): [child.tag for child in case]
             for case in ET.parse(root / "run" / "junit" / "restore.xml").getroot().iter("testcase")
             if case.get("name", "").startswith("test_pvc_restored_and_bound[")}
    assert len(bound) >= 4 and not any(bound.values()), bound  # each passed: no failure, no skip
    facts = (root / "run" / "junit" / "backup.xml").read_text()  # the check's fact `verified` says which levels ran
    assert "kopia level 1" in facts and "; level 3: kopia snapshot list" in facts, facts[-3000:]
    data_path = [p.name for p in (root / "logs" / "source").iterdir() if p.name.startswith("velero_seatrial-")]
    assert data_path, "no data-path pod ran on the source"
    assert "restic" not in (root / "seatrial.yaml").read_text().split("velero:")[1].split("harbor:")[0]
