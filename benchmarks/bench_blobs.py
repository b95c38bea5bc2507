"""Blob verification against `curl | openssl dgst -sha256` (run by hand, not in the suite).

A blob of each size is pushed to the real registry (docker-registry behind the Harbor-like token
service). Then, paired and alternated (medians printed), `curl -s URL | openssl dgst -sha256` with a pull
token fetched beforehand, against seatrial's `verify_blob` measured two ways:
- whole process: a child Python process from start to exit (interpreter start-up, imports and the token
  round trip included), with its peak RSS;
- in process: `verify_blob` timed inside this running process with the repository's token already held,
  which is how verify-harbor runs (one process, one token per repository, many blobs).
Then verify-harbor's pool (`seatrial.runbook.clients.blob_verification.verify_artifacts`):
- on loopback: `--artifacts` artifacts verified with 1 worker and with `--workers` (hashing bound: the
  ratio is capped by the cores);
- over a slow link: one artifact of `--layers` layers pulled through a proxy that caps each answer at
  `--link-mib` MiB/s and adds `--latency-ms` to each request (fixtures/faultproxy.py), 1 worker against
  `--workers`: a pool that reaches the network's speed approaches `--workers`x.

    .venv/bin/python benchmarks/bench_blobs.py [--sizes 128,1024] [--rounds 5] [--workers 4]

Targets (issue 13): throughput >= 0.8x curl | openssl; peak memory flat from 128 MiB to 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
MIB = 1 << 20
PASSWORD_ENV = "BENCH_REGISTRY_PASSWORD"


def child(url: str, username: str, repo: str, digest: str, size: int) -> None:
    """In its own process: verify one blob, print wall seconds and peak RSS."""
    from seatrial.runbook.clients.registry import RegistryClient
    from seatrial.runbook.secrets import Secret

    client = RegistryClient(url, username, Secret(os.environ[PASSWORD_ENV], "registry password"))
    started = time.perf_counter()
    assert client.verify_blob(repo, digest, size) == size
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "peak_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This program's own peak RSS. Linux's ru_maxrss survives exec: a child started from this (large) benchmark
    process would report the benchmark's RSS at the fork; VmHWM belongs to the new program alone."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
    return path


def seatrial_run(registry, repo: str, digest: str, size: int) -> tuple[float, float]:
    """(whole-process wall seconds, peak RSS MiB), as curl | openssl is timed: start-up included."""
    env = {**os.environ, PASSWORD_ENV: registry.password.reveal()}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", registry.url, registry.username, repo, digest,  # noqa: S603
                           str(size)], capture_output=True, text=True, env=env, check=True, cwd=PROJECT_ROOT)
    elapsed = time.perf_counter() - started
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return elapsed, answer["peak_mib"]


def in_process_run(client, repo: str, digest: str, size: int) -> float:
    """Wall seconds of `verify_blob` in this process; the client already holds the repository's pull token."""
    started = time.perf_counter()
    assert client.verify_blob(repo, digest, size) == size
    return time.perf_counter() - started


def curl_run(registry, repo: str, digest: str, header_file: Path) -> float:
    started = time.perf_counter()
    curl = subprocess.Popen(["curl", "-sf", "-H", f"@{header_file}", f"{registry.url}/v2/{repo}/blobs/{digest}"],  # noqa: S603,S607
                            stdout=subprocess.PIPE)
    dgst = subprocess.run(["openssl", "dgst", "-sha256"], stdin=curl.stdout, capture_output=True, text=True,  # noqa: S603,S607
                          check=True)
    curl.stdout.close()
    if curl.wait() != 0 or digest.split(":")[1] not in dgst.stdout:
        raise RuntimeError(f"curl | openssl did not reproduce {digest}: {dgst.stdout.strip()}")
    return time.perf_counter() - started


def bearer_header(registry, repo: str, directory: Path) -> Path:
    """A curl header file (-H @file) with a pull token: the token never appears in a command line."""
    import requests

    challenge = requests.get(f"{registry.url}/v2/", timeout=10).headers["Www-Authenticate"]
    params = dict(part.split("=", 1) for part in challenge.split(" ", 1)[1].split(","))
    params = {k: v.strip('"') for k, v in params.items()}
    answer = requests.get(params["realm"], params={"service": params.get("service", ""),
                                                   "scope": f"repository:{repo}:pull"},
                          auth=(registry.username, registry.password.reveal()), timeout=10)
    token = answer.json().get("token") or answer.json()["access_token"]
    path = directory / "auth-header"
    path.write_text(f"Authorization: Bearer {token}\n")
    path.chmod(0o600)
    return path


