"""restore: the target holds every PVC of the source, Bound, with its data restored, and every pod Ready."""

from __future__ import annotations

import pytest

from seatrial.checks.context import CheckContext
from seatrial.checks.facts import (
    cluster_made_warning,
    empty_volume_backup,
    parse_quantity,
    pod_volume_backups,
    pod_volume_restores,
    pod_volumes,
    pods,
    pvc_by_name,
    pvc_of,
    pvcs,
    pvrs_by_pod_volume,
    pvs_by_name,
    require_backup_name,
    require_restore_name,
    restore,
    restored_items,
)
from seatrial.checks.verdict import establishes, expect, fail, live, needs


def _restore_or_fail(ctx: CheckContext) -> dict:
    __tracebackhide__ = True
    obj = restore(ctx)
    if obj is None:
        fail(f"target: Restore {require_restore_name(ctx)} does not exist in namespace {ctx.config.velero.namespace}",
             "absent", "run the restore step, or pass the right --seatrial-restore NAME")
    return obj


def _restore_warnings(ctx: CheckContext, name: str) -> list[str]:
    results = ctx.memo(("restore-results", name), lambda: ctx.bucket.restore_results(name)) or {}
    found = []
    for value in (results.get("warnings") or {}).values():
        if isinstance(value, dict):
            for lines in value.values():
                found += list(lines or [])
        elif value:
            found += list(value)
    return found


@establishes("restore")
def test_restore_completed(ctx: CheckContext, record_fact):
    obj = _restore_or_fail(ctx)
    status = obj.get("status") or {}
    name = obj["metadata"]["name"]
    record_fact("restore", name)
    expect(status.get("phase") == "Completed", f"Restore {name} did not complete",
           f"phase={status.get('phase')} errors={status.get('errors', 0)} warnings={status.get('warnings', 0)} "
           f"failureReason={status.get('failureReason', '')!r} validationErrors={status.get('validationErrors')}",
           f"velero restore describe {name} --details; for FailedValidation check that the backup has synced")
    expect(not status.get("errors"), f"Restore {name} logged {status.get('errors')} error(s)",
           f"errors={status.get('errors')}", f"velero restore logs {name}")


@needs("restore")
def test_restore_created_everything(ctx: CheckContext, record_fact):
    """Judged from `restore-<r>-resource-list.json.gz`: a PVC, pod, workload, Secret or ConfigMap of the source
    that the restore skipped (it existed already) or failed. Objects the cluster makes in every new namespace
    (`kube-root-ca.crt`, ServiceAccount `default`) are skipped or merged on every real restore: not a failure."""
    obj = _restore_or_fail(ctx)
    name = obj["metadata"]["name"]
    existing = [w for w in _restore_warnings(ctx, name) if "already exists" in w and not cluster_made_warning(w)]
    listed = ctx.memo(("restore-resource-list", name), lambda: ctx.bucket.restore_resource_list(name))
    if listed is None:  # no resource list (damaged bucket): the warnings are all there is
        record_fact("judged_from", "restore warnings (the resource list is missing)")
        lost: list[str] = existing
    else:
        record_fact("judged_from", ctx.bucket.layout.restore_resource_list(name))
        lost = [str(item) for item in restored_items(listed) if item.lost]
    expect(not lost,
           f"Restore {name} skipped or failed {len(lost)} object(s) of the source: where the object already "
           "exists on the target, the restore skipped them and their volume data was NOT restored",
           f"{lost[:5]}; 'already exists' warning(s): {existing[:3] or 'none'}",
           "run `seatrial reset-target` (deletes the target namespace) and restore again into an absent namespace")


@needs("restore", "backup")  # a Restore that is not there is the cause, whatever the backup
@live("pvb", lambda ctx: pod_volume_backups(ctx, "source"),
      ids=lambda p: f"{p['spec']['pod']['name']}:{p['spec']['volume']}", allow_empty=True, empty="PodVolumeBackup")
