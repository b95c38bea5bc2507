"""restore: wait until the backup has synced to the target, then restore it under a unique name,
applying the fixup's resource modifiers when so configured, and wait for data and pods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from seatrial.runbook.clients.velero import (
    API_VERSION,
    RestoreStatus,
    change_storage_class_configmap,
    is_terminal,
    resource_modifier_configmap,
    restore_manifest,
)
from seatrial.runbook.errors import BadInput
from seatrial.runbook.identity import refuse_if_target_is_source
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.migration.steps.fixup import MODIFIER_CONFIGMAP, modifier_rules
from seatrial.runbook.migration.steps.names import new_name
from seatrial.runbook.wait import wait_until

if TYPE_CHECKING:
    from seatrial.runbook.clients.kube import Cluster

# A Restore in one of these is not waited for again: the resume makes a new one (over an absent namespace)
FAILED_RESTORE_PHASES = frozenset({"Failed", "PartiallyFailed", "FailedValidation"})
SYNC_TIMEOUT = 600  # Velero's backup sync runs every minute; its own e2e waits up to 5 minutes


def _names(ctx: StepContext) -> tuple[str, str]:
    """The Backup to restore and the Restore this attempt makes or waits for. A Restore the journal records is
    adopted (waited for, or judged if it has finished): a resumed run never makes a second one. A new name only
    when it failed or the operator asks (--new-restore); the new one needs the target namespace absent again."""
    backup = ctx.journal.name("backup")
    if not backup:
        raise BadInput("no backup is recorded in the journal", fix="run the preflight and backup steps first")
    recorded, planned = ctx.journal.name("restore"), ctx.journal.name("planned_restore")
    if planned and planned != recorded:
        return backup, planned  # chosen, maybe not yet created (or its create's answer was lost)
    if recorded:
        obj = ctx.target.get_or_none(API_VERSION, "Restore", recorded, ctx.config.velero.namespace)
        phase = ((obj or {}).get("status") or {}).get("phase")
        if obj is not None and not ctx.new_restore and phase not in FAILED_RESTORE_PHASES:
            if is_terminal(phase) or ctx.journal.step("restore").get("attempt_after") in ("running", "error"):
                ctx.say(f"  adopting Restore {ctx.config.velero.namespace}/{recorded} ({phase or 'New'}) of the "
                        "earlier attempt: no second restore (--new-restore makes one)")
            return backup, recorded
        why = "--new-restore" if ctx.new_restore and obj is not None else phase or "absent"
        ns = ctx.config.target.namespace
        if not ctx.new_restore and obj is not None and ctx.target.get_or_none("v1", "Namespace", ns) is not None:
            raise BadInput(f"Restore {recorded} ended {phase} and left namespace {ns} on target "
                           f"{ctx.config.target.context}: a new restore over it would skip every object there and "
                           "NOT restore their volume data", fix="run `seatrial reset-target`, then resume (the next "
                           "restore gets a new name); --new-restore restores over it anyway, after confirmation")
        restore = new_name(ctx, "restore")
        ctx.say(f"  Restore {recorded} ({why}) is kept for inspection; restoring again as {restore}")
    else:  # after reset-target: a new, unused name
        restore = new_name(ctx, "restore")
    ctx.journal.record_name("planned_restore", restore)
    return backup, restore


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    backup = ctx.journal.name("backup") or "(the backup step's)"
    restore = ctx.journal.name("restore") or ctx.journal.name("planned_restore") or "(chosen by preflight)"
    lines = [f"wait (up to {SYNC_TIMEOUT}s) until Backup {backup} has synced to target {cfg.target.context}",
             f"refuse if namespace {cfg.target.namespace} exists on target (unless confirmed)"]
    lines.append(f"wait until the target lists as many PodVolumeBackups of {backup} as the bucket's "
                 f"{backup}-podvolumebackups.json.gz holds")
    if cfg.volumes.storage_class_mapping:
        lines.append(f"create ConfigMap {cfg.velero.namespace}/seatrial-change-storage-class on target (Velero's "
                     f"change-storage-class: {cfg.volumes.storage_class_mapping})")
    if cfg.fixup.mode == "resource-modifier" and cfg.fixup.services:
        lines.append(f"create ConfigMap {cfg.velero.namespace}/{MODIFIER_CONFIGMAP} on target (resource modifiers: "
                     f"{', '.join(cfg.fixup.services)})")
    lines += [f"create Restore {cfg.velero.namespace}/{restore} of {backup} on target",
              f"wait for PodVolumeRestores and for every pod in {cfg.target.namespace} to be Ready"]
    return lines


def apply(ctx: StepContext) -> dict:
    from seatrial.runbook.migration.window import pod_volume_moves

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
        _wait_for_pod_volume_backups(ctx, backup)
        if cfg.volumes.storage_class_mapping:
            _apply_configmap(ctx, change_storage_class_configmap(vns, cfg.volumes.storage_class_mapping))
        modifier = None
        if cfg.fixup.mode == "resource-modifier" and cfg.fixup.services:
            _apply_configmap(ctx, resource_modifier_configmap(MODIFIER_CONFIGMAP, vns, modifier_rules(cfg)))
            modifier = MODIFIER_CONFIGMAP
        ctx.target.create(restore_manifest(name, velero_namespace=vns, backup_name=backup, included_namespaces=[
            cfg.source.namespace], namespace_mapping={cfg.source.namespace: ns} if ns != cfg.source.namespace
            else None, resource_modifier_configmap=modifier, labels={"app.kubernetes.io/managed-by": "seatrial"}))
        ctx.journal.record_name("restore", name)
        ctx.say(f"  created Restore {vns}/{name} of backup {backup}")
    ctx.journal.record_name("restore", name)

    final_obj = wait_until(lambda: RestoreSeen(ctx.target.get(API_VERSION, "Restore", name, vns)),
                           timeout=cfg.velero.timeout_seconds, interval=1.0, what=f"Restore {name} to finish",
                           progress=RestoreSeen.describe, on_progress=ctx.say).obj
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
            "completed": status.get("completionTimestamp"), "pod_volumes": pod_volume_moves(pvrs)}


def _apply_configmap(ctx: StepContext, configmap: dict) -> None:
    meta = configmap["metadata"]
    current = ctx.target.get_or_none("v1", "ConfigMap", meta["name"], meta["namespace"])
    if current is None:
        ctx.target.create(configmap)
    elif current.get("data") != configmap["data"] or \
            (current["metadata"].get("labels") or {}) != (meta.get("labels") or {}):
        ctx.target.replace({**current, "metadata": {**current["metadata"], "labels": meta.get("labels")},
                            "data": configmap["data"]})


def _wait_for_pod_volume_backups(ctx: StepContext, backup: str) -> None:
    """Velero's backup sync creates the Backup first, then reads `<backup>-podvolumebackups.json.gz` and creates
    the PodVolumeBackups one by one (backup_sync_controller.go); a restore made in between finds fewer of them
    and restores those volumes EMPTY. So: wait until the target lists as many as the bucket's file holds."""
    vns = ctx.config.velero.namespace
    wanted = len(ctx.bucket.pod_volume_backups(backup) or [])
    if not wanted:
        return
    selector = f"velero.io/backup-name={backup}"  # seatrial's names fit a label (at most 63 characters)
    wait_until(lambda: len(ctx.target.list(API_VERSION, "PodVolumeBackup", vns, label_selector=selector)) >= wanted,
               timeout=SYNC_TIMEOUT, interval=1.0,
               what=f"the {wanted} PodVolumeBackups of {backup} to sync to the target",
               progress=lambda _v: f"  waiting for the {wanted} PodVolumeBackups of {backup} to sync",
               on_progress=ctx.say)


