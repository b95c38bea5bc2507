"""Reading the backup repository from outside Velero, as velero-facts.md section e describes."""

from __future__ import annotations

import base64

from checks.context import CheckContext
from runbook.secrets import Secret


def repository_password(ctx: CheckContext) -> Secret:
    env = ctx.config.velero.repository_password_env
    if env:
        import os

        return Secret(os.environ[env], "repository-password")
    secret = next(s for s in ctx.objects("source", "v1", "Secret", ctx.config.velero.namespace)
                  if s["metadata"]["name"] == "velero-repo-credentials")
    return Secret(base64.b64decode(secret["data"]["repository-password"]).decode(), "repository-password")


def restic_snapshot_ids(ctx: CheckContext, backup_name: str) -> set[str]:
    from runbook.restic import Restic
    from runbook.velero import restic_repo_identifier

    storage = ctx.config.storage
    repo = restic_repo_identifier(storage.endpoint, storage.bucket, storage.prefix, ctx.config.source.namespace)
    restic = Restic(repo, repository_password(ctx),
                    env={"AWS_ACCESS_KEY_ID": storage.access_key, "AWS_SECRET_ACCESS_KEY": storage.secret_key})
    snapshots = restic.snapshots(tags={"backup": backup_name})
    ids = set()
    for snap in snapshots:
        ids.add(snap.get("id", ""))
        ids.add(snap.get("short_id", ""))
    ids.discard("")
    return ids


def kopia_repository_has_data(ctx: CheckContext) -> bool:
    return ctx.bucket.repo_has_data("kopia", ctx.config.source.namespace)
