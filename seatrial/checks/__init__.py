"""seatrial checks: pytest modules, one per seatrial.runbook step, read-only."""