def test_volume_restored(ctx: CheckContext, pvb, record_fact):
    """From the source's PodVolumeBackups: an empty set synced to the target would otherwise pass unnoticed."""
    spec, name = pvb["spec"], pvb["metadata"]["name"]
    if empty_volume_backup(pvb):  # Velero restores nothing for a volume it took no snapshot of: right if it is empty
        _shown_empty(ctx, pvb, f"PodVolumeBackup {name} took no snapshot, so nothing is restored into it")
        return
    synced = ctx.memo(("synced-pvb-names", require_backup_name(ctx)),
                      lambda: frozenset(p["metadata"]["name"] for p in pod_volume_backups(ctx, "target")))
    if name not in synced:
        fail(f"PodVolumeBackup {name} ({spec['pod']['name']}:{spec['volume']}) never reached the target: the "
             "restore reads PodVolumeBackups from the cluster, so this volume comes back EMPTY",
             f"{len(synced)} PodVolumeBackups of backup {require_backup_name(ctx)} on target",
             "check the bucket's <backup>-podvolumebackups.json.gz and the target's backup sync "
             "(velero backup-location get); then reset-target and restore again")
    snapshot = (pvb.get("status") or {}).get("snapshotID")
    pvrs = [p for p in pvrs_by_pod_volume(ctx).get((spec["pod"]["name"], spec["volume"]), [])
            if p["spec"].get("snapshotID") == snapshot]
    if not pvrs:
        fail(f"no PodVolumeRestore for {spec['pod']['name']}:{spec['volume']} in restore {require_restore_name(ctx)}: "
             "the target volume is empty", f"{len(pod_volume_restores(ctx))} PodVolumeRestores in this restore",
             "the pod already existed on target (restore into an absent namespace) or was excluded; reset and restore")
    status = pvrs[0].get("status") or {}
    restored = (status.get("progress") or {}).get("totalBytes")
    record_fact("bytes_restored", restored)  # for the report's table
    expect(status.get("phase") == "Completed",
           f"PodVolumeRestore {pvrs[0]['metadata']['name']} ({spec['pod']['name']}:{spec['volume']}) did not complete",
           f"phase={status.get('phase')} message={status.get('message', '')!r}",
           f"kubectl -n {ctx.config.velero.namespace} describe podvolumerestore {pvrs[0]['metadata']['name']}")
    if restored != 0:  # bytes restored, or no progress reported (nothing claims the volume empty)
        return
    backed_up = (((pvb.get("status") or {}).get("progress") or {}).get("totalBytes")) or 0
    expect(not backed_up, f"PodVolumeRestore {pvrs[0]['metadata']['name']} ({spec['pod']['name']}:{spec['volume']}) "
           f"restored 0 bytes of the {backed_up} its snapshot holds -- the target volume is EMPTY",
           f"PodVolumeRestore totalBytes={restored!r}; PodVolumeBackup {name} totalBytes={backed_up}",
           f"the node-agent on the target wrote into another directory than the pod's volume (check its host-pods "
           f"mount: kubectl -n {ctx.config.velero.namespace} get ds node-agent -o yaml); reset-target and restore "
           "again")
    _shown_empty(ctx, pvb, f"PodVolumeRestore {pvrs[0]['metadata']['name']} restored 0 bytes from a snapshot of 0 "
                           "bytes")


def _shown_empty(ctx: CheckContext, pvb: dict, claim: str) -> None:
    """A restore that carries nothing is right only for a source volume shown empty (seatrial.checks.emptiness)."""
    __tracebackhide__ = True
    from seatrial.checks.emptiness import shown_empty

    spec = pvb["spec"]
    claim_name = pvc_of(ctx, pvb)
    if not claim_name:
        return  # not a PVC (an emptyDir): nothing persistent to lose, as test_volume_backed_up judges only PVCs
    volumes = pod_volumes(ctx, "source")
    volume = next((v for v in volumes if (v.pod, v.volume) == (spec["pod"]["name"], spec["volume"])), None) or \
        next((v for v in volumes if claim_name and v.pvc == claim_name), None)
    if volume is None:
        pytest.skip(f"not judged: {claim}, and no source pod mounts its volume any more, so whether it was empty is "
                    "unknown")
    shown_empty(ctx, volume, claim)


def _compared_volumes(ctx: CheckContext) -> list[dict]:
    """The source's PodVolumeBackups of claims with a snapshot, when volumes.content_parity asks for the comparison.
    A pod's emptyDir is backed up too where Velero backs up every volume, and kopia snapshots it even empty (restic
    takes no snapshot of an empty one): scratch space the pod refills, not a volume the target must hold."""
    if not ctx.config.volumes.content_parity:
        return []
    return [p for p in pod_volume_backups(ctx, "source")
            if (p.get("status") or {}).get("snapshotID") and pvc_of(ctx, p)]


