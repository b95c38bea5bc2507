"""restore: the target holds every PVC of the source, Bound, with its data restored, and every pod Ready."""

from __future__ import annotations

from seatrial.checks.context import CheckContext
from seatrial.checks.facts import (
    cluster_made_warning,
    empty_volume_backup,
    parse_quantity,
    pod_volume_backups,
    pod_volume_restores,
    pods,
    pvc_by_name,
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
    if empty_volume_backup(pvb):
        return  # Velero restores nothing for an empty volume (no snapshot)
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
    record_fact("bytes_restored", ((status.get("progress") or {}).get("totalBytes")))  # for the report's table
    expect(status.get("phase") == "Completed",
           f"PodVolumeRestore {pvrs[0]['metadata']['name']} ({spec['pod']['name']}:{spec['volume']}) did not complete",
           f"phase={status.get('phase')} message={status.get('message', '')!r}",
           f"kubectl -n {ctx.config.velero.namespace} describe podvolumerestore {pvrs[0]['metadata']['name']}")


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
