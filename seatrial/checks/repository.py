"""Reading the backup repository from outside Velero, as reference/velero-facts.md section e describes:
`restic snapshots --tag backup=<name>` on the BackupRepository's resticIdentifier, through
seatrial.runbook.clients.restic
(the repository password and the S3 keys go in the environment, never on the command line); for kopia the
levels of seatrial.runbook.clients.kopia: (1) the password opens `kopia.repository`, (2) index and pack blobs written
in the
PodVolumeBackup's time window, (3) the snapshot manifest, by ID, through the real kopia CLI when it is on PATH."""

from __future__ import annotations

import base64

from seatrial.checks.context import CheckContext
from seatrial.runbook.errors import NotFound, SeatrialError
from seatrial.runbook.secrets import Secret

VELERO_V1 = "velero.io/v1"
RESTIC_TIMEOUT_S = 300
RESTIC_CACHE = "restic-cache"  # under run_dir: seatrial's own restic cache, never Velero's or the user's


class RepositoryPasswordUnknown(SeatrialError):
    """The repository exists but its password could not be read (not NotFound: that means no repository)."""


def repository_password(ctx: CheckContext, side: str = "source") -> Secret:
    if ctx.config.velero.repository_password is not None:
        return ctx.config.velero.repository_password
    ns = ctx.config.velero.namespace
    secret = next((s for s in ctx.objects(side, "v1", "Secret", ns)
                   if s["metadata"]["name"] == "velero-repo-credentials"), None)
    encoded = ((secret or {}).get("data") or {}).get("repository-password")
    if encoded is None:
        raise NotFound(f"{side}: secret {ns}/velero-repo-credentials (key repository-password) is absent: the "
                       "repository password is unknown", fix="set velero.repository_password_env, or check Velero's "
                       f"installation on the {side}")
    return Secret(base64.b64decode(encoded).decode(), "repository-password")


def restic_repository(ctx: CheckContext, volume_namespace: str) -> str:
    """The `-r` value as seatrial reaches it: the path of the source's BackupRepository `spec.resticIdentifier`
    (else of the BSL's `resticRepoPrefix`, else Velero's layout), on the host of `storage.endpoint` -- Velero's
    identifier names the bucket as the pods reach it (the BSL's s3Url), which often does not resolve here."""
    from seatrial.runbook.clients.velero import restic_repo_identifier

    velero, storage = ctx.config.velero, ctx.config.storage
    for repo in ctx.objects("source", VELERO_V1, "BackupRepository", velero.namespace):
        spec = repo.get("spec") or {}
        if spec.get("volumeNamespace") == volume_namespace and spec.get("repositoryType") == "restic" \
                and spec.get("backupStorageLocation") == velero.storage_location and spec.get("resticIdentifier"):
            return through_endpoint(spec["resticIdentifier"], storage.endpoint)
    bsl = next((b for b in ctx.objects("source", VELERO_V1, "BackupStorageLocation", velero.namespace)
                if b["metadata"]["name"] == velero.storage_location), {})
    prefix = ((bsl.get("spec") or {}).get("config") or {}).get("resticRepoPrefix")
    if prefix:  # Velero: config.resticRepoPrefix replaces the layout (pkg/repository/config/config.go)
        return through_endpoint(f"{prefix.rstrip('/')}/{volume_namespace}", storage.endpoint)
    return restic_repo_identifier(storage.endpoint, storage.bucket, storage.prefix, volume_namespace)


def through_endpoint(identifier: str, endpoint: str) -> str:
    """`s3:http://<Velero's address>/<bucket>/<path>` with seatrial's endpoint instead of Velero's address."""
    from urllib.parse import urlsplit

    if not identifier.startswith(("s3:http://", "s3:https://")) or not endpoint:
        return identifier
    path = urlsplit(identifier[len("s3:"):]).path
    return f"s3:{endpoint.rstrip('/')}{path}"


def restic_reader(ctx: CheckContext, volume_namespace: str, timeout: float = RESTIC_TIMEOUT_S):
    """The real restic on the namespace's repository, as seatrial reaches it, with seatrial's own cache."""
    from seatrial.runbook.clients.restic import Restic

    storage = ctx.config.storage
    env: dict[str, Secret | str] = {"AWS_ACCESS_KEY_ID": storage.access_key,
                                    "AWS_SECRET_ACCESS_KEY": storage.secret_key,
                                    "AWS_DEFAULT_REGION": storage.region or "us-east-1"}
    if isinstance(storage.verify, str):
        env["RESTIC_CACERT"] = storage.verify  # restic's --cacert, from the environment
    return Restic(restic_repository(ctx, volume_namespace), repository_password(ctx), env=env,
                  timeout=timeout, cache_dir=ctx.config.run_dir / RESTIC_CACHE,
                  options=("--insecure-tls",) if storage.insecure else ())


