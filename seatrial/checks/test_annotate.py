"""annotate: every PVC-backed pod volume is covered by file-system backup, or deliberately excluded."""

from __future__ import annotations

from seatrial.checks.context import CheckContext
from seatrial.checks.facts import (
    annotate_command,
    corrected_opt_in,
    excluded_volumes,
    pod_by_name,
    pod_volumes,
    remove_opt_out_command,
    undeclared_opt_out,
)
from seatrial.checks.verdict import expect, live


def _pod(ctx: CheckContext, name: str) -> dict:
    return pod_by_name(ctx, "source")[name]


@live("volume", lambda ctx: pod_volumes(ctx, "source"), allow_empty=True, empty="PVC-backed pod volume")
def test_volume_covered(ctx: CheckContext, volume):
    from seatrial.runbook.clients.velero import fs_backup_volumes, pod_volume_opt_in

    pod = _pod(ctx, volume.pod)
    if volume.volume in excluded_volumes(ctx, pod):
        return  # deliberately excluded (configuration volumes.exclude)
    opted_out = undeclared_opt_out(ctx, volume, pod)
    expect(not opted_out, f"{volume} (PVC {volume.pvc}) would not be backed up{opted_out}",
           f"annotations of pod {volume.pod}: {pod['metadata'].get('annotations') or {}}",
           remove_opt_out_command(volume, pod))
    # seatrial's Backup sets defaultVolumesToFsBackup unless the journal says the opt-in mode was used
    default_fs = ctx.journal.step("annotate").get("mode", "default") == "default"
    covered = volume.volume in fs_backup_volumes(pod, default_fs)
    opt_in = sorted(pod_volume_opt_in(pod))
    hint = ""
    if volume.pvc in opt_in:
        hint = f" (the annotation names the PVC {volume.pvc!r}; Velero wants the pod VOLUME name {volume.volume!r})"
    expect(covered,
           f"{volume} (PVC {volume.pvc}) is not covered by file-system backup: the backup would say Completed "
           f"and carry no data for it{hint}",
           f"backup.velero.io/backup-volumes={','.join(opt_in) or '(none)'} on pod {volume.pod}",
           annotate_command(volume, volume.namespace, corrected_opt_in(volume, pod)))
