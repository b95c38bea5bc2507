"""backup: the Backup really holds the namespace and every volume's data, not just a `Completed`."""

from __future__ import annotations

import pytest

from seatrial.checks.context import CheckContext
from seatrial.checks.emptiness import harbor_floor, shown_empty, wrong_directory_fix
from seatrial.checks.facts import (
    TRAVELLING_KINDS,
    backup,
    empty_volume_backup,
    excluded_volumes,
    pod_by_name,
    pod_volume_backups,
    pod_volumes,
    pod_volumes_by_pvc,
    pvbs_by_pod_volume,
    pvbs_by_pvc,
    require_backup_name,
    tarball_index,
    undeclared_opt_out,
    volume_left_out_fix,
    zero_byte_volume_backup,
)
from seatrial.checks.verdict import establishes, expect, fail, live, needs


def _backup_or_fail(ctx: CheckContext) -> dict:
    __tracebackhide__ = True
    obj = backup(ctx)
    if obj is None:
        fail(f"source: Backup {require_backup_name(ctx)} does not exist in namespace {ctx.config.velero.namespace}",
             "absent", "run the backup step, or pass the right --seatrial-backup NAME")
    return obj


@establishes("backup")
def test_backup_completed(ctx: CheckContext, record_fact):
    obj = _backup_or_fail(ctx)
    status = obj.get("status") or {}
    record_fact("backup", obj["metadata"]["name"])
    expect(status.get("phase") == "Completed",
           f"Backup {obj['metadata']['name']} did not complete (only Completed is success; PartiallyFailed, "
           "Finalizing* and WaitingForPluginOperations* are not)",
           f"phase={status.get('phase')} errors={status.get('errors', 0)} warnings={status.get('warnings', 0)} "
           f"failureReason={status.get('failureReason', '')!r} validationErrors={status.get('validationErrors')}",
           f"velero backup describe {obj['metadata']['name']} --details; velero backup logs {obj['metadata']['name']}")


@needs("backup")
def test_backup_has_no_errors(ctx: CheckContext, record_fact):
    obj = _backup_or_fail(ctx)
    status = obj.get("status") or {}
    name = obj["metadata"]["name"]
    errors, warnings = _results(ctx, name, "errors"), _results(ctx, name, "warnings")
    record_fact("backup_warnings", len(warnings))
    expect(not status.get("errors") and not errors, f"Backup {name} logged {status.get('errors')} error(s)",
           f"errors: {errors[:5] or status.get('errors')}; warnings: {warnings[:5] or 'none'}",
           f"velero backup logs {name} | grep -i error; fix what they name and back up again")


def _results(ctx: CheckContext, name: str, which: str) -> list[str]:
    """The lines of `<name>-results.gz` ({"errors"|"warnings": {velero, cluster, namespaces: {ns: [...]}}})."""
    results = ctx.memo(("results", name), lambda: ctx.bucket.results(name)) or {}
    found = []
    for scope, value in (results.get(which) or {}).items():
        if isinstance(value, dict):
            for where, lines in value.items():
                found += [f"{where}: {line}" for line in lines or []]
        elif value:
            found += [f"{scope}: {line}" for line in value]
    return found


@needs("backup", "backup-tarball")
def test_every_item_backed_up(ctx: CheckContext, record_fact):
    """Every item of `<backup>-resource-list.json.gz` is in the tarball. (Velero sets progress.itemsBackedUp and
    totalItems both to the number backed up at the end of every backup, so comparing those proves nothing.)"""
    obj = _backup_or_fail(ctx)
    name = obj["metadata"]["name"]
    listed = ctx.memo(("resource-list", name), lambda: ctx.bucket.resource_list(name))
    if listed is None:
        record_fact("judged", "no: the resource list is missing (test_bucket_holds_full_layout names it)")
        return
    entries = {(entry.rsplit("/", 1)[0] if "/" in entry else "", entry.rsplit("/", 1)[-1])
               for entries in listed.values() for entry in entries or []}
    in_tarball = {(ns, item) for _, ns, item in tarball_index(ctx)}
    missing = sorted(f"{ns}/{item}" if ns else item for ns, item in entries - in_tarball)
    record_fact("items", len(entries))
    expect(not missing, f"Backup {name} lists {len(missing)} item(s) in its resource list that its tarball lacks",
           f"e.g. {missing[:5]} ({len(entries)} listed, {len(in_tarball)} in {name}.tar.gz)",
           "the tarball is damaged or was rewritten: back up again")


