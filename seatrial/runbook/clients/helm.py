"""The real Helm v4 engine (helm-python-sdk 0.2.2: Helm SDK v4.2.3 over ctypes, no helm binary), as seatrial uses it.

    chart = load_chart("seatrial/charts/harbor-1.18.4.tgz")            # a directory, a .tgz,
    chart = load_chart("harbor", repo_url="https://helm.goharbor.io", version="1.18.4")   # a repository,
    chart = load_chart("oci://registry.example/charts/harbor", version="1.18.4")           # or OCI
    objects = chart.render({"expose": {"type": "clusterIP"}}, release="my-harbor", namespace="harbor")

    helm = Helm(kubeconfig, "target", namespace="harbor")   # a kubeconfig and a context
    helm.install(chart, "my-harbor", values)                  # server-side apply, as Helm 4 does
    helm.upgrade(chart, "my-harbor", values)                  # patches (never replace), see upgrade()
    helm.status("my-harbor"); helm.get_values("my-harbor"); helm.history("my-harbor")
    helm.rollback("my-harbor", revision=1); helm.uninstall("my-harbor")

    stored = read_release(cluster, "my-harbor", "harbor")    # straight from the release Secret, no engine

`render` returns the manifests parsed as the API server parses them (`parse_manifests`): YAML 1.1 as
sigs.k8s.io/yaml reads it, so a TAB after a value (harbor 1.18.4's StatefulSets) is legal; NOTES.txt and
partials are not manifests. Every engine error becomes a one-line `seatrial.runbook.errors` error with a fix; values
whose key names a secret are registered with seatrial.runbook.secrets, so they are scrubbed from every message, and
`masked(values)` is the form to show a person.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import helm_python
import yaml

from seatrial.runbook.clients.helm_upgrade_values import POLICIES, coalesce
from seatrial.runbook.clients.helm_values import (  # noqa: F401 - the values API, re-exported
    SECRET_KEY,
    SECRET_REFERENCE_KEY,
    masked,
    names_a_secret,
    parse_set,
    register_secret_values,
)
from seatrial.runbook.clients.kubeyaml import KubernetesYamlLoader
from seatrial.runbook.errors import ApiError, BadInput, Conflict, Invalid, NotFound, SeatrialError, Unreachable
from seatrial.runbook.secrets import redact, register

if TYPE_CHECKING:
    from seatrial.runbook.clients.kube import Cluster

ENGINE = f"helm-python-sdk {helm_python.__version__} (Helm SDK {helm_python.EXPECTED_HELM_SDK_VERSION})"
RELEASE_SECRET_PREFIX = "sh.helm.release.v1."
DEFAULT_TIMEOUT_S = 300
_NOT_MANIFESTS = ("NOTES.txt",)


# --------------------------------------------------------------------------- parsing, as Kubernetes does

def parse_manifests(text: str, source: str = "manifest") -> list[dict]:
    """The objects in a multi-document YAML text, as the API server would read them; empty documents
    (comments only, or `---` alone) are skipped, as Helm skips them. A document that is not a mapping or
    not YAML is BadInput naming `source` and the document's line."""
    objects = []
    try:
        for document in yaml.load_all(text, Loader=KubernetesYamlLoader):  # noqa: S506 - a SafeLoader subclass
            if document is None:
                continue
            if not isinstance(document, dict):
                raise BadInput(f"{source}: a document is a {type(document).__name__}, not a Kubernetes object",
                               fix="fix the template so that every document is a mapping with apiVersion and kind")
            objects.append(document)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise BadInput(f"{source} is not valid YAML{where}: {problem}",
                       fix="render the chart with the same values and read that line of the template") from None
    return objects


def manifests_of(files: dict[str, str]) -> list[dict]:
    """Rendered template files -> objects, in template-path order. NOTES.txt (text for people) and partials
    (`_*.tpl`) are not manifests, as in Helm's own release code."""
    objects = []
    for path in sorted(files):
        base = path.rsplit("/", 1)[-1]
        if base in _NOT_MANIFESTS or base.startswith("_") or not files[path].strip():
            continue
        objects.extend(parse_manifests(files[path], path))
    return objects


# --------------------------------------------------------------------------- secrets in manifests

