"""Views over the live objects that several checks share: pod volumes, PVCs, PVBs, the tarball index.

Everything here reads through `CheckContext.objects` (one LIST per kind, cached) or the bucket.
The views and indexes (by name, by PVC, by pod volume, by backup name) are built once per session
(`CheckContext.memo`), so that a check's own cost per item does not grow with the number of objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seatrial.checks.context import CheckContext
from seatrial.runbook.errors import BadInput

VELERO_V1 = "velero.io/v1"
# What Velero's node-agent writes on a Completed PodVolumeBackup of an empty volume (no snapshotID).
EMPTY_VOLUME_MESSAGE = "volume was empty so no snapshot was taken"


def empty_volume_backup(pvb: dict) -> bool:
    status = pvb.get("status") or {}
    return status.get("phase") == "Completed" and not status.get("snapshotID") \
        and status.get("message") == EMPTY_VOLUME_MESSAGE
def zero_byte_volume_backup(pvb: dict) -> bool:
    """A Completed PodVolumeBackup with a snapshot of 0 bytes: an empty volume as kopia (always) and restic (a
    volume holding only `lost+found` or empty files) report it. Not a failure (fidelity-audit.md D3)."""
    status = pvb.get("status") or {}
    return status.get("phase") == "Completed" and bool(status.get("snapshotID")) \
        and not (status.get("progress") or {}).get("totalBytes")


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_QUANTITY_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9,
                     "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(value: object) -> float | None:
    """A Kubernetes resource quantity (`1Gi`, `500M`, `1.5e9`, `100m`, `2Pi`) as a number; None when it is none."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, exponent, suffix = match.groups()
    if exponent:
        return float(number + exponent)
    return float(number) * _QUANTITY_FACTORS.get(suffix or "", 1)


# Objects a cluster makes by itself in every namespace (root-CA publisher, ServiceAccount controller,
# OpenShift's and Istio's CA injectors): a restore into a fresh namespace finds them there already, with
# the target's own data, and skips or merges them (velero#6818). That is not a lost object.
CLUSTER_MADE = frozenset({("ConfigMap", "kube-root-ca.crt"), ("ConfigMap", "openshift-service-ca.crt"),
                          ("ConfigMap", "istio-ca-root-cert"), ("ServiceAccount", "default")})
# Kinds whose skipped or failed restore leaves a volume empty or a workload or its configuration behind.
RESTORE_CRITICAL_KINDS = frozenset({"PersistentVolumeClaim", "Pod", "StatefulSet", "Deployment", "ReplicaSet",
                                    "DaemonSet", "Secret", "ConfigMap"})
_RESOURCE_ENTRY = re.compile(r"(?:(?P<namespace>[^/]*)/)?(?P<name>[^/()]+)\((?P<action>[a-z]+)\)")


@dataclass(frozen=True)
class RestoredItem:
    """One entry of `restore-<r>-resource-list.json.gz`: what the restore did with one object."""

    kind: str
    namespace: str
    name: str
    action: str  # created | updated | skipped | failed

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}({self.action})"

    @property
    def lost(self) -> bool:
        """Skipped or failed, of a kind that matters, and not one the cluster makes itself."""
        return self.action in ("skipped", "failed") and self.kind in RESTORE_CRITICAL_KINDS \
            and (self.kind, self.name) not in CLUSTER_MADE


def restored_items(resource_list: dict) -> list[RestoredItem]:
    """`{"<group/version>/<Kind>": ["ns/name(action)", ...]}` (pkg/restore/request.go) as items."""
    found = []
    for key, entries in (resource_list or {}).items():
        kind = key.rsplit("/", 1)[-1]
        for entry in entries or []:
            match = _RESOURCE_ENTRY.fullmatch(entry)
            if match:
                found.append(RestoredItem(kind, match["namespace"] or "", match["name"], match["action"]))
    return found


def cluster_made_warning(line: str) -> bool:
    """A restore warning about an object the cluster makes itself (`could not restore, ConfigMap
    "kube-root-ca.crt" already exists...`)."""
    return any(f'{kind} "{name}"' in line or f"{kind}:{name}" in line for kind, name in CLUSTER_MADE)


# Kinds whose objects must travel in the backup tarball (pods and replica sets are recreated by
# their owners; events and endpoints are derived).
TRAVELLING_KINDS = (
    ("apps/v1", "Deployment", "deployments.apps"),
    ("apps/v1", "StatefulSet", "statefulsets.apps"),
    ("apps/v1", "DaemonSet", "daemonsets.apps"),
    ("v1", "Service", "services"),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("v1", "Secret", "secrets"),
    ("v1", "ConfigMap", "configmaps"),
    ("v1", "ServiceAccount", "serviceaccounts"),
)


