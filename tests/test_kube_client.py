"""seatrial.runbook.clients.kube.Cluster and seatrial.runbook.wait against the real test API server, over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.kubeapi.store import ResourceType
from seatrial.runbook.clients import kube
from seatrial.runbook.errors import (
    ApiError,
    BadInput,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    Unreachable,
    WaitTimeout,
)
from seatrial.runbook.secrets import Secret
from seatrial.runbook.wait import wait_until
from tests.clock import FakeClock

CM = ("v1", "ConfigMap")


@pytest.fixture
def cluster(kube_api):
    with kube.Cluster(kube_api.kubeconfig, kube_api.context, name="source") as cluster:
        yield cluster


def configmap(name: str, namespace: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                   "labels": labels}, "data": {"k": name}}


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


# -- contexts and construction -------------------------------------------------------------------
def test_contexts_lists_every_context_without_network(tmp_path):
    path = write_kubeconfig(tmp_path / "kc", {"kind-source": "http://127.0.0.1:1", "kind-target": "http://127.0.0.1:2"})
    assert kube.contexts(path) == ["kind-source", "kind-target"]


def test_unknown_context_is_refused_listing_the_known_ones(kube_api):
    with pytest.raises(BadInput) as caught:
        kube.Cluster(kube_api.kubeconfig, "prod")
    assert "'prod'" in str(caught.value) and kube_api.context in str(caught.value)


def test_missing_kubeconfig_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        kube.contexts(tmp_path / "nope")


def test_cluster_knows_its_name_context_and_server(cluster, kube_api):
    assert (cluster.name, cluster.context, cluster.server) == ("source", kube_api.context, kube_api.url)
    assert cluster.ping() == "v1.32.0-seatrial"


# -- lists ---------------------------------------------------------------------------------------
def test_list_of_1200_objects_returns_all_in_three_paged_requests(cluster, kube_api):
    kube_api.store.create(namespace("bulk"))
    names = {f"cm-{i:04d}" for i in range(1200)}
    for name in names:
        kube_api.store.create(configmap(name, "bulk"))
    kube_api.server.requests.clear()

    items = cluster.list(*CM, "bulk", page_size=500)

    assert sorted(item["metadata"]["name"] for item in items) == sorted(names | {"kube-root-ca.crt"})
    assert all((item["apiVersion"], item["kind"]) == CM for item in items)
    requests = [path for method, path in kube_api.server.requests]
    assert len(requests) == 3, requests
    assert all(path.startswith("/api/v1/namespaces/bulk/configmaps?") and "limit=500" in path for path in requests)
    assert sum("continue=" in path for path in requests) == 2
    assert cluster.request_counts[("GET", "/api/v1/namespaces/bulk/configmaps")] == 3


def test_list_across_namespaces_with_label_and_field_selectors(cluster, kube_api):
    kube_api.store.create(namespace("harbor"))
    kube_api.store.create(configmap("a", "default", app="harbor"))
    kube_api.store.create(configmap("b", "harbor", app="harbor"))
    kube_api.store.create(configmap("c", "harbor", app="other"))

    labelled = cluster.list(*CM, label_selector="app=harbor")
    assert sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in labelled) == [
        ("default", "a"), ("harbor", "b")]
    by_field = cluster.list("v1", "configmaps", field_selector="metadata.namespace=harbor")
    assert sorted(o["metadata"]["name"] for o in by_field) == ["b", "c", "kube-root-ca.crt"]


def test_iterate_yields_page_by_page(cluster, kube_api):
    for i in range(5):
        kube_api.store.create(configmap(f"a{i}"))
    kube_api.server.requests.clear()
    iterator = cluster.iterate(*CM, "default", page_size=2)
    first = next(iterator)
    assert first["metadata"]["name"] == "a0" and len(kube_api.server.requests) == 1
    assert [o["metadata"]["name"] for o in iterator] == ["a1", "a2", "a3", "a4", "kube-root-ca.crt"]
    assert len(kube_api.server.requests) == 3


# -- kinds -----------------------------------------------------------------------------------------
def test_known_kinds_need_no_discovery(cluster, kube_api):
    kube_api.server.requests.clear()
    cluster.list("velero.io/v1", "Backup", "default")
    cluster.list("velero.io/v1", "backupstoragelocations", "default")
    cluster.list("storage.k8s.io/v1", "StorageClass")
    assert [p.split("?")[0] for _, p in kube_api.server.requests] == [
        "/apis/velero.io/v1/namespaces/default/backups",
        "/apis/velero.io/v1/namespaces/default/backupstoragelocations",
        "/apis/storage.k8s.io/v1/storageclasses"]


def test_unknown_kind_costs_one_discovery_call_then_is_cached(cluster, kube_api):
    kube_api.store.register(ResourceType("example.com", "v1", "Widget", "widgets"))
    kube_api.server.requests.clear()
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    cluster.create(widget)
    assert cluster.get("example.com/v1", "Widget", "w", "default")["metadata"]["name"] == "w"
    assert cluster.list("example.com/v1", "widgets")[0]["kind"] == "Widget"
    paths = [p.split("?")[0] for _, p in kube_api.server.requests]
    assert paths.count("/apis/example.com/v1") == 1
    with pytest.raises(NotFound, match="Gadget"):
        cluster.get("example.com/v1", "Gadget", "g", "default")
    assert [p.split("?")[0] for _, p in kube_api.server.requests].count("/apis/example.com/v1") == 1


# -- typed errors ---------------------------------------------------------------------------------
def test_missing_object_is_not_found_naming_context_kind_and_name(cluster):
    with pytest.raises(NotFound) as caught:
        cluster.get(*CM, "ghost", "default")
    text = str(caught.value)
    assert "ConfigMap default/ghost" in text and "'test'" in text and "fix:" in text
    assert caught.value.status == 404
    assert cluster.get_or_none(*CM, "ghost", "default") is None


def test_get_or_none_still_raises_when_the_kind_is_not_served(cluster):
    with pytest.raises(NotFound):
        cluster.get_or_none("example.com/v1", "Widget", "w", "default")


def test_create_twice_is_conflict_naming_the_object(cluster):
    cluster.create(configmap("twice"))
    with pytest.raises(Conflict) as caught:
        cluster.create(configmap("twice"))
    assert "ConfigMap default/twice" in str(caught.value) and "already exists" in str(caught.value)
    assert caught.value.status == 409


def test_stale_replace_is_conflict(cluster):
    created = cluster.create(configmap("stale"))
    cluster.patch(*CM, "stale", "default", {"data": {"k": "new"}})
    created["data"] = {"k": "mine"}
    with pytest.raises(Conflict, match="read it again"):
        cluster.replace(created)
    fresh = cluster.get(*CM, "stale", "default")
    fresh["data"] = {"k": "mine"}
    assert cluster.replace(fresh)["data"] == {"k": "mine"}


def test_invalid_backup_is_invalid_with_the_field_cause(cluster):
    bad = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "bad", "namespace": "default"},
           "spec": {"ttl": 720, "includedNamespaces": "harbor"}}
    with pytest.raises(Invalid) as caught:
        cluster.create(bad)
    text = str(caught.value)
    assert caught.value.status == 422
    assert "Backup default/bad" in text and "spec.ttl" in text and "spec.includedNamespaces" in text


def test_unknown_field_in_a_velero_object_is_refused_not_pruned(cluster):
    typo = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": "typo", "namespace": "default"},
            "spec": {"includeNamespaces": ["harbor"]}}
    with pytest.raises(Invalid, match="includeNamespaces"):
        cluster.create(typo)
    assert cluster.get_or_none("velero.io/v1", "Backup", "typo", "default") is None


def test_namespaced_kind_without_namespace_is_bad_input(cluster):
    with pytest.raises(BadInput, match="namespace"):
        cluster.get(*CM, "x")


# -- writes ----------------------------------------------------------------------------------------
def test_patch_merge_json_and_status(cluster):
    cluster.create(configmap("p"))
    assert cluster.patch(*CM, "p", "default", {"data": {"extra": "1"}})["data"] == {"k": "p", "extra": "1"}
    patched = cluster.patch(*CM, "p", "default", [{"op": "remove", "path": "/data/extra"}], patch_type="json")
    assert patched["data"] == {"k": "p"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    cluster.create(pod)
    cluster.patch_status("v1", "Pod", "web", "default", {"status": {"phase": "Running"}})
    assert cluster.get("v1", "Pod", "web", "default")["status"]["phase"] == "Running"
    annotated = cluster.patch("v1", "Pod", "web", "default",
                              {"metadata": {"annotations": {"backup.velero.io/backup-volumes": "data"}}},
                              patch_type="strategic")
    assert annotated["metadata"]["annotations"] == {"backup.velero.io/backup-volumes": "data"}


def test_bad_patch_type_is_bad_input(cluster):
    with pytest.raises(BadInput, match="merge, strategic or json"):
        cluster.patch(*CM, "p", "default", {}, patch_type="apply")


def test_delete_removes_and_a_second_delete_is_not_found(cluster):
    cluster.create(configmap("gone"))
    cluster.delete(*CM, "gone", "default")
    assert cluster.get_or_none(*CM, "gone", "default") is None
    with pytest.raises(NotFound, match="ConfigMap default/gone"):
        cluster.delete(*CM, "gone", "default")


@pytest.fixture
def refusing_server():
    """A loopback HTTP server that answers every request with one Kubernetes Status error, the way an
    API server with authentication and RBAC does (the test API server accepts any credentials)."""
    answer: dict = {}

    def app(environ, start_response):
        code, reason, message = answer["status"]
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
                "code": code}
        return Response(json.dumps(body), status=code, content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_port}"
    yield answer
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status, error_type, fix", [
    ((401, "Unauthorized", "Unauthorized"), Unauthorized, "renew the token"),
    ((403, "Forbidden", 'backups.velero.io is forbidden: User "ci" cannot list resource "backups"'), Forbidden,
     "auth can-i list backups.velero.io -n velero"),
    ((500, "InternalError", "etcd is sad"), ApiError, "is failing: check the API server"),
], ids=["401", "403", "500"])
def test_auth_and_server_errors_are_typed_with_a_fix(refusing_server, tmp_path, monkeypatch, status, error_type,
                                                     fix):
    monkeypatch.setenv("SEATRIAL_RETRY_BASE_S", "0.01")
    refusing_server["status"] = status
    path = write_kubeconfig(tmp_path / "kc", {"prod": refusing_server["url"]})
    with kube.Cluster(path, "prod") as cluster, pytest.raises(error_type) as caught:
        cluster.list("velero.io/v1", "Backup", "velero")
    text = str(caught.value)
    assert type(caught.value) is error_type and caught.value.status == status[0]
    assert "Backup list in namespace velero" in text and "'prod'" in text and status[2] in text and fix in text
    assert caught.value.exit_code == 3, "a refusing or failing API is a dependency fault (exit 3), not a verdict"


def test_context_naming_a_missing_cluster_entry_is_bad_input(tmp_path):
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: [{name: u, user: {}}]\n"
                    "contexts: [{name: broken, context: {cluster: gone, user: u}}]\ncurrent-context: broken\n")
    with pytest.raises(BadInput, match="'broken'.*cannot be loaded"):
        kube.Cluster(path, "broken")


# -- unreachable ----------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_closed_port_is_unreachable_fast_naming_context_and_url(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    path = write_kubeconfig(tmp_path / "kc", {"kind-target": url})
    cluster = kube.Cluster(path, "kind-target")
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        cluster.ping()
    assert time.monotonic() - started < 3
    text = str(caught.value)
    assert "'kind-target'" in text and url in text and "cluster-info" in text
    assert "Traceback" not in text
    with pytest.raises(Unreachable):
        cluster.list(*CM)


# -- wait_until ------------------------------------------------------------------------------------
def test_wait_until_returns_the_first_truthy_value():
    values = iter([None, {}, [], 0, {"phase": "Completed"}])
    assert wait_until(lambda: next(values), timeout=5, interval=0.01, what="x") == {"phase": "Completed"}


def test_wait_until_reports_each_new_progress_line_once(monkeypatch):
    monkeypatch.setattr("seatrial.runbook.wait.time", FakeClock())  # "[0s]" however slowly this machine runs the loop
    phases = iter(["New", "New", "InProgress", "InProgress", "Completed"])
    current = {"phase": ""}

    def probe():
        current["phase"] = next(phases)
        return current["phase"] == "Completed"

    seen: list[str] = []
    assert wait_until(probe, timeout=5, interval=0.01, what="backup b",
                      progress=lambda _: f"phase {current['phase']}", on_progress=seen.append)
    assert seen == ["phase New [0s]", "phase InProgress [0s]"]  # with the elapsed time


def test_wait_until_timeout_names_what_and_the_last_state_redacted(monkeypatch):
    password = Secret("hunter2-wait", "repo password")
    calls = []
    clock = FakeClock()
    monkeypatch.setattr("seatrial.runbook.wait.time", clock)

    def probe():
        calls.append(1)
        return None

    with pytest.raises(WaitTimeout) as caught:
        wait_until(probe, timeout=0.3, interval=0.05, what="backup nightly to complete",
                   progress=lambda _: f"phase InProgress, 3/10 items, url with {password.reveal()}")
    assert 0.3 <= clock.now < 0.35  # gave up at the timeout, not before and not a poll later
    text = str(caught.value)
    assert "backup nightly to complete" in text and "phase InProgress, 3/10 items" in text
    assert "hunter2-wait" not in text and len(calls) >= 3


def test_wait_until_without_progress_shows_the_repr_of_the_last_value():
    with pytest.raises(WaitTimeout, match=r"waiting for pods; last state seen: \[\]"):
        wait_until(lambda: [], timeout=0.05, interval=0.01, what="pods")


def test_get_or_none_raises_when_the_server_does_not_serve_the_kind(refusing_server, tmp_path):
    refusing_server["status"] = (404, "NotFound", "the server could not find the requested resource")
    path = write_kubeconfig(tmp_path / "kc", {"no-velero": refusing_server["url"]})
    with kube.Cluster(path, "no-velero") as cluster, pytest.raises(NotFound) as caught:
        cluster.get_or_none("velero.io/v1", "Backup", "b", "velero")
    assert not isinstance(caught.value, kube.ObjectMissing)
    assert "does not serve backups.velero.io" in str(caught.value)
