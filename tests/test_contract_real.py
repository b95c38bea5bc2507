"""The sandbox measured against the real thing: the same Kubernetes scenarios on a sandbox cluster (seatrial's own
API server and controllers) and on a real cluster (kube-apiserver, kube-controller-manager, kube-scheduler, kwok),
through the same client, and what each shows compared.

Each scenario returns what a user (or a check) sees: status codes, messages, which objects exist. Where the two
differ for a reason that is accepted, KNOWN_DIFFERENCES says what the sandbox shows instead and why (the same list
with its reasons is in docs/environments-real.md); a difference nobody has written down fails the test, and so does
a known difference that went away (then the entry goes too).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from seatrial.checks.emptiness import EMPTY_VOLUME_MAX_USED_BYTES
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.real.clusters import RealCluster
from seatrial.fixtures.real.fixture import require_real_binaries
from seatrial.fixtures.real.processes import Children
from seatrial.fixtures.sandbox.cluster import SandboxCluster
from tests.waiting import wait_for

pytestmark = pytest.mark.real
WAIT_S = 120.0  # upper bound for a loaded machine; met waits return at once
Scenario = Callable[[client.ApiClient], dict]


@pytest.fixture(scope="module")
def sandbox_api(tmp_path_factory):
    # rook-ceph-block attaches anywhere (network-attached, as RBD is), as on real
    cluster = SandboxCluster("sandbox", tmp_path_factory.mktemp("contract-sandbox"),
                             network_classes=("rook-ceph-block",)).start()
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig", {"sandbox": cluster.url})
    try:
        yield config.new_client_from_config(str(kubeconfig), persist_config=False)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def real_api(request, tmp_path_factory):
    binaries = require_real_binaries(request.config)
    root = tmp_path_factory.mktemp("contract-real")
    children = Children(root / "logs")
    cluster = RealCluster("real", root, binaries, children)
    try:
        cluster.start()
        yield config.new_client_from_config(str(cluster.plane.kubeconfig("admin")), persist_config=False)
    finally:
        cluster.stop()
        children.stop()


# -- scenarios --------------------------------------------------------------------------------------
def _namespace(api: client.ApiClient, prefix: str) -> str:
    core = client.CoreV1Api(api)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for("the default ServiceAccount", lambda: _exists(core.read_namespaced_service_account, "default", name),
             timeout=WAIT_S, interval=0.1)
    return name


def _exists(read, *args) -> bool:
    try:
        read(*args)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def _failure(call) -> dict:
    try:
        call()
    except ApiException as exc:
        body = json.loads(exc.body or "{}")
        return {"status": exc.status, "reason": body.get("reason"), "message": body.get("message")}
    return {"status": "succeeded"}


def _apply(api: client.ApiClient, ns: str, body: dict, manager: str, force: bool = False) -> dict:
    try:
        client.CoreV1Api(api).patch_namespaced_config_map(body["metadata"]["name"], ns, body, field_manager=manager,
                                                          force=force or None,
                                                          _content_type="application/apply-patch+yaml")
        return {"status": "applied"}
    except ApiException as exc:
        body = json.loads(exc.body or "{}")
        return {"status": exc.status, "reason": body.get("reason")}


def server_side_apply(api: client.ApiClient) -> dict:
    ns = _namespace(api, "ssa")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns},
           "data": {"mode": "a"}}
    first = _apply(api, ns, obj, "helm")
    changed = {**obj, "data": {"mode": "b"}}
    conflict = _apply(api, ns, changed, "someone-else")
    forced = _apply(api, ns, changed, "someone-else", force=True)
    stored = client.CoreV1Api(api).read_namespaced_config_map("settings", ns)
    managers = sorted(m.manager for m in stored.metadata.managed_fields or [])
    # a field set by a create (an Update manager, as the installer's CRDs were) then applied with another value
    client.CoreV1Api(api).create_namespaced_config_map(ns, {"metadata": {"name": "created"}, "data": {"mode": "a"}},
                                                       field_manager="seatrial")
    over_created = _apply(api, ns, {**obj, "metadata": {"name": "created", "namespace": ns},
                                    "data": {"mode": "b"}}, "helm")
    return {"create": first, "conflict": conflict, "forced": forced, "data": stored.data, "managers": managers,
            "apply over a created field": over_created}


def immutable_statefulset_fields(api: client.ApiClient) -> dict:
    ns = _namespace(api, "sts")
    apps = client.AppsV1Api(api)
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "replicas": 0, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "postgres"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    claims = _failure(lambda: apps.patch_namespaced_stateful_set("db", ns, {"spec": {"volumeClaimTemplates": [
        {"metadata": {"name": "data2"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "2Gi"}}}}]}}))
    selector = _failure(lambda: apps.patch_namespaced_stateful_set(
        "db", ns, {"spec": {"selector": {"matchLabels": {"app": "other"}},
                            "template": {"metadata": {"labels": {"app": "other"}}}}}))
    replicas = _failure(lambda: apps.patch_namespaced_stateful_set("db", ns, {"spec": {"replicas": 0}}))
    return {"volumeClaimTemplates": claims, "selector": selector, "replicas": replicas}


def root_ca_published(api: client.ApiClient) -> dict:
    core = client.CoreV1Api(api)
    ns = _namespace(api, "ca")
    wait_for("kube-root-ca.crt", lambda: _exists(core.read_namespaced_config_map, "kube-root-ca.crt", ns),
             timeout=WAIT_S, interval=0.1)
    published = core.read_namespaced_config_map("kube-root-ca.crt", ns)
    return {"keys": sorted(published.data), "begins": published.data["ca.crt"].startswith("-----BEGIN CERTIFICATE")}


def _deployment(api: client.ApiClient, ns: str) -> None:
    labels = {"app": "web"}
    client.AppsV1Api(api).create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    # Available, not merely created: deleted with Orphan before the garbage collector has seen the ReplicaSet,
    # the Deployment leaves a dependent the collector later deletes as ownerless (a race of the real one too)
    wait_for("the Deployment available", lambda: client.AppsV1Api(api).read_namespaced_deployment("web", ns),
             timeout=WAIT_S, interval=0.1, done=lambda d: (d.status.available_replicas or 0) == 1)


def garbage_collection(api: client.ApiClient) -> dict:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    cascaded, orphaned = _namespace(api, "gc"), _namespace(api, "orphan")
    for ns in (cascaded, orphaned):
        _deployment(api, ns)
    apps.delete_namespaced_deployment("web", cascaded, propagation_policy="Background")
    apps.delete_namespaced_deployment("web", orphaned, propagation_policy="Orphan")
    for ns in (cascaded, orphaned):  # the orphan finalizer goes once the dependents are orphaned
        wait_for(f"the Deployment in {ns} gone", lambda ns=ns: apps.list_namespaced_deployment(ns).items,
                 timeout=WAIT_S, interval=0.1, done=lambda items: not items)
    wait_for("the cascade", lambda: core.list_namespaced_pod(cascaded).items, timeout=WAIT_S, interval=0.1,
             done=lambda items: not items)
    return {"cascaded": {"pods": 0, "replica_sets": len(apps.list_namespaced_replica_set(cascaded).items)},
            "orphaned": {"pods": len(core.list_namespaced_pod(orphaned).items),
                         "replica_sets": [{"owner_references": s.metadata.owner_references}
                                          for s in apps.list_namespaced_replica_set(orphaned).items]}}


def pagination(api: client.ApiClient) -> dict:
    core = client.CoreV1Api(api)
    ns = _namespace(api, "pages")
    for index in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{index}", "labels": {"page": "yes"}}})
    pages, token = [], None
    while True:
        page = core.list_namespaced_config_map(ns, limit=2, label_selector="page=yes", _continue=token)
        pages.append({"items": [i.metadata.name for i in page.items],
                      "remaining": page.metadata.remaining_item_count, "more": bool(page.metadata._continue)})
        token = page.metadata._continue
        if not token:
            return {"pages": pages}


def stale_resource_version(api: client.ApiClient) -> dict:
    core = client.CoreV1Api(api)
    ns = _namespace(api, "stale")
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "x"}, "data": {"v": "1"}})
    core.patch_namespaced_config_map("x", ns, {"data": {"v": "2"}})
    stale = {"metadata": {"name": "x", "resourceVersion": created.metadata.resource_version}, "data": {"v": "3"}}
    return _failure(lambda: core.replace_namespaced_config_map("x", ns, stale))


def multi_attach(api: client.ApiClient) -> dict:
    """A ReadWriteOnce volume in use by a running pod on one node, wanted by a pod on the other node."""
    core = client.CoreV1Api(api)
    ns = _namespace(api, "attach")
    core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
        "resources": {"requests": {"storage": "1Gi"}}}})

    def pod(name: str, node: str) -> dict:
        return {"metadata": {"name": name}, "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [{"name": "registry", "image": "registry:2"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}

    core.create_namespaced_pod(ns, pod("first", "node-1"))
    wait_for("the first pod running", lambda: core.read_namespaced_pod("first", ns), timeout=WAIT_S, interval=0.1,
             done=lambda p: p.status.phase == "Running")
    core.create_namespaced_pod(ns, pod("second", "node-2"))
    events = wait_for("the FailedAttachVolume event", lambda: [
        e for e in core.list_namespaced_event(ns).items
        if e.involved_object.name == "second" and e.reason == "FailedAttachVolume"], timeout=WAIT_S, interval=0.2)
    waiting = wait_for("the second pod waiting", lambda: core.read_namespaced_pod("second", ns), timeout=WAIT_S,
                       interval=0.1, done=lambda p: p.status.container_statuses)
    pv = core.read_namespaced_persistent_volume_claim("data", ns).spec.volume_name
    seen = {"event": {"type": events[0].type, "component": events[0].source.component,
                      "message": events[0].message.replace(pv, "<pv>")},
            "second": {"phase": waiting.status.phase,
                       "waiting": waiting.status.container_statuses[0].state.waiting.reason}}
    core.delete_namespaced_pod("first", ns)
    wait_for("the second pod running once the first is gone", lambda: core.read_namespaced_pod("second", ns),
             timeout=WAIT_S, interval=0.2, done=lambda p: p.status.phase == "Running")
    seen["after the first pod is gone"] = "second running"
    return seen


def quantities_as_numbers(api: client.ApiClient) -> dict:
    """A chart's `cpu: 1` / `cpu: 0.5` (YAML numbers): the server stores and serves canonical strings, which the
    typed client's models require (found by the steps' contract: a number there broke `list_namespaced_pod`)."""
    core = client.CoreV1Api(api)
    ns = _namespace(api, "quantity")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"limits": {"cpu": 1, "memory": "1Gi"},
                                                        "requests": {"cpu": 0.5}}}]}}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for setting in api.configuration.auth_settings().values():  # the typed client would refuse this body itself
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    created = api.rest_client.request("POST", f"{api.configuration.host}/api/v1/namespaces/{ns}/pods",
                                      headers=headers, body=body)
    assert created.status == 201, created.data
    read = json.loads(core.read_namespaced_pod("p", ns, _preload_content=False).data)
    typed = core.list_namespaced_pod(ns).items[0]  # the typed model must accept what the server serves
    return {"served": read["spec"]["containers"][0]["resources"],
            "typed limits": typed.spec.containers[0].resources.limits}


def node_info(api: client.ApiClient) -> dict:
    """Every field of a Node's `nodeInfo` a kubelet reports: the typed client's model requires them all (found by
    the steps' contract: the sandbox's nodes broke `list_node`)."""
    core = client.CoreV1Api(api)
    raw = json.loads(core.list_node(_preload_content=False).data)["items"]
    typed = core.list_node().items
    return {"fields": sorted({key for node in raw for key in node["status"]["nodeInfo"]}),
            "typed": len(typed) == len(raw)}


def kubelet_volume_stats(api: client.ApiClient) -> dict:
    """What the checks read to tell an empty volume from one with data (seatrial.checks.emptiness): the kubelet's
    Summary API through the API server's node proxy, for a running pod with a fresh volume."""
    core = client.CoreV1Api(api)
    ns = _namespace(api, "stats")
    core.create_namespaced_persistent_volume_claim(ns, {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block",
        "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "db"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": "node-1"},
        "containers": [{"name": "db", "image": "postgres:15", "volumeMounts": [{"name": "pgdata", "mountPath": "/d"}]}],
        "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": "data"}}]}})
    wait_for("the pod running", lambda: core.read_namespaced_pod("db", ns), timeout=WAIT_S, interval=0.1,
             done=lambda p: p.status.phase == "Running")

    def summary(node: str) -> dict:
        return json.loads(core.connect_get_node_proxy_with_path(node, "stats/summary", _preload_content=False).data)

    on_node_1 = summary("node-1")
    mine = [p for p in on_node_1["pods"] if p["podRef"]["namespace"] == ns]
    return {"node": on_node_1["node"]["nodeName"],
            "pods": [p["podRef"]["name"] for p in mine],
            "volumes": [{"name": v["name"], "claim data of this namespace": v["pvcRef"] == {"name": "data",
                                                                                    "namespace": ns},
                         "fields": sorted(v), "empty": v["usedBytes"] <= EMPTY_VOLUME_MAX_USED_BYTES}
                        for p in mine for v in p["volume"]],
            "on node-2": [p["podRef"]["name"] for p in summary("node-2")["pods"] if p["podRef"]["namespace"] == ns]}


