"""Findings 1 and 5: every data volume of the deployed release stays the same PVC in the new render.

A role (see objects.Claim) mounted under another claim name means a new, EMPTY volume beside the data
(the seed's fullnameOverride); a role the new render no longer has means data no longer served.
"""

from __future__ import annotations

from seatrial.runbook.upgrade.findings import FAIL, Finding, ok
from seatrial.runbook.upgrade.objects import Claim, claim_for_role, claims, keeps_on_delete


def renamed(old: list[dict], new: list[dict]) -> list[tuple[Claim, Claim]]:
    """(old claim, new claim) for every role the new render mounts under another PVC name."""
    new_claims = claims(new)
    pairs = []
    for before in claims(old):
        after = claim_for_role(new_claims, before.role)
        if after is not None and after.name != before.name:
            pairs.append((before, after))
    return pairs


def removed(old: list[dict], new: list[dict]) -> list[Claim]:
    new_claims = claims(new)
    return [before for before in claims(old) if claim_for_role(new_claims, before.role) is None]


def check_kept(old: list[dict], new: list[dict], namespace: str, fix_hint: dict[str, str]) -> list[Finding]:
    """One finding per data volume of the deployed release; `fix_hint` maps an old claim name to its fix text."""
    moved = {before.name: after for before, after in renamed(old, new)}
    gone = {claim.name for claim in removed(old, new)}
    findings = []
    for before in claims(old):
        obj = f"PersistentVolumeClaim/{before.name}"
        after = moved.get(before.name)
        if after is None:
            findings.append(ok("data_volume_kept", obj, "stays the same PVC" if before.name not in gone
                               else "not rendered any more (see data_volume_still_served)"))
            continue
        what = (f"{before.workload} volume {before.volume!r} would mount a NEW, EMPTY PVC {after.name} instead of "
                f"{namespace}/{before.name} (its data stays behind, unused)")
        if after.workload != before.workload:
            what += f"; the workload itself becomes {after.workload}"
        findings.append(Finding("data_volume_kept", obj, FAIL, what,
                                f"{before.name} -> {after.name} (deployed -> new render)",
                                fix_hint.get(before.name, "keep the claim name: set existingClaim for this "
                                             "component or fullnameOverride to the deployed name")))
    return findings


def check_still_served(old: list[dict], new: list[dict], namespace: str, accepted: set[str]) -> list[Finding]:
    gone = {claim.name: claim for claim in removed(old, new)}
    findings = []
    for before in claims(old):
        obj = f"PersistentVolumeClaim/{before.name}"
        claim = gone.get(before.name)
        if claim is None:
            findings.append(ok("data_volume_still_served", obj, "still mounted by the new render"))
            continue
        fate = ("stays in the namespace (helm.sh/resource-policy: keep), unused" if keeps_on_delete(old, claim)
                else "is DELETED by helm upgrade (no helm.sh/resource-policy: keep)")
        what = (f"{namespace}/{before.name} of {claim.workload} (component {claim.component}) holds data the new "
                f"chart no longer renders: it will no longer be served and {fate}")
        if claim.component in accepted:
            findings.append(ok("data_volume_still_served", obj, f"{what} -- accepted (--accept-removed "
                               f"{claim.component})"))
            continue
        findings.append(Finding("data_volume_still_served", obj, FAIL, what,
                                f"{claim.workload} is absent from the new render",
                                f"move or export the {claim.component} data first, then acknowledge with "
                                f"--accept-removed {claim.component}"))
    return findings