def _covered_volumes(ctx: CheckContext):
    return pod_volumes(ctx, "source")


@needs("backup")
@live("volume", _covered_volumes, allow_empty=True, empty="PVC-backed pod volume")
def test_volume_backed_up(ctx: CheckContext, volume, record_fact):
    pod = pod_by_name(ctx, "source")[volume.pod]
    record_fact("pvc", volume.pvc)  # the report's volume table reads these facts
    if volume.volume in excluded_volumes(ctx, pod):
        record_fact("excluded", "volumes.exclude")
        return  # deliberately excluded
    # by PVC first: a PVC shared by replicas is backed up once, from one pod; a pod recreated since has a new name
    pvbs = pvbs_by_pvc(ctx).get(volume.pvc) or pvbs_by_pod_volume(ctx).get((volume.pod, volume.volume), [])
    if not pvbs:
        from seatrial.runbook.clients.velero import pod_volume_opt_in

        opt_in = sorted(pod_volume_opt_in(pod))
        trap = (f"; the annotation backup.velero.io/backup-volumes names the PVC {volume.pvc!r}, Velero wants the "
                f"pod VOLUME name {volume.volume!r}") if volume.pvc in opt_in else ""
        fail(f"{volume} (PVC {volume.pvc}) was not backed up: no PodVolumeBackup for it in backup "
             f"{require_backup_name(ctx)}{undeclared_opt_out(ctx, volume, pod)} -- the target will get an EMPTY "
             f"volume{trap}",
             f"pod {volume.pod} backup.velero.io/backup-volumes={','.join(opt_in) or '(none)'}; PodVolumeBackups of "
             f"this backup: {sorted(_describe(p) for p in pod_volume_backups(ctx)) or 'none'}",
             volume_left_out_fix(ctx, volume, pod, backup(ctx)))
    pvb = next((p for p in pvbs if (p.get("status") or {}).get("phase") == "Completed"), pvbs[0])
    status = pvb.get("status") or {}
    total = (status.get("progress") or {}).get("totalBytes", 0)
    record_fact("snapshot_id", status.get("snapshotID", ""))
    record_fact("bytes", total)
    if (pvb.get("spec") or {}).get("pod", {}).get("name") != volume.pod:
        record_fact("backed_up_from", _describe(pvb))  # a shared PVC, or a pod recreated since the backup
    if empty_volume_backup(pvb) or zero_byte_volume_backup(pvb):
        # no snapshot (restic, a volume without entries) or one of 0 bytes (kopia; restic with lost+found): right
        # only for a volume shown empty at the source
        carried = "no snapshot" if empty_volume_backup(pvb) else "a snapshot of 0 bytes"
        claim = f"PodVolumeBackup {pvb['metadata']['name']} is Completed with {carried} (totalBytes {total})"
        record_fact("empty_evidence", shown_empty(ctx, volume, claim))
        record_fact("empty_volume", "true" if empty_volume_backup(pvb) else "true (a snapshot of 0 bytes)")
        return
    expect(status.get("phase") == "Completed" and status.get("snapshotID"),
           f"{volume}: PodVolumeBackup {pvb['metadata']['name']} did not complete with data",
           f"phase={status.get('phase')} snapshotID={status.get('snapshotID')!r} totalBytes={total} "
           f"message={status.get('message', '')!r}",
           f"kubectl -n {ctx.config.velero.namespace} describe podvolumebackup {pvb['metadata']['name']}")
    floor = harbor_floor(ctx, volume)
    expect(floor is None or total >= floor[0],
           f"{volume}: PodVolumeBackup {pvb['metadata']['name']} carried {total} bytes, fewer than the source Harbor "
           "says this volume holds -- the target would miss data", f"totalBytes={total}; {floor[1] if floor else ''}",
           wrong_directory_fix(ctx))


def _describe(pvb: dict) -> str:
    spec = pvb.get("spec") or {}
    return f"{spec.get('pod', {}).get('name')}:{spec.get('volume')}"


def _volume_info(ctx: CheckContext) -> list[dict]:
    name = require_backup_name(ctx)
    return ctx.memo(("volumeinfo", name), lambda: ctx.bucket.volume_info(name)) or []


@needs("backup")
@live("entry", _volume_info, ids=lambda e: f"{e.get('pvcNamespace')}/{e.get('pvcName')}", allow_empty=True,
      empty="volumeinfo entry")
