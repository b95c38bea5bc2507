"""Harbor at its real size (issue 22): the golden inventory, inventory parity and verify-harbor's sampling
against the Harbor twin holding a synthetic scene (seatrial/fixtures/harbor/scale.py) of 1k, 10k, 100k artifacts.

    .venv/bin/python benchmarks/bench_inventory.py [--sizes 1000,10000,100000] [--fraction 0.01] [--json FILE]

Each size: the scene is built (10 artifacts per repository, 100 repositories per project) in a tmpfs when the
machine has one (100,000 manifests are 400,000 small files: a disk's metadata, not seatrial, would be measured),
served by the twin in its own process, and each operation runs in a fresh process of its own, so its peak
memory (ru_maxrss, the whole interpreter included) is its own:
- golden: take_inventory of the source, written to its file (Inventory.write, streamed);
- parity: take_inventory of the target, the golden file read back, diff by digest (the twin is both sides);
- sampling: `--fraction` of the golden artifacts (the checks' own deterministic sample) pulled and
  digest-verified with verify_artifacts and harbor.verify_workers' default.
Requests are counted at the client (every HTTP request the process sends) against the minimum Harbor's page
size of 100 allows: 1 page of projects per 100, per project 1 page of repositories per 100, per repository 1
page of artifacts per 100; for the sampling, each manifest once (an index's children too), each distinct blob
once per repository that links it (GET through the first, HEAD through the others), and one token per repository.
Targets (issue 22): requests <= 1.1 x the minimum; 100k inventory < 60 s; peak memory < 256 MiB; wall time linear
(100k / 10k <= 10 x 1.3)."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

REPOSITORY_ARTIFACTS = 10
PROJECT_REPOSITORIES = 100
MEMORY_LIMIT_MIB = 256
INVENTORY_100K_LIMIT_S = 60
LINEAR_SLACK = 1.3


# ------------------------------------------------------------------ the measuring child
def _count_requests() -> Counter[str]:
    """Every request this process sends, by method; counted where requests hands it to the connection pool."""
    import requests.adapters

    counts: Counter[str] = Counter()
    send = requests.adapters.HTTPAdapter.send

    def counted(self, request, *args, **kwargs):
        counts[request.method] += 1
        return send(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = counted
    return counts


def measure(operation: str, url: str, golden_path: Path, fraction: float, scene: Path) -> dict:
    from seatrial.runbook.clients.harbor import HarborClient
    from seatrial.runbook.migration.inventory import Inventory, diff, take_inventory
    from seatrial.runbook.secrets import Secret

    password = Secret(os.environ["SEATRIAL_SCALE_PASSWORD"], "Harbor admin password")
    counts = _count_requests()
    started = time.perf_counter()
    figures: dict = {}
    with HarborClient(url, "admin", password) as client:
        if operation == "golden":
            inventory = take_inventory(client)
            inventory.write(golden_path)
            figures["minimum"] = _listing_minimum(inventory)
        elif operation == "parity":
            observed = take_inventory(client)
            differences = diff(Inventory.read(golden_path), observed)
            figures.update(minimum=_listing_minimum(observed), differences=len(differences))
        else:
            figures.update(_sample(url, password, Inventory.read(golden_path), fraction, scene))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.update(seconds=time.perf_counter() - started, requests=sum(counts.values()),
                   cpu_s=usage.ru_utime + usage.ru_stime, peak_mib=usage.ru_maxrss / 1024)
    return figures


def _listing_minimum(inventory) -> int:
    pages = max(1, math.ceil(len(inventory.projects) / 100))
    for project in inventory.projects.values():
        pages += max(1, math.ceil(len(project.repositories) / 100))
        pages += sum(max(1, math.ceil(_listed(artifacts) / 100)) for artifacts in project.repositories.values())
    return pages


def _listed(artifacts: dict) -> int:
    """What Harbor's listing pages over: accessories come nested in their subject, not as items."""
    return sum(1 for a in artifacts.values() if not a.subject)


def _sample(url: str, password, golden, fraction: float, scene: Path) -> dict:
    from seatrial.runbook.clients.blob_verification import verify_artifacts
    from seatrial.runbook.clients.registry import RegistryClient
    from seatrial.runbook.config import HarborConfig

    records = golden.artifact_records()
    chosen = [(r["repository"], r["digest"]) for r in records
              if int(r["digest"].split(":")[1][:8], 16) / 0xFFFFFFFF < fraction]  # seatrial.checks.golden's sample
    del records
    workers = HarborConfig.__dataclass_fields__["verify_workers"].default
    outcomes = verify_artifacts(lambda: RegistryClient(url, "admin", password), chosen, workers)
    failed = [key for key, outcome in outcomes.items() if isinstance(outcome, Exception)]
    manifests, blob_links = 0, set()
    for repo, digest in chosen:
        manifests += _named_blobs(scene, repo, digest, blob_links)
    return {"sampled": len(chosen), "failed": len(failed), "workers": workers,
            "minimum": manifests + len(blob_links) + len({repo for repo, _ in chosen})}


