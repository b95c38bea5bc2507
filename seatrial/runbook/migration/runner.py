"""Runs the steps in order, each gated by its checks, with a journal to resume from.

A step's checks run by path (`checks/test_<step>.py`) in a pytest subprocess: the same checks an
operator runs by hand, isolated from this process, with a JUnit file per step in the run directory.
Within `run`, that process is a fork of one warm server that imported pytest and the clients once
(seatrial.runbook.checking.warm_checks), not a fresh interpreter per step.
A step the journal records as passed is re-verified instead of re-done (a verified no-op).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from seatrial.runbook import inflight
from seatrial.runbook.checking.process import PYTEST_EXIT, check_command, checks_dir
from seatrial.runbook.checking.warm_checks import run_pytest, warm_server
from seatrial.runbook.errors import DEPENDENCY_FAULT_GUIDE, TROUBLESHOOTING, BadInput, SeatrialError, Unreachable
from seatrial.runbook.migration.steps import EXTRA_STEPS, STEP_ORDER, check_module
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.secrets import redact

MAX_FAILURE_LINES = 20
MAX_OUTPUT_CHARS = 2000
PYTEST_CHATTER = re.compile(r"^(no tests ran in |=+ |!.*!$|\d+ (passed|failed|deselected|error))")

# Checks of a precondition that a later step changes on purpose: when a finished step is re-verified,
# they are left out once the journal records that later step's name (step -> check -> journal name).
SUPERSEDED: dict[str, dict[str, str]] = {
    "preflight": {"test_target_namespace_absent": "restore"},  # the restore created the namespace
}


def step_module(step: str):
    if step not in STEP_ORDER + EXTRA_STEPS:
        raise BadInput(f"unknown step {step!r}", fix=f"use one of: {', '.join(STEP_ORDER + EXTRA_STEPS)}")
    return importlib.import_module(f"seatrial.runbook.migration.steps.{step.replace('-', '_')}")


@dataclass
class CheckResult:
    step: str
    exit_code: int
    passed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (test id, message)
    junit: Path | None = None
    output: str = ""
    left_out: list[str] = field(default_factory=list)  # superseded checks not run (see SUPERSEDED)
    not_judged: int = 0  # checks skipped because a root cause reported once above explains them

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def why_not_run(self) -> str:
        """The checks' own explanation when none could run (unreachable dependency, usage error),
        without pytest's chatter around it."""
        lines = [line for line in self.output.strip().splitlines()
                 if not PYTEST_CHATTER.match(line) and line.strip()]
        return "\n".join(lines)[-MAX_OUTPUT_CHARS:]


def run_checks(ctx: StepContext, step: str, *, extra: tuple[str, ...] = (), junit_name: str | None = None
               ) -> CheckResult:
    junit = ctx.config.run_dir / "junit" / (junit_name or f"{step}.xml")
    junit.parent.mkdir(parents=True, exist_ok=True)
    command = check_command(checks_dir() / check_module(step), junit, f"seatrial-{step}",
                            f"--seatrial-config={ctx.config.path}", *extra)
    with inflight.awaiting(f"the checks of {step} to finish (a pytest process of their own)"):
        done = run_pytest(command)  # a fresh process, forked from a warm one inside run()
    result = CheckResult(step, PYTEST_EXIT.get(done.returncode, 1), junit=junit if junit.exists() else None,
                         output=redact(done.stdout + done.stderr))
    if result.junit:
        result.passed, result.failed = _read_junit(result.junit)
        result.not_judged = sum(1 for skipped in ET.parse(result.junit).getroot().iter("skipped")
                                if (skipped.get("message") or "").startswith("not judged: "))
    return result


def _read_junit(path: Path) -> tuple[int, list[tuple[str, str]]]:
    passed, failed = 0, []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            if case.find("skipped") is None:
                passed += 1
            continue
        failed.append((f"{case.get('classname')}::{case.get('name')}", _failure_text(problem)))
    return passed, failed


def superseded_checks(ctx: StepContext, step: str) -> list[str]:
    """The checks of `step` that no longer apply because a later step changed what they look at."""
    names = ctx.journal.read().get("names", {})
    return [check for check, later in SUPERSEDED.get(step, {}).items() if names.get(later)]


def reverify(ctx: StepContext, step: str) -> CheckResult:
    """Re-run a finished step's checks (their JUnit goes to junit/<step>.reverified.xml; the step's own stays)."""
    left_out = superseded_checks(ctx, step)
    extra = tuple(f"--deselect=seatrial/checks/{check_module(step)}::{check}" for check in left_out)
    result = run_checks(ctx, step, extra=extra, junit_name=f"{step}.reverified.xml")
    result.left_out = left_out
    return result


def _failure_text(problem: ET.Element) -> str:
    """The whole what/observed/fix of a check (the message attribute may be cut short); a long
    traceback (a check that crashed) is left to the JUnit file."""
    text = (problem.text or "").strip()
    if text and len(text.splitlines()) <= MAX_FAILURE_LINES:
        return text
    return problem.get("message") or text[:2000]


