"""Is the target the source? Two contexts are the same cluster when their API servers are the same,
whatever the contexts are called.

At configuration time only the kubeconfig is read: the `server` URL of each context. At run time the
cluster's identity is asked for: the UID of its `kube-system` namespace, which every cluster has and
which no second name for the same API server can change. A restore into, or a reset of, the source's
own namespace would destroy the data being moved, so the same cluster with the same namespace is
refused (exit 2) before anything is done.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from seatrial.runbook.errors import BadInput

DEFAULT_PORTS = {"https": 443, "http": 80}


def normalized_server(url: str) -> str:
    """`HTTPS://Api.Example:443/` and `https://api.example` are one server."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    port = parts.port or DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def kubeconfig_server(kubeconfig: Path | str, context: str) -> str | None:
    """The `server` URL the context points at, read from the file (no network); None if it cannot tell."""
    try:
        data = yaml.safe_load(Path(kubeconfig).expanduser().read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    entries = {e.get("name"): e.get("context") or {} for e in data.get("contexts") or [] if isinstance(e, dict)}
    clusters = {e.get("name"): e.get("cluster") or {} for e in data.get("clusters") or [] if isinstance(e, dict)}
    cluster = clusters.get((entries.get(context) or {}).get("cluster"))
    server = (cluster or {}).get("server")
    return str(server) if server else None


def same_namespace_refusal(source_context: str, target_context: str, namespace: str, why: str) -> str:
    return (f"source context {source_context!r} and target context {target_context!r} are the same cluster "
            f"({why}) and both name namespace {namespace!r}: the target would be the source")


SAME_CLUSTER_FIX = ("point target.context at the new cluster's API server (kubectl config view shows each "
                    "context's server), or restore into another target.namespace")


def cluster_uid(cluster) -> str | None:
    """The UID of the cluster's kube-system namespace; None when it cannot be read (e.g. RBAC)."""
    from seatrial.runbook.errors import Forbidden, NotFound, Unauthorized

    try:
        obj = cluster.get("v1", "Namespace", "kube-system")
    except (Forbidden, NotFound, Unauthorized):
        return None
    return (obj.get("metadata") or {}).get("uid") or None


def same_cluster(source, target) -> str | None:
    """Why source and target are the same cluster (server URL or kube-system UID), or None if they differ."""
    if normalized_server(source.server) == normalized_server(target.server):
        return f"same API server {source.server}"
    source_uid, target_uid = cluster_uid(source), cluster_uid(target)
    if source_uid and source_uid == target_uid:
        return f"same kube-system namespace UID {source_uid}"
    return None


def refuse_if_target_is_source(ctx) -> str | None:
    """Raise BadInput when the target cluster is the source cluster and the namespaces are the same.
    Returns why they are the same cluster (different namespaces are allowed), or None."""
    cfg = ctx.config
    why = same_cluster(ctx.source, ctx.target)
    if why and cfg.source.namespace == cfg.target.namespace:
        raise BadInput(same_namespace_refusal(cfg.source.context, cfg.target.context, cfg.target.namespace, why),
                       fix=SAME_CLUSTER_FIX)
    return why