@needs("restore", "backup")  # a Restore that is not there is the cause, whatever the backup
@live("pvb", _compared_volumes, ids=lambda p: f"{p['spec']['pod']['name']}:{p['spec']['volume']}", allow_empty=True,
      empty="volume to compare (volumes.content_parity is off)")
def test_volume_content_identical(ctx: CheckContext, pvb, record_fact):
    """The restored volume holds what its snapshot holds, file by file (seatrial.checks.content_parity): read back
    from the repository into a scratch directory and compared with the target's PV directory."""
    import shutil
    import tempfile
    from datetime import datetime
    from pathlib import Path

    from seatrial.checks.content_parity import compare, entries, volume_directory, why_no_directory
    from seatrial.checks.repository import kopia_reader, restic_reader

    spec, status = pvb["spec"], pvb.get("status") or {}
    where = f"{spec['pod']['name']}:{spec['volume']}"
    pvr = next((p for p in pvrs_by_pod_volume(ctx).get((spec["pod"]["name"], spec["volume"]), [])
                if p["spec"].get("snapshotID") == status.get("snapshotID")), None)
    if pvr is None or (pvr.get("status") or {}).get("phase") != "Completed":
        pytest.skip(f"not judged: {where} has no Completed PodVolumeRestore to compare (test_volume_restored says "
                    "why)")
    uploader = (pvb.get("spec") or {}).get("uploaderType") or ctx.config.velero.uploader
    volume_namespace = spec["pod"].get("namespace") or ctx.config.source.namespace
    kopia = uploader == "kopia"
    if kopia and shutil.which("kopia") is None:
        pytest.skip(f"not judged: {where} was backed up by kopia and no `kopia` is on PATH to read its snapshot "
                    "back (install the kopia CLI, 0.16 or later, to compare it file by file)")
    claim = pvc_of(ctx, pvb) or ""
    target_pvc = pvc_by_name(ctx, "target").get(claim)
    csi_directory = ctx.config.volumes.csi_directories.get("target")
    directory = volume_directory(target_pvc, pvs_by_name(ctx, "target"), csi_directory)
    if directory is None:
        pv = pvs_by_name(ctx, "target").get(((target_pvc or {}).get("spec") or {}).get("volumeName") or "")
        pytest.skip(f"not judged: the target volume of PVC {claim} is not a directory on this machine: "
                    f"{why_no_directory(pv, csi_directory)} (content parity reads the volumes where seatrial can: "
                    "a rehearsal's PV directories); set volumes.csi_directories.target to where this machine holds "
                    "the target's CSI volumes, or volumes.content_parity: false where it cannot")
    completed = (pvr.get("status") or {}).get("completionTimestamp")
    restored_at = datetime.fromisoformat(completed.replace("Z", "+00:00")).timestamp() if completed else None
    scratch = Path(tempfile.mkdtemp(prefix="content-parity-", dir=ctx.config.run_dir))
    try:
        # reading a whole volume back may take as long as the restore did
        reader = (kopia_reader if kopia else restic_reader)(ctx, volume_namespace,
                                                            timeout=ctx.config.velero.timeout_seconds)
        try:
            reader.restore(status["snapshotID"], scratch)
        finally:
            if kopia:
                reader.close()
        result = compare(entries(scratch), entries(directory), restored_at)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record_fact("content", result.summary())  # the report's parity column
    by_hand = "kopia snapshot restore" if kopia else "restic restore"
    expect(result.identical,
           f"{where}: the restored volume (PVC {ctx.config.target.namespace}/{claim}) is not what snapshot "
           f"{status['snapshotID']} holds -- {len(result.differences)} path(s) differ", result.summary(),
           f"the data was damaged on the way or written over on the target; reset-target and restore again, then "
           f"compare by hand: {by_hand} {status['snapshotID']} {'DIR' if kopia else '--target DIR'}; "
           f"diff -r DIR {directory}")


def _source_pvcs(ctx: CheckContext) -> list[dict]:
    return pvcs(ctx, "source")


