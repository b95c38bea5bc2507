"""seatrial: rehearse and verify a Velero migration of a Helm-installed application between Kubernetes clusters.

Three rooms: `seatrial.runbook` (do), `seatrial.checks` (verify, read-only pytest checks), `seatrial.fixtures`
(provide: environments and test servers). Arrows point one way: checks -> runbook, fixtures -> runbook.
"""
