"""`pytest --seatrial-env real`: the session's environment is the real one, installed and seeded, and stopped at the
end of the session with nothing left running."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.leftovers import left_over

pytestmark = pytest.mark.real

INNER = textwrap.dedent("""
    import requests, yaml

    def test_the_environment_is_real(seatrial_environment):
        config = yaml.safe_load(seatrial_environment.config_path.read_text())
        assert config["source"]["context"] == "source" and config["storage"]["bucket"]
        health = requests.get(seatrial_environment.source_harbor_url + "/api/v2.0/health", timeout=10)
        assert health.json()["status"] == "healthy"
        assert seatrial_environment.seeded  # Harbor seeded through the installer
        assert all(url.startswith("https://127.0.0.1:") for url in
                   (c.url for c in seatrial_environment.clusters.values()))
        print("ROOT", seatrial_environment.root)
""")


def test_seatrial_env_real_runs_a_test_on_the_real_environment(tmp_path: Path):
    (tmp_path / "test_inner.py").write_text(INNER)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "seatrial.fixtures.plugin", "--seatrial-env", "real",
                           "-q", "-s", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "base"),
                           str(tmp_path / "test_inner.py")], capture_output=True, text=True, timeout=900,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    root = next(line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("ROOT "))
    alive = left_over(root)
    assert not alive, f"processes of {root} still running after the session:\n{alive}"
