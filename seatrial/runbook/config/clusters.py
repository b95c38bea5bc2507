"""The `source`, `target`, `storage` and `velero` sections."""

from __future__ import annotations

import os

from seatrial.runbook.clients.s3 import parse_credentials_file
from seatrial.runbook.config.files import kube_contexts
from seatrial.runbook.config.model import (
    BUCKET_NAME,
    DNS1123_LABEL,
    UPLOADERS,
    ClusterConfig,
    StorageConfig,
    VeleroConfig,
)
from seatrial.runbook.config.names import render_name
from seatrial.runbook.config.reading import is_ip
from seatrial.runbook.errors import ConfigError
from seatrial.runbook.secrets import Secret


class ClusterSections:
    def cluster(self, raw, name: str, check_contexts: bool) -> ClusterConfig:
        data = self.section(raw, name)
        default = self.env.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"  # as kubectl does
        kubeconfig = self.path(data, "kubeconfig", name, default, must_exist=check_contexts, what="kubeconfig")
        context = self.text(data, "context", name)
        namespace = self.text(data, "namespace", name)
        release = self.text(data, "release", name)
        for key, value in (("namespace", namespace), ("release", release)):
            if not DNS1123_LABEL.match(value) or len(value) > 63:
                raise ConfigError(
                    f"{name}.{key}",
                    f"{value!r} is not a valid Kubernetes name",
                    fix="use lower-case letters, digits and '-' (at most 63)",
                )
        if check_contexts:
            contexts = kube_contexts(kubeconfig, f"{name}.kubeconfig")
            if context not in contexts:
                known = ", ".join(contexts) if contexts else "none"
                raise ConfigError(
                    f"{name}.context",
                    f"context {context!r} is not in {kubeconfig}; contexts there: {known}",
                    fix=f"set {name}.context to one of them (kubectl config get-contexts)",
                )
        assert kubeconfig is not None
        return ClusterConfig(kubeconfig=kubeconfig, context=context, namespace=namespace, release=release)

    def storage(self, raw) -> StorageConfig:
        data = self.section(raw, "storage")
        endpoint = self.url(data, "endpoint", "storage")
        bucket = self.text(data, "bucket", "storage")
        if "/" in bucket:
            raise ConfigError(
                "storage.bucket",
                f"{bucket!r} contains '/'; Velero rejects a bucket with a path",
                fix="put the prefix in storage.prefix and only the bucket name in storage.bucket",
            )
        if not BUCKET_NAME.match(bucket) or ".." in bucket or is_ip(bucket):
            raise ConfigError(
                "storage.bucket",
                f"{bucket!r} is not a valid bucket name",
                fix="use 3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit",
            )
        prefix = self.get(data, "prefix", "storage", str, "").strip("/")
        region = self.text(data, "region", "storage", "us-east-1")
        path_style = self.get(data, "path_style", "storage", bool, True)
        credentials_file = self.path(data, "credentials_file", "storage", what="credentials file")
        assert credentials_file is not None
        access_key, secret_key = parse_credentials_file(credentials_file)
        ca_bundle, insecure = self.tls(data, "storage", {"endpoint": endpoint})
        return StorageConfig(
            endpoint=endpoint,
            bucket=bucket,
            prefix=prefix,
            region=region,
            path_style=path_style,
            access_key=access_key,
            secret_key=secret_key,
            credentials_file=credentials_file,
            ca_bundle=ca_bundle,
            insecure=insecure,
        )

    def velero(self, raw, source: ClusterConfig, target: ClusterConfig) -> VeleroConfig:
        data = self.section(raw, "velero")
        namespace = self.text(data, "namespace", "velero", "velero")
        uploader = self.text(data, "uploader", "velero", "kopia")
        if uploader not in UPLOADERS:
            raise ConfigError(
                "velero.uploader",
                f"{uploader!r} is not an uploader Velero knows",
                fix="set velero.uploader to restic or kopia (as installed with velero install --uploader-type)",
            )
        templates = {}
        for key in ("backup_name", "restore_name"):
            template = self.text(data, key, "velero", "seatrial-{release}-{timestamp}")
            for cluster in (source, target):
                render_name(template, release=cluster.release, namespace=cluster.namespace, key=f"velero.{key}")
            templates[key] = template
        storage_location = self.text(data, "storage_location", "velero", "default")
        password_env = self.text(data, "repository_password_env", "velero", None)
        repository_password = None
        if password_env is not None:
            repository_password = Secret(
                self.from_env(password_env, "velero.repository_password_env"), name="repository_password"
            )
        timeout = self.get(data, "timeout_seconds", "velero", int, 3600)
        if timeout <= 0:
            raise ConfigError("velero.timeout_seconds", f"must be positive, got {timeout}", fix="e.g. 3600")
        return VeleroConfig(
            namespace=namespace,
            uploader=uploader,  # type: ignore[arg-type]
            backup_name=templates["backup_name"],
            restore_name=templates["restore_name"],
            storage_location=storage_location,
            repository_password_env=password_env,
            timeout_seconds=timeout,
            repository_password=repository_password,
        )
