"""Velero objects as seatrial builds and reads them (facts: reference/velero-facts.md, sections c-f).

Builders return plain dicts that validate against the vendored CRD schemas (seatrial.runbook.clients.crds); readers
are small frozen dataclasses built from the dicts the API returns. Only `Completed` is success:
PartiallyFailed, Failed, FailedValidation and the Finalizing*/WaitingForPluginOperations* phases are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from seatrial.runbook.clients import crds
from seatrial.runbook.errors import BadInput

API_VERSION = "velero.io/v1"

# -- phases ------------------------------------------------------------------------------------
NEW = "New"
QUEUED = "Queued"
READY_TO_START = "ReadyToStart"
IN_PROGRESS = "InProgress"
WAITING_FOR_PLUGIN_OPERATIONS = "WaitingForPluginOperations"
WAITING_FOR_PLUGIN_OPERATIONS_PARTIALLY_FAILED = "WaitingForPluginOperationsPartiallyFailed"
FINALIZING = "Finalizing"
FINALIZING_PARTIALLY_FAILED = "FinalizingPartiallyFailed"
COMPLETED = "Completed"
PARTIALLY_FAILED = "PartiallyFailed"
FAILED = "Failed"
FAILED_VALIDATION = "FailedValidation"
DELETING = "Deleting"
# PodVolumeBackup / PodVolumeRestore (v1.17+ added Accepted, Prepared, Canceling, Canceled)
ACCEPTED = "Accepted"
PREPARED = "Prepared"
CANCELING = "Canceling"
CANCELED = "Canceled"
# BackupStorageLocation
AVAILABLE = "Available"
UNAVAILABLE = "Unavailable"

BACKUP_PHASES = (NEW, QUEUED, READY_TO_START, FAILED_VALIDATION, IN_PROGRESS, WAITING_FOR_PLUGIN_OPERATIONS,
                 WAITING_FOR_PLUGIN_OPERATIONS_PARTIALLY_FAILED, FINALIZING, FINALIZING_PARTIALLY_FAILED,
                 COMPLETED, PARTIALLY_FAILED, FAILED, DELETING)
RESTORE_PHASES = (NEW, FAILED_VALIDATION, IN_PROGRESS, WAITING_FOR_PLUGIN_OPERATIONS,
                  WAITING_FOR_PLUGIN_OPERATIONS_PARTIALLY_FAILED, COMPLETED, PARTIALLY_FAILED, FAILED,
                  FINALIZING, FINALIZING_PARTIALLY_FAILED)
POD_VOLUME_PHASES = (NEW, ACCEPTED, PREPARED, IN_PROGRESS, CANCELING, CANCELED, COMPLETED, FAILED)

BACKUP_SUCCESS = frozenset({COMPLETED})
RESTORE_SUCCESS = frozenset({COMPLETED})
POD_VOLUME_SUCCESS = frozenset({COMPLETED})
# Phases after which Velero changes nothing more (a wait can stop); only *_SUCCESS means it worked.
TERMINAL_PHASES = frozenset({COMPLETED, PARTIALLY_FAILED, FAILED, FAILED_VALIDATION, CANCELED})


def is_terminal(phase: str | None) -> bool:
    """True once a Backup, Restore, PVB or PVR has stopped moving (success or not)."""
    return phase in TERMINAL_PHASES


def is_success(phase: str | None) -> bool:
    return phase == COMPLETED


# -- annotations and labels --------------------------------------------------------------------
OPT_IN_ANNOTATION = "backup.velero.io/backup-volumes"
OPT_OUT_ANNOTATION = "backup.velero.io/backup-volumes-excludes"  # with the trailing s; "-exclude" is ignored
PVC_NAME_ANNOTATION = "velero.io/pvc-name"
BACKUP_NAME_LABEL = "velero.io/backup-name"
RESTORE_NAME_LABEL = "velero.io/restore-name"
STORAGE_LOCATION_LABEL = "velero.io/storage-location"
EXISTING_RESOURCE_POLICIES = ("none", "update")
NOT_FS_BACKED = ("hostPath", "secret", "configMap", "projected", "downwardAPI")

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$")


# -- builders ----------------------------------------------------------------------------------
def backup_manifest(name: str, *, velero_namespace: str, included_namespaces: list[str],
                    default_volumes_to_fs_backup: bool = True, storage_location: str = "default",
                    ttl: str = "720h0m0s", snapshot_volumes: bool = False,
                    labels: dict[str, str] | None = None) -> dict:
    """A Backup of `included_namespaces` with file-system backup and no native snapshots by default."""
    _check_name("backup name", name)
    _check_name("velero namespace", velero_namespace)
    if not included_namespaces:
        raise BadInput("a backup needs at least one included namespace (an empty list means ALL namespaces)",
                       fix="name the application's namespace, e.g. included_namespaces=['harbor']")
    if isinstance(ttl, str) and not _GO_DURATION.match(ttl):
        raise BadInput(f"spec.ttl: {ttl!r} is not a Go duration", fix='write it like "720h0m0s" or "72h"')
    backup = {
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": _metadata(name, velero_namespace, labels),
        "spec": {
            "includedNamespaces": list(included_namespaces) if isinstance(included_namespaces, list | tuple)
            else included_namespaces,
            "defaultVolumesToFsBackup": default_volumes_to_fs_backup,
            "snapshotVolumes": snapshot_volumes,
            "storageLocation": storage_location,
            "ttl": ttl,
        },
    }
    return _validated(backup)


def restore_manifest(name: str, *, velero_namespace: str, backup_name: str,
                     included_namespaces: list[str] | None = None, namespace_mapping: dict[str, str] | None = None,
                     existing_resource_policy: str | None = None, resource_modifier_configmap: str | None = None,
                     restore_pvs: bool = True, labels: dict[str, str] | None = None) -> dict:
    """A Restore of `backup_name`; optionally mapped namespaces and a resource-modifier ConfigMap."""
    _check_name("restore name", name)
    _check_name("velero namespace", velero_namespace)
    _check_name("backup name", backup_name)
    spec: dict = {"backupName": backup_name, "restorePVs": restore_pvs}
    if included_namespaces is not None:
        spec["includedNamespaces"] = list(included_namespaces) if isinstance(included_namespaces, list | tuple) \
            else included_namespaces
    if namespace_mapping:
        spec["namespaceMapping"] = dict(namespace_mapping) if isinstance(namespace_mapping, dict) \
            else namespace_mapping
    if existing_resource_policy is not None:
        # The CRD has no enum here; the Velero controller fails the restore on anything else.
        if existing_resource_policy not in EXISTING_RESOURCE_POLICIES:
            raise BadInput(f"spec.existingResourcePolicy: {existing_resource_policy!r} is not one of "
                           f"{', '.join(EXISTING_RESOURCE_POLICIES)}",
                           fix="use 'none' (keep what exists) or 'update'")
        spec["existingResourcePolicy"] = existing_resource_policy
    if resource_modifier_configmap is not None:
        _check_name("resource modifier ConfigMap name", resource_modifier_configmap)
        spec["resourceModifier"] = {"kind": "configmap", "name": resource_modifier_configmap}
    restore = {"apiVersion": API_VERSION, "kind": "Restore", "metadata": _metadata(name, velero_namespace, labels),
               "spec": spec}
    return _validated(restore)


CHANGE_STORAGE_CLASS_CONFIGMAP = "seatrial-change-storage-class"


def change_storage_class_configmap(velero_namespace: str, mapping: dict[str, str],
                                   name: str = CHANGE_STORAGE_CLASS_CONFIGMAP) -> dict:
    """Velero's change-storage-class RestoreItemAction configuration: the restore rewrites the
    storageClassName of PVs, PVCs and StatefulSet claim templates from each key to its value."""
    _check_name("ConfigMap name", name)
    _check_name("velero namespace", velero_namespace)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": velero_namespace,
                         "labels": {"velero.io/plugin-config": "",
                                    "velero.io/change-storage-class": "RestoreItemAction",
                                    "app.kubernetes.io/managed-by": "seatrial"}},
            "data": dict(mapping)}


def resource_modifier_configmap(name: str, velero_namespace: str, rules: list[dict]) -> dict:
    """The ConfigMap a Restore's spec.resourceModifier points at: exactly one data key holding
    `version: v1` rules YAML (Velero rejects the ConfigMap otherwise)."""
    _check_name("ConfigMap name", name)
    _check_name("velero namespace", velero_namespace)
    if not rules:
        raise BadInput("resource modifier rules are empty", fix="give at least one rule with conditions and patches")
    for index, rule in enumerate(rules):
        where = f"resourceModifierRules[{index}]"
        if not isinstance(rule, dict) or not (rule.get("conditions") or {}).get("groupResource"):
            raise BadInput(f"{where}.conditions.groupResource is required",
                           fix='add conditions: {groupResource: services, namespaces: [harbor]}')
        kinds = [key for key in ("patches", "mergePatches", "strategicPatches") if rule.get(key)]
        if len(kinds) != 1:
            raise BadInput(f"{where} must have exactly one of patches, mergePatches, strategicPatches "
                           f"(has: {', '.join(kinds) or 'none'})", fix="split it into one rule per patch kind")
    text = yaml.safe_dump({"version": "v1", "resourceModifierRules": rules}, sort_keys=False)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": velero_namespace}, "data": {"rules.yaml": text}}


def _metadata(name: str, namespace: str, labels: dict[str, str] | None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise BadInput(f"{what} {name!r} is not a valid Kubernetes name",
                       fix="use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")


def _validated(obj: dict) -> dict:
    causes = crds.validate(obj)
    if causes:
        detail = "; ".join(f"{path}: {message}" for path, message in causes)
        raise BadInput(f"{obj['kind']} {obj['metadata']['name']!r} would be refused by the API server: {detail}",
                       fix="correct the argument behind each field named above")
    return obj


# -- readers -----------------------------------------------------------------------------------
def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class BackupStatus:
    name: str
    phase: str
    errors: int
    warnings: int
    items_backed_up: int
    total_items: int
    started: str
    completed: str
    failure_reason: str
    validation_errors: tuple[str, ...]
    storage_location: str

    @classmethod
    def from_obj(cls, obj: dict) -> BackupStatus:
        status, spec, meta = obj.get("status") or {}, obj.get("spec") or {}, _meta(obj)
        progress = status.get("progress") or {}
        return cls(
            name=meta.get("name", ""), phase=status.get("phase") or "", errors=_int(status.get("errors")),
            warnings=_int(status.get("warnings")), items_backed_up=_int(progress.get("itemsBackedUp")),
            total_items=_int(progress.get("totalItems")), started=status.get("startTimestamp") or "",
            completed=status.get("completionTimestamp") or "", failure_reason=status.get("failureReason") or "",
            validation_errors=tuple(status.get("validationErrors") or ()),
            storage_location=spec.get("storageLocation") or (meta.get("labels") or {}).get(STORAGE_LOCATION_LABEL, ""),
        )

    @property
    def succeeded(self) -> bool:
        return self.phase in BACKUP_SUCCESS

    @property
    def finished(self) -> bool:
        return is_terminal(self.phase)

    def problems(self) -> list[str]:
        """Everything that keeps this backup from being trusted; [] when it is sound."""
        found = []
        if not self.succeeded:
            found.append(f"phase is {self.phase or '(none)'}, not Completed")
        if self.errors:
            found.append(f"{self.errors} errors")
        if self.items_backed_up != self.total_items:
            found.append(f"{self.items_backed_up} of {self.total_items} items backed up")
        if self.failure_reason:
            found.append(f"failure reason: {self.failure_reason}")
        found += [f"validation error: {error}" for error in self.validation_errors]
        return found

    def summary(self) -> str:
        return (f"backup {self.name}: phase {self.phase or '(none)'}, {self.items_backed_up}/{self.total_items} items, "
                f"{self.errors} errors, {self.warnings} warnings")


@dataclass(frozen=True)
class RestoreStatus:
    name: str
    backup_name: str
    phase: str
    errors: int
    warnings: int
    items_restored: int
    total_items: int
    started: str
    completed: str
    failure_reason: str
    validation_errors: tuple[str, ...]

    @classmethod
    def from_obj(cls, obj: dict) -> RestoreStatus:
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        progress = status.get("progress") or {}
        return cls(
            name=_meta(obj).get("name", ""), backup_name=spec.get("backupName") or "", phase=status.get("phase") or "",
            errors=_int(status.get("errors")), warnings=_int(status.get("warnings")),
            items_restored=_int(progress.get("itemsRestored")), total_items=_int(progress.get("totalItems")),
            started=status.get("startTimestamp") or "", completed=status.get("completionTimestamp") or "",
            failure_reason=status.get("failureReason") or "",
            validation_errors=tuple(status.get("validationErrors") or ()),
        )

    @property
    def succeeded(self) -> bool:
        return self.phase in RESTORE_SUCCESS

    @property
    def finished(self) -> bool:
        return is_terminal(self.phase)

    def problems(self) -> list[str]:
        found = []
        if not self.succeeded:
            found.append(f"phase is {self.phase or '(none)'}, not Completed")
        if self.errors:
            found.append(f"{self.errors} errors")
        if self.failure_reason:
            found.append(f"failure reason: {self.failure_reason}")
        found += [f"validation error: {error}" for error in self.validation_errors]
        return found

    def summary(self) -> str:
        return (f"restore {self.name}: phase {self.phase or '(none)'}, {self.items_restored}/{self.total_items} "
                f"items, {self.errors} errors, {self.warnings} warnings")


@dataclass(frozen=True)
class PodVolumeBackupInfo:
    name: str
    backup_name: str
    pod_namespace: str
    pod_name: str
    volume: str
    pvc_name: str  # "" when the volume is not a PVC
    phase: str
    snapshot_id: str
    total_bytes: int
    bytes_done: int
    uploader_type: str
    repo_identifier: str  # filled for restic only; empty for kopia
    message: str = ""

    @classmethod
    def from_obj(cls, obj: dict) -> PodVolumeBackupInfo:
        meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
        pod, progress = spec.get("pod") or {}, status.get("progress") or {}
        return cls(
            name=meta.get("name", ""), backup_name=(meta.get("labels") or {}).get(BACKUP_NAME_LABEL, ""),
            pod_namespace=pod.get("namespace") or "", pod_name=pod.get("name") or "", volume=spec.get("volume") or "",
            pvc_name=(meta.get("annotations") or {}).get(PVC_NAME_ANNOTATION, ""), phase=status.get("phase") or "",
            snapshot_id=status.get("snapshotID") or "", total_bytes=_int(progress.get("totalBytes")),
            bytes_done=_int(progress.get("bytesDone")), uploader_type=spec.get("uploaderType") or "",
            repo_identifier=spec.get("repoIdentifier") or "", message=status.get("message") or "",
        )

    @property
    def succeeded(self) -> bool:
        return self.phase in POD_VOLUME_SUCCESS

    @property
    def pod_volume(self) -> str:
        """`ns/pod:volume`, the id checks use."""
        return f"{self.pod_namespace}/{self.pod_name}:{self.volume}"


@dataclass(frozen=True)
class PodVolumeRestoreInfo:
    name: str
    restore_name: str
    pod_namespace: str
    pod_name: str
    volume: str
    source_namespace: str  # the namespace before mapping = the repository read
    phase: str
    snapshot_id: str
    total_bytes: int
    bytes_done: int
    uploader_type: str
    repo_identifier: str
    message: str = ""

    @classmethod
    def from_obj(cls, obj: dict) -> PodVolumeRestoreInfo:
        meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
        pod, progress = spec.get("pod") or {}, status.get("progress") or {}
        return cls(
            name=meta.get("name", ""), restore_name=(meta.get("labels") or {}).get(RESTORE_NAME_LABEL, ""),
            pod_namespace=pod.get("namespace") or "", pod_name=pod.get("name") or "", volume=spec.get("volume") or "",
            source_namespace=spec.get("sourceNamespace") or "", phase=status.get("phase") or "",
            snapshot_id=spec.get("snapshotID") or "", total_bytes=_int(progress.get("totalBytes")),
            bytes_done=_int(progress.get("bytesDone")), uploader_type=spec.get("uploaderType") or "",
            repo_identifier=spec.get("repoIdentifier") or "", message=status.get("message") or "",
        )

    @property
    def succeeded(self) -> bool:
        return self.phase in POD_VOLUME_SUCCESS

    @property
    def pod_volume(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}:{self.volume}"


@dataclass(frozen=True)
class StorageLocationInfo:
    name: str
    phase: str
    bucket: str
    prefix: str
    provider: str
    config: dict[str, str] = field(hash=False)
    default: bool
    access_mode: str
    message: str = ""

    @classmethod
    def from_obj(cls, obj: dict) -> StorageLocationInfo:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        storage = spec.get("objectStorage") or {}
        return cls(
            name=_meta(obj).get("name", ""), phase=status.get("phase") or "", bucket=storage.get("bucket") or "",
            prefix=(storage.get("prefix") or "").strip("/"), provider=spec.get("provider") or "",
            config=dict(spec.get("config") or {}), default=bool(spec.get("default")),
            access_mode=spec.get("accessMode") or "ReadWrite", message=status.get("message") or "",
        )

    @property
    def available(self) -> bool:
        return self.phase == AVAILABLE

    @property
    def s3_url(self) -> str:
        return self.config.get("s3Url", "")


# -- pod volumes -------------------------------------------------------------------------------
def _annotation_list(metadata: dict, key: str) -> list[str]:
    # Velero splits on "," and trims nothing: "a, b" names " b", which matches no volume.
    value = (metadata.get("annotations") or {}).get(key) or ""
    return value.split(",") if value else []


def _metadata_of(pod_or_metadata: dict) -> dict:
    """Accepts a pod, a pod template, or their metadata."""
    return pod_or_metadata["metadata"] if isinstance(pod_or_metadata.get("metadata"), dict) else pod_or_metadata


def pod_volume_opt_in(pod_or_template_metadata: dict) -> set[str]:
    """Volume names in `backup.velero.io/backup-volumes` (pod spec.volumes[].name, not PVC names)."""
    return set(_annotation_list(_metadata_of(pod_or_template_metadata), OPT_IN_ANNOTATION))


def pod_volume_opt_out(pod_or_template_metadata: dict) -> set[str]:
    """Volume names in `backup.velero.io/backup-volumes-excludes`."""
    return set(_annotation_list(_metadata_of(pod_or_template_metadata), OPT_OUT_ANNOTATION))


def fs_backup_volumes(pod: dict, default_volumes_to_fs_backup: bool) -> list[str]:
    """The volume names Velero's GetVolumesByPod picks for file-system backup (pkg/util/podvolume).

    Opt-in mode returns the annotation's names as written, even names that are no volume of the pod
    (Velero then only warns "No volume named X found in pod"): see `opt_in_names_without_volume`.
    """
    metadata = _metadata_of(pod)
    if not default_volumes_to_fs_backup:
        return _annotation_list(metadata, OPT_IN_ANNOTATION)
    excluded = set(_annotation_list(metadata, OPT_OUT_ANNOTATION))
    picked = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name", "")
        if any(volume.get(source) is not None for source in NOT_FS_BACKED):
            continue
        if name in excluded or name.startswith("default-token"):
            continue
        picked.append(name)
    return picked


def opt_in_names_without_volume(pod: dict) -> list[str]:
    """Opt-in names that match no pod volume — typically a PVC name used where the volume name belongs."""
    volumes = {v.get("name") for v in (pod.get("spec") or {}).get("volumes") or []}
    return [name for name in _annotation_list(_metadata_of(pod), OPT_IN_ANNOTATION) if name not in volumes]


def pvc_volumes(pod: dict) -> dict[str, str]:
    """Pod volume name -> claim name, for the PVC-backed volumes of a pod."""
    return {v["name"]: v["persistentVolumeClaim"].get("claimName", "")
            for v in (pod.get("spec") or {}).get("volumes") or [] if v.get("persistentVolumeClaim")}


def restic_repo_identifier(s3_url: str, bucket: str, prefix: str, namespace: str) -> str:
    """`s3:<s3Url>/<bucket>/<prefix>/restic/<ns>` as Velero's GetRepoIdentifier builds it (prefix may be empty)."""
    if not s3_url:
        raise BadInput("the BSL has no config.s3Url; the restic repository address cannot be derived",
                       fix="set config.s3Url on the BackupStorageLocation (MinIO needs it)")
    if "/" in bucket:
        raise BadInput(f"bucket {bucket!r} contains '/'", fix="put the part after '/' in the prefix instead")
    parts = [bucket, *([prefix.strip("/")] if prefix.strip("/") else []), "restic", namespace]
    return f"s3:{s3_url.rstrip('/')}/{'/'.join(parts)}"


