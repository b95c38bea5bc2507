"""The CLI's commands: thin handlers over the runner, the steps, the journal and the report."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from seatrial.runbook.config import Config
from seatrial.runbook.migration.runner import run, run_checks, run_step, step_module
from seatrial.runbook.migration.steps import EXTRA_STEPS, STEP_ORDER
from seatrial.runbook.migration.steps.context import StepContext


def _context(args: argparse.Namespace, config: Config) -> StepContext:
    return StepContext(config, yes=getattr(args, "yes", False), dry_run=getattr(args, "dry_run", False),
                       keep_frozen=getattr(args, "keep_frozen", False),
                       rollback_on_failure=getattr(args, "rollback_on_failure", False))


def plan_command(args: argparse.Namespace, config: Config) -> int:
    ctx = _context(args, config)
    for index, step in enumerate(STEP_ORDER, 1):
        print(f"{index}. {step}")
        for line in step_module(step).plan(ctx):
            print(f"     {line}")
        print(f"     checks: checks/test_{step.replace('-', '_')}.py")
    for step in EXTRA_STEPS:
        print(f"on request (not part of run): seatrial {step}")
        for line in step_module(step).plan(ctx):
            print(f"     {line}")
    return 0


def run_command(args: argparse.Namespace, config: Config) -> int:
    return run(_context(args, config), from_step=args.from_step, until_step=args.until_step)


def step_command(args: argparse.Namespace, config: Config) -> int:
    ctx = _context(args, config)
    with ctx.journal.lock():
        return run_step(ctx, args.name, redo=True)


def verify_command(args: argparse.Namespace, config: Config) -> int:
    ctx = _context(args, config)
    step_module(args.name)
    result = run_checks(ctx, args.name)
    if result.exit_code and not result.failed:
        print(f"{args.name}: no check could run:\n{result.why_not_run()}")
        return result.exit_code
    print(f"{args.name}: {result.passed} passed, {len(result.failed)} failed")
    for name, message in result.failed:
        print(f"  FAILED {name}")
        for line in message.strip().splitlines():
            print(f"    {line}")
    return result.exit_code


FAILED_STATUSES = ("failed", "error", "unreachable")


def status_command(args: argparse.Namespace, config: Config) -> int:
    """Exit 1 when the journal's last attempt at a step did not pass (0 otherwise, also for a run not begun)."""
    ctx = _context(args, config)
    data = ctx.journal.read()
    failed = [step for step, entry in data["steps"].items() if entry.get("status") in FAILED_STATUSES]
    if getattr(args, "output", "text") == "json":
        from seatrial.runbook.migration.window import window

        print(json.dumps({"run_dir": str(config.run_dir), "failed_steps": failed, **data,
                          "freeze_window": window(data["steps"]).to_json()}, indent=2, sort_keys=True))
        return 1 if failed else 0
    print(f"run directory: {config.run_dir}")
    for kind, name in sorted(data.get("names", {}).items()):
        print(f"  {kind}: {name}")
    for step in STEP_ORDER + EXTRA_STEPS:
        entry = data["steps"].get(step)
        if entry:
            stamp = next((t for t in (entry.get("ended"), entry.get("started")) if isinstance(t, int | float)), None)
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else ""
            print(f"  {step:14} {entry.get('status') or '-':11} {when}")
        else:
            print(f"  {step:14} not run")
    if failed:
        print(f"failed: {', '.join(failed)} (seatrial -c {config.path} run resumes there)")
    return 1 if failed else 0


def report_command(args: argparse.Namespace, config: Config) -> int:
    from seatrial.runbook.migration.report import DEFAULT_PROJECTION, parse_size, write_report

    size = getattr(args, "project_size", None)
    project = parse_size(size) if size is not None else DEFAULT_PROJECTION
    md, page = write_report(config, _context(args, config).journal, project=project)
    print(f"report: {md}\n        {page}")
    return 0


def reset_target_command(args: argparse.Namespace, config: Config) -> int:
    """Not confirmed (no --yes, no terminal, or answered no) is a BadInput: exit 2, nothing deleted."""
    ctx = _context(args, config)
    with ctx.journal.lock():
        step_module("reset-target").apply(ctx)
    return 0


def rehearse_command(args: argparse.Namespace, config: Config | None) -> int:
    """The rehearsal lives with the environments (fixtures/); run it as its own program."""
    command = [sys.executable, "-m", "seatrial.fixtures.rehearse", "--env", args.env]
    if getattr(args, "dir", None):
        command += ["--dir", args.dir]
    if getattr(args, "volume_data", None) is not None:
        command += ["--volume-data", args.volume_data]
    return subprocess.run(command, check=False).returncode
