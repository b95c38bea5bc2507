"""reset-target: delete the target namespace so the restore can be retried. Destructive: it says exactly
what will be deleted and asks first (`--yes` for CI)."""

from __future__ import annotations

from collections import Counter

from runbook.errors import BadInput
from runbook.steps.context import StepContext
from runbook.wait import wait_until

AFTER_RESTORE = ("restore", "fixup", "thaw-target", "verify-harbor")  # steps to do again after the reset
COUNTED = (("v1", "PersistentVolumeClaim"), ("v1", "Pod"), ("v1", "Service"), ("v1", "Secret"), ("v1", "ConfigMap"),
           ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))


def _contents(ctx: StepContext) -> tuple[Counter, list[str]]:
    """How many objects of each kind the namespace holds (one LIST per kind), and its PVCs by name."""
    ns = ctx.config.target.namespace
    counts: Counter = Counter()
    claims: list[str] = []
    for api, kind in COUNTED:
        objects = ctx.target.list(api, kind, ns)
        counts[kind] = len(objects)
        if kind == "PersistentVolumeClaim":
            claims = sorted(o["metadata"]["name"] for o in objects)
    return counts, claims


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    if ctx.target.get_or_none("v1", "Namespace", cfg.target.namespace) is None:
        return [f"namespace {cfg.target.namespace} is absent on target {cfg.target.context}: nothing to delete"]
    counts, claims = _contents(ctx)
    listed = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no counted objects"
    return [f"DELETE namespace {cfg.target.namespace} on target {cfg.target.context}: {listed}",
            f"  PVCs whose data is lost: {', '.join(claims) or 'none'}",
            "  then forget restore, fixup, thaw-target and verify-harbor in the journal (the next run restores "
            "again under a new restore name)"]


def apply(ctx: StepContext) -> dict:
    cfg = ctx.config
    ns = cfg.target.namespace
    if ctx.target.get_or_none("v1", "Namespace", ns) is None:
        ctx.say(f"  namespace {ns} is absent on target: nothing to delete")
        return {"deleted": False}
    for line in plan(ctx):
        ctx.say(f"  {line}")
    if ctx.dry_run:
        return {"deleted": False}
    if not ctx.confirm(f"delete namespace {ns} on target {cfg.target.context}?"):
        raise BadInput(f"reset-target: not confirmed; namespace {ns} was not deleted",
                          fix="run `seatrial reset-target --yes` to confirm")
    ctx.target.delete("v1", "Namespace", ns)
    wait_until(lambda: ctx.target.get_or_none("v1", "Namespace", ns) is None or None, timeout=300, interval=1.0,
               what=f"namespace {ns} to disappear on target")
    ctx.journal.forget_steps(*AFTER_RESTORE)
    ctx.journal.forget_names("restore", "planned_restore")
    ctx.journal.set_harbor_state("target", f"absent (namespace {ns} deleted by reset-target)")
    ctx.say(f"  deleted namespace {ns} on target; the next run restores again under a new name")
    return {"deleted": True}
