"""Where the real environment's binaries are missing: one line saying how to build them, exit 2, nothing made;
a test marked `real` is skipped on a workstation and fails in CI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_up_without_binaries_says_how_to_build_them_and_makes_nothing(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SEATRIAL_REAL_BIN_DIR", str(tmp_path / "empty"))
    target = tmp_path / "env"
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.real", "up", "--dir", str(target)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seatrial: error: ") and "make real-binaries" in lines[0]
    assert "kube-apiserver" in lines[0] and "Traceback" not in done.stderr
    assert not target.exists()


def _run_marked_real_test(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_real.py"
    test.write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.real
        def test_needs_the_binaries():
            pass
    """))
    env = {"PATH": "/usr/bin:/bin", "SEATRIAL_REAL_BIN_DIR": str(tmp_path / "empty"), "HOME": str(tmp_path)}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "seatrial.fixtures.plugin", "-q", "-rs",
                           "-p", "no:cacheprovider", str(test)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env, check=False)


def test_a_real_test_is_skipped_on_a_workstation_with_the_build_command(tmp_path: Path):
    done = _run_marked_real_test(tmp_path, ci=False)
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout + done.stderr
    assert "make real-binaries" in done.stdout


def test_a_real_test_fails_in_ci_when_the_binaries_are_missing(tmp_path: Path):
    done = _run_marked_real_test(tmp_path, ci=True)
    assert done.returncode == 1 and "1 error" in done.stdout, done.stdout + done.stderr  # failed at setup
    assert "make real-binaries" in done.stdout and "During handling" not in done.stdout


def test_rehearse_without_the_velero_build_says_how_to_build_it_before_starting_anything(tmp_path: Path):
    """Without it the environment came up and the Velero chart's pre-install hook waited for a pod nothing runs,
    for the whole install timeout (5 minutes), before a one-line failure."""
    programs = tmp_path / "bin"
    programs.mkdir()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "versitygw"):
        (programs / name).write_text("#!/bin/sh\nexit 1\n")
        (programs / name).chmod(0o755)
    env = {**os.environ, "SEATRIAL_REAL_BIN_DIR": str(programs), "SEATRIAL_REAL_VELERO_DIR": str(tmp_path / "none")}
    root = tmp_path / "rehearsal"
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", "real", "--dir", str(root),
                           "--velero-chart", "12.1.0"], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "the real Velero of chart 12.1.0 is not built" in out and "--only velero-1.18,plugin-for-aws" in out
    assert "control plane up" not in out and "Traceback" not in out
    assert not (root / "kubeconfig").exists()


def test_a_target_storage_class_that_is_no_name_is_refused_in_one_line(tmp_path: Path):
    for command in (["-m", "seatrial.fixtures.real", "up", "--dir", str(tmp_path / "env")],
                    ["-m", "seatrial.fixtures.rehearse", "--env", "real", "--dir", str(tmp_path / "rehearsal")]):
        done = subprocess.run([sys.executable, *command, "--target-storage-class", "Ceph_RBD"], capture_output=True,
                              text=True, timeout=120, check=False)
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert "--target-storage-class 'Ceph_RBD': not a StorageClass name" in out and "Traceback" not in out
        assert "e.g. --target-storage-class ceph-rbd" in out
    assert not (tmp_path / "env").exists()


def test_the_target_storage_class_renames_the_targets_classes_and_maps_the_sources():
    from seatrial.fixtures.real.environment import RealEnvironment

    environment = RealEnvironment(Path("/nonexistent"), target_storage_class="ceph-rbd")
    assert environment.storage_class_mapping == {"rook-ceph-block": "ceph-rbd", "rook-ceph-block-wait": "ceph-rbd-wait"}
    assert RealEnvironment(Path("/nonexistent")).storage_class_mapping == {}
