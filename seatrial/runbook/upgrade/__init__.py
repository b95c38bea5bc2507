"""The chart-upgrade guard: what an upgrade from one render to another would do to the data.

Pure functions over parsed manifests (lists of dicts) and values trees; the Helm engine (seatrial.runbook.clients.helm)
renders, these modules judge. `guard.analyse` gathers every finding class; `fix` computes the values that
keep each data volume and proves them by rendering again.
"""