def created_statuses(api: client.ApiClient) -> dict:
    """The status in each create's own answer, before any controller: a typed client reads it at once."""
    apps, core, batch = client.AppsV1Api(api), client.CoreV1Api(api), client.BatchV1Api(api)
    ns = _namespace(api, "status")
    labels = {"app": "s"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    workload = {"metadata": {"name": "s"}, "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                                                    "template": template}}
    creates = {
        "Deployment": lambda: apps.create_namespaced_deployment(ns, workload, _preload_content=False),
        "StatefulSet": lambda: apps.create_namespaced_stateful_set(
            ns, {**workload, "spec": {**workload["spec"], "serviceName": "s"}}, _preload_content=False),
        "ReplicaSet": lambda: apps.create_namespaced_replica_set(ns, workload, _preload_content=False),
        "DaemonSet": lambda: apps.create_namespaced_daemon_set(ns, {"metadata": {"name": "s"}, "spec": {
            "selector": {"matchLabels": labels}, "template": template}}, _preload_content=False),
        "Job": lambda: batch.create_namespaced_job(ns, {"metadata": {"name": "s"}, "spec": {
            "suspend": True, "template": {"spec": {**template["spec"], "restartPolicy": "Never"}}}},
            _preload_content=False),
        "Pod": lambda: core.create_namespaced_pod(ns, {"metadata": {"name": "s"}, "spec": template["spec"]},
                                                  _preload_content=False),
        "PersistentVolumeClaim": lambda: core.create_namespaced_persistent_volume_claim(ns, {
            "metadata": {"name": "s"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "none",
                                                "resources": {"requests": {"storage": "1Gi"}}}},
            _preload_content=False),
        "Service": lambda: core.create_namespaced_service(ns, {"metadata": {"name": "s"}, "spec": {
            "selector": labels, "ports": [{"port": 80}]}}, _preload_content=False),
    }
    return {kind: json.loads(create().data).get("status") for kind, create in creates.items()}


SCENARIOS: dict[str, Scenario] = {
    "server-side apply": server_side_apply,
    "immutable StatefulSet fields": immutable_statefulset_fields,
    "kube-root-ca.crt": root_ca_published,
    "garbage collection and --cascade=orphan": garbage_collection,
    "pagination": pagination,
    "409 on a stale resourceVersion": stale_resource_version,
    "Multi-Attach wait": multi_attach,
    "quantities written as numbers": quantities_as_numbers,
    "a Node's nodeInfo": node_info,
    "kubelet volume stats through the node proxy": kubelet_volume_stats,
    "the status a create answers with": created_statuses,
}
# scenario -> (what the sandbox shows instead of the real server's answer, why it is accepted); see
# docs/environments-real.md
def _without_revision_history_limit(on_sandbox: dict, on_real: dict) -> bool:
    as_v132 = json.loads(json.dumps(on_real).replace("'revisionHistoryLimit', ", ""))
    return on_sandbox == as_v132


def _no_replica_sets(on_sandbox: dict, on_real: dict) -> bool:
    expected = json.loads(json.dumps(on_real))
    expected["orphaned"]["replica_sets"] = []
    return on_sandbox == expected


KNOWN_DIFFERENCES: dict[str, tuple[Callable[[dict, dict], bool], str]] = {
    "garbage collection and --cascade=orphan": (
        _no_replica_sets,
        "the sandbox's Deployments own their pods without a ReplicaSet (seatrial.fixtures.sandbox.workloads): the "
        "pods go with a cascade and stay with --cascade=orphan on both, but only the real one shows the orphaned "
        "ReplicaSet"),
    "immutable StatefulSet fields": (
        _without_revision_history_limit,
        "the sandbox is Kubernetes v1.32 (what it reports), where revisionHistoryLimit is immutable "
        "(kubernetes/kubernetes#130263, seen on v1.31); v1.36 lets it change and names it in the message"),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sandbox_and_real_agree(name: str, sandbox_api, real_api):
    on_sandbox = SCENARIOS[name](sandbox_api)
    on_real = SCENARIOS[name](real_api)
    known = KNOWN_DIFFERENCES.get(name)
    if known is None:
        assert on_sandbox == on_real, (f"{name}: the sandbox and the real API server differ; fix the sandbox, or "
                                       "list the difference with its reason in KNOWN_DIFFERENCES and "
                                       f"docs/environments-real.md\n  sandbox: {on_sandbox}\n  real:    {on_real}")
    else:
        matches, reason = known
        assert on_sandbox != on_real, f"{name}: the known difference ({reason}) is gone: remove its entry"
        assert matches(on_sandbox, on_real), f"{name}: not the known difference ({reason})\n" \
                                             f"  sandbox: {on_sandbox}\n  real:    {on_real}"


def test_the_real_cluster_is_the_real_kube_apiserver(real_api):
    assert client.VersionApi(real_api).get_code().git_version == "v1.36.3"

