"""The computed fix for renamed data volumes: values that make the new chart mount the deployed PVCs,
proven by rendering the new chart again with them.

Two ways, tried in this order: `fullnameOverride` set to the deployed name prefix (every object keeps its
name, nothing else changes), then `existingClaim` under the key THIS chart version reads for each
component (found by asking the chart: every `existingClaim` key set to a marker, one render, and the
marker seen on the volume that reads it); then both together.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from seatrial.runbook.upgrade import immutable, volumes
from seatrial.runbook.upgrade.findings import Finding
from seatrial.runbook.upgrade.objects import WORKLOAD_KINDS, Claim, claim_for_role, claims, component, name_of, of_kind
from seatrial.runbook.upgrade.values_keys import leaf_keys

Render = Callable[[dict], list[dict]]
PROBE = "seatrial-probe-"


def merged(base: dict, extra: dict) -> dict:
    """`extra` over `base`, maps merged key by key (what a later --values file does)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def nested(path: tuple[str, ...], value: object) -> dict:
    tree: object = value
    for key in reversed(path):
        tree = {key: tree}
    return tree  # type: ignore[return-value]


@dataclass
class VolumeFix:
    values: dict
    method: str
    keys: dict[str, str] = field(default_factory=dict)   # deployed claim -> the values line that keeps it
    verified: bool = False
    remaining: list[Finding] = field(default_factory=list)  # what the verification render still fails

    def values_file(self, header: str) -> str:
        lines = [f"# {line}" for line in header.splitlines()]
        return "\n".join(lines) + "\n" + yaml.safe_dump(self.values, sort_keys=True, default_flow_style=False)


def deployed_prefix(old: list[dict]) -> str | None:
    """The deployed release's full name: the prefix its workloads share before their component."""
    prefixes = Counter()
    for workload in of_kind(old, *WORKLOAD_KINDS):
        name, comp = name_of(workload), component(workload)
        if comp != name and name.endswith(f"-{comp}"):
            prefixes[name[: -len(comp) - 1]] += 1
    return prefixes.most_common(1)[0][0] if prefixes else None


def existing_claim_keys(defaults: dict, render: Render, user_values: dict) -> dict[tuple, tuple[str, ...]]:
    """role -> the existingClaim key this chart reads for it, learnt from one render with markers."""
    keys = [path for path in leaf_keys(defaults) if path[-1] == "existingClaim"]
    if not keys:
        return {}
    probe_values = user_values
    for index, path in enumerate(keys):
        probe_values = merged(probe_values, nested(path, f"{PROBE}{index}"))
    found: dict[tuple, tuple[str, ...]] = {}
    for claim in claims(render(probe_values)):
        if claim.name.startswith(PROBE):
            found[claim.shared_role] = keys[int(claim.name[len(PROBE):])]
    return found


def _keeps_all(old: list[dict], rendered: list[dict], removed_before: set[str]) -> bool:
    still_removed = {c.name for c in volumes.removed(old, rendered)}
    return not volumes.renamed(old, rendered) and still_removed <= removed_before


def compute(old: list[dict], new: list[dict], user_values: dict, defaults: dict, render: Render,
            namespace: str) -> VolumeFix | None:
    pairs = volumes.renamed(old, new)
    if not pairs:
        return None
    removed_before = {c.name for c in volumes.removed(old, new)}
    tried: list[VolumeFix] = []

    prefix = deployed_prefix(old)
    by_name = None
    # values.yaml need not declare it (Harbor's reads it in _helpers.tpl only): the render proves it or not
    if prefix and user_values.get("fullnameOverride") != prefix:
        by_name = VolumeFix({"fullnameOverride": prefix}, "fullnameOverride",
                            {before.name: f"fullnameOverride: {prefix}" for before, _ in pairs})
        tried.append(by_name)

    readers = existing_claim_keys(defaults, render, user_values)
    by_claim = _existing_claims(pairs, readers)
    if by_claim is not None:
        tried.append(by_claim)
    if by_name is not None and by_claim is not None:
        tried.append(VolumeFix(merged(by_claim.values, by_name.values), "fullnameOverride and existingClaim",
                               {**by_claim.keys, **by_name.keys}))

    for candidate in tried:
        rendered = render(merged(user_values, candidate.values))
        if _keeps_all(old, rendered, removed_before):
            candidate.verified = True
            candidate.remaining = [f for f in immutable.check(old, rendered, namespace) if f.failed]
            return candidate
    if tried:
        return tried[-1]  # unverified: said so
    return None


def _existing_claims(pairs: list[tuple[Claim, Claim]], readers: dict[tuple, tuple[str, ...]]) -> VolumeFix | None:
    values: dict = {}
    keys: dict[str, str] = {}
    for before, _after in pairs:
        path = readers.get(before.shared_role)
        if path is None or (before.template and before.ordinal not in (None, 0)):
            return None  # a component this chart cannot point at an existing claim, or one claim per replica
        values = merged(values, nested(path, before.name))
        keys[before.name] = f"{'.'.join(path)}: {before.name}"
    return VolumeFix(values, "existingClaim", keys) if values else None


def hints(fix: VolumeFix | None, file_name: str) -> dict[str, str]:
    """Per deployed claim, the fix text its finding prints."""
    if fix is None:
        return {}
    state = ("verified by rendering the new chart again with it" if fix.verified
             else "NOT verified: rendering with it still renames a data volume")
    extra = ""
    if fix.remaining:
        extra = "; then the way through for: " + ", ".join(f.object for f in fix.remaining)
    return {name: f"add {line} to the values (all of them, ready: {file_name}; {state}){extra}"
            for name, line in fix.keys.items()}


__all__ = ["VolumeFix", "compute", "hints", "merged", "claim_for_role"]
