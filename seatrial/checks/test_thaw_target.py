"""thaw-target: the restored Harbor accepts writes (it comes back read-only: the flag lives in its database)."""

from __future__ import annotations

from seatrial.checks.context import CheckContext
from seatrial.checks.verdict import expect, needs


@needs("target-harbor-login")
def test_target_writable(ctx: CheckContext):
    read_only = ctx.target_harbor.read_only()
    expect(not read_only, f"target Harbor {ctx.config.harbor.target_url} is still read-only (restored from a "
           "read-only database)", f"read_only={read_only}",
           "run the thaw-target step (PUT /api/v2.0/configurations {\"read_only\": false})")
