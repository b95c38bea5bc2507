"""restore: wait until the backup has synced to the target, then restore it under a unique name,
applying the fixup's resource modifiers when so configured, and wait for data and pods."""

from __future__ import annotations

from runbook.errors import BadInput
from runbook.identity import refuse_if_target_is_source
from runbook.steps.context import StepContext
from runbook.steps.fixup import MODIFIER_CONFIGMAP, modifier_rules
from runbook.steps.names import new_name
from runbook.velero import API_VERSION, RestoreStatus, is_terminal, resource_modifier_configmap, restore_manifest
from runbook.wait import wait_until

SYNC_TIMEOUT = 600  # Velero's backup sync runs every minute; its own e2e waits up to 5 minutes


def _names(ctx: StepContext) -> tuple[str, str]:
    backup = ctx.journal.name("backup")
    if not backup:
        raise BadInput("no backup is recorded in the journal", fix="run the preflight and backup steps first")
    restore = ctx.journal.name("restore") or ctx.journal.name("planned_restore")
    if not restore:  # after reset-target: a new, unused name
        restore = new_name(ctx, "restore")
        ctx.journal.record_name("planned_restore", restore)
    return backup, restore


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    backup = ctx.journal.name("backup") or "(the backup step's)"
    restore = ctx.journal.name("restore") or ctx.journal.name("planned_restore") or "(chosen by preflight)"
    lines = [f"wait (up to {SYNC_TIMEOUT}s) until Backup {backup} has synced to target {cfg.target.context}",
             f"refuse if namespace {cfg.target.namespace} exists on target (unless confirmed)"]
    if cfg.fixup.mode == "resource-modifier" and cfg.fixup.services:
        lines.append(f"create ConfigMap {cfg.velero.namespace}/{MODIFIER_CONFIGMAP} on target (resource modifiers: "
                     f"{', '.join(cfg.fixup.services)})")
    lines += [f"create Restore {cfg.velero.namespace}/{restore} of {backup} on target",
              f"wait for PodVolumeRestores and for every pod in {cfg.target.namespace} to be Ready"]
    return lines


def apply(ctx: StepContext) -> dict:
    cfg = ctx.config
    if ctx.dry_run:
        return {}
    backup, name = _names(ctx)
    ns, vns = cfg.target.namespace, cfg.velero.namespace
    existing = ctx.target.get_or_none(API_VERSION, "Restore", name, vns)
    if existing is None:
        refuse_if_target_is_source(ctx)
        if ctx.target.get_or_none("v1", "Namespace", ns) is not None and not ctx.confirm(
                f"namespace {ns} already exists on target {cfg.target.context}: Velero will skip every existing "
                "object and NOT restore their volume data. Restore over it anyway?"):
            raise BadInput(f"restore refused: namespace {ns} exists on target",
                              fix="run `seatrial reset-target` first, or confirm with --yes")
        wait_until(lambda: ctx.target.get_or_none(API_VERSION, "Backup", backup, vns), timeout=SYNC_TIMEOUT,
                   interval=2.0, what=f"Backup {backup} to sync to the target",
                   progress=lambda _v: f"  waiting for backup sync of {backup} to {cfg.target.context}",
                   on_progress=ctx.say)
        modifier = None
        if cfg.fixup.mode == "resource-modifier" and cfg.fixup.services:
            configmap = resource_modifier_configmap(MODIFIER_CONFIGMAP, vns, modifier_rules(cfg))
            current = ctx.target.get_or_none("v1", "ConfigMap", MODIFIER_CONFIGMAP, vns)
            if current is None:
                ctx.target.create(configmap)
            elif current.get("data") != configmap["data"]:
                ctx.target.replace({**current, "data": configmap["data"]})
            modifier = MODIFIER_CONFIGMAP
        ctx.target.create(restore_manifest(name, velero_namespace=vns, backup_name=backup, included_namespaces=[
            cfg.source.namespace], namespace_mapping={cfg.source.namespace: ns} if ns != cfg.source.namespace
            else None, resource_modifier_configmap=modifier, labels={"app.kubernetes.io/managed-by": "seatrial"}))
        ctx.journal.record_name("restore", name)
        ctx.say(f"  created Restore {vns}/{name} of backup {backup}")
    ctx.journal.record_name("restore", name)

    def probe():
        obj = ctx.target.get(API_VERSION, "Restore", name, vns)
        return obj if is_terminal((obj.get("status") or {}).get("phase")) else None

    def progress(_value) -> str:
        obj = ctx.target.get_or_none(API_VERSION, "Restore", name, vns) or {}
        status = obj.get("status") or {}
        items = status.get("progress") or {}
        return (f"  restore {name}: {status.get('phase', 'New')}, items {items.get('itemsRestored', 0)}/"
                f"{items.get('totalItems', '?')}")

    final_obj = wait_until(probe, timeout=cfg.velero.timeout_seconds, interval=1.0, what=f"Restore {name} to finish",
                           progress=progress, on_progress=ctx.say)
    final = RestoreStatus.from_obj(final_obj)
    ctx.say(f"  {final.summary()}")
    ctx.journal.set_harbor_state("target", "restored (read-only until thaw-target: the flag travels in its database)")
    if final.succeeded:
        _wait_for_data_and_pods(ctx, name)
    status = final_obj.get("status") or {}
    items = status.get("progress") or {}
    pvrs = ctx.target.list(API_VERSION, "PodVolumeRestore", vns, label_selector=f"velero.io/restore-name={name}")
    restored_bytes = sum(((p.get("status") or {}).get("progress") or {}).get("totalBytes", 0) for p in pvrs)
    return {"restore": name, "phase": final.phase, "warnings": final.warnings, "errors": final.errors,
            "items": items.get("itemsRestored"), "total_items": items.get("totalItems"), "volumes": len(pvrs),
            "bytes": restored_bytes, "started": status.get("startTimestamp"),
            "completed": status.get("completionTimestamp")}


def _wait_for_data_and_pods(ctx: StepContext, name: str) -> None:
    cfg = ctx.config
    ns, vns = cfg.target.namespace, cfg.velero.namespace

    def state() -> tuple[int, int, int, int]:
        pvrs = ctx.target.list(API_VERSION, "PodVolumeRestore", vns, label_selector=f"velero.io/restore-name={name}")
        pods = ctx.target.list("v1", "Pod", ns)
        done = sum(1 for p in pvrs if is_terminal((p.get("status") or {}).get("phase")))
        ready = sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                           for c in (p.get("status") or {}).get("conditions") or []))
        return done, len(pvrs), ready, len(pods)

    def probe():
        done, pvrs, ready, pods = state()
        return True if done == pvrs and ready == pods and pods else None

    def progress(_value) -> str:
        done, pvrs, ready, pods = state()
        return f"  volumes restored {done}/{pvrs}, pods ready {ready}/{pods}"

    wait_until(probe, timeout=cfg.velero.timeout_seconds, interval=1.0, what=f"restored data and pods in {ns}",
               progress=progress, on_progress=ctx.say)
