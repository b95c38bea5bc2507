"""The configuration as seatrial holds it once loaded: frozen dataclasses, one per section of seatrial.yaml,
and the constants their validation uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from seatrial.runbook.secrets import MASK, Secret

Uploader = Literal["restic", "kopia"]
FixupMode = Literal["resource-modifier", "patch"]
UPLOADERS: tuple[str, ...] = ("restic", "kopia")
FIXUP_MODES: tuple[str, ...] = ("resource-modifier", "patch")
NAME_PLACEHOLDERS: tuple[str, ...] = ("release", "namespace", "timestamp", "random")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_VERIFY_WORKERS = 64
MAX_UPGRADE_TIMEOUT = 86400


# --------------------------------------------------------------------------- the configuration


@dataclass(frozen=True)
class ClusterConfig:
    kubeconfig: Path
    context: str
    namespace: str
    release: str


@dataclass(frozen=True)
class StorageConfig:
    endpoint: str
    bucket: str
    prefix: str
    region: str
    path_style: bool
    access_key: Secret
    secret_key: Secret
    credentials_file: Path
    ca_bundle: Path | None
    insecure: bool

    @property
    def verify(self) -> bool | str:
        """The `verify` argument for requests / boto3."""
        return _verify(self.ca_bundle, self.insecure)


@dataclass(frozen=True)
class VeleroConfig:
    namespace: str
    uploader: Uploader
    backup_name: str
    restore_name: str
    storage_location: str
    repository_password_env: str | None
    timeout_seconds: int
    repository_password: Secret | None = None  # read from repository_password_env when it is set


@dataclass(frozen=True)
class HarborConfig:
    source_url: str
    target_url: str
    username: str
    password: Secret
    ca_bundle: Path | None
    insecure: bool
    canary_project: str
    verify_fraction: float
    verify_workers: int = 4  # blobs pulled and digest-verified at once

    @property
    def verify(self) -> bool | str:
        """The `verify` argument for requests."""
        return _verify(self.ca_bundle, self.insecure)


@dataclass(frozen=True)
class VolumesConfig:
    exclude: tuple[str, ...] = ()
    storage_class_mapping: dict[str, str] = field(default_factory=dict)
    # restored volumes compared with their snapshots file by file, where seatrial can read them (a rehearsal's
    # PV directories); off for volumes too large to read back into a scratch directory
    content_parity: bool = False
    # "source"/"target" -> the directory of this machine holding that cluster's CSI volumes, one per volumeHandle
    # (a rehearsal's); where content parity finds a CSI PV's data
    csi_directories: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceFixup:
    load_balancer_ip: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FixupConfig:
    mode: FixupMode = "resource-modifier"
    services: dict[str, ServiceFixup] = field(default_factory=dict)


@dataclass(frozen=True)
class UpgradeConfig:
    """The `upgrade` step: the new chart and its values (no chart: no upgrade configured)."""

    chart: str | None = None  # a local directory/.tgz (resolved), a chart name with `repo`, or oci://
    version: str | None = None
    repo: str | None = None
    values: tuple[Path, ...] = ()
    set: tuple[str, ...] = ()  # KEY=VALUE, as helm --set
    accept_removed: tuple[str, ...] = ()  # components whose data PVC the new chart no longer serves
    reuse_values: bool = False  # the deployed release's values under `values`/`set` (helm --reset-then-reuse-values)
    rollback_on_failure: bool = False
    timeout_seconds: int = 900

    @property
    def enabled(self) -> bool:
        return self.chart is not None


@dataclass(frozen=True)
class Config:
    source: ClusterConfig
    target: ClusterConfig
    storage: StorageConfig
    velero: VeleroConfig
    harbor: HarborConfig
    volumes: VolumesConfig
    fixup: FixupConfig
    run_dir: Path
    path: Path
    upgrade: UpgradeConfig = field(default_factory=UpgradeConfig)

    def secrets(self) -> list[Secret]:
        found = [self.storage.access_key, self.storage.secret_key, self.harbor.password]
        if self.velero.repository_password is not None:
            found.append(self.velero.repository_password)
        return found

    def describe(self) -> dict[str, Any]:
        """A plain dict safe to print or put in a report: paths as strings, secrets masked (also the values of
        `upgrade.set` under a secret-named key, such as harborAdminPassword or trivy.gitHubToken)."""
        from seatrial.runbook.clients.helm_values import masked_set

        described = _plain(self)
        described["upgrade"]["set"] = [masked_set(item) for item in self.upgrade.set]
        return described


def _verify(ca_bundle: Path | None, insecure: bool) -> bool | str:
    if insecure:
        return False
    return str(ca_bundle) if ca_bundle else True


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK if value else ""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
