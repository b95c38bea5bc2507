"""backup: create the Backup of the source namespace with file-system backup and wait for it, showing
progress (items, and bytes of the PodVolumeBackups). The checks decide whether it is good."""

from __future__ import annotations

import time
from dataclasses import dataclass

from seatrial.runbook.clients.velero import API_VERSION, COMPLETED, BackupStatus, backup_manifest, is_terminal
from seatrial.runbook.errors import BadInput, SeatrialError
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.migration.steps.names import new_name
from seatrial.runbook.wait import wait_until

FREEZE_READING_EVERY_S = 5.0


# How the previous attempt at the step ended when it gave no verdict on its Backup: a crash ("running"), a fault
# in the wait or in the step ("error"), checks that could not run ("unreachable"). Its Backup is adopted.
NO_VERDICT = ("running", "error", "unreachable")


@dataclass(frozen=True)
class Chosen:
    """The Backup this attempt makes or waits for; `adopted` when it is the previous attempt's own (its phase)."""

    name: str
    adopted: str | None = None


def _name(ctx: StepContext) -> Chosen:
    """The Backup this attempt makes or waits for. An attempt that ended without judging its Backup (a crash, a
    dependency fault during the wait) left a Backup that is still the right one: the resume adopts it -- waits
    for it, or judges it if it has finished -- instead of taking a second full backup. A new name only when that
    Backup failed, when its checks judged it (a retry after a fix), or when the operator asks (--new-backup); the
    old Backup is never reused then (Velero cannot redo it, and the retry must not collide with it in the bucket)."""
    journal = ctx.journal
    recorded, planned = journal.name("backup"), journal.name("planned_backup")
    if planned and planned != recorded:
        return Chosen(planned)  # the first attempt, or a retry whose name was chosen but maybe not yet created
    if recorded:
        obj = ctx.source.get_or_none(API_VERSION, "Backup", recorded, ctx.config.velero.namespace)
        phase = ((obj or {}).get("status") or {}).get("phase")
        without_verdict = journal.step("backup").get("attempt_after") in NO_VERDICT
        if obj is not None and not ctx.new_backup and (not is_terminal(phase) or (
                without_verdict and phase == COMPLETED and not _thawed_since(ctx, recorded))):
            return Chosen(recorded, adopted=phase or "New")
        name = new_name(ctx, "backup")
        why = "--new-backup" if ctx.new_backup and obj is not None else f"{phase or 'absent'}"
        ctx.say(f"  Backup {recorded} ({why}) is kept for inspection; backing up again as {name}")
        journal.record_name("planned_backup", name)
        return Chosen(name)
    raise BadInput("no backup name was chosen", fix="run the preflight step first (seatrial step preflight)")


def _thawed_since(ctx: StepContext, name: str) -> bool:
    """The freeze this Backup was taken under no longer holds: the source was thawed after it was made (a failure
    thawed it), or frozen again since (the resume redid the freeze). What was written in between is not in the
    Backup, so it is not adopted. Unknown when it was made: not adopted either."""
    previous = ctx.journal.step("backup").get("previous") or {}
    started = previous.get("made_at") if previous.get("readings_of") == name else None
    freeze = ctx.journal.step("freeze")
    thawed, frozen = freeze.get("thawed_at"), freeze.get("frozen_at")
    if not isinstance(started, int | float):
        return True
    return (isinstance(thawed, int | float) and thawed >= started) or (isinstance(frozen, int | float)
                                                                      and frozen > started)


class FreezeReadings:
    """The source Harbor's read_only flag, read during the backup wait (at most every few seconds, and
    every time while it is writable), each with Harbor's own time: the freeze observed, not trusted."""

    def __init__(self, ctx: StepContext, backup: str, earlier: list[dict] | None = None, *, closed: bool = False):
        self.ctx, self.backup = ctx, backup
        self.readings: list[dict] = list(earlier or [])  # an adopted Backup's: taken by the attempt that made it
        self.closed = closed  # the Backup had finished: a reading now is outside its window
        self._last = float("-inf")

    def take(self) -> None:
        if self.closed:
            return
        now = time.monotonic()
        if now - self._last < FREEZE_READING_EVERY_S and not (self.readings and self.readings[-1].get("read_only")
                                                                is False):
            return
        self._last = now
        try:
            flag, at = self.ctx.harbor("source").read_only_reading()
            self.readings.append({"at": at, "read_only": flag})
        except SeatrialError as exc:  # Harbor's trouble must not abort a running backup; the gap is recorded
            self.readings.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "read_only": None,
                                  "error": " ".join(exc.message.split())[:200]})
        if self.readings[-1].get("read_only") is not True:
            self.save()

    def save(self) -> None:
        self.ctx.journal.note("backup", freeze_readings=self.readings, readings_of=self.backup)


def harbor_time_now(ctx: StepContext) -> str | None:
    """The source Harbor's time now (its Date header), once the Backup is terminal: where the backup's checks stop
    looking for writes Harbor recorded during the freeze. None when Harbor does not answer (the checks then look
    up to their own time)."""
    try:
        return ctx.harbor("source").read_only_reading()[1]
    except SeatrialError:
        return None


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    name = ctx.journal.name("backup") or ctx.journal.name("planned_backup") or "(chosen by preflight)"
    return [f"create Backup {cfg.velero.namespace}/{name} on source: includedNamespaces [{cfg.source.namespace}], "
            f"defaultVolumesToFsBackup true, snapshotVolumes false, storageLocation {cfg.velero.storage_location}",
            f"wait up to {cfg.velero.timeout_seconds}s for a final phase (progress: items, PodVolumeBackup bytes)",
            f"meanwhile read GET {cfg.harbor.source_url}/api/v2.0/systeminfo read_only (with Harbor's time) at least "
            f"every {FREEZE_READING_EVERY_S:g}s: a writable moment fails the backup's checks"]