def _resume_hint(ctx: StepContext, step: str) -> str:
    # Not `--from STEP`: a plain run re-verifies the steps before it first (a thawed source is frozen again).
    return f"seatrial -c {ctx.config.path} run   (re-verifies the steps before {step}, then does {step} again)"


def run(ctx: StepContext, *, from_step: str | None = None, until_step: str | None = None) -> int:
    order = list(STEP_ORDER)
    for name in (from_step, until_step):
        if name is not None and name not in order:
            raise BadInput(f"unknown step {name!r}", fix=f"use one of: {', '.join(order)}")
    if from_step and until_step and order.index(from_step) > order.index(until_step):
        raise BadInput(f"--from {from_step} comes after --until {until_step}: no step would run",
                       fix=f"steps run in this order: {', '.join(order)}; give --from a step before --until")
    steps = order[order.index(from_step) if from_step else 0: order.index(until_step) + 1 if until_step else None]
    if ctx.dry_run:
        for step in steps:
            ctx.say(f"== {step} (dry run: nothing is changed)")
            for line in step_module(step).plan(ctx):
                ctx.say(f"  would: {line}")
        return 0
    with ctx.journal.lock(), warm_server(), ctx.ticking():
        code = 0
        for step in steps:
            code = run_step(ctx, step, redo=(step == from_step))
            if code != 0:
                break
        from seatrial.runbook.migration.report import write_report

        # a run that stopped asks its dependencies nothing more (a Harbor answering 503 would hold the stop
        # message back by every retry); the report then says what the journal recorded
        markdown, page = write_report(ctx.config, ctx.journal, live=code == 0)
    ctx.say(f"{'all steps green' if code == 0 else 'stopped'}. report: {markdown} ({page.name})")
    return code


def _confirm_second_backup(ctx: StepContext) -> None:
    """`step backup` or `run --from backup` after a passed backup would take a second full backup: ask first."""
    done = ctx.journal.name("backup")
    if not ctx.confirm(f"Backup {done} already passed its checks; take a second full backup?"):
        raise BadInput(f"backup: Backup {done} already passed; no second backup was taken",
                       fix="`seatrial verify backup` re-checks it; `--yes` takes another full backup")


def run_step(ctx: StepContext, step: str, *, redo: bool = False) -> int:
    """Do one step (unless the journal says it passed and its checks still pass), then its checks; a line at least
    every 10 s while it does."""
    with ctx.ticking():
        return _run_step(ctx, step, redo=redo)


def _run_step(ctx: StepContext, step: str, *, redo: bool) -> int:
    journal = ctx.journal
    module = step_module(step)
    if redo and step == "backup" and journal.done("backup"):
        _confirm_second_backup(ctx)
    if journal.done(step) and not redo:
        result = reverify(ctx, step)
        if result.ok:
            note = f" ({', '.join(result.left_out)} left out: a later step changed that on purpose)" \
                if result.left_out else ""
            ctx.say(f"== {step}: done before, {result.passed} checks still green (nothing to do){note}")
            journal.note(step, reverified=time.time())
            return 0
        if result.exit_code in (2, 3):  # the checks could not run at all: redoing the step would not help
            ctx.say(f"== {step}: done before; its checks could not run:\n{result.why_not_run()}")
            return result.exit_code
        consumers = invalidated_by(ctx, step)
        if consumers:
            ctx.say(f"== {step}: done before, but what it established has changed since:")
            _say_failures(ctx, result)
            ctx.say(f"  the finished {' and '.join(consumers)} step{'s' if len(consumers) > 1 else ''} relied on it "
                    f"and may now be wrong; seatrial does not repair this silently (README: a resumed run)")
            ctx.say(f"  to redo from here: seatrial -c {ctx.config.path} run --from {step}"
                    + ("   (the restore needs `seatrial reset-target` first)" if "restore" in consumers else ""))
            journal.note(step, changed_after_finish=[name for name, _ in result.failed], changed_seen=time.time())
            return 1
        ctx.say(f"== {step}: done before, but its checks now fail; doing it again (what it established has changed, "
                "and no finished step relied on it yet):")
        _say_failures(ctx, result)
    ctx.say(f"== {step}")
    journal.start(step)
    started = time.time()
    try:
        recorded = module.apply(ctx) or {}
    except SeatrialError as exc:
        journal.finish(step, "error", duration=time.time() - started, error=redact(exc.render()))
        if isinstance(exc, BadInput):  # a resume cannot fix bad input: the CLI prints it as one line, exit 2
            _after_failure(ctx, step)
            raise
        ctx.say(redact(f"{step} failed: {exc.render()}"))
        if exc.see_also():
            ctx.say(f"  see {exc.see_also()}")
        _after_failure(ctx, step)
        ctx.say(f"resume with: {_resume_hint(ctx, step)}")
        return exc.exit_code
    result = run_checks(ctx, step)
    outcome = "passed" if result.ok else ("unreachable" if result.exit_code == 3 else "failed")
    journal.finish(step, outcome, duration=time.time() - started, checks_passed=result.passed,
                   checks_failed=[name for name, _ in result.failed], **recorded)
    if result.ok:
        ctx.say(f"  {step}: {result.passed} checks green")
        if step == "backup" and (journal.harbor_state("source") or "").startswith("read-only"):
            journal.set_harbor_state("source", "read-only (frozen for the move)")  # no longer "kept after a failure"
        return 0
    ctx.say(f"{step}: {len(result.failed)} check(s) failed:" if result.failed else f"{step}: checks did not pass:")
    for name, message in result.failed:
        ctx.say(f"  FAILED {name}")
        for line in message.strip().splitlines():
            ctx.say(f"    {line}")
    if result.not_judged:
        ctx.say(f"  ({result.not_judged} other check(s) not judged: they wait on the failure above)")
    if not result.failed:
        ctx.say(result.why_not_run())
    ctx.say(f"  causes and fixes: {checks_guide(step, result)}")
    _after_failure(ctx, step, unjudged=result.exit_code == 3)
    ctx.say(f"fix the above, then resume with: {_resume_hint(ctx, step)}")
    return result.exit_code if result.exit_code in (1, 2, 3) else 1


