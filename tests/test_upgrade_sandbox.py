"""The seed's story end to end in the chart-installed sandbox (real engine, vendored charts, the Harbor twin
started from what the charts create): Harbor 1.6.4 with data, `seatrial step upgrade` to 1.7.5 with the same
values is refused before any change, naming every PVC; with the values the guard printed, the upgrade keeps
every artifact (pulled by digest) and the step's checks are green."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / "seatrial" / "charts"


def upgrade_config(sandbox, tmp_path: Path, upgrade: dict) -> Path:
    """The sandbox's own seatrial.yaml, pointed at the source cluster, where Harbor 1.6.4 runs with its data
    (the upgrade step works on `target`; `source` is never touched by it)."""
    data = yaml.safe_load(sandbox.config_path.read_text())
    data["source"], data["target"] = data["target"], data["source"]
    data["harbor"]["source_url"], data["harbor"]["target_url"] = (data["harbor"]["target_url"],
                                                                  data["harbor"]["source_url"])
    data["run_dir"] = str(tmp_path / "run")
    data["upgrade"] = upgrade
    path = tmp_path / "seatrial.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def seatrial(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(config), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=900, check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_seed_story_refused_then_fixed_keeps_every_artifact(fresh_sandbox, tmp_path):
    sandbox = fresh_sandbox(projects=1, repositories=1, artifacts=2, harbor_chart_version="1.6.4")
    recreate = tmp_path / "recreate.yaml"
    recreate.write_text("updateStrategy:\n  type: Recreate\n")
    config = upgrade_config(sandbox, tmp_path, {"chart": str(CHARTS / "harbor-1.7.5.tgz"),
                                                "values": [str(recreate)], "reuse_values": True})
    refused = seatrial(config, "step", "upgrade")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    for name in ("my-harbor-harbor-registry", "my-harbor-harbor-jobservice",
                 "database-data-my-harbor-harbor-database-0", "data-my-harbor-harbor-redis-0"):
        assert f"FAILED data_volume_kept[PersistentVolumeClaim/{name}]" in refused.stdout
    assert "nothing was changed" in refused.stdout + refused.stderr
    fix = tmp_path / "run" / "upgrade-plan" / "fix-values.yaml"
    assert yaml.safe_load(fix.read_text()) == {"fullnameOverride": "my-harbor-harbor"}

    config = upgrade_config(sandbox, tmp_path, {"chart": str(CHARTS / "harbor-1.7.5.tgz"),
                                                "values": [str(recreate), str(fix)], "reuse_values": True})
    upgraded = seatrial(config, "step", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout[-6000:] + upgraded.stderr[-2000:]
    junit = ET.parse(tmp_path / "run" / "junit" / "upgrade.xml").getroot()
    names = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is None]
    pulled = [name for name in names if name.startswith("test_artifact_pulls_after_upgrade[")]
    for artifact in sandbox.pushed:  # every seeded artifact pulled by digest after the upgrade, and passed
        assert any(name.endswith(f"@{artifact.digest[:19]}]") for name in pulled), (artifact.digest, pulled)
    assert not [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert "test_harbor_at_the_charts_app_version" in names and "test_no_new_pvcs" in names
