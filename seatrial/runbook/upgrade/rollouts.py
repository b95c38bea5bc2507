"""Finding 6 (a warning): a Deployment with a ReadWriteOnce volume and the RollingUpdate strategy.

RollingUpdate starts the new pod before the old one goes; an RWO volume held by the old pod on one node
cannot attach on another, so the rollout can hang (the seed's registry: ContainerCreating for minutes).
"""

from __future__ import annotations

from seatrial.runbook.upgrade.findings import WARN, Finding, ok
from seatrial.runbook.upgrade.objects import access_modes, claims, of_kind, ref


def strategy_key(defaults: dict, prefix: tuple[str, ...] = ()) -> str | None:
    """The values key whose chart default is the Deployment strategy (`updateStrategy.type` in Harbor's)."""
    for key, value in defaults.items():
        path = prefix + (str(key),)
        if key == "type" and value == "RollingUpdate":
            return ".".join(path)
        if isinstance(value, dict):
            found = strategy_key(value, path)
            if found:
                return found
    return None


def check(new: list[dict], defaults: dict, *, deployed: list[dict] | None = None) -> list[Finding]:
    findings = []
    mounted = claims(new)
    for deployment in of_kind(new, "Deployment"):
        obj = ref(deployment)
        mine = [c for c in mounted if c.workload == obj]
        if not mine:
            continue
        strategy = ((deployment.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"
        rwo = []
        for claim in mine:
            modes = access_modes(new, claim)
            if modes is None and deployed is not None:
                modes = access_modes(deployed, claim)
            if modes is None or "ReadWriteOnce" in modes or "ReadWriteOncePod" in modes:
                rwo.append(f"{claim.name} ({'/'.join(modes) if modes else 'access mode not rendered; assumed RWO'})")
        if strategy != "RollingUpdate" or not rwo:
            findings.append(ok("rollout_cannot_hang", obj, f"strategy {strategy}"))
            continue
        key = strategy_key(defaults)
        fix = (f"set {key}: Recreate in the values" if key else "set the Deployment's strategy type to Recreate")
        findings.append(Finding("rollout_cannot_hang", obj, WARN,
                                f"{obj} mounts a ReadWriteOnce volume with strategy RollingUpdate: the new pod can "
                                "wait for the volume the old pod holds (a rollout stuck in ContainerCreating)",
                                f"strategy RollingUpdate; volumes {', '.join(rwo)}", fix))
    return findings
