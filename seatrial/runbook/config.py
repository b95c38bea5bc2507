"""seatrial.yaml: load, validate and describe one migration's configuration.

`load_config(path)` returns a frozen `Config` or raises exactly one `ConfigError` naming the dotted
key and the fix. Validation reads only local files (the YAML, the kubeconfig, the credentials and
password files); it never touches the network and changes nothing.

Secret values (S3 keys, Harbor password, repository password) are wrapped in `Secret` as soon as
they are read and never appear in an error message, `repr` or `describe()`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets as random_source
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from seatrial.runbook.clients.s3 import parse_credentials_file
from seatrial.runbook.errors import BadInput, ConfigError
from seatrial.runbook.identity import SAME_CLUSTER_FIX, kubeconfig_server, normalized_server, same_namespace_refusal
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


# --------------------------------------------------------------------------- names


def render_name(
    template: str,
    *,
    release: str,
    namespace: str,
    now: datetime | None = None,
    key: str = "velero.backup_name",
) -> str:
    """Fill `{release} {namespace} {timestamp} {random}`; the result is a DNS-1123 label (<= 63, lower case).

    Raises ConfigError naming `key` for an unknown placeholder or a result that is not a valid name.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    values = {
        "release": release,
        "namespace": namespace,
        "timestamp": moment.strftime("%Y%m%d%H%M%S"),
        "random": random_source.token_hex(3),
    }
    placeholders = re.findall(r"\{([^{}]*)\}", template)
    for name in placeholders:
        if name not in values:
            raise ConfigError(
                key,
                f"unknown placeholder {{{name}}} in the name template",
                fix=f"use only {', '.join('{' + p + '}' for p in NAME_PLACEHOLDERS)}",
            )
    rendered = re.sub(r"\{([^{}]*)\}", lambda m: values[m.group(1)], template).lower()
    if "{" in rendered or "}" in rendered:
        raise ConfigError(key, "unbalanced brace in the name template", fix="write placeholders as {release}")
    if len(rendered) > 63:
        raise ConfigError(
            key,
            f"the template renders a {len(rendered)}-character name ({rendered!r}); Kubernetes allows 63",
            fix="shorten the template ({timestamp} is 14 characters, {random} 6)",
        )
    if not DNS1123_LABEL.match(rendered):
        raise ConfigError(
            key,
            f"the template renders {rendered!r}, not a valid Kubernetes name",
            fix="use only lower-case letters, digits and '-', starting and ending with a letter or digit",
        )
    return rendered


# --------------------------------------------------------------------------- loading


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    check_contexts: bool = True,
) -> Config:
    """Read and validate seatrial.yaml. Raises ConfigError (one, for the first problem found).

    `check_contexts=False` skips reading the kubeconfigs (for environments that create them later).
    """
    env = os.environ if environ is None else environ
    config_path = Path(os.path.expanduser(str(path))).absolute()
    raw = _read_yaml(config_path)
    loader = _Loader(config_path.parent, env)
    return loader.build(raw, config_path, check_contexts)


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError("config", f"{path} is a directory, not a configuration file",
                          fix=f"pass -c {path / 'seatrial.yaml'} (the file itself), or set SEATRIAL_CONFIG to it")
    if not path.is_file():
        raise ConfigError(
            "config",
            f"configuration file not found: {path}",
            fix="pass -c PATH or set SEATRIAL_CONFIG; start from examples/seatrial.yaml",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "config", f"cannot read {path}: {type(exc).__name__}", fix="check its permissions and save it as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(
            exc.key, f"given twice (lines {exc.first} and {exc.second})", fix="keep one of them"
        ) from None
    except yaml.MarkedYAMLError as exc:
        # The problem and its position only: the offending line may hold a secret.
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        started = ""
        if exc.context and exc.context_mark and (not mark or exc.context_mark.line != mark.line):
            started = f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise ConfigError(
            "config",
            f"{path} is not valid YAML at {where}: {exc.problem or exc.context}{started}",
            fix="fix the YAML syntax there (indentation, quotes, ':' after keys)",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"{path} is not valid YAML: {type(exc).__name__}", fix="fix the YAML") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "config", f"{path} must hold a mapping of sections, found a {_kind(data)}", fix="see examples/seatrial.yaml"
        )
    return data


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, second: int):
        self.key, self.first, self.second = key, first, second


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise _DuplicateKey(self._dotted_path(node, key), seen[key], line)
            if isinstance(key, str):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def _dotted_path(self, node, key: str) -> str:
        path = [key]
        parent = self._parents.get(id(node))
        while parent is not None:
            path.append(parent[1])
            parent = self._parents.get(id(parent[0]))
        return ".".join(reversed(path))

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        if not hasattr(self, "_parents"):
            self._parents: dict[int, tuple[Any, str]] = {}
        if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.ScalarNode):
            self._parents[id(node)] = (parent, index.value)
        return node


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "decimal number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


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
    "volumes": ("exclude", "storage_class_mapping", "content_parity"),
    "fixup": ("mode", "services"),
    "upgrade": ("chart", "version", "repo", "values", "set", "accept_removed", "reuse_values", "rollback_on_failure",
                "timeout_seconds"),
}
TOP_LEVEL = (*SECTIONS, "run_dir")
SERVICE_KEYS = ("loadBalancerIP", "annotations")
REQUIRED_SECTIONS = ("source", "target", "storage", "harbor")


