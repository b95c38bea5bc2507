"""seatrial checks: pytest modules, one per runbook step, read-only."""
