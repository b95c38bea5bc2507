"""The rehearsal against restic alone (run by hand, not in the suite).

1. Start the sandbox, copy the source Harbor's volume directories aside (the data the migration moves),
   run every step with its checks (`seatrial.runbook.migration.runner.run`, as `make rehearse`), stop the sandbox.
2. Restic alone on the same data: a fresh repository on moto (a child process), `restic backup` of each
   volume copy, then `restic restore` of each snapshot into an empty directory, one after the other.

    .venv/bin/python benchmarks/bench_rehearsal.py [--blob-size BYTES] [--artifacts N]

Prints both times and the ratio (target, issue 13: rehearsal <= 3x restic alone), with and without the
sandbox's start and stop. `SEATRIAL_WARM_CHECKS=0` runs each step's checks in a fresh `python -m pytest`
instead of a fork of the warm check server (seatrial.runbook/warm_checks.py): the difference is the start-up it saves.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))


def rehearse(root: Path, copies: Path, **sandbox_options) -> tuple[float, float, int]:
    """(seconds of the steps and their checks, seconds of sandbox start + stop, exit code)."""
    from seatrial.fixtures.sandbox.environment import Sandbox
    from seatrial.runbook.config import load_config
    from seatrial.runbook.migration.runner import run
    from seatrial.runbook.migration.steps.context import StepContext

    started = time.perf_counter()
    sandbox = Sandbox(root, **sandbox_options)
    sandbox.start()
    up = time.perf_counter() - started
    try:
        shutil.copytree(sandbox.source.volumes_root, copies)
        ctx = StepContext(load_config(sandbox.config_path), yes=True, out=lambda line: None)
        started = time.perf_counter()
        code = run(ctx)
        steps = time.perf_counter() - started
    finally:
        started = time.perf_counter()
        sandbox.stop()
        down = time.perf_counter() - started
    return steps, up + down, code


def restic_alone(copies: Path, work: Path) -> tuple[float, int, int]:
    """(seconds, volumes, bytes) to back up every volume copy and restore each into an empty directory."""
    from seatrial.fixtures.s3server import MotoProcess
    from seatrial.runbook.clients.restic import Restic
    from seatrial.runbook.clients.s3 import s3_client
    from seatrial.runbook.secrets import Secret

    volumes = sorted(p for p in copies.iterdir() if p.is_dir())
    size = sum(f.stat().st_size for v in volumes for f in v.rglob("*") if f.is_file())
    s3 = MotoProcess()
    try:
        key, secret = Secret("bench", "access key"), Secret("bench-secret", "secret key")
        s3_client(s3.endpoint, region="us-east-1", access_key=key, secret_key=secret).create_bucket(Bucket="alone")
        restic = Restic(f"s3:{s3.endpoint}/alone/restic/harbor", Secret(uuid.uuid4().hex, "repository password"),
                        env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                             "AWS_DEFAULT_REGION": "us-east-1"})
        started = time.perf_counter()
        restic.init()
        snapshots = [restic.backup(volume, {"volume": volume.name}).snapshot_id for volume in volumes]
        for index, snapshot in enumerate(snapshots):
            restic.restore(snapshot, work / f"restored-{index}")
        return time.perf_counter() - started, len(volumes), size
    finally:
        s3.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blob-size", type=int, default=64 * 1024, help="sandbox Harbor blob size (bytes)")
    parser.add_argument("--artifacts", type=int, default=2, help="sandbox Harbor artifacts per repository")
    parser.add_argument("--json", help="also write the ratios to this file (benchmarks/summary.py)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request would bury the result
    with TemporaryDirectory(prefix="seatrial-rehearsal-bench-") as tmp:
        root = Path(tmp)
        steps, up_down, code = rehearse(root / "sandbox", root / "copies", blob_size=args.blob_size,
                                        artifacts=args.artifacts)
        if code != 0:
            print(f"the rehearsal was not green (exit {code}); its time would mean nothing")
            return 1
        alone, volumes, size = restic_alone(root / "copies", root / "alone")
    print(f"rehearsal: steps and checks {steps:.1f} s (+ sandbox start/stop {up_down:.1f} s); "
          f"restic alone: {alone:.1f} s for {volumes} volumes, {size / 2**20:.1f} MiB")
    print(f"ratio rehearsal / restic alone: {steps / alone:.2f} (target <= 3); "
          f"with the sandbox's start and stop: {(steps + up_down) / alone:.2f}")
    from benchmarks.ratios import Ratio, emit

    emit([Ratio("rehearsal steps and checks / restic alone", steps / alone, "<=", 3.0,
                f"{steps:.1f} s vs {alone:.1f} s for {volumes} volumes, {size / 2**20:.1f} MiB; "
                f"{(steps + up_down) / alone:.2f} with the sandbox's start and stop")], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
