"""The rehearsal against restic alone (run by hand, not in the suite).

1. Start the sandbox, copy the source Harbor's volume directories aside (the data the migration moves),
   run every step with its checks (`seatrial.runbook.migration.runner.run`, as `make rehearse`), stop the sandbox.
2. Restic alone on the same data: a fresh repository on moto (a child process), `restic backup` of each
   volume copy, then `restic restore` of each snapshot into an empty directory, one after the other.

    .venv/bin/python benchmarks/bench_rehearsal.py [--blob-size BYTES] [--artifacts N] [--volume-data 1GiB]

Prints both times and the ratio (target, issue 13: rehearsal <= 3x restic alone), with and without the
sandbox's start and stop; and seatrial's own share of the freeze window (target, issue 22: under 20%), the
window less Velero's Backup and Restore, as the report gives it. `--volume-data` (default 1GiB) puts that much
random data in the source's volumes, as `make rehearse VOLUME_DATA=1GiB` does: with the sandbox's 1.3 MiB alone,
Velero's part of the window is a few seconds and the share measures nothing a migration would see.
`SEATRIAL_WARM_CHECKS=0` runs each step's checks in a fresh `python -m pytest`
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


def rehearse(root: Path, copies: Path, *, env: str = "sandbox", **sandbox_options) -> tuple[float, float, int, dict]:
    """(seconds of the steps and their checks, seconds of the environment's start + stop, exit code, the journal's
    steps). `env`: sandbox, or real (the real control plane and the real Velero: `make real-binaries` first)."""
    from seatrial.runbook.config import load_config
    from seatrial.runbook.migration.runner import run
    from seatrial.runbook.migration.steps.context import StepContext

    started = time.perf_counter()
    if env == "real":
        from seatrial.fixtures.real.environment import RealEnvironment
        from seatrial.fixtures.real.rehearse import use_kopia_cli

        sandbox = RealEnvironment(root, volume_data=sandbox_options.get("volume_data", 0),
                                  velero_chart_version=sandbox_options.get("velero_chart_version", "10.1.3"),
                                  progress=lambda line: None)
        sandbox.start()
        if sandbox.uploader == "kopia":
            use_kopia_cli(print)
        volumes_root = sandbox.clusters["source"].root / "pv"
    else:
        from seatrial.fixtures.sandbox.environment import Sandbox

        sandbox = Sandbox(root, **sandbox_options)
        sandbox.start()
        volumes_root = sandbox.source.volumes_root
    up = time.perf_counter() - started
    try:
        shutil.copytree(volumes_root, copies, symlinks=True)
        ctx = StepContext(load_config(sandbox.config_path), yes=True, out=lambda line: None)
        started = time.perf_counter()
        code = run(ctx)
        steps = time.perf_counter() - started
        journal_steps = ctx.journal.read()["steps"]
    finally:
        started = time.perf_counter()
        sandbox.stop()
        down = time.perf_counter() - started
    return steps, up + down, code, journal_steps


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
    parser.add_argument("--volume-data", default="1GiB", help="random data in the source's volumes (0 for none)")
    parser.add_argument("--env", choices=("sandbox", "real"), default="sandbox",
                        help="real: the real control plane and the real Velero run by the process runner")
    parser.add_argument("--velero-chart", default="10.1.3", help="with --env real: 10.1.3 (restic) or 12.1.0 (kopia)")
    parser.add_argument("--json", help="also write the ratios to this file (benchmarks/summary.py)")
    args = parser.parse_args()
    from seatrial.runbook.migration.report import parse_size

    volume_data = 0 if args.volume_data.strip() in ("0", "") else parse_size(args.volume_data, "--volume-data", "1GiB")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request would bury the result
    with TemporaryDirectory(prefix="seatrial-rehearsal-bench-") as tmp:
        root = Path(tmp)
        options = ({"volume_data": volume_data, "velero_chart_version": args.velero_chart} if args.env == "real"
                   else {"blob_size": args.blob_size, "artifacts": args.artifacts, "volume_data": volume_data})
        steps, up_down, code, journal_steps = rehearse(root / args.env, root / "copies", env=args.env, **options)
        if code != 0:
            print(f"the rehearsal was not green (exit {code}); its time would mean nothing")
            return 1
        alone, volumes, size = restic_alone(root / "copies", root / "alone")
    label = "rehearsal" if args.env == "sandbox" else f"rehearsal on real (Velero chart {args.velero_chart})"
    print(f"{label}: steps and checks {steps:.1f} s (+ {args.env} start/stop {up_down:.1f} s); "
          f"restic alone: {alone:.1f} s for {volumes} volumes, {size / 2**20:.1f} MiB")
    print(f"ratio rehearsal / restic alone: {steps / alone:.2f} (target <= 3); "
          f"with the {args.env}'s start and stop: {(steps + up_down) / alone:.2f}")
    from benchmarks.ratios import Ratio, emit
    from seatrial.runbook.migration.window import window

    frozen = window(journal_steps)
    print(f"freeze window {frozen.seconds:.0f} s: Velero's backup {frozen.backup_s:.0f} s and restore "
          f"{frozen.restore_s:.0f} s, seatrial's own {frozen.seatrial_s:.0f} s = {frozen.seatrial_share:.0%} "
          "(target < 20%)")
    mib = size / 2**20
    print(f"Velero's throughput: backup {mib / max(frozen.backup_s, 1e-9):.1f} MiB/s, restore "
          f"{mib / max(frozen.restore_s, 1e-9):.1f} MiB/s ({mib:.0f} MiB, whole Backup and Restore)")
    emit([Ratio(f"{label} steps and checks / restic alone", steps / alone, "<=", 3.0,
                f"{steps:.1f} s vs {alone:.1f} s for {volumes} volumes, {size / 2**20:.1f} MiB; "
                f"{(steps + up_down) / alone:.2f} with the {args.env}'s start and stop; Velero backup "
                f"{mib / max(frozen.backup_s, 1e-9):.1f} MiB/s, restore {mib / max(frozen.restore_s, 1e-9):.1f} MiB/s"),
          Ratio(f"{label}: seatrial's own share of the freeze window", frozen.seatrial_share, "<=", 0.2,
                f"{frozen.seatrial_s:.0f} s of {frozen.seconds:.0f} s; Velero's backup {frozen.backup_s:.0f} s, "
                f"restore {frozen.restore_s:.0f} s; {size / 2**20:.0f} MiB in the volumes")], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
