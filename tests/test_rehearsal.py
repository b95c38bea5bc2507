"""The rehearsal as users start it: `python -m seatrial.fixtures.rehearse` (what `make rehearse` runs) and
`pytest --seatrial-rehearse`, each in a subprocess on a sandbox of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from seatrial.fixtures.tools import require_tool
from seatrial.runbook.migration.steps import STEP_ORDER

ROOT = Path(__file__).resolve().parent.parent
REHEARSAL_TIMEOUT_S = 900


def _tools() -> None:
    for tool in ("docker-registry", "restic", "kubectl"):
        require_tool(tool)


def _secrets(root: Path) -> list[str]:
    """The sandbox's admin password and S3 keys, from the files it wrote for Velero and seatrial."""
    values = [(root / "harbor-admin-password").read_text().strip()]
    for line in (root / "credentials-velero").read_text().splitlines():
        if "=" in line:
            values.append(line.split("=", 1)[1].strip())
    assert len(values) == 3 and all(values), "expected the admin password and two S3 keys"
    return values


@pytest.mark.slow
def test_rehearse_exits_green_with_every_step_and_check_and_writes_the_report(tmp_path: Path) -> None:
    _tools()
    started = time.monotonic()
    # --keep: the sandbox outlives the rehearsal as `seatrial sandbox up` leaves it, until `sandbox down`
    seatrial = [sys.executable, "-m", "seatrial.runbook.cli"]
    try:
        done = subprocess.run([*seatrial, "rehearse", "--env", "sandbox", "--dir", str(tmp_path), "--keep"],
                              cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=REHEARSAL_TIMEOUT_S, check=False)
        seconds = time.monotonic() - started
        print(f"\nrehearsal wall time: {seconds:.1f} s")
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-8000:]
        assert f"stop it with: seatrial sandbox down --dir {tmp_path}" in done.stdout, done.stdout[-2000:]
        status = subprocess.run([*seatrial, "sandbox", "status", "--dir", str(tmp_path)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120, check=False)
        assert status.returncode == 0 and ", ready" in status.stdout, status.stdout + status.stderr
    finally:
        down = subprocess.run([*seatrial, "sandbox", "down", "--dir", str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    report, page = tmp_path / "run" / "report.md", tmp_path / "run" / "report.html"
    assert f"all steps green. report: {report} (report.html)" in done.stdout
    assert re.search(r"rehearsal green in \d+ s \(exit 0\)", done.stdout), done.stdout[-2000:]
    text = report.read_text()
    for step in STEP_ORDER:
        assert re.search(rf"\| {step} \| passed \| \d+\.\d s \| [1-9]\d* \| 0 \|", text), f"{step}:\n{text}"
        assert f"### {step}" in text
    assert "| failed |" not in text and "| skipped |" not in text
    assert "- parity by digest: identical" in text
    assert "phase Completed, items backed up" in text and "phase Completed, items restored" in text
    assert "read-only (frozen for the move)" in text and "writable (thawed)" in text
    assert "<h2>Checks</h2>" in page.read_text()
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    for value in _secrets(tmp_path):
        assert value not in output, "a secret value reached the rehearsal's output"
        for path in files:
            assert value not in path.read_text(errors="replace"), f"a secret value is in {path}"


def test_rehearse_kind_without_kind_says_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no kind, no docker (tests/test_kind.py covers the kind path)
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "kind", "--dir",
                           str(tmp_path / "e")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 2
    assert "needs `kind` on PATH; install it:" in done.stdout and "sigs.k8s.io/kind@" in done.stdout, done.stdout


@pytest.mark.slow
def test_pytest_seatrial_rehearse_is_one_session_with_a_junit_file(tmp_path: Path) -> None:
    _tools()
    junit = tmp_path / "rehearsal.xml"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "--seatrial-rehearse", f"--junitxml={junit}",
                           f"--basetemp={tmp_path / 'basetemp'}", "-p", "no:cacheprovider", "-q"],
                          cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=REHEARSAL_TIMEOUT_S, check=False)
    print(f"\npytest --seatrial-rehearse wall time: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, (done.stdout + done.stderr)[-8000:]
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [suite.get("name") for suite in suites] == ["pytest"] + [f"seatrial-{step}" for step in STEP_ORDER]
    steps = list(suites[0].iter("testcase"))
    assert [case.get("name") for case in steps] == [f"test_step[{step}]" for step in STEP_ORDER]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert all(case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
               for case in cases)
    checks = {f"{case.get('classname')}::{case.get('name')}" for case in cases}
    assert "seatrial.checks.test_backup::test_volume_backed_up[harbor/my-harbor-database-0:database-data]" in checks
    # what real clusters have, rehearsed too (fidelity): a multi-arch index, an empty volume (job logs), a PVC shared
    # by the two registry replicas, and a restore into a namespace that has kube-root-ca.crt already
    assert any("test_artifact_pulls_with_verified_digests[seed-1/multi-arch@" in c for c in checks), checks
    assert any("test_volume_backed_up[harbor/my-harbor-jobservice-" in c for c in checks)
    assert sum("test_volume_backed_up[harbor/my-harbor-registry-" in c for c in checks) == 2
    assert "seatrial.checks.test_restore::test_restore_created_everything" in checks
    assert len(checks) > 3 * len(STEP_ORDER), "every check is a test case of the session's JUnit"
    reports = list((tmp_path / "basetemp").rglob("report.md"))
    assert len(reports) == 1 and "| verify-harbor | passed |" in reports[0].read_text()
    sandbox_root = reports[0].parent.parent
    for value in _secrets(sandbox_root):
        assert value not in junit.read_text() and value not in done.stdout + done.stderr


def test_a_temp_rehearsal_directory_goes_after_a_green_run_and_stays_after_a_failure(tmp_path: Path, capsys) -> None:
    from seatrial.fixtures.rehearse import keep_evidence, tidy_temp_root

    for code in (0, 1):
        root = tmp_path / f"seatrial-rehearsal-{code}"
        evidence = tmp_path / f"evidence-{code}"
        (evidence / "restic-cache").mkdir(parents=True)
        (evidence / "seatrial.lock").write_text("123\n")
        (evidence / "report.md").write_text("# report\n")
        (root / "run").mkdir(parents=True)
        (root / "credentials-velero").write_text("[default]\n")
        keep_evidence(evidence, out=lambda _line: None)
        tidy_temp_root(root, code)
        assert (evidence / "report.md").is_file()
        assert not (evidence / "restic-cache").exists() and not (evidence / "seatrial.lock").exists()  # no evidence
        assert root.exists() == (code != 0), code
    assert f"kept in {tmp_path / 'seatrial-rehearsal-1'} for inspection" in capsys.readouterr().out


# an absolute path in a line: not the host part of a URL (http://127.0.0.1), not a name like velero/backup or 0/53
PRINTED_PATH = re.compile(r"(?<![\w:/.])(/[\w.\-/]+)")


@pytest.mark.slow
def test_every_path_a_rehearsal_in_a_temp_directory_prints_exists_after_it_returns(tmp_path: Path) -> None:
    """`make rehearse` without --dir: the environment in a temporary directory removed after a green run, the
    evidence kept in ./run/rehearsal-<time>/ -- the upgrade's plan among it."""
    _tools()
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "sandbox"],
                          cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(tmp_path)}, timeout=REHEARSAL_TIMEOUT_S, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    assert not list(tmp_path.glob("seatrial-rehearsal-*")), "the temporary environment stays after a green run"
    # a file's path, not a request's (a heartbeat line may name GET /api/v1/...): its top directory is here
    printed = [path for path in PRINTED_PATH.findall(output) if Path("/", path.split("/")[1]).is_dir()]
    (evidence,) = (tmp_path / "run").iterdir()
    assert str(evidence / "upgrade-plan" / "report.md") in printed, output
    assert str(evidence / "report.md") in printed and str(evidence / "report.html") in printed, output
    gone = sorted({path for path in printed if not Path(path).exists()})
    assert not gone, f"printed but gone after the rehearsal: {gone}\n{output[-4000:]}"
    assert done.stdout.rstrip().splitlines()[-1].startswith(f"report: {evidence / 'report.html'}")
    assert not (evidence / "restic-cache").exists() and not list(evidence.glob("*.lock"))
