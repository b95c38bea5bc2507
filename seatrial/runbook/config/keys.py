"""The keys each section of seatrial.yaml may hold, and the secrets it must not."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from seatrial.runbook.errors import ConfigError

# Keys that would hold a secret inline: refused with the way to pass it instead. The value is never shown.
INLINE_SECRETS = {
    "harbor": {
        "password": "use harbor.password_env (an environment variable) or harbor.password_file",
    },
    "storage": {
        "access_key": "put the keys in storage.credentials_file (Velero's INI format)",
        "secret_key": "put the keys in storage.credentials_file (Velero's INI format)",
        "aws_access_key_id": "put the keys in storage.credentials_file (Velero's INI format)",
        "aws_secret_access_key": "put the keys in storage.credentials_file (Velero's INI format)",
    },
    "velero": {
        "repository_password": "use velero.repository_password_env (an environment variable)",
    },
}

SECTIONS = {
    "source": ("kubeconfig", "context", "namespace", "release"),
    "target": ("kubeconfig", "context", "namespace", "release"),
    "storage": ("endpoint", "bucket", "prefix", "region", "path_style", "credentials_file", "ca_bundle", "insecure"),
    "velero": (
        "namespace",
        "uploader",
        "backup_name",
        "restore_name",
        "storage_location",
        "repository_password_env",
        "timeout_seconds",
    ),
    "harbor": (
        "source_url",
        "target_url",
        "username",
        "password_env",
        "password_file",
        "ca_bundle",
        "insecure",
        "canary_project",
        "verify_fraction",
        "verify_workers",
    ),
    "volumes": ("exclude", "storage_class_mapping", "content_parity", "csi_directories"),
    "fixup": ("mode", "services"),
    "upgrade": ("chart", "version", "repo", "values", "set", "accept_removed", "reuse_values", "rollback_on_failure",
                "timeout_seconds"),
}
TOP_LEVEL = (*SECTIONS, "run_dir")
SERVICE_KEYS = ("loadBalancerIP", "annotations")
CLUSTER_SIDES = ("source", "target")
REQUIRED_SECTIONS = ("source", "target", "storage", "harbor")


def dotted_key(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str, secrets_here=None) -> None:
    for key in mapping:
        dotted = dotted_key(where, key)
        if secrets_here and key in secrets_here:
            raise ConfigError(dotted, "a secret must not be written in the configuration file", fix=secrets_here[key])
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            if close:
                suggestion = dotted_key(where, close[0])
                raise ConfigError(dotted, f"unknown key; did you mean {suggestion}?", fix=f"rename it to {suggestion}")
            raise ConfigError(dotted, "unknown key", fix=f"remove it; known keys here: {', '.join(allowed)}")
