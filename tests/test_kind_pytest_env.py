"""`pytest --seatrial-env kind`: tests marked `kind` are skipped with the reason where the real kind and Docker
are absent (the stand-ins do not count), and fail instead in CI when kind was asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seatrial.fixtures.kind.fixture import STANDINS_BIN

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MARKED = '''
import pytest

@pytest.mark.kind
def test_on_real_kind():
    pass
'''


def run_pytest(tmp_path: Path, path_dirs: list[str], *extra: str, ci: bool = False) -> subprocess.CompletedProcess:
    (tmp_path / "test_marked.py").write_text(MARKED)
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "SEATRIAL_REQUIRE_TOOLS")}
    env.update(PATH=os.pathsep.join(path_dirs), PYTHONPATH=str(PROJECT_ROOT))
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "seatrial.fixtures.plugin", "-rs", "-q", "-p",
                           "no:cacheprovider", *extra, str(tmp_path / "test_marked.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_a_kind_test_is_skipped_with_the_reason_without_kind(tmp_path):
    done = run_pytest(tmp_path, [str(tmp_path)], "--seatrial-env", "kind")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "kind is not on PATH" in done.stdout


def test_the_stand_ins_do_not_count_as_kind(tmp_path):
    done = run_pytest(tmp_path, [str(STANDINS_BIN), os.environ["PATH"]])
    assert "1 skipped" in done.stdout and "seatrial's stand-in, not the real program" in done.stdout


@pytest.mark.parametrize("path", ["none", "standins"])
def test_in_ci_with_kind_requested_it_fails_instead(tmp_path, path):
    dirs = [str(tmp_path)] if path == "none" else [str(STANDINS_BIN), os.environ["PATH"]]
    done = run_pytest(tmp_path, dirs, "--seatrial-env", "kind", ci=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout and "--seatrial-env kind in CI" in done.stdout  # fails in setup


def test_in_ci_without_kind_requested_it_is_a_skip(tmp_path):
    done = run_pytest(tmp_path, [str(tmp_path)], ci=True)
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout


TIMED = '''
def test_on_kind(seatrial_environment):
    pass

def test_elsewhere():
    pass
'''
REPORT_TIMEOUTS = '''
import json, os

def pytest_collection_finish(session):
    timeouts = {item.name: [list(m.args) for m in item.iter_markers("timeout")] for item in session.items}
    with open(os.environ["SEATRIAL_TEST_TIMEOUTS"], "w") as stream:
        json.dump(timeouts, stream)
'''


@pytest.mark.parametrize("environment", ["kind", "sandbox"])
def test_on_kind_a_test_that_sets_the_environment_up_gets_a_timeout_a_real_up_fits(tmp_path, environment):
    """pytest-timeout charges the session fixture's set-up (a real `up`: many minutes) to the first test that asks
    for it, so pyproject's 300 s would kill `up` itself (pytest-timeout#190, #196)."""
    from seatrial.fixtures.kind.fixture import KIND_TIMEOUT_S

    (tmp_path / "test_timed.py").write_text(TIMED)
    (tmp_path / "conftest.py").write_text(REPORT_TIMEOUTS)
    report = tmp_path / "timeouts.json"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SEATRIAL_TEST_TIMEOUTS": str(report)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "seatrial.fixtures.plugin", "-p", "no:cacheprovider",
                           "--seatrial-env", environment, "--timeout=300", "--collect-only", "-q", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    timeouts = json.loads(report.read_text())
    assert timeouts["test_elsewhere"] == []
    assert timeouts["test_on_kind"] == ([[KIND_TIMEOUT_S]] if environment == "kind" else [])
    assert KIND_TIMEOUT_S >= 3600


def test_the_real_kind_test_has_a_timeout_a_real_up_fits():
    from seatrial.fixtures.kind.fixture import KIND_TIMEOUT_S
    from tests.test_kind_real import test_the_rehearsal_on_real_kind_backs_up_every_harbor_volume as real

    timeouts = [mark.args for mark in real.pytestmark if mark.name == "timeout"]
    assert timeouts == [(KIND_TIMEOUT_S,)]
