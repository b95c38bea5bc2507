"""`make rehearse ENV=real` (python -m seatrial.fixtures.rehearse --env real): both real clusters, Velero and Harbor
installed by the one installer, the real Velero server validating both backup storage locations, then preflight,
freeze and annotate green with their checks; it stops before the backup (exit 4) and leaves nothing running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seatrial.fixtures.real.velero_build import velero_binaries
from seatrial.fixtures.tools import tools_required

pytestmark = pytest.mark.real


@pytest.fixture
def velero_built():
    if velero_binaries() is None:
        missing = ("the real Velero server is not built: python3 seatrial/fixtures/real/build.py "
                   "--only velero-1.16,plugin-for-aws")
        if tools_required():
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)


def test_rehearse_env_real_is_green_until_annotate_and_stops_before_the_backup(tmp_path: Path, velero_built):
    root = tmp_path / "rehearsal"
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "real", "--dir", str(root)],
                          capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 4, out[-4000:]
    for name in ("source", "target"):
        assert f"{name}: backup storage location default Available (validated by the Velero server)" in out
    for step in ("preflight", "freeze", "annotate"):
        assert f"  {step}: " in out and f"== {step}" in out
    assert "FAILED" not in out and "Traceback" not in out
    assert "== backup" not in out and "stopping here: the backup needs the real node-agent" in out
    assert (root / "run" / "report.md").is_file()
    alive = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True, check=False).stdout.split()
    assert alive == [], f"processes of {root} still running: {alive}"