@dataclass(frozen=True)
class PodVolume:
    """A PVC-backed volume of a pod, as Velero's file-system backup sees it."""

    namespace: str
    pod: str
    volume: str
    pvc: str
    owner: str  # "StatefulSet/my-harbor-database" or "Pod/x": where the annotation belongs

    def __str__(self) -> str:
        return f"{self.namespace}/{self.pod}:{self.volume}"


def pods(ctx: CheckContext, side: str) -> list[dict]:
    return ctx.objects(side, "v1", "Pod", ctx.namespace(side))


def pvcs(ctx: CheckContext, side: str) -> list[dict]:
    return ctx.objects(side, "v1", "PersistentVolumeClaim", ctx.namespace(side))


def _by_name(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects}


def pvs_by_name(ctx: CheckContext, side: str) -> dict[str, dict]:
    return ctx.memo(("pvs-by-name", side), lambda: _by_name(ctx.objects(side, "v1", "PersistentVolume")))


def pod_by_name(ctx: CheckContext, side: str) -> dict[str, dict]:
    """The namespace's pods by name (built once)."""
    return ctx.memo(("pods-by-name", side), lambda: _by_name(pods(ctx, side)))


def pvc_by_name(ctx: CheckContext, side: str) -> dict[str, dict]:
    """The namespace's PVCs by name (built once)."""
    return ctx.memo(("pvcs-by-name", side), lambda: _by_name(pvcs(ctx, side)))


def pvcs_by_uid(ctx: CheckContext, side: str) -> dict[str, dict]:
    """The namespace's PVCs by uid (built once): what a PodVolumeBackup's velero.io/pvc-uid label names."""
    return ctx.memo(("pvcs-by-uid", side), lambda: {p["metadata"].get("uid"): p for p in pvcs(ctx, side)})


def owner_of(pod: dict, deployments: list[dict] = ()) -> str:
    """The workload whose pod template should carry Velero's annotations: the controller in the pod's
    ownerReferences (a ReplicaSet stands for its Deployment), else a Deployment whose selector matches."""
    refs = pod["metadata"].get("ownerReferences") or []
    labels = pod["metadata"].get("labels") or {}
    for ref in refs:
        if ref.get("kind") in ("StatefulSet", "Deployment", "DaemonSet"):
            return f"{ref['kind']}/{ref['name']}"
        if ref.get("kind") == "ReplicaSet":
            hash_ = labels.get("pod-template-hash")
            name = ref["name"][: -len(hash_) - 1] if hash_ and ref["name"].endswith(hash_) else ref["name"]
            return f"Deployment/{name}"
    if "pod-template-hash" in labels:
        for deployment in deployments:
            selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                return f"Deployment/{deployment['metadata']['name']}"
    return f"Pod/{pod['metadata']['name']}"


def pod_volumes(ctx: CheckContext, side: str = "source") -> list[PodVolume]:
    """The PVC-backed volumes of the namespace's pods (built once)."""
    def build() -> list[PodVolume]:
        found = []
        deployments = ctx.objects(side, "apps/v1", "Deployment", ctx.namespace(side))
        for pod in pods(ctx, side):
            meta = pod["metadata"]
            for volume in pod.get("spec", {}).get("volumes") or []:
                claim = volume.get("persistentVolumeClaim")
                if claim:
                    found.append(PodVolume(meta["namespace"], meta["name"], volume["name"], claim["claimName"],
                                           owner_of(pod, deployments)))
        return found

    return ctx.memo(("pod-volumes", side), build)


def pod_volumes_by_pvc(ctx: CheckContext, side: str = "source") -> dict[str, list[PodVolume]]:
    """PVC name -> the pod volumes that mount it, in pod order (built once)."""
    def build() -> dict[str, list[PodVolume]]:
        index: dict[str, list[PodVolume]] = {}
        for volume in pod_volumes(ctx, side):
            index.setdefault(volume.pvc, []).append(volume)
        return index

    return ctx.memo(("pod-volumes-by-pvc", side), build)


def corrected_opt_in(volume: PodVolume, pod: dict | None) -> list[str]:
    """The pod's opt-in list with this volume in it by its pod VOLUME name (a PVC name replaced)."""
    from seatrial.runbook.clients.velero import pod_volume_opt_in

    current = sorted(pod_volume_opt_in(pod)) if pod is not None else []
    names = [volume.volume if name == volume.pvc else name for name in current if name]
    return names if volume.volume in names else [*names, volume.volume]


