"""benchmarks/summary.py: every ratio in one table with its verdict; a benchmark that breaks, or a scene whose checks
fail, is never read as a measurement (the checks' scene once measured 10 failing backup checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.ratios import Ratio

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_a_ratio_is_met_only_on_the_right_side_of_its_target():
    assert Ratio("idle", 1.7, "<=", 2.0).met and not Ratio("idle", 2.1, "<=", 2.0).met
    assert Ratio("blobs", 0.8, ">=", 0.8).met and not Ratio("blobs", 0.79, ">=", 0.8).met
    assert "NOT met" in Ratio("blobs", 0.5, ">=", 0.8, "128 MiB").line()
    shown = Ratio("requests", 1.33, "info", 1.2)  # shown beside a target, judged by none
    assert shown.met and "no target: info" in shown.line()


def test_the_summary_runs_the_checks_benchmark_and_prints_its_ratios():
    done = subprocess.run([sys.executable, "benchmarks/summary.py", "--only", "checks", "--sizes", "3,30"],  # noqa: S603
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout.split("every ratio against its target", 1)[1]
    for step in ("annotate", "backup", "restore"):
        assert f"met      {step} checks, calls 30/3 PVCs" in table, table
        assert f"info     {step} checks, HTTP requests 30/3 PVCs" in table, table
    assert "backup checks, wall time 30/3 PVCs" in table


def test_an_unknown_benchmark_is_refused_naming_the_choices():
    done = subprocess.run([sys.executable, "benchmarks/summary.py", "--only", "idel"], cwd=PROJECT_ROOT,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "idel" in done.stderr
    assert "idle, checks, rehearsal, rehearsal-real, blobs" in done.stderr


def test_every_benchmark_the_summary_runs_can_write_its_ratios():
    """The summary passes --json to each script: one that does not take it breaks `make bench` at its turn."""
    from benchmarks.summary import commands

    for name, command in commands("3,30").items():
        done = subprocess.run([sys.executable, command[0], "--help"], cwd=PROJECT_ROOT, capture_output=True,  # noqa: S603
                              text=True, timeout=60, check=False)
        assert done.returncode == 0 and "--json" in done.stdout, f"{name}: {done.stdout[-500:]}{done.stderr[-500:]}"
