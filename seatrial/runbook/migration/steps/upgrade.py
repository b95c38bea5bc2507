"""upgrade: the Helm chart upgrade of the target release (the `upgrade:` section), after verify-harbor, or alone
on an existing release (`seatrial run --from upgrade`). Its plan is the guard (`seatrial upgrade-plan`): a
finding stops the step before any change. Then the PVC objects and Harbor's inventory are recorded, the
release is upgraded by the real engine (three-way merge, never `--force`), and every rollout is waited for;
a stuck one is named with its pod, PVC, cause and fix, and rolled back with `rollback_on_failure`."""

from __future__ import annotations

from seatrial.runbook.errors import CheckFailed
from seatrial.runbook.migration.steps.context import StepContext


def plan(ctx: StepContext) -> list[str]:
    upgrade, target = ctx.config.upgrade, ctx.config.target
    if not upgrade.enabled:
        return ["nothing: no `upgrade:` section in the configuration"]
    chart = upgrade.chart + (f" {upgrade.version}" if upgrade.version else "")
    return [f"guard: render {chart} for release {target.release} ({target.namespace}) and compare with the live "
            "release (seatrial upgrade-plan); any finding stops here, nothing changed",
            f"record the PVC objects of {target.namespace} and the target Harbor's inventory",
            f"helm upgrade {target.release} on context {target.context} (three-way merge, never replace), values: "
            f"{', '.join(str(p) for p in upgrade.values) or 'none'}",
            f"wait for every rollout (timeout {upgrade.timeout_seconds}s)"
            + ("; roll back on failure" if upgrade.rollback_on_failure or ctx.rollback_on_failure else "")]


def apply(ctx: StepContext) -> dict:
    upgrade, target = ctx.config.upgrade, ctx.config.target
    if not upgrade.enabled:
        ctx.say("  no `upgrade:` section: nothing to upgrade")
        return {"configured": False}
    from seatrial.runbook.clients import helm
    from seatrial.runbook.migration.inventory import take_inventory
    from seatrial.runbook.upgrade.step import INVENTORY_FILE, guard, pvc_objects, record, upgrade_and_wait

    run_dir = ctx.config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    guarded = guard(ctx.target, upgrade, release=target.release, namespace=target.namespace, run_dir=run_dir,
                    say=ctx.say)
    if guarded.plan.exit_code:
        fix = f"apply the fixes above, e.g. add {guarded.files['fix']} to upgrade.values" if "fix" in guarded.files \
            else "apply the fixes above"
        raise CheckFailed(f"the upgrade plan found {len(guarded.plan.failures())} problem(s) that would lose data or "
                          f"fail the upgrade; nothing was changed (report: {guarded.files['report']})",
                          fix=f"{fix}, then run the step again")
    if ctx.dry_run:
        return {}
    inventory = take_inventory(ctx.harbor("target"))
    inventory.write(run_dir / INVENTORY_FILE)
    before = {"release": target.release, "namespace": target.namespace,
              "from": guarded.plan.deployed, "to": guarded.plan.new, "app_version": guarded.chart.app_version,
              "revision_before": guarded.stored.revision, "pvcs": pvc_objects(ctx.target, target.namespace)}
    record(run_dir, before)
    with helm.Helm(target.kubeconfig, target.context, namespace=target.namespace) as engine:
        upgrade_and_wait(engine, guarded, ctx.target, release=target.release, namespace=target.namespace,
                         timeout=upgrade.timeout_seconds,
                         rollback_on_failure=upgrade.rollback_on_failure or ctx.rollback_on_failure,
                         say=ctx.say)
    ctx.say(f"  upgraded {guarded.plan.deployed} -> {guarded.plan.new}; every rollout complete")
    return {"configured": True, "from": guarded.plan.deployed, "to": guarded.plan.new,
            "artifacts": len(inventory.artifact_records())}