def annotate_command(volume: PodVolume, namespace: str, names: list[str] | None = None) -> str:
    """The one command that opts the volume in, on the pod template of its owner (or the bare pod)."""
    value = ",".join(names or [volume.volume])
    kind, name = volume.owner.split("/", 1)
    if kind == "Pod":
        return f"kubectl -n {namespace} annotate pod {name} backup.velero.io/backup-volumes={value} --overwrite"
    patch = '{"spec":{"template":{"metadata":{"annotations":{"backup.velero.io/backup-volumes":"' + value + '"}}}}}'
    return f"kubectl -n {namespace} patch {kind.lower()} {name} -p '{patch}'"


def require_backup_name(ctx: CheckContext) -> str:
    name = ctx.backup_name
    if not name:
        raise BadInput("the backup to check is unknown: this run directory's journal records no backup",
                       fix="run the backup step, or pass --seatrial-backup NAME for a backup made by hand")
    return name


def require_restore_name(ctx: CheckContext) -> str:
    name = ctx.restore_name
    if not name:
        raise BadInput("the restore to check is unknown: this run directory's journal records no restore",
                       fix="run the restore step, or pass --seatrial-restore NAME for a restore made by hand")
    return name


def backup(ctx: CheckContext, side: str = "source") -> dict | None:
    name = require_backup_name(ctx)
    return ctx.memo(("backups-by-name", side), lambda: _by_name(
        ctx.objects(side, VELERO_V1, "Backup", ctx.config.velero.namespace))).get(name)


def restore(ctx: CheckContext) -> dict | None:
    name = require_restore_name(ctx)
    return ctx.memo(("restores-by-name",), lambda: _by_name(
        ctx.objects("target", VELERO_V1, "Restore", ctx.config.velero.namespace))).get(name)


def pod_volume_backups(ctx: CheckContext, side: str = "source") -> list[dict]:
    """The PodVolumeBackups of this run's backup (built once)."""
    name = require_backup_name(ctx)
    return ctx.memo(("pvbs", side, name), lambda: [
        p for p in ctx.objects(side, VELERO_V1, "PodVolumeBackup", ctx.config.velero.namespace)
        if (p["metadata"].get("labels") or {}).get("velero.io/backup-name") == name
        or (p.get("spec", {}).get("tags") or {}).get("backup") == name])


def _by_pod_volume(objects: list[dict]) -> dict[tuple[str, str], list[dict]]:
    index: dict[tuple[str, str], list[dict]] = {}
    for obj in objects:
        spec = obj.get("spec") or {}
        index.setdefault(((spec.get("pod") or {}).get("name"), spec.get("volume")), []).append(obj)
    return index


def pvbs_by_pod_volume(ctx: CheckContext, side: str = "source") -> dict[tuple[str, str], list[dict]]:
    """(pod name, volume name) -> this backup's PodVolumeBackups of it (built once)."""
    return ctx.memo(("pvbs-by-pod-volume", side, require_backup_name(ctx)),
                    lambda: _by_pod_volume(pod_volume_backups(ctx, side)))


def pvbs_by_pvc(ctx: CheckContext, side: str = "source") -> dict[str, list[dict]]:
    """PVC name -> this backup's PodVolumeBackups of it (built once), by the label `velero.io/pvc-uid` (a PVC's
    uid) or else the annotation `velero.io/pvc-name` of a PVB of a pod in the namespace (backupper.go). Velero
    backs up a PVC shared by several pods once, from one of them; a pod recreated after the backup has another
    name: matching by PVC judges both right (fidelity-audit.md D2)."""
    def build() -> dict[str, list[dict]]:
        index: dict[str, list[dict]] = {}
        for pvb in pod_volume_backups(ctx, side):
            name = pvc_of(ctx, pvb, side)
            if name and ((pvb.get("spec") or {}).get("pod") or {}).get("namespace", ctx.namespace(side)) \
                    == ctx.namespace(side):
                index.setdefault(name, []).append(pvb)
        return index

    return ctx.memo(("pvbs-by-pvc", side, require_backup_name(ctx)), build)


def pvc_of(ctx: CheckContext, pvb: dict, side: str = "source") -> str | None:
    """The PVC a PodVolumeBackup backed up: by its label `velero.io/pvc-uid`, else its annotation
    `velero.io/pvc-name` (backupper.go)."""
    meta = pvb["metadata"]
    claim = pvcs_by_uid(ctx, side).get((meta.get("labels") or {}).get("velero.io/pvc-uid"))
    return claim["metadata"]["name"] if claim else (meta.get("annotations") or {}).get("velero.io/pvc-name")