# -- the Velero server as installed: found by what it runs, its uploader and version ----------------

NODE_AGENT_POD_LABEL = ("name", "node-agent")
RESTIC_LAST_BACKUP_VERSION = (1, 16)  # v1.17's ValidateUploaderType accepts only kopia (pkg/uploader/types.go)
_IMAGE_VERSION = re.compile(r":v?(\d+)\.(\d+)(?:\.(\d+))?")


def _runs_velero_server(deployment: dict) -> bool:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        words = [*(container.get("command") or []), *(container.get("args") or [])]
        if any(w.endswith("/velero") or w == "velero" for w in words[:1]) and "server" in words[1:3]:
            return True
    return False


def velero_server(deployments: list[dict]) -> dict | None:
    """The Deployment that runs `/velero server`: `velero` by name first (velero install), else the one whose
    pod template runs the server or whose labels say so (the Helm chart names it after the release)."""
    named = next((d for d in deployments if d["metadata"]["name"] == "velero"), None)
    if named is not None:
        return named
    running = [d for d in deployments if _runs_velero_server(d)]
    if running:
        return running[0]
    for deployment in deployments:
        labels = deployment["metadata"].get("labels") or {}
        if labels.get("component") == "velero" or labels.get("app.kubernetes.io/name") == "velero":
            return deployment  # the node-agent is a DaemonSet, never among these
    return None


