"""Reading rendered manifests: objects by kind and name, workloads and the data volumes (PVCs) they mount.

A data volume is known by its role, which survives a rename: the workload kind, its component (the
`component` or `app.kubernetes.io/component` label, else its name), the pod volume name and, for a
StatefulSet volumeClaimTemplate, the ordinal. The same role under another claim name is another volume.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def applied(manifests: list[dict]) -> list[dict]:
    """The objects `helm upgrade` patches: hooks are deleted and re-created, never patched."""
    return [m for m in manifests if isinstance(m, dict) and m.get("kind")
            and "helm.sh/hook" not in ((m.get("metadata") or {}).get("annotations") or {})]


def name_of(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def ref(obj: dict) -> str:
    return f"{obj.get('kind')}/{name_of(obj)}"


def by_ref(manifests: list[dict]) -> dict[str, dict]:
    return {ref(m): m for m in applied(manifests)}


def of_kind(manifests: list[dict], *kinds: str) -> list[dict]:
    return [m for m in applied(manifests) if m.get("kind") in kinds]


def component(obj: dict) -> str:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get("component") or labels.get("app.kubernetes.io/component") or name_of(obj))


def pod_spec(workload: dict) -> dict:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def images(workload: dict) -> list[str]:
    spec = pod_spec(workload)
    return [c.get("image", "") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]


@dataclass(frozen=True)
class Claim:
    """One data volume of a render: the PVC name a pod mounts, and the role it plays."""

    name: str
    workload: str        # "StatefulSet/my-harbor-database"
    kind: str
    component: str
    volume: str          # the pod volume (or volumeClaimTemplate) name
    ordinal: int | None  # StatefulSet volumeClaimTemplate claims only
    template: bool       # True: created by the StatefulSet from a volumeClaimTemplate

    @property
    def role(self) -> tuple:
        return (self.kind, self.component, self.volume, self.ordinal)

    @property
    def shared_role(self) -> tuple:
        return (self.kind, self.component, self.volume, None)


def claims(manifests: list[dict]) -> list[Claim]:
    """Every PVC a workload of the render mounts (plain claims and volumeClaimTemplate claims)."""
    found: list[Claim] = []
    for workload in of_kind(manifests, *WORKLOAD_KINDS):
        kind, comp = workload["kind"], component(workload)
        for volume in pod_spec(workload).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                found.append(Claim(claim, ref(workload), kind, comp, volume.get("name", ""), None, False))
        if kind == "StatefulSet":
            replicas = (workload.get("spec") or {}).get("replicas", 1)
            replicas = replicas if isinstance(replicas, int) and replicas > 0 else 1
            for template in (workload.get("spec") or {}).get("volumeClaimTemplates") or []:
                tname = name_of(template)
                for ordinal in range(replicas):
                    found.append(Claim(f"{tname}-{name_of(workload)}-{ordinal}", ref(workload), kind, comp, tname,
                                       ordinal, True))
    return found


def claim_for_role(found: list[Claim], role: tuple) -> Claim | None:
    """The claim of a render playing `role`; a StatefulSet's plain claim plays the role for every ordinal."""
    for claim in found:
        if claim.role == role:
            return claim
    shared = role[:3] + (None,)
    for claim in found:
        if claim.shared_role == shared and not claim.template:
            return claim
    return None


def pvcs(manifests: list[dict]) -> dict[str, dict]:
    return {name_of(m): m for m in of_kind(manifests, "PersistentVolumeClaim")}


def access_modes(manifests: list[dict], claim: Claim) -> list[str] | None:
    """The access modes of a claim as rendered (its PVC or its volumeClaimTemplate); None when not rendered."""
    pvc = pvcs(manifests).get(claim.name)
    if pvc is not None:
        return list((pvc.get("spec") or {}).get("accessModes") or [])
    if claim.template:
        for workload in of_kind(manifests, "StatefulSet"):
            if ref(workload) == claim.workload:
                for template in workload["spec"].get("volumeClaimTemplates") or []:
                    if name_of(template) == claim.volume:
                        return list((template.get("spec") or {}).get("accessModes") or [])
    return None


def keeps_on_delete(manifests: list[dict], claim: Claim) -> bool:
    """True when Helm leaves the PVC behind on removal (resource-policy keep), or Helm never owned it."""
    pvc = pvcs(manifests).get(claim.name)
    if pvc is None:
        return True  # a volumeClaimTemplate claim or an existingClaim: not Helm's to delete
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    return annotations.get("helm.sh/resource-policy") == "keep"