def _dotted(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str, secrets_here=None) -> None:
    for key in mapping:
        dotted = _dotted(where, key)
        if secrets_here and key in secrets_here:
            raise ConfigError(dotted, "a secret must not be written in the configuration file", fix=secrets_here[key])
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            if close:
                suggestion = _dotted(where, close[0])
                raise ConfigError(dotted, f"unknown key; did you mean {suggestion}?", fix=f"rename it to {suggestion}")
            raise ConfigError(dotted, "unknown key", fix=f"remove it; known keys here: {', '.join(allowed)}")


class _Loader:
    def __init__(self, base: Path, env: Mapping[str, str]):
        self.base = base
        self.env = env

    # ---- typed getters: each raises a ConfigError naming the dotted key

    def section(self, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
        if name not in raw or raw[name] is None:
            if name in REQUIRED_SECTIONS:
                raise ConfigError(name, "missing required section", fix=f"add a `{name}:` section (see examples/)")
            return {}
        value = raw[name]
        if not isinstance(value, dict):
            raise ConfigError(name, f"expected a mapping, got a {_kind(value)}", fix=f"write `{name}:` with keys below")
        _check_keys(value, SECTIONS[name], name, INLINE_SECRETS.get(name))
        return value

    def get(self, data: Mapping[str, Any], key: str, where: str, kind: type | tuple, default: Any = ...) -> Any:
        dotted = _dotted(where, key)
        if key not in data or data[key] is None:
            if default is ...:
                raise ConfigError(dotted, "missing required key", fix=f"set {dotted} (see examples/seatrial.yaml)")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a number key must not accept `true`.
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = {(int,): "whole number", (int, float): "number"}.get(kinds) or _kind(kinds[0]())
            if kinds == (bool,):
                fix = f"write {dotted}: true or {dotted}: false (no quotes)"
            else:
                fix = f"write {dotted} as a {expected}"
            raise ConfigError(dotted, f"expected a {expected}, got a {_kind(value)}", fix=fix)
        return value

    def text(self, data, key, where, default: Any = ...) -> str:
        value = self.get(data, key, where, str, default)
        if value is not default and isinstance(value, str) and not value.strip():
            dotted = _dotted(where, key)
            raise ConfigError(dotted, "must not be empty", fix=f"set {dotted} to a value")
        return value

    def expand(self, value: str, dotted: str) -> str:
        def variable(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            if name not in self.env:
                raise ConfigError(dotted, f"${name} is not set in the environment", fix=f"export {name}=...")
            return self.env[name]

        value = re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, value)
        if value == "~" or value.startswith("~/"):
            home = self.env.get("HOME") or str(Path.home())
            value = home + value[1:]
        return value

    def path(self, data, key, where, default: Any = ..., must_exist: bool = True, what: str = "file") -> Path | None:
        value = self.text(data, key, where, default)
        if value is None:
            return None
        dotted = _dotted(where, key)
        resolved = Path(self.expand(value, dotted))
        if not resolved.is_absolute():
            resolved = self.base / resolved
        if must_exist and resolved.is_dir():
            raise ConfigError(dotted, f"{resolved} is a directory, not a {what}",
                              fix=f"point {dotted} at the {what} itself")
        if must_exist and not resolved.is_file():
            relative = "" if Path(value).is_absolute() else f" (relative to {self.base})"
            fix = f"create it or point {dotted} at an existing {what}"
            raise ConfigError(dotted, f"{what} not found: {resolved}{relative}", fix=fix)
        return resolved

    def url(self, data, key, where) -> str:
        dotted = f"{where}.{key}"
        value = self.text(data, key, where)
        parts = urlsplit(value)
        if parts.username or parts.password:
            raise ConfigError(dotted, "the URL must not carry credentials", fix="remove user:password@ from the URL")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                dotted,
                f"malformed URL {value!r}: it needs the scheme http:// or https:// and a host",
                fix=f"write {dotted} like https://host.example:9000",
            )
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError(dotted, f"malformed URL {value!r}: bad port", fix="use a port number 1-65535") from None
        return value.rstrip("/")

    def tls(self, data, where: str, urls: Mapping[str, str]) -> tuple[Path | None, bool]:
        ca_bundle = self.path(data, "ca_bundle", where, None, what="CA bundle")
        insecure = self.get(data, "insecure", where, bool, False)
        if ca_bundle and insecure:
            raise ConfigError(
                f"{where}.insecure",
                "insecure: true turns verification off, so ca_bundle would be ignored",
                fix=f"keep {where}.ca_bundle and set {where}.insecure: false (or drop ca_bundle)",
            )
        if ca_bundle:
            for url_key, url in urls.items():
                if url.startswith("http://"):
                    raise ConfigError(
                        f"{where}.ca_bundle",
                        f"a CA bundle is for TLS, but {where}.{url_key} uses http://",
                        fix=f"use https:// in {where}.{url_key} or remove {where}.ca_bundle",
                    )
        return ca_bundle, insecure

    # ---- sections

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
        if not BUCKET_NAME.match(bucket) or ".." in bucket or _is_ip(bucket):
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

    def from_env(self, variable: str, dotted: str) -> str:
        value = self.env.get(variable, "")
        if not value:
            raise ConfigError(
                dotted,
                f"the environment variable {variable} is not set (or empty)",
                fix=f"export {variable}=... before running seatrial",
            )
        return value

    def harbor(self, raw) -> HarborConfig:
        data = self.section(raw, "harbor")
        source_url = self.url(data, "source_url", "harbor")
        target_url = self.url(data, "target_url", "harbor")
        username = self.text(data, "username", "harbor", "admin")
        password = self.harbor_password(data)
        ca_bundle, insecure = self.tls(data, "harbor", {"source_url": source_url, "target_url": target_url})
        canary = self.text(data, "canary_project", "harbor", "seatrial-canary")
        fraction = self.get(data, "verify_fraction", "harbor", (int, float), 1.0)
        if not 0 < fraction <= 1:
            raise ConfigError(
                "harbor.verify_fraction",
                f"must be greater than 0 and at most 1, got {fraction}",
                fix="use 1.0 to verify every manifest and blob, or e.g. 0.1 for a 10% sample",
            )
        workers = self.get(data, "verify_workers", "harbor", int, 4)
        if not 1 <= workers <= MAX_VERIFY_WORKERS:
            raise ConfigError(
                "harbor.verify_workers",
                f"must be a whole number from 1 to {MAX_VERIFY_WORKERS}, got {workers!r}",
                fix="use about as many workers as the network to the registry can feed (4 is the default)",
            )
        return HarborConfig(
            source_url=source_url,
            target_url=target_url,
            username=username,
            password=password,
            ca_bundle=ca_bundle,
            insecure=insecure,
            canary_project=canary,
            verify_fraction=float(fraction),
            verify_workers=workers,
        )

    def harbor_password(self, data) -> Secret:
        has_env = data.get("password_env") is not None
        has_file = data.get("password_file") is not None
        if has_env and has_file:
            raise ConfigError(
                "harbor.password_file",
                "both harbor.password_env and harbor.password_file are set",
                fix="keep only one of them",
            )
        if has_env:
            variable = self.text(data, "password_env", "harbor")
            return Secret(self.from_env(variable, "harbor.password_env"), name="harbor_password")
        if has_file:
            path = self.path(data, "password_file", "harbor", what="password file")
            assert path is not None
            try:
                value = path.read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "harbor.password_file", f"cannot read {path}: {type(exc).__name__}", fix="check permissions"
                ) from None
            if not value:
                raise ConfigError("harbor.password_file", f"{path} is empty", fix="write the password into it")
            return Secret(value, name="harbor_password")
        raise ConfigError(
            "harbor.password_env",
            "missing: the Harbor password must come from an environment variable or a file",
            fix="set harbor.password_env: HARBOR_PASSWORD (or harbor.password_file: /path)",
        )

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
                             content_parity=content_parity)

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
                    where, f"expected a mapping, got a {_kind(body)}", fix="give it loadBalancerIP and/or annotations"
                )
            _check_keys(body, SERVICE_KEYS, where)
            ip = self.get(body, "loadBalancerIP", where, str, None)
            if ip is not None and not _is_ip(ip):
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

    def upgrade(self, raw) -> UpgradeConfig:
        if isinstance(raw.get("upgrade"), dict) and {"force", "force_replace", "replace"} & set(raw["upgrade"]):
            # the guard's check `no_replace` quotes the seed's failure in full
            raise ConfigError("upgrade.force", "replace semantics are refused: --force replaces each object with "
                              "the manifest instead of patching it, and a restored PVC (its spec is immutable once "
                              "bound) and the database StatefulSet then fail to update",
                              fix="remove it: seatrial upgrades with helm's three-way merge patch, which leaves a "
                                  "restored PVC's volumeName alone")
        if raw.get("upgrade") is None:  # absent, or `upgrade:` with every key commented out
            return UpgradeConfig()
        data = self.section(raw, "upgrade")
        chart = self.text(data, "chart", "upgrade")
        version = self.get(data, "version", "upgrade", (str, int, float), None)
        version = None if version is None else str(version)  # `version: 1.19.1` is text, `version: 2` a number
        repo = self.url(data, "repo", "upgrade") if data.get("repo") is not None else None
        if chart.startswith("oci://") and not re.fullmatch(r"oci://[^/\s]+/\S+", chart):
            raise ConfigError("upgrade.chart", f"{chart!r} is not an OCI chart reference",
                              fix="write oci://HOST/PATH/CHART, e.g. oci://registry.example/charts/harbor")
        remote = repo is not None or chart.startswith("oci://")
        if not remote:
            resolved = Path(self.expand(chart, "upgrade.chart"))
            resolved = resolved if resolved.is_absolute() else self.base / resolved
            if not resolved.exists():
                raise ConfigError("upgrade.chart", f"chart not found: {resolved}",
                                  fix="point upgrade.chart at a chart directory or .tgz, or give a chart name with "
                                      "upgrade.repo, or an oci:// reference")
            if version is not None:
                raise ConfigError("upgrade.version", "a version is given for a local chart",
                                  fix="drop upgrade.version, or give upgrade.repo (chart repository) or oci://")
            chart = str(resolved)
        values_raw = self.get(data, "values", "upgrade", list, [])
        values = []
        for index, item in enumerate(values_raw):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"upgrade.values[{index}]", "expected the path of a values file",
                                  fix="e.g. values: [./harbor-values.yaml]")
            path = self.path({f"values[{index}]": item}, f"values[{index}]", "upgrade", what="values file")
            assert path is not None
            _check_values_file(path, f"upgrade.values[{index}]")
            values.append(path)
        sets = self.get(data, "set", "upgrade", list, [])
        for index, item in enumerate(sets):
            _check_set(item, f"upgrade.set[{index}]")
        accepted = self.get(data, "accept_removed", "upgrade", list, [])
        _check_components(accepted)
        timeout = self.get(data, "timeout_seconds", "upgrade", int, 900)
        if not 0 < timeout <= MAX_UPGRADE_TIMEOUT:
            raise ConfigError("upgrade.timeout_seconds", f"must be positive and at most {MAX_UPGRADE_TIMEOUT} "
                              "(a day)", fix="e.g. timeout_seconds: 900 (rollouts wait this long)")
        return UpgradeConfig(chart=chart, version=version, repo=repo, values=tuple(values), set=tuple(sets),
                             accept_removed=tuple(accepted),
                             reuse_values=self.get(data, "reuse_values", "upgrade", bool, False),
                             rollback_on_failure=self.get(data, "rollback_on_failure", "upgrade", bool, False),
                             timeout_seconds=timeout)

    def build(self, raw: dict[str, Any], config_path: Path, check_contexts: bool) -> Config:
        _check_keys(raw, TOP_LEVEL, "", {"password": "use harbor.password_env or harbor.password_file"})
        source = self.cluster(raw, "source", check_contexts)
        target = self.cluster(raw, "target", check_contexts)
        if (source.kubeconfig, source.context, source.namespace) == (
            target.kubeconfig,
            target.context,
            target.namespace,
        ):
            raise ConfigError(
                "target.context",
                f"source and target are the same context {source.context!r} and namespace {source.namespace!r}",
                fix="point target at the new cluster (or another namespace); a restore must not land on the source",
            )
        if check_contexts and source.namespace == target.namespace:
            _refuse_same_server(source, target)
        storage = self.storage(raw)
        velero = self.velero(raw, source, target)
        harbor = self.harbor(raw)
        volumes = self.volumes(raw)
        fixup = self.fixup(raw)
        upgrade = self.upgrade(raw)
        run_dir = self.path(raw, "run_dir", "", "./run", must_exist=False)
        assert run_dir is not None
        _check_writable_dir(run_dir)
        return Config(
            source=source,
            target=target,
            storage=storage,
            velero=velero,
            harbor=harbor,
            volumes=volumes,
            fixup=fixup,
            run_dir=run_dir,
            path=config_path,
            upgrade=upgrade,
        )


