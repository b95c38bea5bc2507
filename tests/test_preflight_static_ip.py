"""Preflight sees, before anything is moved, a LoadBalancer Service with a static IP that the configuration
gives no target address for (a sandbox whose source Service `my-harbor` has loadBalancerIP set)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_a_static_load_balancer_ip_without_a_fixup_fails_preflight(tmp_path: Path):
    for tool in ("docker-registry", "restic"):
        require_tool(tool)
    sandbox = Sandbox(tmp_path / "sandbox").start()
    try:
        data = yaml.safe_load(sandbox.config_path.read_text())
        data["fixup"]["services"] = {}
        config = tmp_path / "seatrial.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(config), "verify", "preflight"],
                              cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
                              check=False)
        text = done.stdout + done.stderr
        assert done.returncode == 1, text
        assert "test_static_load_balancer_ip_has_a_fixup[harbor/my-harbor]" in text, text
        assert "add fixup.services.my-harbor.loadBalancerIP: <a target address>" in text, text

        done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(sandbox.config_path), "verify",
                               "preflight"], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300, check=False)
        assert "test_static_load_balancer_ip_has_a_fixup" not in done.stdout, done.stdout  # mapped: passes
    finally:
        sandbox.stop()
