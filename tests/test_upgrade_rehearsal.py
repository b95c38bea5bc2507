"""make rehearse's chart upgrade: the next vendored minor is chosen, and the section written into a sandbox's
seatrial.yaml is a valid configuration (the deployed values reused, Recreate for the RWO Deployments)."""

from __future__ import annotations

import yaml

from seatrial.fixtures.upgrade_rehearsal import CHARTS_DIR, add_upgrade, next_minor_chart
from seatrial.runbook.config import load_config
from tests.test_config import Workspace


def test_the_next_vendored_minor_is_chosen():
    assert next_minor_chart("1.18.4").name == "harbor-1.19.1.tgz"
    assert next_minor_chart("1.6.4").name == "harbor-1.7.5.tgz"
    assert next_minor_chart("1.19.1") is None and next_minor_chart("x") is None


def test_the_section_it_writes_loads(tmp_path):
    workspace = Workspace(tmp_path)
    data = workspace.data()
    del data["upgrade"]
    workspace.write(data)
    chart = add_upgrade(workspace.path, "1.18.4")
    assert chart == CHARTS_DIR / "harbor-1.19.1.tgz"
    upgrade = load_config(workspace.path, environ=workspace.environ).upgrade
    assert upgrade.chart == str(chart) and upgrade.reuse_values
    assert yaml.safe_load(upgrade.values[0].read_text()) == {"updateStrategy": {"type": "Recreate"}}
    assert add_upgrade(workspace.path, None) is None and add_upgrade(workspace.path, "1.19.1") is None
