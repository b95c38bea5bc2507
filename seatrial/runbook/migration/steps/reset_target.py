"""reset-target: delete the target namespace so the restore can be retried. Destructive: it says exactly
what will be deleted and asks first (`--yes` for CI).

It deletes only a namespace that seatrial's own restore made, and never on the source cluster:
- the target must not be the source cluster with the same namespace (server URL, kube-system UID);
- the journal must record a restore, and every PVC in the namespace (the data that would be lost) and at
  least one object must carry Velero's restore label `velero.io/restore-name` with that restore's name.
Anything else is refused (exit 2) and nothing is deleted.
"""

from __future__ import annotations

from collections import Counter

from seatrial.runbook.clients.velero import RESTORE_NAME_LABEL
from seatrial.runbook.errors import BadInput
from seatrial.runbook.identity import refuse_if_target_is_source
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.wait import wait_until

AFTER_RESTORE = ("restore", "fixup", "thaw-target", "verify-harbor")  # steps to do again after the reset
COUNTED = (("v1", "PersistentVolumeClaim"), ("v1", "Pod"), ("v1", "Service"), ("v1", "Secret"), ("v1", "ConfigMap"),
           ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))


def _contents(ctx: StepContext) -> tuple[Counter, list[str], list[dict]]:
    """How many objects of each kind the namespace holds (one LIST per kind), its PVCs by name, and the objects."""
    ns = ctx.config.target.namespace
    counts: Counter = Counter()
    claims: list[str] = []
    everything: list[dict] = []
    for api, kind in COUNTED:
        objects = ctx.target.list(api, kind, ns)
        counts[kind] = len(objects)
        everything += objects
        if kind == "PersistentVolumeClaim":
            claims = sorted(o["metadata"]["name"] for o in objects)
    return counts, claims, everything


def restore_names(ctx: StepContext) -> set[str]:
    """The restores this run directory's journal made (or was about to make)."""
    return {name for name in (ctx.journal.name("restore"), ctx.journal.name("planned_restore")) if name}


def _restored_by(obj: dict) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(RESTORE_NAME_LABEL)


def refusal(ctx: StepContext, objects: list[dict]) -> str | None:
    """Why the namespace is not one seatrial's restore made (None when it is)."""
    ns, context = ctx.config.target.namespace, ctx.config.target.context
    ours = restore_names(ctx)
    if not ours:
        return (f"the journal in {ctx.config.run_dir} records no restore, so namespace {ns} on target {context} "
                "was not made by seatrial")
    foreign = sorted(f"{o['kind']} {o['metadata']['name']} ({_restored_by(o) or 'no ' + RESTORE_NAME_LABEL})"
                     for o in objects if o.get("kind") == "PersistentVolumeClaim" and _restored_by(o) not in ours)
    if foreign:
        return (f"namespace {ns} on target {context} holds PVCs that seatrial's restore "
                f"{' / '.join(sorted(ours))} did not make: {', '.join(foreign[:10])}")
    if not any(_restored_by(o) in ours for o in objects):
        return (f"no object in namespace {ns} on target {context} carries {RESTORE_NAME_LABEL}="
                f"{' / '.join(sorted(ours))}: seatrial's restore did not make it")
    return None


REFUSAL_FIX = ("reset-target deletes only what seatrial's own restore made; check target.context and "
               "target.namespace, and delete anything else yourself (kubectl delete namespace) if you mean it")


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    try:
        refuse_if_target_is_source(ctx)
    except BadInput as exc:
        return [f"REFUSE: {exc.message}"]
    if ctx.target.get_or_none("v1", "Namespace", cfg.target.namespace) is None:
        return [f"namespace {cfg.target.namespace} is absent on target {cfg.target.context}: nothing to delete"]
    counts, claims, objects = _contents(ctx)
    why_not = refusal(ctx, objects)
    if why_not:
        return [f"REFUSE: {why_not}"]
    listed = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no counted objects"
    return [f"DELETE namespace {cfg.target.namespace} on target {cfg.target.context}: {listed}",
            f"  PVCs whose data is lost: {', '.join(claims) or 'none'}",
            "  then forget restore, fixup, thaw-target and verify-harbor in the journal (the next run restores "
            "again under a new restore name)"]


def apply(ctx: StepContext) -> dict:
    cfg = ctx.config
    ns = cfg.target.namespace
    refuse_if_target_is_source(ctx)
    if ctx.target.get_or_none("v1", "Namespace", ns) is None:
        ctx.say(f"  namespace {ns} is absent on target: nothing to delete")
        return {"deleted": False}
    why_not = refusal(ctx, _contents(ctx)[2])
    if why_not:
        raise BadInput(f"reset-target refused: {why_not}; nothing was deleted", fix=REFUSAL_FIX)
    for line in plan(ctx):
        ctx.say(f"  {line}")
    if ctx.dry_run:
        return {"deleted": False}
    if not ctx.confirm(f"delete namespace {ns} on target {cfg.target.context}?"):
        raise BadInput(f"reset-target: not confirmed; namespace {ns} was not deleted",
                          fix="run `seatrial reset-target --yes` to confirm")
    ctx.target.delete("v1", "Namespace", ns)
    wait_until(lambda: ctx.target.get_or_none("v1", "Namespace", ns) is None or None, timeout=300, interval=1.0,
               what=f"namespace {ns} to disappear on target",
               progress=lambda _v: f"  waiting for namespace {ns} to disappear on target", on_progress=ctx.say)
    ctx.journal.forget_steps(*AFTER_RESTORE)
    ctx.journal.forget_names("restore", "planned_restore")
    ctx.journal.set_harbor_state("target", f"absent (namespace {ns} deleted by reset-target)")
    ctx.say(f"  deleted namespace {ns} on target; the next run restores again under a new name")
    return {"deleted": True}
