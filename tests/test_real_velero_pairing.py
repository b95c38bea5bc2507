"""Which real Velero server runs for which Velero chart: the chart's own Velero, never another one."""

from __future__ import annotations

from seatrial.charts import shipped_versions
from seatrial.fixtures.real.velero_build import velero_component


def test_each_shipped_velero_chart_gets_the_server_of_its_velero_or_none():
    pairs = {version: velero_component(version) for version in shipped_versions("velero")}
    assert pairs.get("10.1.3") == "velero-1.16"  # Velero 1.16.2 (restic), the environment's default
    assert all(component in (None, "velero-1.16", "velero-1.18") for component in pairs.values())
    assert all(component is None for version, component in pairs.items() if version.split(".")[0] not in ("10", "12"))
