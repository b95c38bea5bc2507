"""The golden inventory as the verify-harbor checks read it: taken at freeze (the journal's file), or, for a
migration seatrial did not run, the live source Harbor; and the deterministic sample of artifacts to pull."""

from __future__ import annotations

from seatrial.checks.context import CheckContext


def golden_inventory(ctx: CheckContext):
    from seatrial.runbook.migration.inventory import Inventory, take_inventory

    def load():
        data = ctx.golden_inventory()
        return Inventory.from_json(data) if data is not None else take_inventory(ctx.source_harbor)

    return ctx.memo(("golden-inventory",), load)


def golden_artifacts(ctx: CheckContext) -> list[dict]:
    """Built once per session: each failing artifact check asks for the count, and 100,000 failures each
    rebuilding 100,000 records would never finish."""
    return ctx.memo(("golden-artifacts",), lambda: golden_inventory(ctx).artifact_records())


def golden_projects(ctx: CheckContext) -> list[str]:
    """Every project, including empty ones (no artifact stands for them)."""
    return sorted(golden_inventory(ctx).projects)


def target_artifacts(ctx: CheckContext) -> dict[tuple[str, str], dict]:
    """(repository, digest) -> record of the target Harbor's inventory, taken once per session."""
    from seatrial.runbook.migration.inventory import take_inventory

    return ctx.memo(("target-inventory",), lambda: {
        (r["repository"], r["digest"]): r for r in take_inventory(ctx.target_harbor).artifact_records()})


def sampled_artifacts(ctx: CheckContext) -> list[dict]:
    """`harbor.verify_fraction` of the golden artifacts, spread by digest: the same ones on every run."""
    fraction = ctx.config.harbor.verify_fraction
    if fraction >= 1:
        return golden_artifacts(ctx)
    return [a for a in golden_artifacts(ctx) if int(a["digest"].split(":")[1][:8], 16) / 0xFFFFFFFF < fraction]
