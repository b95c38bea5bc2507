"""Idle sandbox CPU (run by hand): start a sandbox with `python -m seatrial.fixtures.sandbox up`, let it settle,
then measure the CPU seconds that all of its processes (the serve process and every child in its
session: S3, registries) use over an idle window, and print it as a share of one core.

    .venv/bin/python benchmarks/bench_idle.py [--seconds 60] [--settle 10] [--pods 0]

`--pods N` adds a Deployment of N pods to the source cluster first (the idle cost must not grow
with the objects at rest). Target (issue 22; issue 13 had 2%): <= 1% of a core. The processes are named with
their share, so what still wakes up is visible (docs/performance.md says why each one does).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


TARGET_PERCENT = 1.0


def session_cpu(sid: int) -> dict[str, float]:
    """pid and command -> utime + stime (s) of every live process in session `sid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _, rest = (entry / "stat").read_text().rpartition(")")
            fields = rest.split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 (session) counted after the command name
            found[f"{entry.name} {command[:100]}"] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return found


def session_cpu_seconds(sid: int) -> float:
    """utime + stime of every live process in session `sid` (children included once they are reaped)."""
    return sum(session_cpu(sid).values())


def add_pods(kubeconfig: str, count: int) -> None:
    from seatrial.runbook.clients.kube import Cluster
    from seatrial.runbook.wait import wait_until

    source = Cluster(kubeconfig, "source")
    if source.get_or_none("v1", "Namespace", "bench") is None:
        source.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
    source.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "idle", "namespace": "bench"},
                   "spec": {"replicas": count, "selector": {"matchLabels": {"app": "idle"}},
                            "template": {"metadata": {"labels": {"app": "idle"}},
                                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    wait_until(lambda: sum(1 for p in source.list("v1", "Pod", "bench")
                           if (p.get("status") or {}).get("phase") == "Running") >= count,
               timeout=600, interval=1.0, what=f"{count} pods to run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window measured")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait after start-up first")
    parser.add_argument("--pods", type=int, default=0, help="extra pods at rest in the source cluster")
    parser.add_argument("--json", help="also write the ratio to this file (benchmarks/summary.py)")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_ROOT))
    with TemporaryDirectory(prefix="seatrial-idle-") as tmp:
        root = Path(tmp) / "sandbox"
        python = sys.executable
        subprocess.run([python, "-m", "seatrial.fixtures.sandbox", "up", "--dir", str(root)], check=True,
                       cwd=PROJECT_ROOT)
        try:
            from seatrial.fixtures.sandbox.__main__ import read_state

            state = read_state(root)
            pid = state["pid"]
            if args.pods:
                add_pods(state["kubeconfig"], args.pods)
            time.sleep(args.settle)
            sid = os.getsid(pid)
            before, started = session_cpu(sid), time.monotonic()
            time.sleep(args.seconds)
            after, elapsed = session_cpu(sid), time.monotonic() - started
            used = sum(after.values()) - sum(before.values())
            for process, seconds in sorted(after.items(), key=lambda item: item[1] - before.get(item[0], 0.0),
                                           reverse=True):
                print(f"  {(seconds - before.get(process, 0.0)) / elapsed:6.2%}  {process}")
        finally:
            subprocess.run([python, "-m", "seatrial.fixtures.sandbox", "down", "--dir", str(root)], check=False,
                           cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
    share = used / elapsed
    print(f"idle sandbox ({args.pods} extra pods): {used:.2f} CPU s over {elapsed:.0f} s = "
          f"{used / elapsed * 60:.2f} CPU s per idle minute = {share:.1%} of a core (target <= {TARGET_PERCENT:g}%)")
    from benchmarks.ratios import Ratio, emit

    emit([Ratio(f"idle sandbox ({args.pods} extra pods), % of one core", share * 100, "<=", TARGET_PERCENT,
                f"{used:.2f} CPU s of every sandbox process over {elapsed:.0f} s")], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
