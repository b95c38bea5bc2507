"""verify-harbor: the target Harbor is healthy, holds every artifact of the golden inventory by digest,
serves every (sampled) manifest and blob with a verified digest, and accepts a canary push."""

from __future__ import annotations

import os
import time

from seatrial.checks.context import CheckContext
from seatrial.checks.golden import golden_artifacts, golden_projects, sampled_artifacts, target_artifacts
from seatrial.checks.verdict import establishes, expect, fail, live, needs
from seatrial.runbook.errors import DigestMismatch, NotFound, SeatrialError

HEALTH_SETTLE_S = 60  # Harbor probes its components every 10 s; right after a start they read "unknown status"


def test_target_harbor_healthy(ctx: CheckContext):
    deadline = time.monotonic() + HEALTH_SETTLE_S
    while True:
        health = ctx.target_harbor.health()
        bad = {c["name"]: c.get("error", c.get("status")) for c in health.get("components", [])
               if c.get("status") != "healthy"}
        if (health.get("status") == "healthy" and not bad) or time.monotonic() >= deadline:
            break
        time.sleep(5)
    expect(health.get("status") == "healthy" and not bad, f"target Harbor {ctx.config.harbor.target_url} is unhealthy",
           f"status={health.get('status')} unhealthy components: {bad}",
           f"kubectl -n {ctx.config.target.namespace} get pods; check the components named above")


@establishes("target-harbor-login")
def test_target_credentials_authenticate(ctx: CheckContext):
    # The restored database carries the source's users: the same credentials must work on the target.
    from seatrial.runbook.errors import Unauthorized

    try:
        user = ctx.target_harbor.verify_credentials()
    except Unauthorized as exc:
        fail(f"target Harbor {ctx.config.harbor.target_url}: the credentials of user "
             f"{ctx.config.harbor.username!r} do not authenticate", exc.message,
             "the admin password is the one in the restored database: use the source's")
    expect(user.get("username") == ctx.config.harbor.username,
           f"target Harbor {ctx.config.harbor.target_url}: /users/current names another user than the configured one",
           f"username={user.get('username')!r}", "fix harbor.username")


@needs("target-harbor-login")
@live("project", golden_projects, allow_empty=True, empty="project")
def test_project_present(ctx: CheckContext, project: str):
    found = ctx.target_harbor.project(project)
    if found is None:
        listed = len(target_artifacts(ctx))
        fix = ("the target lists no artifact at all: the database volume was not restored (check the restore "
               "checks), then reset-target and restore again") if not listed else (
            f"the target holds {listed} artifacts of other projects: this project was deleted on the target since "
            "the restore, or on the source between the freeze and the backup (see the backup's read-only check)")
        fail(f"project {project} of the golden inventory is missing on the target Harbor",
             f"GET /api/v2.0/projects/{project} answered 404 on {ctx.config.harbor.target_url}", fix)


def _artifact_id(record: dict) -> str:
    return f"{record['repository']}@{record['digest'][:19]}"


@needs("target-harbor-login")
@live("artifact", golden_artifacts, ids=_artifact_id, allow_empty=True, empty="artifact")
def test_artifact_present(ctx: CheckContext, artifact, record_fact):
    record_fact("digest", artifact["digest"])
    found = target_artifacts(ctx).get((artifact["repository"], artifact["digest"]))
    if found is None:
        listed, golden = len(target_artifacts(ctx)), len(golden_artifacts(ctx))
        fix = ("the target lists no artifact at all: the database volume was not restored (check the restore "
               "checks), then reset-target and restore again") if not listed else (
            f"{listed} of the {golden} golden artifacts are there, not this one: it was deleted on the target since "
            "the restore, or on the source between the freeze and the backup (see the backup's read-only check); "
            "push it again from the source, or restore again")
        fail(f"artifact {artifact['repository']}@{artifact['digest']} is missing on the target Harbor",
             f"tags {artifact.get('tags')} size {artifact.get('size')}; the target lists {listed} artifacts", fix)
    expect(found.get("size") == artifact.get("size") and sorted(found.get("tags") or []) == sorted(
           artifact.get("tags") or []), f"artifact {artifact['repository']}@{artifact['digest']} differs on the target",
           f"size {found.get('size')} (golden {artifact.get('size')}), tags {found.get('tags')} "
           f"(golden {artifact.get('tags')})", "restore again from a backup taken while Harbor was read-only")


def _registry(ctx: CheckContext):
    return ctx.memo(("registry",), lambda: ctx.registry("target"))


def _verified(ctx: CheckContext) -> dict:
    """Every sampled artifact's manifests pulled, then every distinct blob they name verified once,
    `harbor.verify_workers` blobs at a time (seatrial.runbook/blob_verification.py)."""
    from seatrial.runbook.clients.blob_verification import verify_artifacts

    return ctx.memo(("verified-artifacts",), lambda: verify_artifacts(
        lambda: ctx.registry("target"), [(a["repository"], a["digest"]) for a in sampled_artifacts(ctx)],
        ctx.config.harbor.verify_workers))


@needs("target-harbor-login")
@live("artifact", sampled_artifacts, ids=_artifact_id, allow_empty=True, empty="artifact")
def test_artifact_pulls_with_verified_digests(ctx: CheckContext, artifact):
    try:
        outcome = _verified(ctx)[(artifact["repository"], artifact["digest"])]
        if isinstance(outcome, SeatrialError):
            raise outcome
        verified = outcome
    except DigestMismatch as exc:
        fail(f"artifact {artifact['repository']}@{artifact['digest']} is corrupt on the target", exc.message,
             exc.fix or "restore the registry volume again")
    except NotFound as exc:  # the registry answered, and has no such manifest or blob
        fail(f"artifact {artifact['repository']}@{artifact['digest']} cannot be pulled from the target (a listing "
             "alone proves nothing)", exc.message, "the registry volume lacks it: check the registry volume's "
             "restore (PodVolumeRestore), then reset-target and restore again")
    # any other error (5xx, transport, a proxy page) says nothing about the data: the framework reports it
    # with the client's own fix (a dependency problem), not as a missing volume
    expect(verified.size == artifact.get("size"), f"artifact {artifact['repository']}@{artifact['digest']}: pulled "
           "size differs from the inventory", f"{verified.size} != {artifact.get('size')}",
           "restore the registry volume again")


@needs("target-harbor-login")
def test_canary_push_and_pull(ctx: CheckContext, record_fact):
    """The one check that writes: a canary in its own project, pulled back, verified, and removed."""
    harbor, client = ctx.config.harbor, ctx.target_harbor
    project, repo = harbor.canary_project, f"{harbor.canary_project}/canary"
    created = False
    try:
        if client.project(project) is None:
            client.create_project(project)
            created = True
        pushed = _registry(ctx).push_image(repo, "canary", [os.urandom(64 * 1024), os.urandom(1024)])
        record_fact("canary_digest", pushed.digest)
        verified = _registry(ctx).verify_artifact(repo, pushed.digest)
        expect(verified.digest == pushed.digest, "the canary pulled back differs from the one pushed",
               f"{verified.digest} != {pushed.digest}", "check the target registry's storage")
    except SeatrialError as exc:
        if exc.exit_code == 3:  # the registry (or the way to it) failing says nothing of the target: not judged
            raise
        fail("canary push/pull on the target Harbor failed", exc.render(),
             "if DENIED read-only: run thaw-target; otherwise check the registry pod and its volume")
    finally:
        try:
            client.delete_repository(project, "canary")
            if created:
                client.delete_project(project)
        except SeatrialError:
            pass