def _named_blobs(scene: Path, repo: str, digest: str, found: set) -> int:
    """The manifests an artifact is made of (read from the scene's storage, not over HTTP), adding the
    (repository, blob) pairs they name to `found`."""
    hexa = digest.split(":", 1)[1]
    manifest = json.loads((scene / "registry" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexa[:2] / hexa
                           / "data").read_bytes())
    count = 1
    for child in manifest.get("manifests") or []:
        count += _named_blobs(scene, repo, child["digest"], found)
    for blob in [manifest.get("config"), *(manifest.get("layers") or [])]:
        if blob:
            found.add((repo, blob["digest"]))
    return count


# ------------------------------------------------------------------ the driver
def _scene_root() -> Path:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="seatrial-bench-inventory-", dir=base))


def run_size(size: int, fraction: float, root: Path, env: dict[str, str]) -> dict:
    scene = root / f"scene-{size}"
    repositories = max(1, size // REPOSITORY_ARTIFACTS)
    projects = max(1, repositories // PROJECT_REPOSITORIES)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seatrial.fixtures.harbor.scale", "build", "--dir", str(scene),  # noqa: S603
                    "--projects", str(projects), "--repositories", str(repositories), "--artifacts", str(size)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    built = time.perf_counter() - started
    twin = subprocess.Popen([sys.executable, "-m", "seatrial.fixtures.harbor.scale", "serve", "--dir", str(scene)],  # noqa: S603
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        url = json.loads(twin.stdout.readline())["url"]
        results = {"size": size, "projects": projects, "repositories": repositories, "build_s": built}
        for operation in ("golden", "parity", "sampling"):
            done = subprocess.run([sys.executable, __file__, "--measure", operation, "--url", url,  # noqa: S603
                                   "--golden", str(root / f"golden-{size}.json"), "--fraction", str(fraction),
                                   "--scene", str(scene)],
                                  check=True, env=env, capture_output=True, text=True)
            results[operation] = json.loads(done.stdout.strip().splitlines()[-1])
        return results
    finally:
        twin.stdin.close()
        twin.wait(timeout=60)
        shutil.rmtree(scene, ignore_errors=True)


def ratios(runs: list[dict]) -> list:
    from benchmarks.ratios import Ratio

    found = []
    for run in runs:
        size = run["size"]
        for operation in ("golden", "parity", "sampling"):
            figures = run[operation]
            found.append(Ratio(f"inventory {size:,}: {operation} requests / minimum",
                               figures["requests"] / max(1, figures["minimum"]), "<=", 1.1,
                               f"{figures['requests']} vs {figures['minimum']}; {figures['seconds']:.1f} s"))
            found.append(Ratio(f"inventory {size:,}: {operation} peak memory, MiB", figures["peak_mib"], "<=",
                               MEMORY_LIMIT_MIB, "ru_maxrss of the process, interpreter included"))
    by_size = {run["size"]: run for run in runs}
    if 100_000 in by_size:
        seconds = by_size[100_000]["golden"]["seconds"]
        found.append(Ratio("inventory 100,000: golden inventory, s", seconds, "<=", INVENTORY_100K_LIMIT_S,
                           "take_inventory + streamed write, against the twin"))
    sizes = sorted(by_size)
    for small, large in zip(sizes, sizes[1:], strict=False):
        if small < 1000:
            continue
        for operation in ("golden", "parity"):
            growth = by_size[large][operation]["seconds"] / by_size[small][operation]["seconds"]
            found.append(Ratio(f"inventory {operation}: wall {large:,} / {small:,} per artifact",
                               growth / (large / small), "<=", LINEAR_SLACK,
                               f"{by_size[large][operation]['seconds']:.1f} s vs "
                               f"{by_size[small][operation]['seconds']:.1f} s"))
            cpu = by_size[large][operation]["cpu_s"] / max(by_size[small][operation]["cpu_s"], 0.01)
            found.append(Ratio(f"inventory {operation}: seatrial's CPU {large:,} / {small:,} per artifact",
                               cpu / (large / small), "info", LINEAR_SLACK,
                               "the measuring process alone (the twin's share of the wall time left out)"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="artifact counts, comma-separated")
    parser.add_argument("--fraction", type=float, default=0.01, help="verify-harbor's sampled share")
    parser.add_argument("--json", help="also write the ratios to this file (benchmarks/summary.py)")
    parser.add_argument("--measure", choices=("golden", "parity", "sampling"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--golden", help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, Path(args.golden), args.fraction, Path(args.scene))))
        return 0
    env = {**os.environ, "SEATRIAL_SCALE_PASSWORD": secrets.token_urlsafe(16)}
    root = _scene_root()
    runs = []
    try:
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            run = run_size(size, args.fraction, root, env)
            runs.append(run)
            print(f"{size:>7,} artifacts ({run['projects']} projects, {run['repositories']} repositories; scene "
                  f"built in {run['build_s']:.0f} s)", flush=True)
            for operation in ("golden", "parity", "sampling"):
                f = run[operation]
                extra = (f" {f['sampled']} sampled, {f['failed']} failed" if operation == "sampling"
                         else f" {f['differences']} differences" if operation == "parity" else "")
                print(f"  {operation:<9} {f['requests']:>7} requests (minimum {f['minimum']}), {f['seconds']:6.1f} s "
                      f"(seatrial's CPU {f['cpu_s']:.1f} s), peak {f['peak_mib']:.0f} MiB{extra}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    from benchmarks.ratios import emit

    emit(ratios(runs), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