def register_manifest_secrets(objects: list[dict]) -> None:
    """Register the values a Secret manifest carries (stringData, and data decoded)."""
    for obj in objects:
        if obj.get("kind") != "Secret":
            continue
        for value in (obj.get("stringData") or {}).values():
            if isinstance(value, str):
                register(value)
        for value in (obj.get("data") or {}).values():
            if isinstance(value, str):
                register(value)
                try:
                    register(base64.b64decode(value, validate=True).decode())
                except (binascii.Error, UnicodeDecodeError):
                    pass


# --------------------------------------------------------------------------- errors

MAX_DETAIL = 1200  # the engine repeats one cause per object; the start names it, the rest is noise in a log


def _one_line(text: str) -> str:
    flat = redact(" ".join(str(text).split()))
    if len(flat) > MAX_DETAIL:
        flat = f"{flat[:MAX_DETAIL]} … ({len(flat) - MAX_DETAIL} more characters)"
    return flat


def _error(error: helm_python.HelmError, what: str, fix: str) -> SeatrialError:
    """The engine's error as seatrial's one-line error: the detail flattened and scrubbed of secrets."""
    detail = _one_line(getattr(error, "detail", "") or str(error))
    message = f"{what}: {detail}"
    if isinstance(error, helm_python.HelmKubeError) or _transport_failure(detail):
        return Unreachable(message, fix="check that the cluster or repository answers "
                                        "(kubectl --context CONTEXT version; curl the repository URL)")
    if isinstance(error, (helm_python.HelmChartLoadError, helm_python.HelmChartInvalidError,
                          helm_python.HelmValuesError, helm_python.HelmRenderError,
                          helm_python.HelmInvalidArgError, helm_python.HelmRepoError,
                          helm_python.HelmRegistryError)) or _template_failure(detail):
        return BadInput(message, fix=fix)
    if isinstance(error, helm_python.HelmNotFoundError) or "not found" in detail.lower():
        return NotFound(message, fix=fix)
    if "cannot reuse a name that is still in use" in detail:
        return Conflict(message, status=409, fix="upgrade the release instead, or choose another release name")
    if " is invalid: " in detail:
        return Invalid(message, status=422, fix=fix)
    if "conflict" in detail.lower():
        return Conflict(message, status=409, fix=fix)
    return ApiError(message, fix=fix)


def _template_failure(detail: str) -> bool:
    """A template that fails during install or upgrade: the values are wrong, not the cluster."""
    return detail.startswith(("execution error at (", "template: ", "values don't meet the specifications")) \
        or bool(re.match(r"\S+/templates/\S+:\d+:\d+:? executing ", detail))


def _transport_failure(detail: str) -> bool:
    lowered = detail.lower()
    return any(marker in lowered for marker in (
        "connection refused", "no such host", "i/o timeout", "connection reset", "tls handshake timeout",
        "cannot be reached", "503 service unavailable", "502 bad gateway", "504 gateway timeout"))


# --------------------------------------------------------------------------- charts

class Chart:
    """A loaded chart: `name`, `version`, `app_version`, `metadata` (Chart.yaml), `values` (its values.yaml),
    `values_schema`, and offline rendering. `source` says where it came from (for messages)."""

    def __init__(self, chart: helm_python.Chart, source: str):
        self._chart = chart
        self.source = source
        self.metadata: dict = chart.metadata
        self.name: str = str(self.metadata.get("name", ""))
        self.version: str = str(self.metadata.get("version", ""))
        self.app_version: str = str(self.metadata.get("appVersion", ""))

    def __repr__(self) -> str:
        return f"Chart({self.name}-{self.version}, appVersion {self.app_version}, from {self.source})"

    @property
    def values(self) -> dict:
        """The chart's default values (values.yaml)."""
        return self._chart.values

    @property
    def values_schema(self) -> dict | None:
        return self._chart.schema

    @property
    def engine_chart(self) -> helm_python.Chart:
        """The underlying helm_python.Chart, for what this module does not wrap."""
        return self._chart

    def render_files(self, values: dict | None = None, *, release: str, namespace: str = "default",
                     is_upgrade: bool = False, revision: int | None = None) -> dict[str, str]:
        """Template path -> rendered text, offline (`lookup` finds nothing), NOTES.txt included."""
        register_secret_values(values)
        try:
            return self._chart.render(values or {}, name=release, namespace=namespace, is_install=not is_upgrade,
                                      is_upgrade=is_upgrade, revision=revision)
        except helm_python.HelmError as error:
            raise _error(error, f"chart {self.name}-{self.version} does not render for release {release!r}",
                         fix="correct the values the message names (compare with the chart's values.yaml)") from None

    def render(self, values: dict | None = None, *, release: str, namespace: str = "default",
               is_upgrade: bool = False, revision: int | None = None) -> list[dict]:
        """The objects the chart makes for `release` in `namespace` with `values` (the user's values; the
        chart's defaults apply underneath), parsed as the API server reads them. Hooks are included (they
        carry the `helm.sh/hook` annotation). Offline: no cluster is contacted."""
        objects = manifests_of(self.render_files(values, release=release, namespace=namespace,
                                                 is_upgrade=is_upgrade, revision=revision))
        register_manifest_secrets(objects)
        return objects

    def close(self) -> None:
        self._chart.close()


