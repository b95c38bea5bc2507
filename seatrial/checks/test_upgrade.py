"""upgrade: after the chart upgrade, every data PVC is the same object (UID) bound to the same PV, no PVC is
new, pods are Ready, Harbor reports the new chart's appVersion, and every artifact recorded before the upgrade
is still there by digest and pulls with verified digests; a canary is pushed and pulled.

Without an `upgrade:` section nothing was upgraded: the checks pass on `none`.
"""

from __future__ import annotations

import json

from seatrial.checks.context import CheckContext
from seatrial.checks.test_verify_harbor import test_canary_push_and_pull as canary_push_and_pull
from seatrial.checks.verdict import expect, fail, live
from seatrial.runbook.errors import DigestMismatch, SeatrialError


def _record(ctx: CheckContext) -> dict | None:
    if not ctx.config.upgrade.enabled:
        return None
    from seatrial.runbook.upgrade.step import read_record

    found = read_record(ctx.config.run_dir)
    if found is None:
        raise SeatrialError(f"no upgrade record in {ctx.config.run_dir}: the upgrade step has not run",
                            fix=f"seatrial -c {ctx.config.path} run --from upgrade")
    return found


def _before_pvcs(ctx: CheckContext) -> list[str]:
    record = _record(ctx)
    return sorted(record["pvcs"]) if record else []


def _now_pvcs(ctx: CheckContext) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in ctx.objects("target", "v1", "PersistentVolumeClaim",
                                                          ctx.config.target.namespace)}


def _pods(ctx: CheckContext) -> list[str]:
    if _record(ctx) is None:
        return []
    return sorted(p["metadata"]["name"] for p in ctx.objects("target", "v1", "Pod", ctx.config.target.namespace)
                  if (p.get("status") or {}).get("phase") != "Succeeded")


def _inventory(ctx: CheckContext) -> list[dict]:
    if _record(ctx) is None:
        return []
    from seatrial.runbook.migration.inventory import Inventory
    from seatrial.runbook.upgrade.step import INVENTORY_FILE

    return ctx.memo(("upgrade-inventory",), lambda: Inventory.from_json(
        (ctx.config.run_dir / INVENTORY_FILE).read_text()).artifact_records())


def _now_artifacts(ctx: CheckContext) -> dict[tuple[str, str], dict]:
    from seatrial.runbook.migration.inventory import take_inventory

    return ctx.memo(("upgrade-target-inventory",), lambda: {
        (r["repository"], r["digest"]): r for r in take_inventory(ctx.target_harbor).artifact_records()})


@live("pvc", _before_pvcs, allow_empty=True, empty="data PVC")
def test_data_pvc_same_object(ctx: CheckContext, pvc: str):
    before = _record(ctx)["pvcs"][pvc]
    now = _now_pvcs(ctx).get(pvc)
    namespace = ctx.config.target.namespace
    if now is None:
        fail(f"PVC {namespace}/{pvc} is gone after the upgrade", f"it was {before['phase']} on "
             f"{before['volumeName']}", "the new chart dropped it: check `seatrial upgrade-plan` (data_volume_still_"
             "served) and restore the volume from the backup")
    observed = {"uid": now["metadata"].get("uid"), "volumeName": (now.get("spec") or {}).get("volumeName"),
                "phase": (now.get("status") or {}).get("phase")}
    expect(observed["uid"] == before["uid"] and observed["volumeName"] == before["volumeName"],
           f"PVC {namespace}/{pvc} is not the same object on the same volume after the upgrade",
           f"before uid {before['uid']} on {before['volumeName']}; now uid {observed['uid']} on "
           f"{observed['volumeName']}", "the upgrade re-created it (--force or a delete): restore its data from the "
           "backup; upgrade without --force")
    expect(observed["phase"] == "Bound", f"PVC {namespace}/{pvc} is not Bound after the upgrade",
           f"phase {observed['phase']}", f"kubectl -n {namespace} describe pvc {pvc}")


