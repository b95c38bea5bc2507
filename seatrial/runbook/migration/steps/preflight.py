"""preflight: read both clusters, the bucket and Harbor; choose the backup and restore names.

Changes nothing anywhere. The names are chosen here, once, and recorded, so that a resumed run uses
the same ones and the checks can prove them unused before anything is created.
"""

from __future__ import annotations

from seatrial.runbook.errors import ApiError, Unreachable
from seatrial.runbook.identity import refuse_if_target_is_source
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.migration.steps.names import new_name


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    return [
        f"read source {cfg.source.context} and target {cfg.target.context}: Velero Deployment, node-agent DaemonSet, "
        f"BackupStorageLocation {cfg.velero.storage_location}, velero-repo-credentials, namespaces, StorageClasses",
        f"read pods and PVCs of {cfg.source.namespace} on source",
        f"list backups/ and restores/ in s3 bucket {cfg.storage.bucket} prefix {cfg.storage.prefix or '(root)'}",
        f"GET {cfg.harbor.source_url}/api/v2.0/users/current (credentials)",
        f"GET namespace kube-system on both: refuse if target {cfg.target.context} is the source cluster "
        "(same server or kube-system UID) with the same namespace",
        "choose the backup and restore names (recorded in the journal)",
    ]


def apply(ctx: StepContext) -> dict:
    try:  # two context names for one cluster: nothing may be restored onto the source
        refuse_if_target_is_source(ctx)
    except (Unreachable, ApiError) as exc:
        if not exc.dependency_fault:
            raise
        ctx.say("  cannot compare the clusters' identities yet (a dependency fault; the checks below say which)")
    journal = ctx.journal
    recorded = {}
    for kind in ("backup", "restore"):
        name = journal.name(f"planned_{kind}")
        if not name:
            name = new_name(ctx, kind)
            if not ctx.dry_run:
                journal.record_name(f"planned_{kind}", name)
        recorded[f"planned_{kind}"] = name
        ctx.say(f"  {kind} name: {name}")
    return recorded