def restic_snapshots(ctx: CheckContext, volume_namespace: str, backup_name: str) -> tuple[str, set[str]]:
    """(repository, ids) of the snapshots tagged backup=<name>; ids hold full and short forms.

    One `restic --no-lock snapshots --tag backup=<name>` (read-only on the bucket) with a cache
    directory of seatrial's own in run_dir: snapshot files read once are not read again, so the S3
    requests of a later check follow what is new in the repository, not its whole history."""
    restic = restic_reader(ctx, volume_namespace)
    ids: set[str] = set()
    for snapshot in restic.snapshots({"backup": backup_name}):
        ids.update(v for v in (snapshot.get("id"), snapshot.get("short_id")) if v)
    return restic.name, ids


def kopia_repository_has_data(ctx: CheckContext, volume_namespace: str) -> bool:
    """One S3 LIST per namespace per session, whatever the number of PodVolumeBackups asking."""
    return ctx.memo(("kopia-has-data", volume_namespace),
                    lambda: ctx.bucket.repo_has_data("kopia", volume_namespace))


# -- kopia ----------------------------------------------------------------------------------------------

def kopia_format(ctx: CheckContext, volume_namespace: str, side: str = "source"):
    """Level 1: `kopia.repository` opened with `side`'s repository password
    (seatrial.runbook.clients.kopia.KopiaFormat);
    NotFound when the repository does not exist, RepositoryPasswordUnknown when `side` has no password for
    it, WrongPassword when the password does not open it."""
    from seatrial.runbook.clients.kopia import FORMAT_BLOB, open_format

    where = ctx.bucket.layout.kopia_repo(volume_namespace) + FORMAT_BLOB

    def opened():
        blob = ctx.bucket.kopia_format_blob(volume_namespace)
        try:
            password = repository_password(ctx, side)
        except NotFound as exc:
            raise RepositoryPasswordUnknown(exc.message, fix=exc.fix) from None
        return open_format(blob, password, where=where)

    return ctx.memo(("kopia-format", side, volume_namespace), opened)


def kopia_window(ctx: CheckContext, volume_namespace: str, pvb: dict):
    """Level 2: (writes, window text) for the blobs of the namespace's repository written during the PVB."""
    from seatrial.runbook.clients.kopia import parse_time, writes_in_window

    status = pvb.get("status") or {}
    start, end = parse_time(status.get("startTimestamp")), parse_time(status.get("completionTimestamp"))
    if start is None or end is None:
        return None, f"startTimestamp={status.get('startTimestamp')!r} completionTimestamp=" \
                     f"{status.get('completionTimestamp')!r}"
    blobs = ctx.memo(("kopia-blobs", volume_namespace), lambda: ctx.bucket.kopia_blobs(volume_namespace))
    return writes_in_window(blobs, start, end), f"{status['startTimestamp']}..{status['completionTimestamp']}"


def kopia_reader(ctx: CheckContext, volume_namespace: str, timeout: float = RESTIC_TIMEOUT_S):
    """The real kopia CLI connected read-only to the namespace's repository, as seatrial reaches it; the caller
    closes it. None when no `kopia` is on PATH."""
    import shutil

    from seatrial.runbook.clients.kopia import KopiaCli

    if shutil.which("kopia") is None:
        return None
    storage = ctx.config.storage
    return KopiaCli(storage.bucket, ctx.bucket.layout.kopia_repo(volume_namespace), storage.endpoint,
                    repository_password(ctx), storage.access_key, storage.secret_key, region=storage.region or "",
                    verify=storage.verify, timeout=timeout)


def kopia_cli_snapshots(ctx: CheckContext, volume_namespace: str) -> tuple[str, set[str]] | None:
    """Level 3: (repository, ids) of every snapshot in the namespace's repository, through the real kopia CLI;
    None when no `kopia` is on PATH."""
    import shutil

    if shutil.which("kopia") is None:
        return None

    def listed() -> tuple[str, set[str]]:
        cli = kopia_reader(ctx, volume_namespace)
        try:
            return cli.name, cli.snapshot_ids()
        finally:
            cli.close()

    return ctx.memo(("kopia-snapshots", volume_namespace), listed)
