"""Every benchmark of issues 13 and 22 in turn, then one table of its ratios against their targets (run by hand:
`make bench`; about 20 minutes on an idle 2-core machine, longer under load: issue 22's inventory at
100,000 artifacts takes about 5 of them, the rehearsal with 1 GiB in its volumes about 4, the same on the real
environment about 6: `make real-binaries` first).

    .venv/bin/python benchmarks/summary.py [--only idle,checks,rehearsal,rehearsal-real,blobs,inventory]
        [--sizes 10,1000]

Each benchmark runs as its own process (its own output is shown as it goes) and writes its ratios as JSON
(benchmarks/ratios.py). Exit 0 when every target is met, 1 otherwise, 2 when a benchmark itself failed.
Read the figures as ratios: absolute times depend on the machine and its load."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.ratios import load  # noqa: E402


def commands(sizes: str) -> dict[str, list[str]]:
    here = Path(__file__).resolve().parent
    return {
        "idle": [str(here / "bench_idle.py"), "--seconds", "60"],
        "checks": [str(here / "bench_checks.py"), "--sizes", sizes],
        "rehearsal": [str(here / "bench_rehearsal.py")],
        "rehearsal-real": [str(here / "bench_rehearsal.py"), "--env", "real"],
        "blobs": [str(here / "bench_blobs.py")],
        "inventory": [str(here / "bench_inventory.py")],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="idle,checks,rehearsal,rehearsal-real,blobs,inventory",
                        help="comma-separated benchmarks to run")
    parser.add_argument("--sizes", default="10,1000", help="PVC counts for the checks' benchmark")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    known = commands(args.sizes)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        print(f"--only: unknown benchmark(s) {unknown}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    ratios, broken = [], []
    with TemporaryDirectory(prefix="seatrial-bench-summary-") as tmp:
        for name in wanted:
            out = Path(tmp) / f"{name}.json"
            print(f"== {name}", flush=True)
            done = subprocess.run([sys.executable, *known[name], "--json", str(out)], cwd=PROJECT_ROOT,  # noqa: S603
                                  check=False)
            if done.returncode != 0 or not out.exists():
                broken.append(f"{name} (exit {done.returncode})")
                continue
            ratios += load(out)
    print("\n== issues 13 and 22: every ratio against its target")
    width = max((len(r.name) for r in ratios), default=10)
    for ratio in ratios:
        print(f"  {ratio.verdict:<7}  {ratio.name:<{width}}  {ratio.value:8.3g}  ({ratio.target_text})  {ratio.note}")
    if broken:
        print("  benchmarks that did not finish: " + ", ".join(broken))
        return 2
    return 0 if all(r.met for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
