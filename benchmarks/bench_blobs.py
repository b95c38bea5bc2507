"""Blob verification against `curl | openssl dgst -sha256` (run by hand, not in the suite).

A blob of each size is pushed to the real registry (docker-registry behind the Harbor-like token
service). Then, as whole processes, paired and alternated: seatrial's `verify_blob` (a child Python
process: wall time and peak RSS) and `curl -s URL | openssl dgst -sha256` with the same token. Last,
verify-harbor's pool: `--artifacts` artifacts verified with 1 worker and with `--workers`.

    .venv/bin/python benchmarks/bench_blobs.py [--sizes 128,1024] [--rounds 3] [--artifacts 8] [--workers 4]

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
    from runbook.registry import RegistryClient
    from runbook.secrets import Secret

    client = RegistryClient(url, username, Secret(os.environ[PASSWORD_ENV], "registry password"))
    started = time.perf_counter()
    assert client.verify_blob(repo, digest, size) == size
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


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


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6], int(sys.argv[6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,1024", help="blob sizes in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="paired runs per size (medians are printed)")
    parser.add_argument("--artifacts", type=int, default=8, help="artifacts for the pool comparison")
    parser.add_argument("--artifact-mib", type=int, default=32, help="size of each of those artifacts' layer")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    from fixtures.registry.fixture import running_registry
    from runbook.blob_verification import verify_artifacts

    with TemporaryDirectory(prefix="seatrial-blobs-") as tmp:
        root = Path(tmp)
        with running_registry(root) as registry:
            client = registry.client()
            peaks = {}
            for mib in (int(s) for s in args.sizes.split(",")):
                layer = random_file(root / f"layer-{mib}", mib * MIB)
                pushed = client.push_image(f"bench/blob-{mib}", "v1", [layer])
                layer.unlink()
                blob = max(pushed.blobs, key=lambda b: b.size)
                repo = f"bench/blob-{mib}"
                header = bearer_header(registry, repo, root)
                ours, theirs, peak = [], [], []
                for _ in range(args.rounds):
                    seconds, peak_mib = seatrial_run(registry, repo, blob.digest, blob.size)
                    ours.append(seconds)
                    peak.append(peak_mib)
                    theirs.append(curl_run(registry, repo, blob.digest, header))
                mine, reference = statistics.median(ours), statistics.median(theirs)
                peaks[mib] = max(peak)
                print(f"{mib:>5} MiB blob: seatrial {mib / mine:7.1f} MiB/s, curl | openssl {mib / reference:7.1f} "
                      f"MiB/s -> {reference / mine:.2f}x; seatrial peak RSS {peaks[mib]:.1f} MiB")
            if len(peaks) > 1:
                sizes = sorted(peaks)
                print(f"peak memory {sizes[-1]} MiB / {sizes[0]} MiB blob: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}")
            artifacts = []
            for index in range(args.artifacts):
                layer = random_file(root / "layer", args.artifact_mib * MIB)
                pushed = client.push_image(f"bench/pool-{index}", "v1", [layer])
                artifacts.append((f"bench/pool-{index}", pushed.digest))
            layer.unlink()
            timings = {}
            for workers in (1, args.workers):
                started = time.perf_counter()
                outcomes = verify_artifacts(registry.client, artifacts, workers)
                timings[workers] = time.perf_counter() - started
                assert all(not isinstance(o, Exception) for o in outcomes.values()), outcomes
            total = args.artifacts * args.artifact_mib
            print(f"pool: {args.artifacts} artifacts x {args.artifact_mib} MiB: 1 worker "
                  f"{total / timings[1]:.1f} MiB/s, {args.workers} workers "
                  f"{total / timings[args.workers]:.1f} MiB/s -> "
                  f"{timings[1] / timings[args.workers]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