def test_no_volume_silently_skipped(ctx: CheckContext, entry):
    if not entry.get("skipped"):
        return
    pvc = entry.get("pvcName")
    mounted = pod_volumes_by_pvc(ctx, "source").get(pvc, [])
    pod = pod_by_name(ctx, "source").get(mounted[0].pod) if mounted else None
    if mounted and mounted[0].volume in excluded_volumes(ctx, pod):
        return  # left out on purpose (volumes.exclude)
    if mounted and (mounted[0].pod, mounted[0].volume) not in pvbs_by_pod_volume(ctx):
        # the same fact as test_volume_backed_up's failure for this pod volume: reported there, once
        pytest.skip(f"not judged: reported by test_volume_backed_up[{mounted[0]}] (no PodVolumeBackup for it)")
    fix = volume_left_out_fix(ctx, mounted[0], pod, backup(ctx)) if mounted else (
        f"no pod of {ctx.config.source.namespace} mounts PVC {pvc}, and file-system backup reads volumes through "
        "their pods: scale its workload up before the backup, or list it in volumes.exclude if it is deliberate")
    fail(f"PVC {entry.get('pvcNamespace')}/{pvc} was skipped by the backup: its data is not in the bucket",
         f"volumeinfo skipped=true reason={entry.get('skippedReason')!r}", fix)


@establishes("backup-tarball")
def test_bucket_holds_full_layout(ctx: CheckContext):
    name = require_backup_name(ctx)
    missing = ctx.bucket.missing_backup_keys(name)
    expect(not missing, f"the bucket lacks files of backup {name}: the target cannot sync or restore it",
           f"missing: {missing}", "check the BSL's bucket/prefix and the backup's logs; back up again")


def _travelling_objects(ctx: CheckContext) -> list[tuple[str, str, str]]:
    """The source's objects the backup must hold: not those labelled `velero.io/exclude-from-backup=true` (Velero
    skips them; Harbor's backup guide labels Redis so). One created after the backup is judged, and told so."""
    ns = ctx.config.source.namespace
    found = []
    for api_version, kind, group_resource in TRAVELLING_KINDS:
        for obj in ctx.objects("source", api_version, kind, ns):
            meta = obj["metadata"]
            if kind == "Secret" and (obj.get("type") or "").startswith("kubernetes.io/service-account-token"):
                continue
            if kind == "ConfigMap" and meta["name"] == "kube-root-ca.crt":
                continue
            if (meta.get("labels") or {}).get("velero.io/exclude-from-backup") == "true":
                continue
            found.append((group_resource, ns, meta["name"]))
    return found


@needs("backup-tarball")
@live("item", _travelling_objects, ids=lambda i: f"{i[0]}/{i[1]}/{i[2]}")
def test_tarball_holds_object(ctx: CheckContext, item):
    group_resource, ns, name = item
    if item in tarball_index(ctx):
        return
    created, started = _created_at(ctx, group_resource, name), ((backup(ctx) or {}).get("status") or {}).get(
        "startTimestamp")
    if created and started and _instant(created) > _instant(started):
        fix = (f"it was created at {created}, after the backup started at {started}: back up again to carry it "
               "(or delete it on the source if it does not belong to the migration)")
    else:
        fix = "check the backup's includedNamespaces/includedResources and label selector, then back up again"
    fail(f"{group_resource} {ns}/{name} exists on the source but is not in the backup tarball",
         f"{require_backup_name(ctx)}.tar.gz holds {len(tarball_index(ctx))} items, not this one; created {created}, "
         f"backup started {started}", fix)


def _created_at(ctx: CheckContext, group_resource: str, name: str) -> str | None:
    for api_version, kind, resource in TRAVELLING_KINDS:
        if resource == group_resource:
            found = next((o for o in ctx.objects("source", api_version, kind, ctx.config.source.namespace)
                          if o["metadata"]["name"] == name), None)
            return (found or {}).get("metadata", {}).get("creationTimestamp")
    return None