def test_no_new_pvcs(ctx: CheckContext):
    record = _record(ctx)
    if record is None:
        return
    new = sorted(set(_now_pvcs(ctx)) - set(record["pvcs"]))
    expect(not new, f"the upgrade created {len(new)} new PVC(s) in {ctx.config.target.namespace}: new EMPTY volumes "
           "the new chart mounts instead of the data", ", ".join(new),
           "roll back (helm rollback), then upgrade with the values `seatrial upgrade-plan` computes "
           "(fix-values.yaml); delete the empty PVCs afterwards")


@live("pod", _pods, allow_empty=True, empty="pod")
def test_pod_ready(ctx: CheckContext, pod: str):
    namespace = ctx.config.target.namespace
    found = next((p for p in ctx.objects("target", "v1", "Pod", namespace) if p["metadata"]["name"] == pod), {})
    conditions = {c.get("type"): c.get("status") for c in (found.get("status") or {}).get("conditions") or []}
    expect(conditions.get("Ready") == "True", f"pod {namespace}/{pod} is not Ready after the upgrade",
           f"phase {(found.get('status') or {}).get('phase')}, conditions {conditions}",
           f"kubectl -n {namespace} describe pod {pod}")


def test_harbor_at_the_charts_app_version(ctx: CheckContext):
    record = _record(ctx)
    if record is None:
        return
    version = str(ctx.target_harbor.systeminfo().get("harbor_version", ""))
    expect(version.lstrip("v").split("-")[0] == record["app_version"],
           f"target Harbor does not report the new chart's appVersion {record['app_version']}",
           f"harbor_version {version!r} ({record['from']} -> {record['to']})",
           "a pod still runs the old image: check the rollouts (kubectl rollout status)")


def _artifact_id(record: dict) -> str:
    return f"{record['repository']}@{record['digest'][:19]}"


@live("artifact", _inventory, ids=_artifact_id, allow_empty=True, empty="artifact")
def test_artifact_kept(ctx: CheckContext, artifact: dict):
    found = _now_artifacts(ctx).get((artifact["repository"], artifact["digest"]))
    expect(found is not None, f"artifact {artifact['repository']}@{artifact['digest']} is gone after the upgrade",
           f"the target now lists {len(_now_artifacts(ctx))} artifacts", "Harbor came up on another (empty) database "
           "or registry volume: roll back and run `seatrial upgrade-plan`")


@live("artifact", _inventory, ids=_artifact_id, allow_empty=True, empty="artifact")
def test_artifact_pulls_after_upgrade(ctx: CheckContext, artifact: dict):
    registry = ctx.memo(("registry",), lambda: ctx.registry("target"))
    try:
        registry.verify_artifact(artifact["repository"], artifact["digest"])
    except DigestMismatch as exc:
        fail(f"artifact {artifact['repository']}@{artifact['digest']} is corrupt after the upgrade", exc.message,
             exc.fix or "restore the registry volume from the backup")
    except SeatrialError as exc:
        if exc.exit_code == 3:  # a dependency fault (5xx, transport, a proxy page): not judged, not a verdict
            raise
        fail(f"artifact {artifact['repository']}@{artifact['digest']} cannot be pulled after the upgrade",
             exc.message, "the registry mounts another volume than before: compare with the upgrade plan")


def test_canary_after_upgrade(ctx: CheckContext, record_fact):
    if _record(ctx) is not None:
        canary_push_and_pull(ctx, record_fact)


def test_upgrade_record_matches_the_configuration(ctx: CheckContext):
    record = _record(ctx)
    if record is None:
        return
    target = ctx.config.target
    expect((record["release"], record["namespace"]) == (target.release, target.namespace),
           "the upgrade record is of another release", json.dumps({k: record[k] for k in ("release", "namespace")}),
           "run the upgrade step again for this configuration")
