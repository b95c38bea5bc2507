"""The guard: every finding class over the deployed render and the new one, and the computed volume fix.

Input is what both sides are (manifests, the user's values, the charts' values.yaml); `render` renders
the new chart with other values, so that the fix is proven, not guessed. Nothing here touches a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from seatrial.runbook.upgrade import fix as volume_fix
from seatrial.runbook.upgrade import immutable, postgres, rollouts, services, values_keys, volumes
from seatrial.runbook.upgrade.findings import CHECKS, FAIL, WARN, Finding, exit_code, ok

FIX_FILE = "fix-values.yaml"
# The seed's reason, verbatim where it quotes the API server.
REPLACE_REFUSED = (
    "--force replaces each object with the manifest instead of patching it: a bound PVC then fails with "
    "'PersistentVolumeClaim \"my-harbor-chartmuseum\" is invalid: spec: Forbidden: spec is immutable after "
    "creation except resources.requests for bound claims' (the manifest has no volumeName), and the database "
    "StatefulSet with 'updates to statefulset spec for fields other than 'replicas', 'template', "
    "'updateStrategy' and 'minReadySeconds' are forbidden'")


@dataclass
class Side:
    """One side of the upgrade: what it renders and what it was rendered from."""

    manifests: list[dict]
    values: dict                 # the user's values (files and --set), not the chart's defaults
    defaults: dict               # the chart's values.yaml
    chart: str                   # "harbor-1.7.5"
    app_version: str = ""
    schema: dict | None = None
    templates: str = ""          # the chart's template sources, for `.Values.x` references
    kubernetes: tuple[int, int] | None = None  # the cluster's version when read live; None offline


@dataclass
class Plan:
    release: str
    namespace: str
    deployed: str
    new: str
    findings: list[Finding]
    fix: volume_fix.VolumeFix | None = None
    fix_file: str = FIX_FILE
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings)

    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == FAIL]

    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == WARN]

    def fix_values(self) -> str | None:
        if self.fix is None:
            return None
        state = "verified: the new chart rendered again with these values mounts every deployed data PVC" \
            if self.fix.verified else "NOT verified: rendering with these values still renames a data volume"
        header = (f"seatrial upgrade-plan: values that keep the data of release {self.release} ({self.namespace})\n"
                  f"when upgrading {self.deployed} -> {self.new} ({self.fix.method}); {state}.\n"
                  f"Pass it after your own values: --values <yours> --values {self.fix_file}")
        if self.fix.remaining:
            header += "\nStill needed (immutable fields): " + "; ".join(
                f"{f.object}: {f.fix}" for f in self.fix.remaining)
        return self.fix.values_file(header)

    def to_dict(self) -> dict:
        return {"release": self.release, "namespace": self.namespace, "deployed": self.deployed, "new": self.new,
                "exit_code": self.exit_code, "findings": [f.to_dict() for f in self.findings],
                "fix_file": self.fix_file if self.fix else None, "fix_values": self.fix_values(),
                "fix_verified": bool(self.fix and self.fix.verified), "notes": self.notes}


def analyse(deployed: Side, new: Side, render: Callable[[dict], list[dict]], *, release: str, namespace: str,
            force: bool = False, accept_removed: set[str] | frozenset[str] = frozenset()) -> Plan:
    old_m, new_m = deployed.manifests, new.manifests
    computed = volume_fix.compute(old_m, new_m, new.values, new.defaults, render, namespace)
    findings: list[Finding] = []
    findings += volumes.check_kept(old_m, new_m, namespace, volume_fix.hints(computed, FIX_FILE))
    findings += immutable.check(old_m, new_m, namespace, deployed.kubernetes)
    findings += postgres.check(old_m, new_m)
    findings += values_keys.check(new.values, new.defaults, schema=new.schema, templates=new.templates,
                                  chart=new.chart)
    findings += volumes.check_still_served(old_m, new_m, namespace, set(accept_removed))
    findings += rollouts.check(new_m, new.defaults, deployed=old_m)
    findings.append(Finding("no_replace", f"helm upgrade {release}", FAIL, "replace semantics (--force) asked for: "
                            "refused", REPLACE_REFUSED, "upgrade without --force: helm's three-way merge patch leaves "
                            "fields the chart does not set (a restored PVC's volumeName) alone")
                    if force else ok("no_replace", f"helm upgrade {release}", "three-way merge patch"))
    findings += services.check(old_m, new_m, namespace)
    order = {name: index for index, name in enumerate(CHECKS)}
    findings.sort(key=lambda f: order[f.check])
    return Plan(release, namespace, deployed.chart, new.chart, findings, computed)