def start_up_seconds(rounds: int) -> float:
    """Median wall seconds of a Python process that only imports what the child needs: what verify-harbor pays
    once per run, and the whole-process figure pays once per blob."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import seatrial.runbook.clients.registry, seatrial.runbook.secrets"],
                       check=True,  # noqa: S603
                       cwd=PROJECT_ROOT)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def blob_throughput(registry, client, root: Path, mib: int, rounds: int) -> tuple[dict[str, float], float]:
    """Print the whole-process and in-process ratios for a blob of `mib` MiB; return them ("process",
    "in-process": seatrial's speed / curl | openssl's) and the child's peak RSS."""
    layer = random_file(root / f"layer-{mib}", mib * MIB)
    repo = f"bench/blob-{mib}"
    pushed = client.push_image(repo, "v1", [layer])
    layer.unlink()
    blob = max(pushed.blobs, key=lambda b: b.size)
    header = bearer_header(registry, repo, root)
    client.blob_exists(repo, blob.digest)  # the pull token verify_blob will reuse, as for every later blob
    runs: dict[str, list[float]] = {"process": [], "in-process": [], "curl": []}
    peak = 0.0
    for round_ in range(rounds):
        order = ["process", "curl", "in-process"]
        for kind in order if round_ % 2 == 0 else order[::-1]:
            if kind == "process":
                seconds, peak_mib = seatrial_run(registry, repo, blob.digest, blob.size)
                peak = max(peak, peak_mib)
            elif kind == "in-process":
                seconds = in_process_run(client, repo, blob.digest, blob.size)
            else:
                seconds = curl_run(registry, repo, blob.digest, header)
            runs[kind].append(seconds)
    median = {kind: statistics.median(times) for kind, times in runs.items()}
    reference = mib / median["curl"]
    ratios = {}
    for kind in ("process", "in-process"):
        speed = mib / median[kind]
        ratios[kind] = speed / reference
        print(f"{mib:>5} MiB blob, {kind + ':':<11} seatrial {speed:7.1f} MiB/s, curl | openssl {reference:7.1f} "
              f"MiB/s -> {ratios[kind]:.2f}x")
    print(f"{mib:>5} MiB blob: seatrial peak RSS {peak:.1f} MiB (whole process)")
    return ratios, peak


def pool_on_loopback(registry, client, root: Path, artifacts: int, artifact_mib: int, workers: int) -> None:
    wanted = []
    for index in range(artifacts):
        layer = random_file(root / "layer", artifact_mib * MIB)
        pushed = client.push_image(f"bench/pool-{index}", "v1", [layer])
        wanted.append((f"bench/pool-{index}", pushed.digest))
    layer.unlink()
    seconds = {count: timed_pool(registry.client, wanted, count) for count in (1, workers)}
    total = artifacts * artifact_mib
    print(f"pool on loopback: {artifacts} artifacts x {artifact_mib} MiB: 1 worker {total / seconds[1]:.1f} MiB/s, "
          f"{workers} workers {total / seconds[workers]:.1f} MiB/s -> {seconds[1] / seconds[workers]:.2f}x")


def pool_over_slow_link(registry, client, root: Path, layers: int, layer_mib: int, workers: int, link_mib: float,
                        latency_ms: float) -> float:
    from seatrial.fixtures.faultproxy import FaultProxy
    from seatrial.runbook.clients.registry import RegistryClient

    files = [random_file(root / f"slow-{index}", layer_mib * MIB) for index in range(layers)]
    pushed = client.push_image("bench/slow-link", "v1", files)
    for path in files:
        path.unlink()
    proxy = FaultProxy(registry.url, rate=link_mib * MIB, latency_s=latency_ms / 1000).start()
    try:
        def through_proxy() -> RegistryClient:
            return RegistryClient(proxy.url, registry.username, registry.password)

        wanted = [("bench/slow-link", pushed.digest)]
        seconds = {count: timed_pool(through_proxy, wanted, count) for count in (1, workers)}
    finally:
        proxy.stop()
    total = layers * layer_mib
    print(f"pool over a {link_mib:g} MiB/s-per-connection link (+{latency_ms:g} ms a request): one artifact of "
          f"{layers} x {layer_mib} MiB layers: 1 worker {total / seconds[1]:.1f} MiB/s, {workers} workers "
          f"{total / seconds[workers]:.1f} MiB/s -> {seconds[1] / seconds[workers]:.2f}x (ideal {workers}x)")
    return seconds[1] / seconds[workers]