def pod_volume_restores(ctx: CheckContext) -> list[dict]:
    """The PodVolumeRestores of this run's restore (built once)."""
    name = require_restore_name(ctx)
    return ctx.memo(("pvrs", name), lambda: [
        p for p in ctx.objects("target", VELERO_V1, "PodVolumeRestore", ctx.config.velero.namespace)
        if (p["metadata"].get("labels") or {}).get("velero.io/restore-name") == name])


def pvrs_by_pod_volume(ctx: CheckContext) -> dict[tuple[str, str], list[dict]]:
    """(pod name, volume name) -> this restore's PodVolumeRestores of it (built once)."""
    return ctx.memo(("pvrs-by-pod-volume", require_restore_name(ctx)),
                    lambda: _by_pod_volume(pod_volume_restores(ctx)))


def excluded_volumes(ctx: CheckContext, pod: dict | None) -> set[str]:
    """The pod's volumes the configuration leaves out on purpose (`volumes.exclude`). An opt-out annotation
    alone is not a decision the configuration made: see `undeclared_opt_out`."""
    from seatrial.runbook.migration.volumes import excluded_here

    if pod is None:
        return set()
    volumes = [v["name"] for v in pod.get("spec", {}).get("volumes") or []]
    return {v for v in volumes if excluded_here(ctx.config.volumes.exclude, pod["metadata"]["name"], v)}


def undeclared_opt_out(ctx: CheckContext, volume: PodVolume, pod: dict | None) -> str:
    """A sentence when the pod opts the volume out with `backup-volumes-excludes` although the configuration
    does not exclude it (an annotation left by someone, or a template); "" otherwise."""
    from seatrial.runbook.clients.velero import OPT_OUT_ANNOTATION, pod_volume_opt_out

    if pod is None or volume.volume not in pod_volume_opt_out(pod) or volume.volume in excluded_volumes(ctx, pod):
        return ""
    return (f"; pod {volume.pod} opts it out ({OPT_OUT_ANNOTATION}={','.join(sorted(pod_volume_opt_out(pod)))}) "
            "but volumes.exclude does not list it")


def remove_opt_out_command(volume: PodVolume, pod: dict) -> str:
    from seatrial.runbook.clients.velero import OPT_OUT_ANNOTATION, pod_volume_opt_out

    rest = sorted(pod_volume_opt_out(pod) - {volume.volume})
    prefix = volume.owner.split("/", 1)[1]
    value = f"{OPT_OUT_ANNOTATION}={','.join(rest)} --overwrite" if rest else f"{OPT_OUT_ANNOTATION}-"
    return (f"kubectl -n {volume.namespace} annotate pod {volume.pod} {value}  (and drop it from the "
            f"{volume.owner} template), or list '{prefix}:{volume.volume}' in volumes.exclude "
            "if leaving it out is deliberate")


def volume_left_out_fix(ctx: CheckContext, volume: PodVolume, pod: dict | None, backup_obj: dict | None) -> str:
    """The fix for a pod volume the backup did not carry, from the cause observed: an exclusion the configuration
    does not make; a backup made in opt-in mode (by hand); else (seatrial's own backup covers every volume
    not in `volumes.exclude`) a pod Velero could not read the volume of."""
    if pod is not None and undeclared_opt_out(ctx, volume, pod):
        return remove_opt_out_command(volume, pod) + ", then back up again"
    default_fs = ((backup_obj or {}).get("spec") or {}).get("defaultVolumesToFsBackup")
    prefix = volume.owner.split("/", 1)[1]
    if default_fs is False:
        return (annotate_command(volume, volume.namespace, corrected_opt_in(volume, pod)) + "  (the pod VOLUME name, "
                "not the PVC name), then back up again; or let `seatrial step backup` make the backup: it covers "
                "every volume not listed in volumes.exclude")
    return (f"pod {volume.pod} was not Running on a node with a Ready node-agent when the backup ran: "
            f"kubectl -n {volume.namespace} describe pod {volume.pod}; fix it and back up again (or list "
            f"'{prefix}:{volume.volume}' in volumes.exclude if leaving it out is deliberate)")


def tarball_index(ctx: CheckContext) -> frozenset[tuple[str, str, str]]:
    """(groupResource, namespace, name) of every item in the backup tarball, read once by streaming."""
    name = require_backup_name(ctx)

    def index() -> frozenset[tuple[str, str, str]]:
        return frozenset((ref.group_resource, ref.namespace or "", ref.name) for ref in ctx.bucket.tarball_index(name))

    return ctx.memo(("tarball", name), index)
