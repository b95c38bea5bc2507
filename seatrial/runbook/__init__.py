"""seatrial seatrial.runbook: configuration, clients, steps, runner, CLI and report (the DO side)."""
