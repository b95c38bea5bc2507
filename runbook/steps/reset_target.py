"""reset-target: delete the target namespace so the restore can be retried. Destructive: it says exactly
what will be deleted and asks first (`--yes` for CI)."""

from __future__ import annotations

from collections import Counter

from runbook.errors import CheckFailed
from runbook.steps.context import StepContext
from runbook.wait import wait_until

COUNTED = (("v1", "PersistentVolumeClaim"), ("v1", "Pod"), ("v1", "Service"), ("v1", "Secret"), ("v1", "ConfigMap"),
           ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))


def _inventory(ctx: StepContext) -> Counter:
    ns = ctx.config.target.namespace
    return Counter({kind: len(ctx.target.list(api, kind, ns)) for api, kind in COUNTED})


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    if ctx.target.get_or_none("v1", "Namespace", cfg.target.namespace) is None:
        return [f"namespace {cfg.target.namespace} is absent on target {cfg.target.context}: nothing to delete"]
    counts = ", ".join(f"{n} {k}" for k, n in _inventory(ctx).items() if n)
    return [f"DELETE namespace {cfg.target.namespace} on target {cfg.target.context} ({counts}; PVCs and their "
            "data are lost)"]


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
        raise CheckFailed(f"reset-target: not confirmed; namespace {ns} was not deleted",
                          fix="run `seatrial reset-target --yes` to confirm")
    ctx.target.delete("v1", "Namespace", ns)
    wait_until(lambda: ctx.target.get_or_none("v1", "Namespace", ns) is None or None, timeout=300, interval=1.0,
               what=f"namespace {ns} to disappear on target")
    journal = ctx.journal.read()
    for step in ("restore", "fixup", "thaw-target", "verify-harbor"):
        journal["steps"].pop(step, None)
    journal["names"].pop("restore", None)
    journal["names"].pop("planned_restore", None)
    ctx.journal.write(journal)
    ctx.say(f"  deleted namespace {ns} on target; the next run restores again under a new name")
    return {"deleted": True}
