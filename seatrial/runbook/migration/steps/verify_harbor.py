"""verify-harbor: nothing to do; its checks prove the target Harbor (health, parity by digest, verified
pulls, a canary push and pull)."""

from __future__ import annotations

from seatrial.runbook.migration.steps.context import StepContext


def plan(ctx: StepContext) -> list[str]:
    share = ctx.config.harbor.verify_fraction
    return [f"checks only: health, inventory parity with {ctx.journal.inventory_path.name}, pull and digest-verify "
            f"{share:.0%} of manifests and blobs, canary push/pull in project {ctx.config.harbor.canary_project}"]


def apply(ctx: StepContext) -> dict:
    """Read-only: the target's inventory, kept for the report's before/after comparison."""
    from seatrial.runbook.migration.inventory import take_inventory

    if ctx.dry_run:
        return {}
    inventory = take_inventory(ctx.harbor("target"))
    inventory.write(ctx.journal.target_inventory_path)
    return {"artifacts": len(inventory.artifact_records())}