def load_chart(ref: str | Path, *, version: str | None = None, repo_url: str | None = None,
               plain_http: bool = False) -> Chart:
    """A chart from a directory or `.tgz` (`ref` a path), from a chart repository (`ref` the chart name,
    `repo_url` the repository, `version` the chart version; latest without one), or from an OCI registry
    (`ref` = `oci://host/path/chart`, `version` its tag). Remote charts are downloaded into a temporary
    directory that is removed once loaded. A missing or bad chart is BadInput naming `ref`; an unreachable
    repository or registry is Unreachable."""
    text = str(ref)
    if repo_url or text.startswith("oci://"):
        return _pull_and_load(text, version=version, repo_url=repo_url, plain_http=plain_http)
    path = Path(text).expanduser()
    if version:
        raise BadInput(f"chart {text}: a version ({version}) was given for a local chart",
                       fix="drop the version, or give repo_url (chart repository) or an oci:// reference")
    if path.is_dir() and not (path / "Chart.yaml").is_file():  # else the engine reads the whole tree first
        raise BadInput(f"chart {text} cannot be loaded: the directory has no Chart.yaml",
                       fix="give a chart directory (with Chart.yaml) or a chart .tgz, e.g. seatrial/charts/"
                           "harbor-1.18.4.tgz, or a chart name with repo_url, or oci://HOST/PATH/CHART")
    try:
        return Chart(helm_python.Chart.load(path), str(path))
    except helm_python.HelmError as error:
        raise _error(error, f"chart {text} cannot be loaded",
                     fix="give a chart directory (with Chart.yaml) or a chart .tgz, e.g. seatrial/charts/"
                         "harbor-1.18.4.tgz, or a chart name with repo_url, or oci://HOST/PATH/CHART") from None


def _pull_and_load(ref: str, *, version: str | None, repo_url: str | None, plain_http: bool) -> Chart:
    where = f"{ref} from {repo_url}" if repo_url else ref
    where += f" version {version}" if version else " (latest version)"
    workdir = Path(tempfile.mkdtemp(prefix="seatrial-chart-"))
    try:
        helm_python.pull(ref, destination=workdir, version=version, repo_url=repo_url, plain_http=plain_http)
        archives = sorted(workdir.glob("*.tgz"))
        if len(archives) != 1:
            raise BadInput(f"chart {where}: the download left {len(archives)} archives",
                           fix="name one chart and one version")
        return Chart(helm_python.Chart.load(archives[0]), where)
    except helm_python.HelmError as error:
        raise _error(error, f"chart {where} cannot be pulled",
                     fix="check the chart name and version (helm search repo / the registry's tags) and the "
                         "repository URL") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- releases in a cluster