def timed_pool(make_registry, wanted: list[tuple[str, str]], workers: int) -> float:
    from seatrial.runbook.clients.blob_verification import verify_artifacts

    started = time.perf_counter()
    outcomes = verify_artifacts(make_registry, wanted, workers)
    elapsed = time.perf_counter() - started
    assert all(not isinstance(o, Exception) for o in outcomes.values()), outcomes
    return elapsed


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6], int(sys.argv[6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,1024", help="blob sizes in MiB")
    parser.add_argument("--rounds", type=int, default=5, help="paired runs per size (medians are printed)")
    parser.add_argument("--artifacts", type=int, default=8, help="artifacts for the loopback pool comparison")
    parser.add_argument("--artifact-mib", type=int, default=32, help="size of each of those artifacts' layer")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--layers", type=int, default=8, help="layers of the artifact pulled over the slow link")
    parser.add_argument("--layer-mib", type=int, default=16, help="size of each of those layers")
    parser.add_argument("--link-mib", type=float, default=20, help="the slow link's cap per connection, MiB/s")
    parser.add_argument("--latency-ms", type=float, default=10, help="the slow link's added latency per request")
    parser.add_argument("--json", help="also write the ratios to this file (benchmarks/summary.py)")
    args = parser.parse_args()
    from benchmarks.ratios import Ratio, emit
    from seatrial.fixtures.registry.fixture import running_registry

    with TemporaryDirectory(prefix="seatrial-blobs-") as tmp:
        root = Path(tmp)
        with running_registry(root) as registry:
            client = registry.client()
            start_up_ms = start_up_seconds(max(5, args.rounds)) * 1000
            print(f"start-up (interpreter and imports, once per verify-harbor run): {start_up_ms:.0f} ms")
            measured = {mib: blob_throughput(registry, client, root, mib, args.rounds)
                        for mib in (int(s) for s in args.sizes.split(","))}
            ratios = []
            largest = max(measured)
            for mib, (speeds, _) in measured.items():
                # Throughput is judged where it dominates: in a running process (verify-harbor is one process for
                # every blob) and, whole process, at the largest blob. At a small blob the whole-process figure
                # measures the interpreter's start-up, paid once per run: shown, not judged.
                ratios.append(Ratio(f"blob verification {mib} MiB, whole process / curl | openssl",
                                    speeds["process"], ">=" if mib == largest else "info", 0.8,
                                    f"median of {args.rounds} paired runs; {start_up_ms:.0f} ms of start-up included"))
                ratios.append(Ratio(f"blob verification {mib} MiB, in process / curl | openssl",
                                    speeds["in-process"], ">=", 0.8,
                                    "verify_blob in a running process holding the token, as verify-harbor runs"))
            if len(measured) > 1:
                small, large = min(measured), max(measured)
                flat = measured[large][1] / measured[small][1]
                print(f"peak memory {large} MiB / {small} MiB blob: {flat:.2f}")
                ratios.append(Ratio(f"blob verification peak RSS, {large} MiB / {small} MiB blob", flat, "<=", 1.1,
                                    f"{measured[small][1]:.1f} and {measured[large][1]:.1f} MiB (VmHWM)"))
            pool_on_loopback(registry, client, root, args.artifacts, args.artifact_mib, args.workers)
            speed_up = pool_over_slow_link(registry, client, root, args.layers, args.layer_mib, args.workers,
                                           args.link_mib, args.latency_ms)
            ratios.append(Ratio(f"verify pool over a {args.link_mib:g} MiB/s link, {args.workers} workers / 1",
                                speed_up, ">=", 0.8 * args.workers,
                                f"{args.layers} layers of {args.layer_mib} MiB in one artifact; ideal {args.workers}"))
    emit(ratios, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
