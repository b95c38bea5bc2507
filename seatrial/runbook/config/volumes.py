"""The `volumes` and `fixup` sections."""

from __future__ import annotations

from pathlib import Path

from seatrial.runbook.config.keys import CLUSTER_SIDES, SERVICE_KEYS, check_keys
from seatrial.runbook.config.model import FIXUP_MODES, FixupConfig, ServiceFixup, VolumesConfig
from seatrial.runbook.config.reading import is_ip
from seatrial.runbook.config.yaml_file import kind_of
from seatrial.runbook.errors import ConfigError


class VolumeSections:
    def volumes(self, raw) -> VolumesConfig:
        data = self.section(raw, "volumes")
        exclude = self.get(data, "exclude", "volumes", list, [])
        for item in exclude:
            parts = item.split(":") if isinstance(item, str) else []
            if not 1 <= len(parts) <= 2 or not all(parts):
                raise ConfigError(
                    "volumes.exclude",
                    "each entry is a pod volume name or <pod name prefix>:<volume name>",
                    fix='e.g. exclude: [data] or ["my-harbor-redis:data"]',
                )
        mapping = self.get(data, "storage_class_mapping", "volumes", dict, {})
        for source, target in mapping.items():
            if not isinstance(source, str) or not isinstance(target, str) or not target:
                raise ConfigError(
                    "volumes.storage_class_mapping",
                    "must map StorageClass names to StorageClass names",
                    fix="e.g. {rook-ceph-block: ceph-rbd}",
                )
        content_parity = self.get(data, "content_parity", "volumes", bool, False)
        return VolumesConfig(exclude=tuple(exclude), storage_class_mapping=dict(mapping),
                             content_parity=content_parity, csi_directories=self.csi_directories(data))

    def csi_directories(self, data) -> dict[str, Path]:
        """`volumes.csi_directories`: per cluster (source, target), an existing directory of this machine that holds
        the cluster's CSI volumes as DIR/<volumeHandle> (relative paths: to the configuration file)."""
        where = "volumes.csi_directories"
        raw = self.get(data, "csi_directories", "volumes", dict, {})
        check_keys(raw, CLUSTER_SIDES, where)
        directories: dict[str, Path] = {}
        for side in raw:
            directory = self.path(raw, side, where, must_exist=False)
            if not directory.is_dir():
                raise ConfigError(f"{where}.{side}",
                                  f"{directory} is {'not a directory' if directory.exists() else 'not found'}",
                                  fix=f"point it at the directory that holds the {side} cluster's CSI volumes, one "
                                      "directory per volumeHandle, or remove the key")
            directories[side] = directory
        return directories

    def fixup(self, raw) -> FixupConfig:
        data = self.section(raw, "fixup")
        mode = self.text(data, "mode", "fixup", "resource-modifier")
        if mode not in FIXUP_MODES:
            raise ConfigError(
                "fixup.mode",
                f"{mode!r} is not a fixup mode",
                fix="set fixup.mode to resource-modifier (at restore time) or patch (after restore)",
            )
        services_raw = self.get(data, "services", "fixup", dict, {})
        services = {}
        for name, body in services_raw.items():
            where = f"fixup.services.{name}"
            if body is None:
                body = {}
            if not isinstance(body, dict):
                raise ConfigError(
                    where, f"expected a mapping, got a {kind_of(body)}", fix="give it loadBalancerIP and/or annotations"
                )
            check_keys(body, SERVICE_KEYS, where)
            ip = self.get(body, "loadBalancerIP", where, str, None)
            if ip is not None and not is_ip(ip):
                raise ConfigError(
                    f"{where}.loadBalancerIP", f"{ip!r} is not an IP address", fix="write an IPv4 or IPv6 address"
                )
            annotations = self.get(body, "annotations", where, dict, {})
            for k, v in annotations.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise ConfigError(
                        f"{where}.annotations", "keys and values must be strings", fix='quote values, e.g. "true"'
                    )
            services[str(name)] = ServiceFixup(load_balancer_ip=ip, annotations=dict(annotations))
        return FixupConfig(mode=mode, services=services)  # type: ignore[arg-type]