def _check_values_file(path: Path, key: str) -> None:
    """Read as Helm will read it at upgrade time, so that a broken file stops the run before anything changes."""
    from seatrial.runbook.clients.helm_values import read_values_file

    try:
        read_values_file(path, "values file")
    except BadInput as exc:
        raise ConfigError(key, exc.message, fix=exc.fix or "correct the values file") from None


def _check_set(item: Any, key: str) -> None:
    from seatrial.runbook.clients.helm_values import parse_set

    if not isinstance(item, str):
        raise ConfigError(key, f"expected a KEY=VALUE text, found a {_kind(item)}",
                          fix='e.g. set: ["updateStrategy.type=Recreate"] (quote it)')
    try:
        parse_set(item, "set")
    except BadInput as exc:
        raise ConfigError(key, exc.message, fix=exc.fix or 'e.g. set: ["updateStrategy.type=Recreate"]') from None


def _check_components(accepted: list) -> None:
    from seatrial.runbook.upgrade.harbor_chart import DATA_COMPONENTS, unknown_components

    if not all(isinstance(item, str) and item for item in accepted):
        raise ConfigError("upgrade.accept_removed", "expected component names",
                          fix=f"e.g. accept_removed: [chartmuseum] (one of {', '.join(DATA_COMPONENTS)})")
    unknown = unknown_components(accepted)
    if unknown:
        raise ConfigError("upgrade.accept_removed", f"{', '.join(unknown)}: not a component of Harbor's chart with "
                          "a data volume", fix=f"name one of {', '.join(DATA_COMPONENTS)}, or remove it")


