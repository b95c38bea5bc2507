"""Warm check processes (seatrial.runbook.checking.warm_checks): a fork of the warm server gives what `python -m
pytest` gives
(exit code, output, JUnit, rewritten asserts, the redaction plugin), each run is a process of its own that
inherits nothing from the one before, and anything unusual falls back to a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from seatrial.runbook.checking import warm_checks
from seatrial.runbook.checking.warm_checks import NEVER_PRELOADED, OFF, run_pytest, warm_server

ROOT = Path(__file__).resolve().parents[1]
SECRET = "warm-fork-secret-4f1c9a"

CHECKS = f'''
import json, os, sys, threading

from seatrial.runbook.secrets import Secret

LEAK = "left-by-an-earlier-run"


def test_passes():
    print("to stdout")
    print("to stderr", file=sys.stderr)


def test_rewritten_assert():
    observed = 1
    assert observed == 2


def test_secret_is_masked():
    assert Secret("{SECRET}", "token").reveal() == "something else"


def test_fresh_process_and_record():
    # nothing an earlier run left behind: environment, module state, threads
    assert "SEATRIAL_LEFT_BEHIND" not in os.environ
    assert not hasattr(sys.modules["seatrial.runbook.secrets"], "left_behind")
    os.environ["SEATRIAL_LEFT_BEHIND"] = LEAK
    sys.modules["seatrial.runbook.secrets"].left_behind = LEAK
    threading.Thread(target=lambda: None).start()
    with open(os.environ["SEATRIAL_WARM_RECORD"], "w") as out:
        json.dump({{"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(),
                   "caller": os.environ.get("SEATRIAL_WARM_CALLER")}}, out)
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(CHECKS))
    monkeypatch.chdir(ROOT)  # the server starts where the runner runs, with the project importable
    monkeypatch.setenv("SEATRIAL_WARM_RECORD", str(tmp_path / "record.json"))
    monkeypatch.delenv(OFF, raising=False)
    yield tmp_path


def command(project: Path, junit: str = "junit.xml") -> list[str]:
    return [sys.executable, "-m", "pytest", str(project / "test_inner.py"), "-q", "-p", "no:cacheprovider",
            "-p", "seatrial.runbook.checking.pytest_redact", "-o", "addopts=", "--rootdir", str(project),
            f"--junitxml={project / junit}"]


def outcomes(junit: Path) -> dict[str, str]:
    cases = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        cases[case.get("name")] = "failed" if failure is not None else "passed"
    return cases


def record(project: Path) -> dict:
    return json.loads((project / "record.json").read_text())


def test_a_warm_fork_gives_what_a_fresh_python_m_pytest_gives(project: Path) -> None:
    cold = run_pytest(command(project, "cold.xml"))  # no server: a fresh interpreter
    assert record(project)["ppid"] == os.getpid()
    with warm_server():
        server = warm_checks._server
        assert server is not None
        warm = run_pytest(command(project, "warm.xml"))
    assert record(project)["ppid"] == server.process.pid, "the run did not come from the warm server"
    assert warm.returncode == cold.returncode == 1
    assert outcomes(project / "warm.xml") == outcomes(project / "cold.xml") == {
        "test_passes": "passed", "test_rewritten_assert": "failed", "test_secret_is_masked": "failed",
        "test_fresh_process_and_record": "passed"}
    for done in (cold, warm):
        assert "assert 1 == 2" in done.stdout, done.stdout  # pytest rewrote the check module's asserts in the fork
        assert "2 failed, 2 passed" in done.stdout
        assert "cannot be rewritten" not in done.stdout + done.stderr  # the plugin was not preloaded
    for path in (project / "warm.xml", project / "cold.xml"):
        assert SECRET not in path.read_text() and "<failure" in path.read_text()  # the redaction plugin ran
    assert SECRET not in warm.stdout + warm.stderr


def test_each_run_is_a_process_of_its_own_with_the_callers_environment(project: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with warm_server():
        server = warm_checks._server
        assert server is not None
        seen = []
        for caller in ("first", "second"):
            monkeypatch.setenv("SEATRIAL_WARM_CALLER", caller)  # set after the server started
            done = run_pytest(command(project))
            assert done.returncode == 1, done.stdout  # test_fresh_process_and_record passed both times
            assert outcomes(project / "junit.xml")["test_fresh_process_and_record"] == "passed", done.stdout
            seen.append(record(project))
    assert [r["caller"] for r in seen] == ["first", "second"]
    assert seen[0]["pid"] != seen[1]["pid"] and {r["ppid"] for r in seen} == {server.process.pid}
    assert {r["cwd"] for r in seen} == {str(ROOT)}
    assert server.process.poll() is not None, "the server outlived its `with` block"


def test_a_server_that_died_leaves_a_fresh_interpreter(project: Path) -> None:
    with warm_server():
        server = warm_checks._server
        assert server is not None
        server.process.kill()
        server.process.wait()
        done = run_pytest(command(project))
        assert done.returncode == 1 and "2 failed, 2 passed" in done.stdout
        assert record(project)["ppid"] == os.getpid()
        assert server.broken  # and the next run does not try it again
        run_pytest(command(project))
        assert record(project)["ppid"] == os.getpid()


def test_the_switch_and_a_changed_start_up_leave_a_fresh_interpreter(project: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with warm_server():
        monkeypatch.setenv(OFF, "0")
        run_pytest(command(project))
        assert record(project)["ppid"] == os.getpid()
        monkeypatch.delenv(OFF)
        started_with = os.environ.get("PYTHONPATH")  # the server's: whatever this pytest was started with
        # a fresh interpreter would see another sys.path
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(project), started_with))))
        run_pytest(command(project))
        assert record(project)["ppid"] == os.getpid()
        if started_with is None:
            monkeypatch.delenv("PYTHONPATH")
        else:
            monkeypatch.setenv("PYTHONPATH", started_with)
        run_pytest(command(project))
        server = warm_checks._server
        assert server is not None and record(project)["ppid"] == server.process.pid


def test_the_server_preloads_libraries_only_and_has_one_thread() -> None:
    probe = ("import json, sys\nfrom seatrial.runbook.checking.warm_checks import os_threads, preload\npreload()\n"
             "print(json.dumps({'threads': os_threads(), 'modules': sorted(sys.modules)}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["threads"] == 1, "a process with threads must not fork (the Helm engine's Go runtime starts some)"
    modules = set(seen["modules"])
    assert {"pytest", "kubernetes", "boto3", "requests", "seatrial.runbook.clients.kube"} <= modules  # what it is for
    preloaded = sorted(m for m in modules if m.split(".")[0] in NEVER_PRELOADED or m in NEVER_PRELOADED)
    assert not preloaded, f"the warm server imported {preloaded}: pytest must import (and rewrite) them in the fork"
