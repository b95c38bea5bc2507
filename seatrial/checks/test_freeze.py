"""freeze: the source Harbor is read-only and the golden inventory is saved."""

from __future__ import annotations

from seatrial.checks.context import CheckContext
from seatrial.checks.verdict import expect, needs


@needs("source-harbor-login")
def test_source_read_only(ctx: CheckContext):
    read_only = ctx.source_harbor.read_only()
    expect(read_only, f"source Harbor {ctx.config.harbor.source_url} is writable: pushes during the backup are lost",
           f"read_only={read_only}", "run the freeze step (PUT /api/v2.0/configurations {\"read_only\": true})")


def test_golden_inventory_saved(ctx: CheckContext):
    inventory = ctx.golden_inventory()
    expect(inventory is not None, "no golden inventory was saved: parity after the restore cannot be proven by digest",
           f"{ctx.journal.inventory_path} absent", "run the freeze step")
    expect(bool(inventory), "the golden inventory is empty", inventory, "run the freeze step again")