@dataclass(frozen=True)
class RestoreSeen:
    """One GET of the Restore per round: true once it is terminal; its progress line comes from the same read."""

    obj: dict

    def __bool__(self) -> bool:
        return is_terminal((self.obj.get("status") or {}).get("phase"))

    def describe(self) -> str:
        status = self.obj.get("status") or {}
        items = status.get("progress") or {}
        return (f"  restore {self.obj['metadata']['name']}: {status.get('phase', 'New')}, items "
                f"{items.get('itemsRestored', 0)}/{items.get('totalItems', '?')}")


@dataclass(frozen=True)
class DataAndPods:
    """One round of the wait after a restore: ONE LIST each of the restore's PodVolumeRestores, the
    namespace's PVCs and its pods, whatever their number. True once every volume is restored, every
    claim Bound and every pod Ready."""

    volumes_done: int
    volumes: int
    claims_bound: int
    claims: int
    pods_ready: int
    pods: int

    @classmethod
    def read(cls, cluster: Cluster, velero_namespace: str, namespace: str, restore: str) -> DataAndPods:
        pvrs = cluster.list(API_VERSION, "PodVolumeRestore", velero_namespace,
                            label_selector=f"velero.io/restore-name={restore}")
        claims = cluster.list("v1", "PersistentVolumeClaim", namespace)
        pods = cluster.list("v1", "Pod", namespace)
        return cls(
            volumes_done=sum(1 for p in pvrs if is_terminal((p.get("status") or {}).get("phase"))),
            volumes=len(pvrs),
            claims_bound=sum(1 for c in claims if (c.get("status") or {}).get("phase") == "Bound"),
            claims=len(claims),
            pods_ready=sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                  for c in (p.get("status") or {}).get("conditions") or [])),
            pods=len(pods))

    def __bool__(self) -> bool:
        return bool(self.pods) and (self.volumes_done, self.claims_bound, self.pods_ready) == \
            (self.volumes, self.claims, self.pods)

    def describe(self) -> str:
        return (f"  volumes restored {self.volumes_done}/{self.volumes}, claims bound {self.claims_bound}/"
                f"{self.claims}, pods ready {self.pods_ready}/{self.pods}")


def wait_for_data_and_pods(cluster: Cluster, *, velero_namespace: str, namespace: str, restore: str,
                           timeout: float, say, interval: float = 1.0) -> DataAndPods:
    return wait_until(lambda: DataAndPods.read(cluster, velero_namespace, namespace, restore), timeout=timeout,
                      interval=interval, what=f"restored data and pods in {namespace}",
                      progress=DataAndPods.describe, on_progress=say)


def _wait_for_data_and_pods(ctx: StepContext, name: str) -> None:
    cfg = ctx.config
    wait_for_data_and_pods(ctx.target, velero_namespace=cfg.velero.namespace, namespace=cfg.target.namespace,
                           restore=name, timeout=cfg.velero.timeout_seconds, say=ctx.say)
