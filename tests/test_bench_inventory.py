"""benchmarks/bench_inventory.py end to end at a small size: the scene built and served in processes of their
own, each operation measured in its own process, the requests held against Harbor's paging minimum."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from seatrial.fixtures.tools import require_tool

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_the_inventory_benchmark_measures_each_operation_against_its_minimum(tmp_path):
    require_tool("docker-registry")
    out = tmp_path / "ratios.json"
    done = subprocess.run([sys.executable, "benchmarks/bench_inventory.py", "--sizes", "300", "--fraction", "0.2",  # noqa: S603
                           "--json", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ratios = {r["name"]: r for r in json.loads(out.read_text())}
    for operation in ("golden", "parity", "sampling"):
        requests = ratios[f"inventory 300: {operation} requests / minimum"]
        assert 1.0 <= requests["value"] <= 1.1, requests  # never fewer than the minimum: the count is real
        assert ratios[f"inventory 300: {operation} peak memory, MiB"]["value"] < 256
    assert "0 differences" in done.stdout and " 0 failed" in done.stdout
    # 300 artifacts: 1 page of projects, 1 of repositories for each of the 2 projects (library's and the scene's),
    # 1 page of artifacts for each of the 30 repositories
    assert "golden         33 requests (minimum 33)" in done.stdout, done.stdout
