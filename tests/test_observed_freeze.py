"""The freeze is observed, not trusted, through the real CLI against a sandbox:

- the backup step reads the source Harbor's read_only flag during its wait, with Harbor's time; a source
  made writable behind seatrial's back fails the backup's checks, naming when;
- a resumed run that finds a finished step's facts changed says what changed: it redoes the step when no
  finished backup relied on it yet, and stops with exit 1 (naming the command to redo) once one did, at once,
  asking no dependency anything more.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.config import load_config
from seatrial.runbook.migration.journal import Journal

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    for tool in ("docker-registry", "restic"):
        require_tool(tool)
    box = Sandbox(tmp_path_factory.mktemp("observed-freeze")).start()
    try:
        yield box
    finally:
        box.stop()


def _cli(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(sandbox.config_path), *args],
                          cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)


def _thaw_source_behind_seatrials_back(sandbox: Sandbox) -> None:
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as harbor:
        harbor.set_read_only(False)


def test_a_writable_source_during_the_backup_fails_its_checks_naming_when(sandbox: Sandbox):
    done = _cli(sandbox, "run", "--until", "annotate")
    assert done.returncode == 0, done.stdout + done.stderr
    _thaw_source_behind_seatrials_back(sandbox)  # the journal still says "frozen at ..."

    done = _cli(sandbox, "step", "backup")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "source Harbor was WRITABLE during the backup at 20" in text, text
    assert "FAILED seatrial.checks.test_backup::test_source_read_only_during_backup" in text, text
    assert "read_only=false at 20" in text and "(Harbor's clock;" in text, text
    readings = Journal(load_config(sandbox.config_path).run_dir).step("backup")["freeze_readings"]
    assert readings and all(r["read_only"] is False and r["at"].endswith("Z") for r in readings), readings


def test_a_resumed_run_redoes_a_changed_step_nothing_relied_on_yet_and_says_so(sandbox: Sandbox):
    done = _cli(sandbox, "run", "--until", "backup")  # the failed backup left the source writable
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert "== freeze: done before, but its checks now fail; doing it again (what it established has changed, " \
           "and no finished step relied on it yet)" in text, text
    assert "now failing: seatrial.checks.test_freeze::test_source_read_only" in text, text
    assert "backup: " in text and "checks green" in text


def test_a_resumed_run_stops_when_a_finished_backup_relied_on_what_changed(sandbox: Sandbox):
    _thaw_source_behind_seatrials_back(sandbox)
    done = _cli(sandbox, "run", "--until", "backup")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "== freeze: done before, but what it established has changed since" in text, text
    assert "the finished backup step relied on it" in text and "run --from freeze" in text, text
    assert "all steps green" not in text
    # stopping asks nothing more: the target Harbor (answering 503 until a restore) is not probed for the report
    assert "retrying" not in text, text
    lines = done.stdout.splitlines()
    redo = next(i for i, line in enumerate(lines) if "to redo from here:" in line)
    assert lines[redo + 1].startswith("stopped. report: "), lines[redo:]
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as harbor:
        assert harbor.read_only() is False, "the stopped run repaired the freeze silently"


def test_an_exclusion_added_after_the_backup_stops_a_resumed_run_naming_it(sandbox: Sandbox):
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as harbor:
        harbor.set_read_only(True)  # the freeze holds again: only the exclusion changes
    with Cluster(sandbox.kubeconfig, "source") as source:
        pod = next(p for p in source.list("v1", "Pod", "harbor") if p["metadata"]["name"].startswith(
            "my-harbor-registry-"))
        source.patch("v1", "Pod", pod["metadata"]["name"], "harbor", {"metadata": {"annotations": {
            "backup.velero.io/backup-volumes-excludes": "registry-data"}}})
    done = _cli(sandbox, "run", "--until", "backup")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "== annotate: done before, but what it established has changed since" in text, text
    assert "now failing: seatrial.checks.test_annotate::test_volume_covered" in text and "registry-data" in text, text
    assert "run --from annotate" in text, text
    with Cluster(sandbox.kubeconfig, "source") as source:
        annotations = source.get("v1", "Pod", pod["metadata"]["name"], "harbor")["metadata"].get("annotations") or {}
    assert annotations.get("backup.velero.io/backup-volumes-excludes") == "registry-data", \
        "the stopped run removed the exclusion silently"