class Helm:
    """The release operations of the real engine in one kubeconfig context and namespace.

    Returned releases are the engine's summaries: dicts with `name`, `namespace`, `version` (the revision),
    `info` (`status`, `description`, ...), `chart` (metadata) and `manifest`."""

    def __init__(self, kubeconfig: str | Path, context: str, *, namespace: str):
        self.kubeconfig = Path(kubeconfig).expanduser()
        self.context = context
        self.namespace = namespace
        try:
            self._config = helm_python.Config(kubeconfig_path=self.kubeconfig, kube_context=context,
                                              namespace=namespace)
        except helm_python.HelmError as error:
            raise _error(error, f"context {context!r} of {self.kubeconfig} cannot be used by Helm",
                         fix="check the kubeconfig and the context name (kubectl config get-contexts)") from None

    def __repr__(self) -> str:
        return f"Helm(context={self.context!r}, namespace={self.namespace!r})"

    def close(self) -> None:
        self._config.close()

    def __enter__(self) -> Helm:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _where(self, release: str) -> str:
        return f"release {release!r} in namespace {self.namespace} of context {self.context!r}"

    def _call(self, what: str, fix: str, action, *args, **kwargs):
        try:
            return action(*args, **kwargs)
        except helm_python.HelmError as error:
            raise _error(error, what, fix) from None

    def install(self, chart: Chart, release: str, values: dict | None = None, *, wait: bool = False,
                timeout_s: int = DEFAULT_TIMEOUT_S, create_namespace: bool = False) -> dict:
        """`helm install`: server-side apply, as Helm 4 does. `wait` waits until the objects are ready."""
        register_secret_values(values)
        return self._call(f"helm install of {chart.name}-{chart.version} as {self._where(release)} failed",
                          "read the message; if the release exists already, use upgrade (or uninstall first)",
                          self._config.install, chart.engine_chart, release, values or {},
                          namespace=self.namespace, timeout=timeout_s, wait="watcher" if wait else None,
                          create_namespace=create_namespace)

    def upgrade(self, chart: Chart, release: str, values: dict | None = None, *, wait: bool = False,
                timeout_s: int = DEFAULT_TIMEOUT_S, policy: str = "default", reuse_values: bool = False) -> dict:
        """`helm upgrade` in the apply method the release was installed with (three-way merge patch, or
        server-side apply): fields the old manifest did not set (a restored PVC's volumeName) stay as they
        are. Never `--force-replace`: replacing bound PVCs and StatefulSets is what Kubernetes refuses.

        `policy` says which values Helm deploys (seatrial.runbook.clients.helm_upgrade_values): `default` (none
        given: the deployed ones), `reuse` (--reuse-values; also `reuse_values=True`), `reset`, `reset-then-reuse`."""
        policy = "reuse" if reuse_values else policy
        if policy not in POLICIES:
            raise BadInput(f"unknown values policy {policy!r}", fix=f"use one of {', '.join(POLICIES)}")
        values = dict(values or {})
        register_secret_values(values)
        if policy == "reset-then-reuse":  # the engine has no such flag: the same values, then reset to exactly them
            values = coalesce(values, self.get_values(release))
        return self._call(f"helm upgrade of {self._where(release)} to {chart.name}-{chart.version} failed",
                          "read the message; `seatrial upgrade-plan` names what the new chart changes",
                          self._config.upgrade, chart.engine_chart, release, values,
                          namespace=self.namespace, timeout=timeout_s, wait="watcher" if wait else None,
                          reuse_values=policy == "reuse", reset_values=policy in ("reset", "reset-then-reuse"))

    def status(self, release: str) -> dict:
        return self._call(f"helm status of {self._where(release)}",
                          "check the release name and namespace (helm list)", self._config.status, release)

    def get_values(self, release: str, *, all_values: bool = False) -> dict:
        """The user's values of the deployed revision (with `all_values`, merged with the chart's defaults).
        Show them with `masked(...)`."""
        values = self._call(f"helm get values of {self._where(release)}",
                            "check the release name and namespace (helm list)",
                            self._config.get_values, release, all_values=all_values) or {}
        register_secret_values(values)
        return values

    def history(self, release: str) -> list[dict]:
        """The revisions, oldest first."""
        return self._call(f"helm history of {self._where(release)}",
                          "check the release name and namespace (helm list)", self._config.history, release)

    def rollback(self, release: str, revision: int | None = None, *, wait: bool = False,
                 timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
        """Roll back to `revision` (the previous one without), as a new revision."""
        self._call(f"helm rollback of {self._where(release)} to revision {revision or 'previous'} failed",
                   "pick a revision from helm history", self._config.rollback, release, version=revision,
                   timeout=timeout_s, wait="watcher" if wait else None)

    def uninstall(self, release: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> dict:
        """`helm uninstall`: deletes what the release made (except `helm.sh/resource-policy: keep`)."""
        return self._call(f"helm uninstall of {self._where(release)} failed",
                          "check the release name and namespace (helm list)", self._config.uninstall, release,
                          timeout=timeout_s)


# --------------------------------------------------------------------------- releases read from their Secret

@dataclass(frozen=True)
class StoredRelease:
    """One revision of a release as Helm stored it, read without the engine."""

    name: str
    namespace: str
    revision: int
    status: str
    chart_metadata: dict
    chart_values: dict = field(repr=False)  # the chart's values.yaml
    config: dict = field(repr=False)  # the user's values (may hold secrets: show with masked())
    manifest: str = field(repr=False)  # what was applied, as one multi-document YAML text

    @property
    def chart_version(self) -> str:
        return str(self.chart_metadata.get("version", ""))

    @property
    def app_version(self) -> str:
        return str(self.chart_metadata.get("appVersion", ""))

    def manifests(self) -> list[dict]:
        return parse_manifests(self.manifest, f"the manifest of release {self.name} revision {self.revision}")


def release_secret_name(release: str, revision: int) -> str:
    return f"{RELEASE_SECRET_PREFIX}{release}.v{revision}"


def decode_release_secret(secret: dict) -> StoredRelease:
    """A Secret `sh.helm.release.v1.<name>.v<N>` -> its release: `data.release` is base64 (the Secret's own
    encoding) of base64 of gzip of the release JSON."""
    meta = secret.get("metadata") or {}
    what = f"Secret {meta.get('namespace', '')}/{meta.get('name', '')}"
    try:
        payload = base64.b64decode(base64.b64decode((secret.get("data") or {})["release"]))
        record = json.loads(gzip.decompress(payload) if payload[:2] == b"\x1f\x8b" else payload)
    except (KeyError, binascii.Error, OSError, EOFError, ValueError):
        raise BadInput(f"{what} is not a Helm release record (data.release is not base64 of gzipped JSON)",
                       fix="point at the release Secret Helm wrote (label owner=helm)") from None
    chart = record.get("chart") or {}
    config = record.get("config") or {}
    register_secret_values(config)
    return StoredRelease(name=str(record.get("name", "")), namespace=str(record.get("namespace", "")),
                         revision=int(record.get("version", 0)),
                         status=str((record.get("info") or {}).get("status", "")),
                         chart_metadata=chart.get("metadata") or {}, chart_values=chart.get("values") or {},
                         config=config, manifest=str(record.get("manifest", "")))


def read_release(cluster: Cluster, release: str, namespace: str, revision: int | None = None) -> StoredRelease:
    """A release straight from its Secret through seatrial's Kubernetes client: `revision`, or else the
    highest revision (one LIST by the labels Helm sets: owner=helm, name=<release>)."""
    if revision is not None:
        secret = cluster.get_or_none("v1", "Secret", release_secret_name(release, revision), namespace)
        if secret is None:
            raise NotFound(f"release {release!r} has no revision {revision} in namespace {namespace} "
                           f"(no Secret {release_secret_name(release, revision)})",
                           fix="list the revisions: kubectl get secret -l owner=helm,name=" + release)
        return decode_release_secret(secret)
    secrets = cluster.list("v1", "Secret", namespace, label_selector=f"owner=helm,name={release}")
    secrets = [s for s in secrets if s["metadata"]["name"].startswith(f"{RELEASE_SECRET_PREFIX}{release}.v")]
    if not secrets:
        raise NotFound(f"no Helm release {release!r} in namespace {namespace} of {cluster.name} "
                       f"(no Secret {RELEASE_SECRET_PREFIX}{release}.v<N>)",
                       fix="check the release name and namespace in seatrial.yaml (helm list -A)")
    latest = max(secrets, key=lambda s: int((s["metadata"].get("labels") or {}).get("version", "0") or 0))
    return decode_release_secret(latest)
