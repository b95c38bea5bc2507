"""A Kubernetes client bound to one kubeconfig context, working with plain dicts.

Built on the real `kubernetes` package for what it does well (kubeconfig loading, TLS, client
certificates, token and exec-plugin auth, the urllib3 pool) and on raw REST paths for the calls.
Why not the dynamic client: it runs API discovery (one request per group/version) before its first
call and turns every object into a ResourceInstance; seatrial touches a small, known set of kinds,
so a built-in plural table answers without a round trip, and only an unknown kind costs one
discovery request, cached per Cluster. Why not the typed APIs: they deserialize into models and
know nothing of velero.io objects.

Lists follow `limit`/`continue`: one paged LIST per kind, never one GET per object. HTTP errors
become the typed errors of seatrial.runbook.errors, each naming the context, kind and object and saying
the fix. `request_counts` counts requests per (method, path) so callers and tests can see the cost.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from seatrial.runbook import inflight, retry
from seatrial.runbook.errors import (
    ApiError,
    BadInput,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ProtocolError,
    Unauthorized,
    Unreachable,
)
from seatrial.runbook.secrets import redact

REQUEST_TIMEOUT = (5.0, 60.0)  # (connect, read) seconds
# Retry a refused or dropped connection twice, briefly; never re-send after the server may have read a
# request (read=0), so a POST is never applied twice.
# 429/5xx answers are left to seatrial.runbook.retry (bounded, Retry-After honoured, said on the progress line).
RETRIES = urllib3.util.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.1,
                             respect_retry_after_header=False, raise_on_status=False)
PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# Writes ask the server to refuse unknown fields instead of silently pruning them (a misspelt field
# in a Velero spec would otherwise vanish and the object would do something else than intended).
FIELD_VALIDATION = [("fieldValidation", "Strict")]


@dataclass(frozen=True)
class Resource:
    """Where a kind lives on the API server."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def qualified(self) -> str:
        """`backups.velero.io`, `pods` — the name kubectl and RBAC use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def base_path(self, namespace: str | None) -> str:
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{quote(namespace, safe='')}"
        return f"{root}/{self.plural}"


def _table() -> dict[tuple[str, str], Resource]:
    core = [("Namespace", "namespaces", False), ("Node", "nodes", False),
            ("PersistentVolume", "persistentvolumes", False),
            ("PersistentVolumeClaim", "persistentvolumeclaims", True), ("Pod", "pods", True),
            ("Service", "services", True), ("Secret", "secrets", True), ("ConfigMap", "configmaps", True),
            ("ServiceAccount", "serviceaccounts", True), ("Event", "events", True),
            ("Endpoints", "endpoints", True)]
    apps = [("Deployment", "deployments"), ("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets"),
            ("ReplicaSet", "replicasets")]
    velero = [("Backup", "backups", True), ("Restore", "restores", True), ("Schedule", "schedules", True),
              ("PodVolumeBackup", "podvolumebackups", True), ("PodVolumeRestore", "podvolumerestores", True),
              ("BackupStorageLocation", "backupstoragelocations", True),
              ("VolumeSnapshotLocation", "volumesnapshotlocations", True),
              ("BackupRepository", "backuprepositories", True),
              ("DeleteBackupRequest", "deletebackuprequests", True),
              ("DownloadRequest", "downloadrequests", True), ("ServerStatusRequest", "serverstatusrequests", True)]
    rows = [Resource("v1", kind, plural, namespaced) for kind, plural, namespaced in core]
    rows += [Resource("apps/v1", kind, plural, True) for kind, plural in apps]
    rows += [Resource("velero.io/v1", kind, plural, namespaced) for kind, plural, namespaced in velero]
    rows += [Resource("velero.io/v2alpha1", "DataUpload", "datauploads", True),
             Resource("velero.io/v2alpha1", "DataDownload", "datadownloads", True),
             Resource("storage.k8s.io/v1", "StorageClass", "storageclasses", False),
             Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False)]
    table = {}
    for row in rows:
        table[(row.api_version, row.kind)] = row
        table[(row.api_version, row.plural)] = row
    return table


KNOWN_RESOURCES = _table()


def contexts(kubeconfig: str | Path) -> list[str]:
    """Context names in a kubeconfig file (reads the file only; no network)."""
    path = Path(kubeconfig).expanduser()
    try:
        with path.open("rb") as stream:
            document = yaml.safe_load(stream) or {}
    except FileNotFoundError:
        raise BadInput(f"kubeconfig {path} does not exist",
                       fix="point `kubeconfig` at an existing file (e.g. ~/.kube/config)") from None
    except (OSError, yaml.YAMLError) as error:
        raise BadInput(f"kubeconfig {path} cannot be read: {type(error).__name__}",
                       fix="check the file is a readable kubeconfig (kubectl config view --kubeconfig ...)") from None
    if not isinstance(document, dict):
        raise BadInput(f"kubeconfig {path} is not a kubeconfig (no mapping at the top)",
                       fix="check the file is a kubeconfig (kubectl config view --kubeconfig ...)")
    return [entry["name"] for entry in document.get("contexts") or [] if isinstance(entry, dict) and "name" in entry]


class ObjectMissing(NotFound):
    """404 for one object that does not exist (the kind itself is served)."""


class Cluster:
    """One cluster, as seen through one kubeconfig context."""

    def __init__(self, kubeconfig: str | Path, context: str, *, name: str = ""):
        self.kubeconfig = Path(kubeconfig).expanduser()
        self.context = context
        self.name = name or context
        known = contexts(self.kubeconfig)
        if context not in known:
            raise BadInput(f"context {context!r} is not in kubeconfig {self.kubeconfig}; "
                           f"it has: {', '.join(known) or '(no contexts)'}",
                           fix="use one of the listed contexts (kubectl config get-contexts)")
        try:
            # persist_config=False: never write refreshed credentials back into the user's file.
            configuration = type.__call__(Configuration)  # a fresh one, not a copy of the process default
            configuration.retries = RETRIES
            self._api = kube_config.new_client_from_config(str(self.kubeconfig), context, persist_config=False,
                                                           client_configuration=configuration)
        except (ConfigException, ValueError, KeyError, TypeError) as error:
            raise BadInput(f"context {context!r} in {self.kubeconfig} cannot be loaded: {redact(str(error))}",
                           fix="check its cluster `server`, certificates and user entry "
                               f"(kubectl --context {context} config view --minify)") from None
        self._api.user_agent = "seatrial"
        self.server = self._api.configuration.host
        self._discovered: dict[str, dict[str, Resource]] = {}
        self.request_counts: Counter[tuple[str, str]] = Counter()

    def __repr__(self) -> str:
        return f"Cluster(name={self.name!r}, context={self.context!r}, server={self.server!r})"

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------------
    def ping(self) -> str:
        """The server's gitVersion; Unreachable if the API cannot be reached."""
        version = self._request("GET", "/version", target="the API server version")
        return str(version.get("gitVersion", ""))

    def iterate(self, api_version: str, kind_or_plural: str, namespace: str | None = None, *,
                label_selector: str | None = None, field_selector: str | None = None,
                page_size: int = 500) -> Iterator[dict]:
        """Objects of one kind, one page of `page_size` at a time (constant memory per page).
        Items carry apiVersion and kind, which a LIST response leaves out."""
        resource = self.resource(api_version, kind_or_plural)
        path = resource.base_path(namespace)
        target = f"{resource.kind} list" + (f" in namespace {namespace}" if namespace and resource.namespaced else "")
        token = ""
        while True:
            query = [("limit", str(page_size))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = self._request("GET", path, query=query, target=target, resource=resource, verb="list",
                                 namespace=namespace)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def list(self, api_version: str, kind_or_plural: str, namespace: str | None = None, *,
             label_selector: str | None = None, field_selector: str | None = None,
             page_size: int = 500) -> list[dict]:
        """All objects of one kind (in `namespace`, or all namespaces), following pagination."""
        return list(self.iterate(api_version, kind_or_plural, namespace, label_selector=label_selector,
                                 field_selector=field_selector, page_size=page_size))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict:
        resource = self.resource(api_version, kind)
        return self._request("GET", self._object_path(resource, name, namespace),
                             target=_describe(resource, name, namespace), resource=resource, namespace=namespace)

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist (a missing kind still raises NotFound)."""
        try:
            return self.get(api_version, kind, name, namespace)
        except ObjectMissing:
            return None

    def kubelet_stats(self, node: str) -> dict:
        """The node's kubelet Summary API (`/stats/summary` through the API server's node proxy): pods with their
        volumes' usage. One attempt: a node whose kubelet does not answer leaves its volumes' usage unknown."""
        return self._request("GET", f"/api/v1/nodes/{quote(node, safe='')}/proxy/stats/summary",
                             target=f"the kubelet stats of node {node}", verb="get", once=True)

    # -- writes --------------------------------------------------------------------------------
    def create(self, obj: dict) -> dict:
        resource, name, namespace = self._identify(obj)
        return self._request("POST", resource.base_path(namespace), body=obj, query=FIELD_VALIDATION,
                             target=_describe(resource, name, namespace), resource=resource, namespace=namespace)

    def replace(self, obj: dict) -> dict:
        """PUT the whole object; a stale metadata.resourceVersion gives Conflict."""
        resource, name, namespace = self._identify(obj)
        return self._request("PUT", self._object_path(resource, name, namespace), body=obj, query=FIELD_VALIDATION,
                             target=_describe(resource, name, namespace), resource=resource, namespace=namespace)

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, body: dict | list,
              patch_type: str = "merge") -> dict:
        return self._patch(api_version, kind, name, namespace, body, patch_type, "")

    def patch_status(self, api_version: str, kind: str, name: str, namespace: str | None, body: dict | list,
                     patch_type: str = "merge") -> dict:
        """Patch the status subresource (kinds without one take the patch on the object itself)."""
        return self._patch(api_version, kind, name, namespace, body, patch_type, "/status")

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict:
        """Delete one object; returns what the server answers (the object or a Status)."""
        resource = self.resource(api_version, kind)
        return self._request("DELETE", self._object_path(resource, name, namespace),
                             target=_describe(resource, name, namespace), resource=resource, namespace=namespace)

    # -- kinds ---------------------------------------------------------------------------------
    def resource(self, api_version: str, kind_or_plural: str) -> Resource:
        """Plural and scope of a kind: from the built-in table, else one discovery call per group/version."""
        known = KNOWN_RESOURCES.get((api_version, kind_or_plural))
        if known:
            return known
        if api_version not in self._discovered:
            self._discovered[api_version] = self._discover(api_version)
        found = self._discovered[api_version].get(kind_or_plural)
        if found is None:
            raise NotFound(f"{api_version} has no kind or resource {kind_or_plural!r} on context {self.context!r} "
                           f"({self.server})",
                           fix=f"check the spelling, or install its CRD (kubectl --context {self.context} "
                               f"api-resources --api-group={api_version.rpartition('/')[0]})")
        return found

    def _discover(self, api_version: str) -> dict[str, Resource]:
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        listing = self._request("GET", path, target=f"API group version {api_version}")
        found = {}
        for entry in listing.get("resources") or []:
            if "/" in entry.get("name", ""):
                continue  # a subresource such as pods/status
            resource = Resource(api_version, entry["kind"], entry["name"], bool(entry.get("namespaced")))
            found[resource.kind] = found[resource.plural] = resource
        return found

    # -- plumbing ------------------------------------------------------------------------------
    def _patch(self, api_version, kind, name, namespace, body, patch_type, suffix) -> dict:
        if patch_type not in PATCH_CONTENT_TYPES:
            raise BadInput(f"patch type {patch_type!r} is not one of {', '.join(PATCH_CONTENT_TYPES)}",
                           fix="use merge, strategic or json")
        if patch_type == "json" and not isinstance(body, list):
            raise BadInput("a json patch is a list of operations", fix='pass [{"op": ..., "path": ...}]')
        resource = self.resource(api_version, kind)
        return self._request("PATCH", self._object_path(resource, name, namespace) + suffix, body=body,
                             query=FIELD_VALIDATION,
                             content_type=PATCH_CONTENT_TYPES[patch_type],
                             target=_describe(resource, name, namespace), resource=resource, namespace=namespace)

    def _identify(self, obj: dict) -> tuple[Resource, str, str | None]:
        meta = obj.get("metadata") or {}
        resource = self.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        name = meta.get("name") or ""
        namespace = meta.get("namespace") if resource.namespaced else None
        if resource.namespaced and not namespace:
            raise BadInput(f"{resource.kind} {name!r} has no metadata.namespace",
                           fix="set metadata.namespace on the object")
        return resource, name, namespace

    @staticmethod
    def _object_path(resource: Resource, name: str, namespace: str | None) -> str:
        if not name:
            raise BadInput(f"a {resource.kind} name is required", fix="pass the object's name")
        if resource.namespaced and not namespace:
            raise BadInput(f"{resource.kind} {name!r} is namespaced; no namespace was given",
                           fix="pass the namespace")
        return f"{resource.base_path(namespace)}/{quote(name, safe='')}"

    def _request(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
                 body: dict | list | None = None, content_type: str = "application/json", target: str,
                 resource: Resource | None = None, verb: str | None = None, namespace: str | None = None,
                 once: bool = False) -> dict:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        request = self._api.param_serialize(method, path, query_params=query, header_params=headers, body=body,
                                            auth_settings=["BearerToken"])
        attempt = 0
        while True:
            attempt += 1
            self.request_counts[(method, path)] += 1
            try:
                with inflight.awaiting(f"the Kubernetes API of context {self.context!r} to answer {method} {path}"):
                    response = self._api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
                    data = response.read()
            except (urllib3.exceptions.HTTPError, ApiException, OSError) as error:
                raise self._unreachable(error) from None
            if once or not retry.again(attempt, dependency=f"Kubernetes API of context {self.context!r}",
                               status=response.status, method=method, retry_after=response.getheader("Retry-After")):
                break
        if not 200 <= response.status < 300:
            raise self._api_error(method, response.status, data, target, resource, verb, namespace)
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise ProtocolError(f"{verb or VERBS.get(method, method.lower())} {target} on context {self.context!r}: "
                                f"the server at {self.server} answered {response.status} with a body that is not "
                                f"JSON: {_excerpt(data)}", status=response.status,
                                fix=f"check that `server` of context {self.context!r} points at a Kubernetes API "
                                    "(not a proxy or a login page)") from None

    def _unreachable(self, error: Exception) -> Unreachable:
        reason = getattr(error, "reason", None) or error
        return Unreachable(
            f"cannot reach the Kubernetes API of context {self.context!r} at {self.server}: "
            f"{redact(type(reason).__name__ + ': ' + str(reason))[:300]}",
            fix=f"check that the cluster is running and that `server` (and its CA) for context {self.context!r} "
                f"in {self.kubeconfig} are right (kubectl --context {self.context} cluster-info)")

    def _api_error(self, method: str, status: int, data: bytes, target: str, resource: Resource | None,
                   verb: str | None, namespace: str | None) -> ApiError:
        body = _status_body(data)
        message = body.get("message") or data.decode("utf-8", "replace")[:300] or "(empty body)"
        details = body.get("details") or {}
        causes = [f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in details.get("causes") or []]
        if causes and not all(cause in message for cause in causes):
            message += " (" + "; ".join(causes) + ")"
        verb = verb or VERBS.get(method, method.lower())
        status_line = " ".join(part for part in (str(status), body.get("reason") or "") if part)
        text = redact(f"{verb} {target} on context {self.context!r} ({self.server}): {status_line}: {message}")
        plural = resource.qualified if resource else "the resource"
        scope = f" -n {namespace}" if namespace else ""
        if status == 401:
            return Unauthorized(text, status=status,
                                fix=f"renew the token or client certificate of context {self.context!r} in "
                                    f"{self.kubeconfig} (kubectl --context {self.context} get ns must work)")
        if status == 403:
            return Forbidden(text, status=status,
                             fix=f"grant the user of context {self.context!r} the right to {verb} {plural} "
                                 f"(check: kubectl --context {self.context} auth can-i {verb} {plural}{scope})")
        if status == 404:
            if details.get("name") or "not found" in message:
                return ObjectMissing(text, status=status,
                                     fix="check the name and namespace "
                                         f"(kubectl --context {self.context} get {plural}{scope})")
            return NotFound(text, status=status,
                            fix=f"the API does not serve {plural}: install its CRD or Velero "
                                f"(kubectl --context {self.context} api-resources)")
        if status == 409:
            if body.get("reason") == "AlreadyExists":
                return Conflict(text, status=status, fix=f"pick another name, or delete the existing {target} first")
            return Conflict(text, status=status,
                            fix="it changed since it was read: read it again and re-apply the change")
        if status == 422:
            return Invalid(text, status=status, fix="correct the fields named above and submit it again")
        if status == 400 and "unknown field" in message:
            return Invalid(text, status=status,
                           fix="remove or correct the unknown fields named above (is the CRD older than expected?)")
        if status == 410:
            return ApiError(text, status=status,
                            fix="the list's continue token expired while paging (the data changed a lot): run it again")
        if status in retry.RETRY_STATUSES:
            return ApiError(f"{text} (still, after {retry.attempts()} attempts)", status=status,
                            fix=f"the Kubernetes API of context {self.context!r} is failing: check the API server "
                                f"and anything in front of it (kubectl --context {self.context} get --raw /readyz)")
        return ApiError(text, status=status,
                        fix=f"see the server's message above (kubectl --context {self.context} may say more)")


def _excerpt(data: bytes, limit: int = 120) -> str:
    text = " ".join(data.decode("utf-8", "replace").split())
    return redact(repr(text[:limit] + ("..." if len(text) > limit else "")))


def _status_body(data: bytes) -> dict:
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(resource: Resource, name: str, namespace: str | None) -> str:
    where = f"{namespace}/{name}" if resource.namespaced and namespace else name
    return f"{resource.kind} {where}"