def _instant(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@needs("backup", "backup-repository")
@live("pvb", lambda ctx: pod_volume_backups(ctx), ids=_describe, allow_empty=True, empty="PodVolumeBackup")
def test_snapshot_in_repository(ctx: CheckContext, pvb, record_fact):
    status = pvb.get("status") or {}
    snapshot = status.get("snapshotID")
    ns = pvb["spec"]["pod"].get("namespace") or ctx.config.source.namespace
    if empty_volume_backup(pvb):
        record_fact("verified", "empty volume: Velero took no snapshot")
        return
    expect(status.get("phase") == "Completed" and bool(snapshot),
           f"PodVolumeBackup {pvb['metadata']['name']} ({_describe(pvb)}) has no snapshot to look for",
           f"phase={status.get('phase')} snapshotID={snapshot!r} message={status.get('message', '')!r}",
           f"kubectl -n {ctx.config.velero.namespace} describe podvolumebackup {pvb['metadata']['name']}")
    recorded = ctx.memo(("pvb-snapshots-in-bucket", require_backup_name(ctx)), lambda: {
        p.get("metadata", {}).get("name"): (p.get("status") or {}).get("snapshotID")
        for p in ctx.bucket.pod_volume_backups(require_backup_name(ctx)) or []})
    # the target's restore finds PodVolumeBackups only through this file (backup sync)
    expect(recorded.get(pvb["metadata"]["name"]) == snapshot,
           f"PodVolumeBackup {pvb['metadata']['name']} ({_describe(pvb)}) is not recorded with its snapshot in the "
           f"bucket's {require_backup_name(ctx)}-podvolumebackups.json.gz: the target will restore no data for it",
           f"recorded snapshot: {recorded.get(pvb['metadata']['name'], '(absent)')!r}, {len(recorded)} records",
           "back up again (the side file is written at the end of the backup)")
    # each PodVolumeBackup says which uploader wrote it (the server's --uploader-type), whatever the configuration
    if ((pvb.get("spec") or {}).get("uploaderType") or ctx.config.velero.uploader) == "kopia":
        _snapshot_in_kopia_repository(ctx, pvb, ns, snapshot, record_fact)
        return
    from seatrial.checks.repository import restic_snapshots

    name = require_backup_name(ctx)
    repository, snapshots = ctx.memo(("snapshots", name, ns), lambda: restic_snapshots(ctx, ns, name))
    record_fact("verified", f"restic snapshots of {repository} tagged backup={name}")
    expect(snapshot in snapshots, f"PodVolumeBackup {pvb['metadata']['name']} ({_describe(pvb)}) names snapshot "
           f"{snapshot!r}, which is not in the restic repository", f"{len(snapshots)} snapshot(s) tagged "
           f"backup={name} in {repository}: {sorted(s[:8] for s in snapshots)}",
           "the volume's data is gone from the repository (forgotten or pruned): back up again")


def _snapshot_in_kopia_repository(ctx: CheckContext, pvb: dict, ns: str, snapshot: str, record_fact) -> None:
    """The kopia levels of seatrial.checks.repository, as far as they can run here; the fact `verified` says which
    ran."""
    from seatrial.checks.repository import RepositoryPasswordUnknown, kopia_cli_snapshots, kopia_format, kopia_window
    from seatrial.runbook.clients.kopia import WrongPassword
    from seatrial.runbook.errors import NotFound

    what = f"PodVolumeBackup {pvb['metadata']['name']} ({_describe(pvb)})"
    root = ctx.bucket.layout.kopia_repo(ns)
    try:
        fmt = kopia_format(ctx, ns)
    except NotFound:
        fail(f"{what}: the kopia repository of namespace {ns} has no kopia.repository, so snapshot {snapshot!r} "
             "cannot be in it", f"no {root}kopia.repository in the bucket",
             "check the BSL's bucket/prefix and the node-agent logs; back up again")
    except RepositoryPasswordUnknown as exc:
        fail(f"{what}: the kopia repository of namespace {ns} cannot be opened: its password is unknown",
             exc.message, exc.fix or "")
    except WrongPassword as exc:
        fail(f"{what}: the repository password does not open the kopia repository of namespace {ns}",
             str(exc), exc.fix or "")
    levels = [f"1: the repository password opens {root}kopia.repository ({fmt.encryption}, {fmt.hash})"]
    writes, window = kopia_window(ctx, ns, pvb)
    zero = not ((pvb.get("status") or {}).get("progress") or {}).get("totalBytes")
    expect(writes is not None and bool(writes.index) and (zero or bool(writes.packs)),
           f"{what}: nothing was written into the kopia repository of namespace {ns} during the backup of this "
           f"volume, so snapshot {snapshot!r} cannot be from it",
           f"window {window}: index blobs {list(writes.index) if writes else '?'}, pack blobs "
           f"{list(writes.packs)[:5] if writes else '?'} under {root}",
           "check that both clusters' BSLs and the node-agent use this bucket and prefix; back up again")
    levels.append(f"2: {len(writes.index)} index and {len(writes.packs)} pack blob(s) written in {window}")
    listed = kopia_cli_snapshots(ctx, ns)
    if listed is None:
        levels.append("3: not run (no kopia on PATH): the snapshot manifest itself was not opened")
    else:
        repository, ids = listed
        expect(snapshot in ids, f"{what} names snapshot {snapshot!r}, which kopia does not list in {repository}",
               f"{len(ids)} snapshot(s) in the repository, not this one: {sorted(ids)[:5]}",
               "the volume's data is gone from the repository (deleted or maintained away): back up again")
        levels.append(f"3: kopia snapshot list --all in {repository} lists manifest {snapshot}")
    record_fact("kopia_levels", ",".join(level[0] for level in levels if "not run" not in level))
    record_fact("verified", "kopia level " + "; level ".join(levels))


@needs("backup")
def test_source_read_only_during_backup(ctx: CheckContext):
    obj = _backup_or_fail(ctx)
    freeze = ctx.journal.step("freeze")
    started = (obj.get("status") or {}).get("startTimestamp")
    completed = (obj.get("status") or {}).get("completionTimestamp")
    step = ctx.journal.step("backup")
    readings = step.get("freeze_readings") or [] if step.get("backup") in (None, obj["metadata"]["name"]) else []
    writable = [r["at"] for r in readings if r.get("read_only") is False]
    expect(not writable, f"source Harbor was seen WRITABLE during Backup {obj['metadata']['name']}: pushes made then "
           "may be missing from the backup", f"read_only=false at {', '.join(writable[:5])} (Harbor's clock; "
           f"{len(readings)} readings), backup window {started}..{completed}",
           "keep the source read-only (nothing may thaw it during the backup), then freeze and back up again: "
           "seatrial run --from freeze")
    if freeze.get("frozen_at"):
        from datetime import datetime

        start = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() if started else 0
        thawed = ctx.journal.step("freeze").get("thawed_at")
        end = datetime.fromisoformat(completed.replace("Z", "+00:00")).timestamp() if completed else float("inf")
        # frozen_at/thawed_at are this machine's clock, the window the cluster's: shift by the offset the backup
        # step measured (whole seconds, so one more second of slack); without it, the clocks are taken as equal
        offset = step.get("clock_offset_s") if step.get("backup") in (None, obj["metadata"]["name"]) else None
        shift, slack = (offset, 2) if isinstance(offset, int | float) else (0.0, 1)
        expect(freeze["frozen_at"] + shift <= start + slack and (thawed is None or thawed + shift >= end - slack + 1),
               "source Harbor was not read-only for the whole backup window: pushes during it are lost",
               f"frozen at {freeze['frozen_at']}, backup {started}..{completed}, thawed at {thawed} (this machine's "
               f"clock; the cluster's is {shift:+.0f} s from it)", "freeze, then back up again")
        return
    read_only = ctx.source_harbor.read_only()
    expect(read_only, "source Harbor is not read-only and no journal proves it was during the backup",
           f"read_only={read_only}", "run the freeze step before the backup (PUT /configurations read_only=true)")


@needs("backup")
def test_nothing_written_to_the_source_during_the_freeze(ctx: CheckContext):
    """The freeze proven from what the source Harbor recorded (seatrial.checks.freeze_proof): no artifact pushed,
    no tag made or moved, no repository or project created from the freeze to the backup's completion -- a thaw
    between two read_only readings leaves exactly these traces."""
    from seatrial.checks.freeze_proof import harbor_now, window, writes_inside

    obj = _backup_or_fail(ctx)
    step = ctx.journal.step("backup")
    backup = step if step.get("backup") in (None, obj["metadata"]["name"]) else {}
    harbor = ctx.source_harbor
    inside = window(ctx.journal.step("freeze"), backup, harbor_now(harbor))
    if inside is None:
        pytest.skip("the journal records no freeze (the freeze step did not run through seatrial): there is no "
                    "window to prove it from")
    writes = writes_inside(harbor, inside)
    expect(not writes, f"the source Harbor recorded {len(writes)} write(s) during the freeze: they are missing from "
           f"Backup {obj['metadata']['name']}", f"{'; '.join(writes[:5])}{' ...' if len(writes) > 5 else ''}; "
           f"freeze window {inside.describe()}",
           "keep the source read-only for the whole move (nothing may thaw it), then freeze and back up again: "
           "seatrial run --from freeze")
