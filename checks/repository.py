"""Reading the backup repository from outside Velero, as reference/velero-facts.md section e describes:
`restic -r <resticIdentifier> snapshots --tag backup=<name>` with the repository password and the S3 keys
passed in the environment (never on the command line)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile

from checks.context import CheckContext
from runbook.errors import ApiError, BadInput, NotFound, Unreachable
from runbook.secrets import Secret, redact

VELERO_V1 = "velero.io/v1"
RESTIC_TIMEOUT_S = 300


def repository_password(ctx: CheckContext) -> Secret:
    if ctx.config.velero.repository_password is not None:
        return ctx.config.velero.repository_password
    ns = ctx.config.velero.namespace
    secret = next((s for s in ctx.objects("source", "v1", "Secret", ns)
                   if s["metadata"]["name"] == "velero-repo-credentials"), None)
    encoded = ((secret or {}).get("data") or {}).get("repository-password")
    if encoded is None:
        raise NotFound(f"source: secret {ns}/velero-repo-credentials (key repository-password) is absent: the "
                       "repository password is unknown", fix="set velero.repository_password_env, or check Velero's "
                       "installation on the source")
    return Secret(base64.b64decode(encoded).decode(), "repository-password")


def restic_repository(ctx: CheckContext, volume_namespace: str) -> str:
    """The `-r` value: the source's BackupRepository `spec.resticIdentifier`, else derived from the BSL."""
    from runbook.velero import restic_repo_identifier

    velero = ctx.config.velero
    for repo in ctx.objects("source", VELERO_V1, "BackupRepository", velero.namespace):
        spec = repo.get("spec") or {}
        if spec.get("volumeNamespace") == volume_namespace and spec.get("repositoryType") == "restic" \
                and spec.get("backupStorageLocation") == velero.storage_location and spec.get("resticIdentifier"):
            return spec["resticIdentifier"]
    bsl = next((b for b in ctx.objects("source", VELERO_V1, "BackupStorageLocation", velero.namespace)
                if b["metadata"]["name"] == velero.storage_location), {})
    s3_url = ((bsl.get("spec") or {}).get("config") or {}).get("s3Url") or ctx.config.storage.endpoint
    storage = ctx.config.storage
    return restic_repo_identifier(s3_url, storage.bucket, storage.prefix, volume_namespace)


def restic_snapshots(ctx: CheckContext, volume_namespace: str, backup_name: str) -> tuple[str, set[str]]:
    """(repository, ids) of the snapshots tagged backup=<name>; ids hold full and short forms."""
    binary = shutil.which("restic")
    if binary is None:
        raise BadInput("restic is not installed: the snapshots of the backup cannot be verified",
                       fix="install restic (apt-get install restic)")
    repository = restic_repository(ctx, volume_namespace)
    storage = ctx.config.storage
    with tempfile.TemporaryDirectory(prefix="seatrial-restic-") as cache:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cache, "RESTIC_CACHE_DIR": cache,
               "RESTIC_PASSWORD": repository_password(ctx).reveal(),
               "AWS_ACCESS_KEY_ID": storage.access_key.reveal(), "AWS_SECRET_ACCESS_KEY": storage.secret_key.reveal(),
               "AWS_DEFAULT_REGION": storage.region or "us-east-1"}
        if isinstance(storage.verify, str):
            env["RESTIC_CACERT"] = storage.verify  # restic reads --cacert from this variable
        command = [binary, "-r", repository, "snapshots", "--json", "--no-lock", "--tag", f"backup={backup_name}"]
        if storage.verify is False:
            command.append("--insecure-tls")
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RESTIC_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise Unreachable(f"restic snapshots on {repository} did not answer within {RESTIC_TIMEOUT_S}s",
                              fix="check storage.endpoint and that the object store answers") from None
    if done.returncode != 0:
        message = redact(" ".join(done.stderr.split()))[:400]
        fix = ("the repository password differs from the one Velero used (velero-repo-credentials)"
               if "wrong password" in message else "check the repository address, the S3 keys and the password")
        raise ApiError(f"restic snapshots on {repository} failed (exit {done.returncode}): {message}", fix=fix)
    ids: set[str] = set()
    for snapshot in json.loads(done.stdout or "[]") or []:
        ids.update(v for v in (snapshot.get("id"), snapshot.get("short_id")) if v)
    return repository, ids


def kopia_repository_has_data(ctx: CheckContext, volume_namespace: str) -> bool:
    return ctx.bucket.has_objects_under("kopia", volume_namespace)
