"""Finding 2: fields Kubernetes refuses to update on an object that keeps its name.

`helm upgrade` patches an object with the difference between the deployed and the new manifest, so a
difference in a field the API server treats as immutable is a refused upgrade (the seed's StatefulSet).
"""

from __future__ import annotations

import re

from seatrial.runbook.upgrade.findings import FAIL, WARN, Finding, ok
from seatrial.runbook.upgrade.objects import by_ref, name_of

# apps/v1 StatefulSet validation: only these spec fields may change (newer Kubernetes adds the last two).
STATEFULSET_UPDATABLE = {"replicas", "template", "updateStrategy", "minReadySeconds",
                         "persistentVolumeClaimRetentionPolicy", "ordinals"}
# updatable only from a Kubernetes version on: before it, the API server refuses the change (revisionHistoryLimit:
# refused by pkg/apis/apps/validation of v1.32.0, allowed by v1.33.0's; kubernetes/kubernetes#130263)
STATEFULSET_UPDATABLE_SINCE = {"revisionHistoryLimit": (1, 33)}


def _pruned(value: object) -> object:
    """Nulls and empty maps/lists dropped: the API server stores `annotations: null` as nothing, and compares
    empty and absent as equal (apimachinery's semantic equality)."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _as_stored(kind: str, spec: dict) -> dict:
    """A spec as the API server compares it: defaults filled in, and a volumeClaimTemplate's apiVersion/kind
    dropped (conversion does not keep an embedded object's type fields; chart 1.18 added them, harmlessly)."""
    spec = _pruned(spec)  # type: ignore[assignment]
    if kind != "StatefulSet":
        return spec
    spec.setdefault("podManagementPolicy", "OrderedReady")
    templates = []
    for template in spec.get("volumeClaimTemplates") or []:
        template = {k: v for k, v in template.items() if k not in ("apiVersion", "kind", "status")}
        inner = dict(template.get("spec") or {})
        inner.setdefault("volumeMode", "Filesystem")
        templates.append({**template, "spec": inner})
    if templates:
        spec["volumeClaimTemplates"] = templates
    return spec
CHECKED_KINDS = ("StatefulSet", "Deployment", "DaemonSet", "PersistentVolumeClaim")


def _quantity(text: object) -> float | None:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    value = str(text)
    for suffix, factor in units.items():
        if value.endswith(suffix):
            try:
                return float(value[: -len(suffix)]) * factor
            except ValueError:
                return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_kubernetes_version(git_version: str) -> tuple[int, int] | None:
    """'v1.32.4' (or 'v1.32.4-gke.100') -> (1, 32); None when it says nothing readable."""
    match = re.match(r"v?(\d+)\.(\d+)", git_version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _refused_here(field: str, kubernetes: tuple[int, int] | None) -> bool:
    since = STATEFULSET_UPDATABLE_SINCE.get(field)
    return since is not None and kubernetes is not None and kubernetes < since


def depends_on_the_version(before: dict, after: dict, kubernetes: tuple[int, int] | None) -> list[str]:
    """Changes refused or allowed by the cluster's version, when that version is not known (an offline plan)."""
    if kubernetes is not None or before.get("kind") != "StatefulSet":
        return []
    old, new = _as_stored("StatefulSet", before.get("spec") or {}), _as_stored("StatefulSet", after.get("spec") or {})
    return [f"spec.{f}: {old.get(f)!r} -> {new.get(f)!r} (updatable from Kubernetes {since[0]}.{since[1]} on)"
            for f, since in STATEFULSET_UPDATABLE_SINCE.items() if old.get(f) != new.get(f)]


def forbidden_changes(before: dict, after: dict, kubernetes: tuple[int, int] | None = None) -> list[str]:
    """The spec fields whose change the API server would refuse, as 'field: old -> new' lines. `kubernetes`: the
    cluster's (major, minor); a field updatable only from some version on counts when the cluster is older."""
    kind = before.get("kind")
    old, new = _as_stored(kind, before.get("spec") or {}), _as_stored(kind, after.get("spec") or {})
    if kind == "StatefulSet":
        fields = sorted(f for f in (set(old) | set(new)) - STATEFULSET_UPDATABLE
                        if f not in STATEFULSET_UPDATABLE_SINCE or _refused_here(f, kubernetes))
    elif kind in ("Deployment", "DaemonSet"):
        fields = ["selector"]
    elif kind == "PersistentVolumeClaim":
        fields = sorted((set(old) | set(new)) - {"resources", "volumeName"})
        changes = [f"spec.{f}: {old.get(f)!r} -> {new.get(f)!r}" for f in fields if old.get(f) != new.get(f)]
        size_old = _quantity(((old.get("resources") or {}).get("requests") or {}).get("storage", 0))
        size_new = _quantity(((new.get("resources") or {}).get("requests") or {}).get("storage", 0))
        if size_old and size_new and size_new < size_old:
            changes.append(f"spec.resources.requests.storage shrinks: {old['resources']['requests']['storage']} -> "
                           f"{new['resources']['requests']['storage']} (can not be less than the previous value)")
        return changes
    else:
        return []
    return [f"spec.{f}: {old.get(f)!r} -> {new.get(f)!r}" for f in fields if old.get(f) != new.get(f)]


def way_through(obj: dict, namespace: str) -> str:
    kind, name = obj.get("kind"), name_of(obj)
    if kind == "StatefulSet":
        return (f"kubectl -n {namespace} delete statefulset {name} --cascade=orphan, then upgrade: its pods and "
                "PVCs stay and the new StatefulSet adopts them")
    if kind == "PersistentVolumeClaim":
        return ("keep the deployed PVC spec in the values (size, storageClass, accessMode as deployed; never shrink "
                "size): a bound claim only grows")
    return (f"kubectl -n {namespace} delete {kind.lower()} {name} (its pods go, its PVCs stay), then upgrade; or "
            "keep the deployed selector labels (nameOverride, release name)")


def check(old: list[dict], new: list[dict], namespace: str,
          kubernetes: tuple[int, int] | None = None) -> list[Finding]:
    """`kubernetes`: the cluster's (major, minor), None in an offline plan (a change that only some versions
    allow is then a warning naming the version)."""
    before_all, after_all = by_ref(old), by_ref(new)
    findings = []
    for key, before in before_all.items():
        if before.get("kind") not in CHECKED_KINDS or key not in after_all:
            continue
        changes = forbidden_changes(before, after_all[key], kubernetes)
        unsure = depends_on_the_version(before, after_all[key], kubernetes)
        if not changes and unsure:
            findings.append(Finding("update_allowed", key, WARN,
                                    f"{namespace}/{key}: the upgrade changes a field older Kubernetes refuses to "
                                    "update (this plan does not know the cluster's version)", "; ".join(unsure),
                                    "plan against the live release (-c seatrial.yaml), which reads the version; on "
                                    "an older cluster: " + way_through(before, namespace)))
            continue
        if not changes:
            findings.append(ok("update_allowed", key, "no immutable field changes"))
            continue
        findings.append(Finding("update_allowed", key, FAIL,
                                f"{namespace}/{key}: the upgrade changes fields Kubernetes refuses to update "
                                "(helm upgrade fails on this object)", "; ".join(changes)[:1500],
                                way_through(before, namespace)))
    return findings