@dataclass(frozen=True)
class BackupSeen:
    """One round of the backup wait: one GET of the Backup and, while it runs, one LIST of its
    PodVolumeBackups; true once the Backup is terminal. The progress line comes from the same reads."""

    obj: dict
    pvbs: list[dict]

    def __bool__(self) -> bool:
        return is_terminal((self.obj.get("status") or {}).get("phase"))

    def describe(self) -> str:
        status = self.obj.get("status") or {}
        items = status.get("progress") or {}
        done = sum(((p.get("status") or {}).get("progress") or {}).get("bytesDone", 0) for p in self.pvbs)
        total = sum(((p.get("status") or {}).get("progress") or {}).get("totalBytes", 0) for p in self.pvbs)
        return (f"  backup {self.obj['metadata']['name']}: {status.get('phase', 'New')}, items "
                f"{items.get('itemsBackedUp', 0)}/{items.get('totalItems', '?')}, volumes {len(self.pvbs)}, "
                f"bytes {done}/{total}")


def _clock_offset(created: dict | None, local: float) -> float | None:
    """The cluster's clock minus this machine's (seconds; whole-second precision), from the Backup's
    creationTimestamp: the checks compare this machine's freeze time with Velero's timestamps."""
    from datetime import datetime

    stamp = ((created or {}).get("metadata") or {}).get("creationTimestamp")
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - local if stamp else None
    except ValueError:
        return None


def apply(ctx: StepContext) -> dict:
    from seatrial.runbook.migration.window import pod_volume_moves

    cfg = ctx.config
    if ctx.dry_run:
        return {}
    chosen = _name(ctx)
    name = chosen.name
    manifest = backup_manifest(name, velero_namespace=cfg.velero.namespace, included_namespaces=[cfg.source.namespace],
                               default_volumes_to_fs_backup=True, storage_location=cfg.velero.storage_location,
                               labels={"app.kubernetes.io/managed-by": "seatrial"})
    previous = ctx.journal.step("backup").get("previous") or {}
    previous = previous if chosen.adopted and previous.get("readings_of") == name else {}  # what it saw of THIS one
    clock_offset, made_at = previous.get("clock_offset_s"), previous.get("made_at")
    if chosen.adopted:
        ctx.say(f"  adopting Backup {cfg.velero.namespace}/{name} ({chosen.adopted}), made by the attempt that "
                f"stopped before judging it: {'judging' if is_terminal(chosen.adopted) else 'waiting for'} it, "
                "no second backup (--new-backup takes one)")
    elif ctx.source.get_or_none(API_VERSION, "Backup", name, cfg.velero.namespace) is not None:
        made_at = (ctx.journal.step("backup").get("previous") or {}).get("started")  # its create's answer was lost
    else:
        made_at = before = time.time()
        created = ctx.source.create(manifest)
        clock_offset = _clock_offset(created, (before + time.time()) / 2)
        ctx.journal.note("backup", clock_offset_s=clock_offset, readings_of=name, made_at=made_at)
        ctx.journal.record_name("backup", name)
        ctx.say(f"  created Backup {cfg.velero.namespace}/{name}")
    ctx.journal.record_name("backup", name)
    readings = FreezeReadings(ctx, name, previous.get("freeze_readings"), closed=is_terminal(chosen.adopted))
    # kept if the wait fails: a resume that adopts this Backup judges it with what this attempt saw
    ctx.journal.note("backup", clock_offset_s=clock_offset, freeze_readings=readings.readings, readings_of=name,
                     made_at=made_at)

    def probe() -> BackupSeen:
        readings.take()  # before the phase: every reading is from inside the backup's window
        obj = ctx.source.get(API_VERSION, "Backup", name, cfg.velero.namespace)
        if is_terminal((obj.get("status") or {}).get("phase")):
            return BackupSeen(obj, [])
        return BackupSeen(obj, ctx.source.list(API_VERSION, "PodVolumeBackup", cfg.velero.namespace,
                                               label_selector=f"velero.io/backup-name={name}"))

    try:
        final = wait_until(probe, timeout=cfg.velero.timeout_seconds, interval=1.0, what=f"Backup {name} to finish",
                           progress=BackupSeen.describe, on_progress=ctx.say).obj
    finally:
        readings.save()
    done_at = harbor_time_now(ctx)
    writable = [r["at"] for r in readings.readings if r.get("read_only") is False]
    if writable:
        ctx.say(f"  source Harbor was WRITABLE during the backup at {', '.join(writable[:5])} (Harbor's clock)")
    status = BackupStatus.from_obj(final)
    ctx.say(f"  {status.summary()}")
    pvbs = ctx.source.list(API_VERSION, "PodVolumeBackup", cfg.velero.namespace,
                           label_selector=f"velero.io/backup-name={name}")
    total_bytes = sum(((p.get("status") or {}).get("progress") or {}).get("totalBytes", 0) for p in pvbs)
    return {"backup": name, "phase": status.phase, "freeze_readings": readings.readings, "clock_offset_s": clock_offset,
            "backup_done_harbor_at": done_at,
            "items": status.items_backed_up, "total_items": status.total_items,
            "volumes": len(pvbs), "bytes": total_bytes, "started": status.started, "completed": status.completed,
            "pod_volumes": pod_volume_moves(pvbs)}