def container_flag(container: dict, flag: str) -> str | None:
    """The value of `--<flag>=v` or `--<flag> v` among a container's command and args; None when absent."""
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    for index, word in enumerate(words):
        if word.startswith(f"--{flag}="):
            return word.split("=", 1)[1]
        if word == f"--{flag}" and index + 1 < len(words):
            return words[index + 1]
    return None


def server_flag(deployment: dict, flag: str) -> str | None:
    """The value of `--<flag>=v` or `--<flag> v` on the server container, None when not given."""
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        value = container_flag(container, flag)
        if value is not None:
            return value
    return None


def server_version(deployment: dict) -> tuple[int, int, int] | None:
    """(major, minor, patch) from the server image's tag (`velero/velero:v1.16.2`), None when not a version."""
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in spec.get("containers") or []:
        match = _IMAGE_VERSION.search(container.get("image") or "")
        if match:
            return int(match[1]), int(match[2]), int(match[3] or 0)
    return None


def server_uploader(deployment: dict) -> str:
    """`--uploader-type`, else the server's default: restic up to v1.16 (config.go@v1.16.2), kopia after."""
    flag = server_flag(deployment, "uploader-type")
    if flag:
        return flag
    version = server_version(deployment)
    return "restic" if version is not None and version[:2] <= RESTIC_LAST_BACKUP_VERSION else "kopia"
