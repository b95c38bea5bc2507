"""freeze: source Harbor read-only, then the golden inventory (projects, repositories, tags, digests, sizes)."""

from __future__ import annotations

import time

from seatrial.runbook.migration.steps.context import StepContext


def plan(ctx: StepContext) -> list[str]:
    url = ctx.config.harbor.source_url
    return [f"PUT {url}/api/v2.0/configurations {{\"read_only\": true}}",
            f"list projects, repositories and artifacts of {url} (page_size 100)",
            f"write the golden inventory to {ctx.journal.inventory_path}"]


def apply(ctx: StepContext) -> dict:
    from seatrial.runbook.migration.inventory import take_inventory

    harbor = ctx.harbor("source")
    if ctx.dry_run:
        return {}
    frozen_at = time.time()  # before the flag is set: the checks compare it with the backup's start
    if not harbor.read_only():
        harbor.set_read_only(True)
        ctx.say(f"  source Harbor {ctx.config.harbor.source_url} is now read-only")
    ctx.journal.set_harbor_state("source", "read-only (frozen for the move)")
    # the flag seen set, with Harbor's own time: where the backup's checks start looking for writes Harbor recorded
    _, frozen_harbor_at = harbor.read_only_reading()
    inventory = take_inventory(harbor)
    ctx.config.run_dir.mkdir(parents=True, exist_ok=True)
    _say_inventory_changes(ctx, inventory)
    inventory.write(ctx.journal.inventory_path)
    records = inventory.artifact_records()
    ctx.say(f"  golden inventory: {len(records)} artifacts, {sum(r.get('size') or 0 for r in records)} bytes")
    return {"frozen_at": frozen_at, "frozen_harbor_at": frozen_harbor_at, "artifacts": len(records)}


def _say_inventory_changes(ctx: StepContext, inventory) -> None:
    """A golden inventory taken again is compared with the one it replaces: a change is said, never silent."""
    from seatrial.runbook.migration.inventory import Inventory

    path = ctx.journal.inventory_path
    if not path.exists():
        return
    try:
        before = {(r["repository"], r["digest"]) for r in Inventory.from_json(path.read_text()).artifact_records()}
    except (ValueError, KeyError, TypeError, OSError):
        ctx.say(f"  the previous golden inventory {path} could not be read; it is replaced")
        return
    now = {(r["repository"], r["digest"]) for r in inventory.artifact_records()}
    if before == now:
        return
    added, removed = sorted(now - before), sorted(before - now)
    ctx.say(f"  the golden inventory CHANGED since the last freeze: {len(added)} artifact(s) added, {len(removed)} "
            f"removed (e.g. {', '.join(f'{r}@{d[:19]}' for r, d in (added + removed)[:3])}); the new one is kept")


def thaw_source(ctx: StepContext) -> None:
    """Undo the freeze (after a failed backup, unless --keep-frozen)."""
    ctx.harbor("source").set_read_only(False)
    ctx.journal.finish("freeze", ctx.journal.step("freeze").get("status", "passed"), thawed_at=time.time())
    ctx.journal.set_harbor_state("source", "writable (thawed after the failed backup)")
    ctx.say(f"  source Harbor {ctx.config.harbor.source_url} is writable again")