def _check_writable_dir(run_dir: Path) -> None:
    """run_dir is (or can be made as) a directory this user may write; checked without creating anything."""
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ConfigError("run_dir", f"{run_dir} cannot be a directory: {existing} is a file",
                          fix="point run_dir at a directory (or a path that can be made one)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("run_dir", f"{run_dir} is not writable: {existing} does not allow this user to write",
                          fix=f"point run_dir at a writable directory, or make it writable (chmod u+w {existing})")


def _refuse_same_server(source: ClusterConfig, target: ClusterConfig) -> None:
    """Two context names for one API server are one cluster (run time also compares kube-system UIDs)."""
    servers = [kubeconfig_server(c.kubeconfig, c.context) for c in (source, target)]  # type: ignore[arg-type]
    if servers[0] and servers[1] and normalized_server(servers[0]) == normalized_server(servers[1]):
        raise ConfigError("target.context", same_namespace_refusal(source.context, target.context, target.namespace,
                                                                   f"same API server {servers[0]}"),
                          fix=SAME_CLUSTER_FIX)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- local files


def kube_contexts(kubeconfig: Path | None, key: str = "kubeconfig") -> list[str]:
    """Context names in a kubeconfig file, read as YAML (no network)."""
    assert kubeconfig is not None
    try:
        data = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(key, f"cannot read {kubeconfig} as a kubeconfig: {type(exc).__name__}", fix="check it with "
                          f"kubectl --kubeconfig {kubeconfig} config get-contexts") from None
    if not isinstance(data, dict):
        raise ConfigError(key, f"{kubeconfig} is not a kubeconfig (not a mapping)", fix="point it at a kubeconfig")
    contexts = data.get("contexts") or []
    return [c["name"] for c in contexts if isinstance(c, dict) and isinstance(c.get("name"), str)]

