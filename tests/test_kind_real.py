"""On the real kind and Docker (skipped here: this project's CI has neither; see the README's kind section).

What a first real run must show beyond a green rehearsal: a Completed PodVolumeBackup for every Harbor volume
(kind's default hostPath PVs would be skipped silently), on `local` PVs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seatrial.fixtures.kind.environment import KindEnvironment
from seatrial.fixtures.kind.fixture import KIND_TIMEOUT_S
from seatrial.runbook.clients.kube import Cluster

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = ("my-harbor-redis", "data")  # volumes.exclude of the kind configuration


@pytest.mark.kind
@pytest.mark.slow
@pytest.mark.timeout(KIND_TIMEOUT_S)  # pytest-timeout counts what the test waits for: a real `up` takes minutes
def test_the_rehearsal_on_real_kind_backs_up_every_harbor_volume(tmp_path):
    root = tmp_path / "kind"
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "kind", "--dir", str(root),
                           "--keep"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=KIND_TIMEOUT_S - 60)
    try:
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        kubeconfig = root / "kubeconfig"
        with Cluster(kubeconfig, "source") as source:
            volumes = {(pod["metadata"]["name"], volume["name"]): volume["persistentVolumeClaim"]["claimName"]
                       for pod in source.list("v1", "Pod", "harbor")
                       for volume in pod["spec"].get("volumes") or [] if volume.get("persistentVolumeClaim")}
            backed_up = {(pvb["spec"]["pod"]["name"], pvb["spec"]["volume"]): pvb["status"].get("phase")
                         for pvb in source.list("velero.io/v1", "PodVolumeBackup", "velero")}
            pvs = {pv["spec"]["claimRef"]["name"]: pv for pv in source.list("v1", "PersistentVolume")
                   if pv["spec"].get("claimRef", {}).get("namespace") == "harbor"}
        assert volumes, "no PVC-backed Harbor volume on the source"
        for (pod, volume), claim in volumes.items():
            assert "local" in pvs[claim]["spec"], f"PVC {claim} is not on a local PV: {pvs[claim]['spec']}"
            if pod.startswith(EXCLUDED[0]) and volume == EXCLUDED[1]:
                continue
            assert backed_up.get((pod, volume)) == "Completed", f"no Completed PodVolumeBackup for {pod}:{volume}"
    finally:
        KindEnvironment(root).down()
