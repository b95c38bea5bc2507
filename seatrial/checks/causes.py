"""Root causes: facts that, when false, explain the failures of many checks at once.

A prerequisite is a named fact with a probe (`@prerequisite("key")`). Checks declare the facts they stand on
with `@needs("key")` and the one check whose own subject is the fact with `@establishes("key")`
(seatrial.checks.verdict).
The session evaluates each needed prerequisite once, before any check runs (seatrial.checks.conftest):

- the fact holds: nothing changes;
- it does not: the cause is reported ONCE, first, with its fix (by the check that establishes it, or by a
  `root_cause[key]` item when no such check is in the session), and every check that needs it is
  "not judged: <cause>" (a skip) instead of failing with a guess of its own.

A prerequisite may stand on another (`after=`): when that one fails, its cause is returned unchanged, so a
wrong backup name is one cause, not a second one about the missing tarball.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from seatrial.checks.context import CheckContext
from seatrial.runbook.errors import SeatrialError, Unauthorized

VELERO_V1 = "velero.io/v1"
NOT_JUDGED = "not judged: "


@dataclass(frozen=True)
class Cause:
    key: str
    what: str
    observed: str
    fix: str
    dependency_fault: bool = False  # the fact could not be read for a dependency's fault: the session exits 3

    def not_judged(self) -> str:
        return NOT_JUDGED + self.what


@dataclass(frozen=True)
class Prerequisite:
    key: str
    probe: Callable[[CheckContext], Cause | None]
    about: str  # what the fact is, for a probe that could not read it: "whether <about>"
    after: tuple[str, ...] = ()


PREREQUISITES: dict[str, Prerequisite] = {}


def prerequisite(key: str, about: str, *, after: tuple[str, ...] = ()):
    def register(probe: Callable[[CheckContext], Cause | None]):
        PREREQUISITES[key] = Prerequisite(key, probe, about, after)
        return probe

    return register


def cause_of(ctx: CheckContext, key: str) -> Cause | None:
    """The cause that makes `key` false (its own, or that of a prerequisite it stands on); None when it holds.
    Evaluated once per session; a probe that cannot read what it needs is a cause too, saying so."""

    def evaluate() -> Cause | None:
        spec = PREREQUISITES[key]
        for parent in spec.after:
            found = cause_of(ctx, parent)
            if found is not None:
                return found
        try:
            return spec.probe(ctx)
        except SeatrialError as exc:
            return Cause(key, f"could not find out whether {spec.about}", " ".join(exc.message.split()),
                         exc.fix or "see the message", dependency_fault=exc.exit_code == 3)

    return ctx.memo(("cause", key), evaluate)


# -- the prerequisites ------------------------------------------------------------------------------


def _harbor_login(ctx: CheckContext, side: str) -> Cause | None:
    harbor = ctx.config.harbor
    try:
        ctx.harbor(side).verify_credentials()
    except Unauthorized as exc:
        fix = ("the restored database carries the SOURCE's users: use the source Harbor's credentials "
               "(harbor.username, harbor.password_env / harbor.password_file)") if side == "target" else \
            "fix harbor.username and the password in harbor.password_env / harbor.password_file"
        return Cause(f"{side}-harbor-login", f"{side} Harbor {ctx.harbor_url(side)}: the credentials of user "
                     f"{harbor.username!r} do not authenticate (every listing would fall back to anonymous, every "
                     "pull to 401)", " ".join(exc.message.split()), fix)
    return None


@prerequisite("source-harbor-login", "the source Harbor accepts the configured credentials")
def _source_harbor_login(ctx: CheckContext) -> Cause | None:
    return _harbor_login(ctx, "source")


@prerequisite("target-harbor-login", "the target Harbor accepts the configured credentials")
def _target_harbor_login(ctx: CheckContext) -> Cause | None:
    return _harbor_login(ctx, "target")


@prerequisite("backup", "the backup to check exists on the source")
def _backup_exists(ctx: CheckContext) -> Cause | None:
    namespace = ctx.config.velero.namespace
    name = ctx.backup_name
    if not name:
        return Cause("backup", "the backup to check is unknown: this run directory's journal records no backup",
                     f"{ctx.journal.path} names no backup and no --seatrial-backup was given",
                     "run the backup step, or pass --seatrial-backup NAME for a backup made by hand")
    found = sorted(b["metadata"]["name"] for b in ctx.objects("source", VELERO_V1, "Backup", namespace))
    if name in found:
        return None
    given = "--seatrial-backup" if ctx.backup_option else f"the journal {ctx.journal.path}"
    return Cause("backup", f"source: Backup {name} (from {given}) does not exist in namespace {namespace}",
                 f"Backups there: {', '.join(found[-10:]) or 'none'}",
                 "pass the name of an existing Backup with --seatrial-backup NAME (see `velero backup get`), "
                 "or run the backup step")


@prerequisite("backup-tarball", "the bucket holds the backup tarball", after=("backup",))
def _backup_tarball(ctx: CheckContext) -> Cause | None:
    name = ctx.backup_name
    tarball = ctx.bucket.layout.backup_tarball(name)
    missing = ctx.memo(("missing-backup-keys", name), lambda: ctx.bucket.missing_backup_keys(name))
    if tarball not in missing:
        return None
    others = [key.rsplit("/", 1)[-1] for key in missing if key != tarball]
    listed = ctx.memo(("bucket-backups",), ctx.bucket.list_backups)
    if name in listed:
        where = "the bucket holds the backup's directory without it"
        fix = ("the object was removed after Velero wrote it (a lifecycle rule, a manual delete): find what deletes "
               "objects under the prefix, then back up again")
    else:
        where = f"the bucket has no directory for this backup (it has: {', '.join(sorted(listed)[-10:]) or 'none'})"
        fix = ("storage.bucket/storage.prefix are not where the source's BackupStorageLocation "
               f"{ctx.config.velero.storage_location!r} writes: compare them with `velero backup-location get`")
    return Cause("backup-tarball", f"the backup tarball of {name} is missing from {ctx.bucket.where}: no object "
                 "of the namespace can be restored from it",
                 f"{tarball} absent; {where}" + (f"; also missing: {', '.join(others)}" if others else ""), fix)


@prerequisite("restore", "the restore to check exists on the target")
def _restore_exists(ctx: CheckContext) -> Cause | None:
    namespace = ctx.config.velero.namespace
    name = ctx.restore_name
    if not name:
        return Cause("restore", "the restore to check is unknown: this run directory's journal records no restore",
                     f"{ctx.journal.path} names no restore and no --seatrial-restore was given",
                     "run the restore step, or pass --seatrial-restore NAME for a restore made by hand")
    found = sorted(r["metadata"]["name"] for r in ctx.objects("target", VELERO_V1, "Restore", namespace))
    if name in found:
        return None
    return Cause("restore", f"target: Restore {name} does not exist in namespace {namespace}",
                 f"Restores there: {', '.join(found[-10:]) or 'none'}",
                 "pass the name of an existing Restore with --seatrial-restore NAME (see `velero restore get`), "
                 "or run the restore step")


@prerequisite("backup-repository", "the restic repository opens", after=("backup",))
def _backup_repository(ctx: CheckContext) -> Cause | None:
    """restic: the repository opens with the password and keys seatrial has (one `restic snapshots`, the same
    call the snapshot checks then reuse). Only when a volume of the backup has a snapshot to look for."""
    from seatrial.checks.facts import pod_volume_backups
    from seatrial.checks.repository import restic_snapshots

    if ctx.config.velero.uploader != "restic":
        return None
    name, namespace = ctx.backup_name, ctx.config.source.namespace
    if not any((p.get("status") or {}).get("snapshotID") for p in pod_volume_backups(ctx)):
        return None
    try:
        ctx.memo(("snapshots", name, namespace), lambda: restic_snapshots(ctx, namespace, name))
    except SeatrialError as exc:
        return Cause("backup-repository", f"the restic repository of namespace {namespace} cannot be read: no "
                     "volume's snapshot can be looked up in it", " ".join(exc.message.split()),
                     exc.fix or "check velero.repository_password_env and the storage credentials",
                     dependency_fault=exc.exit_code == 3)
    return None