@needs("restore")  # a Restore that is not there explains a target without the PVCs: said once, not per PVC
@live("pvc", _source_pvcs, ids=lambda p: f"{p['metadata']['namespace']}/{p['metadata']['name']}", allow_empty=True,
      empty="PVC")
def test_pvc_restored_and_bound(ctx: CheckContext, pvc):
    name, ns = pvc["metadata"]["name"], ctx.config.target.namespace
    target = pvc_by_name(ctx, "target").get(name)
    if target is None:
        fail(f"PVC {ns}/{name} of the source is missing on the target (a chart would create it EMPTY)",
             f"target PVCs: {sorted(p['metadata']['name'] for p in pvcs(ctx, 'target'))}",
             "check the restore's included resources and its warnings; reset-target and restore again")
    phase = (target.get("status") or {}).get("phase")
    expect(phase == "Bound", f"PVC {ns}/{name} is not Bound on the target", f"phase={phase}",
           f"kubectl -n {ns} describe pvc {name}  (a missing StorageClass? map it in volumes.storage_class_mapping)")
    source_class = pvc["spec"].get("storageClassName")
    wanted_class = ctx.config.volumes.storage_class_mapping.get(source_class, source_class)
    expect(not source_class or target["spec"].get("storageClassName") == wanted_class,
           f"PVC {ns}/{name} has StorageClass {target['spec'].get('storageClassName')!r} on the target, not "
           f"{wanted_class!r}" + (f" (volumes.storage_class_mapping maps {source_class!r} to it)"
                                  if wanted_class != source_class else ""),
           f"source {source_class!r}, mapping {ctx.config.volumes.storage_class_mapping or '{}'}",
           f"the restore step creates ConfigMap {ctx.config.velero.namespace}/seatrial-change-storage-class (Velero's "
           "change-storage-class); reset-target and restore again with seatrial")
    pv = pvs_by_name(ctx, "target").get(target["spec"].get("volumeName", ""))
    claim = (pv or {}).get("spec", {}).get("claimRef") or {}
    expect(pv is not None and claim.get("name") == name and claim.get("namespace") == ns
           and claim.get("uid") in (None, target["metadata"].get("uid")),
           f"PV of PVC {ns}/{name} is not bound back to it", f"volumeName={target['spec'].get('volumeName')} "
           f"claimRef={claim}", f"kubectl get pv {target['spec'].get('volumeName')} -o yaml")
    wanted_text = ((pvc.get("status") or {}).get("capacity", {}).get("storage")
                   or pvc["spec"].get("resources", {}).get("requests", {}).get("storage"))
    got_text = (target.get("status") or {}).get("capacity", {}).get("storage")
    wanted, got = parse_quantity(wanted_text), parse_quantity(got_text)
    expect(wanted is not None and got is not None, f"PVC {ns}/{name}: a capacity is not a Kubernetes quantity",
           f"source {wanted_text!r}, target {got_text!r}", f"kubectl -n {ns} get pvc {name} -o yaml")
    expect(got >= wanted, f"PVC {ns}/{name} is smaller on the target than on the source",
           f"target {got:.0f} bytes < source {wanted:.0f} bytes", "restore onto a StorageClass that honours the size")


@needs("restore")
def test_no_extra_pvcs_on_target(ctx: CheckContext):
    source = {p["metadata"]["name"] for p in pvcs(ctx, "source")}
    extra = sorted(p["metadata"]["name"] for p in pvcs(ctx, "target") if p["metadata"]["name"] not in source)
    expect(not extra, "the target has PVCs the source did not have (renamed by the chart? they start EMPTY)",
           f"extra: {extra}", "set fullnameOverride / existingClaim so the release reuses the restored PVCs")


@needs("restore")
@live("pod", lambda ctx: pods(ctx, "target"), ids=lambda p: f"{p['metadata']['namespace']}/{p['metadata']['name']}")
def test_pod_ready(ctx: CheckContext, pod):
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    expect(status.get("phase") == "Running" and ready, f"pod {pod['metadata']['namespace']}/{pod['metadata']['name']}"
           " is not Ready on the target", f"phase={status.get('phase')} ready={ready}",
           f"kubectl -n {pod['metadata']['namespace']} describe pod {pod['metadata']['name']}")