def checks_guide(step: str, result: CheckResult) -> str:
    """The section of docs/troubleshooting.md on this step's failed checks; a dependency fault has its own."""
    anchor = DEPENDENCY_FAULT_GUIDE if result.exit_code == 3 else f"{step}-checks"
    return f"{TROUBLESHOOTING}#{anchor}"


def _backup_still_running(ctx: StepContext) -> str | None:
    """Why the Backup this run started may still be running (None when it has finished or never started)."""
    from seatrial.runbook.clients.velero import API_VERSION, is_terminal

    # the planned name too: a create whose answer was lost (a dropped connection) made a Backup the journal
    # has not recorded yet, and thawing then would let writes in during it
    names = dict.fromkeys(n for n in (ctx.journal.name("planned_backup"), ctx.journal.name("backup")) if n)
    for name in names:
        try:
            obj = ctx.source.get_or_none(API_VERSION, "Backup", name, ctx.config.velero.namespace)
        except SeatrialError as exc:
            return f"Backup {name} may still be running (its phase cannot be read: {exc.message[:200]})"
        phase = ((obj or {}).get("status") or {}).get("phase")
        if obj is not None and not is_terminal(phase):
            return f"Backup {name} is still running (phase {phase or 'New'})"
    return None


# The steps whose result is built from the earlier steps' facts: once one of them has finished, a change to
# an earlier step's facts (the source thawed, an exclusion changed, the inventory changed) is not repaired by
# redoing that step alone; the run stops and says which finished steps it invalidates.
CONSUMING_STEPS = ("backup", "restore")


def invalidated_by(ctx: StepContext, step: str) -> list[str]:
    """The finished consuming steps after `step` that relied on its facts."""
    later = STEP_ORDER[STEP_ORDER.index(step) + 1:] if step in STEP_ORDER else ()
    return [s for s in later if s in CONSUMING_STEPS and ctx.journal.done(s)]


def _say_failures(ctx: StepContext, result: CheckResult) -> None:
    for name, message in result.failed:
        first = next((line.strip() for line in message.strip().splitlines() if line.strip()), "")
        ctx.say(f"  now failing: {name}: {first[:300]}")


def _after_failure(ctx: StepContext, step: str, *, unjudged: bool = False) -> None:
    """A failed backup leaves the source writable again, unless the operator keeps it frozen, or the Backup was
    not judged (`unjudged`: its checks met a dependency fault): thawing would let writes in after a Backup that
    may be good, and only a second full backup could be trusted then."""
    if step != "backup" or not ctx.journal.step("freeze").get("frozen_at"):
        return
    if ctx.keep_frozen:
        ctx.journal.set_harbor_state("source", "read-only (kept frozen after the failed backup: --keep-frozen)")
        ctx.say("  source Harbor stays read-only (--keep-frozen)")
        return
    if unjudged:
        ctx.journal.set_harbor_state("source", "read-only (kept frozen: the backup's checks could not judge it)")
        ctx.say("  source Harbor stays read-only: a dependency failed while the backup's checks read it, so the "
                "Backup is not judged yet; resume once the dependency is back (or thaw by hand if you abandon the "
                "move)")
        return
    running = _backup_still_running(ctx)
    if running:
        ctx.journal.set_harbor_state("source", f"read-only (kept frozen: {running})")
        ctx.say(f"  source Harbor stays read-only: {running}; thawing now would let writes in during the backup. "
                "Resume when it has finished (the run waits for it), or thaw by hand if you abandon the move")
        return
    from seatrial.runbook.migration.steps.freeze import thaw_source

    try:
        thaw_source(ctx)
    except (SeatrialError, Unreachable) as exc:
        ctx.say(f"  could not thaw the source Harbor: {exc.render()}")
