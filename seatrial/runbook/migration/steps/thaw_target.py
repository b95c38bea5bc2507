"""thaw-target: the restored Harbor comes back read-only (the flag lives in its database): clear it."""

from __future__ import annotations

from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.wait import wait_until


def plan(ctx: StepContext) -> list[str]:
    return [f"wait until {ctx.config.harbor.target_url} answers, then PUT /api/v2.0/configurations "
            "{\"read_only\": false}"]


def apply(ctx: StepContext) -> dict:
    if ctx.dry_run:
        return {}
    harbor = ctx.harbor("target")

    # An unreachable or failing Harbor is retried for a while (seatrial.runbook.wait), then the step stops with exit 3;
    # wrong credentials stop it at once.
    wait_until(lambda: harbor.verify_credentials() or True, timeout=ctx.config.velero.timeout_seconds,
               interval=2.0, what=f"target Harbor {ctx.config.harbor.target_url} to answer",
               progress=lambda _v: f"  waiting for target Harbor {ctx.config.harbor.target_url}",
               on_progress=ctx.say)
    was = harbor.read_only()
    if was:
        harbor.set_read_only(False)
    ctx.say(f"  target Harbor read_only: {was} -> False")
    ctx.journal.set_harbor_state("target", "writable (thawed)")
    return {"was_read_only": was}
