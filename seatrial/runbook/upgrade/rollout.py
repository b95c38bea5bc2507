"""After `helm upgrade`: wait for every rollout, and name a stuck one with its pod, PVC, cause and fix.

A rollout is stuck the way the seed's registry was when a new pod waits for a ReadWriteOnce volume that a
pod of the previous template still holds on another node (RollingUpdate starts the new pod first; the old
one never goes because the new one never gets ready). One LIST per kind per poll.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from seatrial.runbook.upgrade.objects import name_of

KINDS = ("Deployment", "StatefulSet")


@dataclass(frozen=True)
class Stuck:
    workload: str
    pod: str
    pvc: str
    holder: str
    cause: str
    fix: str

    def render(self) -> str:
        return f"{self.workload}: pod {self.pod} cannot start: {self.cause}\n  fix: {self.fix}"


def unfinished(obj: dict) -> str | None:
    """Why this Deployment/StatefulSet's rollout is not complete, or None when it is."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    wanted = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < meta.get("generation", 1):
        return "the new spec is not observed yet"
    updated, ready = status.get("updatedReplicas", 0), status.get("readyReplicas", 0)
    if obj.get("kind") == "Deployment":
        total, available = status.get("replicas", 0), status.get("availableReplicas", 0)
        if updated < wanted or available < wanted or total > wanted:
            return f"{updated}/{wanted} updated, {available} available, {total - updated} old pod(s) left"
        return None
    if updated < wanted or ready < wanted:
        return f"{updated}/{wanted} updated, {ready}/{wanted} ready"
    if status.get("updateRevision") and status.get("currentRevision") not in (None, status.get("updateRevision")):
        return f"revision {status.get('currentRevision')} -> {status.get('updateRevision')}"
    return None


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _waiting_reason(pod: dict) -> str:
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "Waiting")
    return status.get("phase", "Pending")


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _claims(pod: dict) -> list[str]:
    return [v["persistentVolumeClaim"]["claimName"] for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")]


def diagnose(workload: dict, pods: list[dict], pvcs: dict[str, dict], namespace: str,
             strategy_key: str | None = None) -> Stuck | None:
    """The pod of `workload` that waits for an RWO volume another pod holds, if that is why it is stuck."""
    selector = (workload.get("spec") or {}).get("selector") or {}
    mine = [p for p in pods if _matches(selector, (p.get("metadata") or {}).get("labels") or {})]
    ref = f"{workload.get('kind')}/{name_of(workload)}"
    for pod in mine:
        if _ready(pod):
            continue
        for claim in _claims(pod):
            modes = ((pvcs.get(claim) or {}).get("spec") or {}).get("accessModes") or []
            if not ({"ReadWriteOnce", "ReadWriteOncePod"} & set(modes)):
                continue
            holders = [p for p in pods if p is not pod and claim in _claims(p)
                       and (p.get("status") or {}).get("phase") == "Running"]
            if not holders:
                continue
            holder = holders[0]
            node, holder_node = (pod.get("spec") or {}).get("nodeName"), (holder.get("spec") or {}).get("nodeName")
            where = (f"on node {holder_node}, while the new pod is on {node}" if node and holder_node and
                     node != holder_node else f"on node {holder_node or '?'}")
            owner = next((o.get("name") for o in (holder.get("metadata") or {}).get("ownerReferences") or []
                          if o.get("kind") == "ReplicaSet"), None)
            hash_label = ((holder.get("metadata") or {}).get("labels") or {}).get("pod-template-hash")
            old_rs = owner or (f"{name_of(workload)}-{hash_label}" if hash_label else None)
            unstick = (f"kubectl -n {namespace} delete replicaset {old_rs} (its pod releases the volume; the "
                       "Deployment keeps the new one)" if old_rs and workload.get("kind") == "Deployment"
                       else f"kubectl -n {namespace} delete pod {name_of(holder)}")
            lasting = (f"set {strategy_key}: Recreate in the values" if strategy_key
                       else "use the Recreate strategy for Deployments with ReadWriteOnce volumes")
            return Stuck(ref, name_of(pod), claim, name_of(holder),
                         f"{_waiting_reason(pod)}: ReadWriteOnce PVC {claim} is still held by pod {name_of(holder)} "
                         f"{where} (RollingUpdate starts the new pod before the old one stops)",
                         f"now: {unstick}; for good: {lasting}")
    return None


@dataclass
class RolloutState:
    pending: dict[str, str]
    stuck: list[Stuck]

    def __bool__(self) -> bool:  # truthy = done, for seatrial.runbook.wait.wait_until
        return not self.pending

    def describe(self) -> str:
        if not self.pending:
            return "every rollout complete"
        parts = [f"{ref}: {why}" for ref, why in sorted(self.pending.items())]
        parts += [f"STUCK {s.workload}: pod {s.pod} waits for PVC {s.pvc} held by {s.holder}" for s in self.stuck]
        return "waiting for " + "; ".join(parts)


def observe(cluster, namespace: str, workloads: list[tuple[str, str]], strategy_key: str | None = None
            ) -> RolloutState:
    """One LIST per kind: which of `workloads` ((kind, name)) have not finished rolling out, and why."""
    listed = {kind: {name_of(o): {**o, "kind": kind} for o in cluster.list("apps/v1", kind, namespace)}
              for kind in KINDS if any(k == kind for k, _ in workloads)}
    pending: dict[str, str] = {}
    for kind, name in workloads:
        obj = listed.get(kind, {}).get(name)
        why = "not created yet" if obj is None else unfinished(obj)
        if why:
            pending[f"{kind}/{name}"] = why
    stuck: list[Stuck] = []
    if pending:
        pods = cluster.list("v1", "Pod", namespace)
        pvcs = {name_of(p): p for p in cluster.list("v1", "PersistentVolumeClaim", namespace)}
        for ref in pending:
            kind, name = ref.split("/", 1)
            obj = listed.get(kind, {}).get(name)
            found = diagnose(obj, pods, pvcs, namespace, strategy_key) if obj else None
            if found:
                stuck.append(found)
    if stuck:  # what the attach/detach controller said, verbatim (one LIST, only when something is stuck)
        said = {((e.get("involvedObject") or {}).get("name"), e.get("reason")): e.get("message", "")
                for e in cluster.list("v1", "Event", namespace)}
        stuck = [replace(s, cause=f"{s.cause}; event FailedAttachVolume: {said[(s.pod, 'FailedAttachVolume')]}")
                 if (s.pod, "FailedAttachVolume") in said else s for s in stuck]
    return RolloutState(pending, stuck)
