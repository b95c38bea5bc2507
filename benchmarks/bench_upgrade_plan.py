"""Benchmark `seatrial upgrade-plan` as CI runs it: two vendored chart versions, no cluster (run by hand).

    .venv/bin/python benchmarks/bench_upgrade_plan.py [--from 1.6.4] [--to 1.7.5] [--runs 3]

Times the whole command (a fresh process: engine load, both renders, the fix proven by rendering again, the
pytest checks with JUnit) and, in-process, the plan alone. Target: under 10 s for the command.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / "seatrial" / "charts"
TARGET_S = 10.0


def command_seconds(old: str, new: str, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "seatrial.runbook.cli", "upgrade-plan", "--chart",
               str(CHARTS / f"harbor-{new}.tgz"),
               "--from-chart", str(CHARTS / f"harbor-{old}.tgz"), "--release", "my-harbor", "--namespace", "harbor",
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    return time.perf_counter() - started, done.returncode


def plan_seconds(old: str, new: str) -> float:
    from seatrial.runbook.clients import helm
    from seatrial.runbook.upgrade.planner import chart_side, make_plan

    started = time.perf_counter()
    deployed = chart_side(helm.load_chart(CHARTS / f"harbor-{old}.tgz"), {}, release="my-harbor", namespace="harbor",
                          upgrade=False)
    make_plan(deployed, helm.load_chart(CHARTS / f"harbor-{new}.tgz"), {}, release="my-harbor", namespace="harbor")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="old", default="1.6.4")
    parser.add_argument("--to", dest="new", default="1.7.5")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        runs = [command_seconds(args.old, args.new, Path(tmp) / f"out{i}") for i in range(args.runs)]
    seconds = [s for s, _ in runs]
    plans = [plan_seconds(args.old, args.new) for _ in range(args.runs)]
    median = statistics.median(seconds)
    print(f"upgrade-plan harbor {args.old} -> {args.new}, no cluster, {args.runs} runs (exit {runs[0][1]}):")
    print(f"  command (fresh process, checks + JUnit): median {median:.2f} s, max {max(seconds):.2f} s "
          f"(target < {TARGET_S:.0f} s: {'met' if max(seconds) < TARGET_S else 'MISSED'})")
    print(f"  plan alone (renders, guard, fix proven by rendering again): median {statistics.median(plans):.2f} s")
    return 0 if max(seconds) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
