"""`make rehearse ENV=kind` with the stand-ins first on PATH: the whole rehearsal through the kind path, and the
teardown after a step fails in the middle."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from seatrial.fixtures.kind import rehearse as kind_rehearse
from seatrial.fixtures.kind.environment import KindEnvironment

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_make_rehearse_env_kind_runs_the_kind_path():
    done = subprocess.run(["make", "-n", "rehearse", "ENV=kind", "DIR=/tmp/k", "KIND_OPTS=--keep --uploader restic"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    command = " ".join(done.stdout.split())  # make leaves a space where an unset option would be
    assert "seatrial rehearse --env kind --dir /tmp/k --keep --uploader restic" in command, done.stdout


def test_a_step_failing_in_the_middle_exports_the_logs_and_removes_everything(kind_standins, tmp_path, monkeypatch):
    """The clusters are empty (no installer here), so preflight fails: the rehearsal stops in the middle."""
    monkeypatch.setattr(kind_rehearse, "KindEnvironment",
                        functools.partial(KindEnvironment, installer=lambda request: True))
    lines: list[str] = []
    code = kind_rehearse.rehearse_in_kind(tmp_path / "env", [], out=lines.append)
    output = "\n".join(lines)
    assert code != 0, output
    assert "kopia cannot run with the stand-ins" in output  # chart 10.1.3 with restic was chosen
    assert f"logs: {tmp_path / 'env' / 'logs'}" in output
    assert (tmp_path / "env" / "logs" / "seatrial-source").is_dir()
    assert (tmp_path / "env" / "logs" / "seatrial-target").is_dir()
    assert (tmp_path / "env" / "run" / "report.md").exists()
    assert kind_standins.running() == []
    assert not (tmp_path / "env" / "kind.json").exists()
    assert_no_secret_outside_its_files(tmp_path / "env", {"output": output, "calls": kind_standins.commands()})


def assert_no_secret_outside_its_files(env: Path, texts: dict) -> None:
    """The S3 keys and the Harbor password only in their 0600 files, nowhere else under `env` nor in `texts`."""
    secret_files = {"credentials-velero", "harbor-admin-password"}  # no env file: the keys go as docker -e NAME
    secrets = [line.split("=", 1)[1] for line in (env / "credentials-velero").read_text().splitlines() if "=" in line]
    secrets.append((env / "harbor-admin-password").read_text().strip())
    texts = {name: str(text) for name, text in texts.items()}
    texts |= {str(p): p.read_text(errors="replace") for p in env.rglob("*")
              if p.is_file() and p.name not in secret_files and p.suffix != ".tar"}
    for value in secrets:
        leaked = [name for name, text in texts.items() if value in text]
        assert leaked == [], f"a secret value is in {leaked}"


@pytest.mark.slow
def test_rehearse_env_kind_with_the_stand_ins_is_green_end_to_end(kind_standins, tmp_path):
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "kind", "--dir",
                           str(tmp_path / "env")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "all steps green" in done.stdout and "rehearsal on kind green" in done.stdout
    commands = kind_standins.commands()
    assert any(c.startswith("kind create cluster --name=seatrial-source") for c in commands)
    assert commands[-3:] == ["kind delete cluster --name=seatrial-source", "kind delete cluster --name=seatrial-target",
                             "docker rm --force --volumes seatrial-s3"]
    assert kind_standins.running() == []
    assert_no_secret_outside_its_files(tmp_path / "env", {"output": done.stdout + done.stderr,
                                                          "calls.jsonl": kind_standins.commands()})


@pytest.mark.slow
def test_pytest_seatrial_env_kind_gives_the_rehearsal_the_kind_environment(kind_standins, tmp_path):
    """`pytest --seatrial-rehearse --seatrial-env kind`: the same session as on the sandbox, on the kind path."""
    junit = tmp_path / "rehearsal.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "--seatrial-rehearse", "--seatrial-env", "kind", "-q",
                           "-p", "no:cacheprovider", f"--junitxml={junit}", f"--basetemp={tmp_path / 'base'}"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout and "skipped" not in done.stdout
    assert any(c.startswith("kind create cluster --name=seatrial-target") for c in kind_standins.commands())
    # the session removed the environment
    assert kind_standins.commands()[-1] == "docker rm --force --volumes seatrial-s3"
    assert kind_standins.running() == []
    assert "test_backup_completed" in junit.read_text()  # the checks' suites are in the session's JUnit
