"""The test API server through the real `kubernetes` client, over HTTP."""

import json
import time

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from seatrial.fixtures.kubeapi.server import ApiServer
from seatrial.fixtures.kubeapi.store import Store
from seatrial.fixtures.kubeapi.types import register_standard_types

NS = "harbor"


@pytest.fixture
def api_client(kube_api):
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "velero"}})
    with config.new_client_from_config(config_file=str(kube_api.kubeconfig), context=kube_api.context) as api:
        yield api


def pod(name: str, labels: dict, phase: str = "Running", node: str = "node-a") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]},
            "status": {"phase": phase}}


def error_body(error: ApiException) -> dict:
    return json.loads(error.body)


def test_discovery_lists_core_apps_and_velero_resources(api_client):
    core = client.CoreV1Api(api_client).get_api_resources()
    pods = next(r for r in core.resources if r.name == "pods")
    assert (pods.kind, pods.namespaced, pods.short_names) == ("Pod", True, ["po"])
    assert "pods/status" in {r.name for r in core.resources}
    assert "secrets/status" not in {r.name for r in core.resources}
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    assert groups["velero.io"].preferred_version.version == "v1"
    velero = client.CustomObjectsApi(api_client).get_api_resources("velero.io", "v1")
    bsl = next(r for r in velero.resources if r.name == "backupstoragelocations")
    assert bsl.short_names == ["bsl"] and "watch" in bsl.verbs


def test_list_with_label_and_field_selectors(api_client):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(NS, pod("core-0", {"app": "harbor", "component": "core"}))
    core.create_namespaced_pod(NS, pod("db-0", {"app": "harbor", "component": "database"}, node="node-b"))
    core.create_namespaced_pod(NS, pod("job-0", {"app": "other"}, phase="Succeeded"))

    def names(**kwargs) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items]

    assert names(label_selector="app=harbor") == ["core-0", "db-0"]
    assert names(label_selector="app==harbor,component!=core") == ["db-0"]
    assert names(label_selector="component in (core, database)") == ["core-0", "db-0"]
    assert names(label_selector="component notin (core)") == ["db-0", "job-0"]
    assert names(label_selector="component") == ["core-0", "db-0"]
    assert names(label_selector="!component") == ["job-0"]
    assert names(field_selector="status.phase=Running,spec.nodeName=node-b") == ["db-0"]
    assert names(field_selector="metadata.name!=core-0") == ["db-0", "job-0"]
    everywhere = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={NS}")
    assert len(everywhere.items) == 3 and everywhere.kind == "PodList"


def test_limit_and_continue_page_with_one_list_per_page(api_client, kube_api):
    for i in range(250):
        kube_api.store.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": f"cm-{i:03d}", "namespace": NS}, "data": {"i": str(i)}})
    core = client.CoreV1Api(api_client)
    before = len(kube_api.server.requests)
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map(NS, limit=100, _continue=token)
        pages += 1
        seen += [cm.metadata.name for cm in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm-{i:03d}" for i in range(250)] + ["kube-root-ca.crt"]  # and the namespace's own
    lists = [path for method, path in kube_api.server.requests[before:]
             if method == "GET" and path.startswith(f"/api/v1/namespaces/{NS}/configmaps")]
    assert pages == 3 and len(lists) == 3


def test_remaining_item_count_only_on_an_unfiltered_page(api_client, kube_api):
    for i in range(3):
        kube_api.store.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": f"left-{i}", "namespace": NS, "labels": {"page": "yes"}}})
    core = client.CoreV1Api(api_client)
    assert core.list_namespaced_config_map(NS, limit=1).metadata.remaining_item_count == 3  # + kube-root-ca.crt
    filtered = core.list_namespaced_config_map(NS, limit=1, label_selector="page=yes")
    assert filtered.metadata._continue and filtered.metadata.remaining_item_count is None  # as the real server


def test_bad_continue_token_is_a_400_status(api_client):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api_client).list_namespaced_config_map(NS, limit=1, _continue="not-a-token")
    assert caught.value.status == 400 and error_body(caught.value)["reason"] == "BadRequest"


def test_replace_with_stale_resource_version_is_409(api_client):
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(NS, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    created.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("settings", NS, created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    created.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("settings", NS, created)
    body = error_body(caught.value)
    assert caught.value.status == 409
    assert (body["kind"], body["reason"], body["details"]["name"]) == ("Status", "Conflict", "settings")
    assert core.read_namespaced_config_map("settings", NS).data == {"a": "2"}


def test_missing_object_and_unknown_resource_are_404_status(api_client):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api_client).read_namespaced_pod("nope", NS)
    assert caught.value.status == 404 and error_body(caught.value)["details"] == {"name": "nope", "kind": "pods"}
    with pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(api_client).list_namespaced_custom_object("velero.io", "v1", NS, "frobs")
    assert caught.value.status == 404 and error_body(caught.value)["reason"] == "NotFound"


def backup(name: str, spec: dict) -> dict:
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": name, "namespace": "velero"},
            "spec": spec}


def test_valid_backup_is_created(api_client):
    custom = client.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object(
        "velero.io", "v1", "velero", "backups",
        backup("nightly", {"includedNamespaces": [NS], "ttl": "72h0m0s", "defaultVolumesToFsBackup": True}))
    assert created["metadata"]["uid"] and created["spec"]["ttl"] == "72h0m0s"
    listed = custom.list_namespaced_custom_object("velero.io", "v1", "velero", "backups")
    assert listed["kind"] == "BackupList" and [b["metadata"]["name"] for b in listed["items"]] == ["nightly"]


@pytest.mark.parametrize(("kind", "spec", "field"), [
    ("Backup", {"ttl": 5}, "spec.ttl"),
    ("Backup", {"includedNamespaces": "harbor"}, "spec.includedNamespaces"),
    ("Restore", {"backupName": "b", "existingResourcePolicy": 1}, "spec.existingResourcePolicy"),
    ("Restore", {"backupName": "b", "hooks": {"resources": [{"postHooks": []}]}}, "spec.hooks.resources[0].name"),
])
def test_invalid_velero_object_is_422_naming_the_field(api_client, kind, spec, field):
    plural = kind.lower() + "s"
    body = {**backup("bad", spec), "kind": kind}
    with pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(api_client).create_namespaced_custom_object("velero.io", "v1", "velero", plural, body)
    status = error_body(caught.value)
    assert caught.value.status == 422 and status["reason"] == "Invalid"
    assert field in [cause["field"] for cause in status["details"]["causes"]]
    assert field in status["message"]


def test_status_subresource_patch_changes_only_status(api_client):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(NS, pod("core-0", {"app": "harbor"}, phase="Pending"))
    patched = core.patch_namespaced_pod_status("core-0", NS, {"status": {"phase": "Running"},
                                                               "metadata": {"labels": {"ignored": "yes"}}})
    assert patched.status.phase == "Running" and "ignored" not in patched.metadata.labels
    core.patch_namespaced_pod("core-0", NS, {"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}})
    current = core.read_namespaced_pod_status("core-0", NS)
    assert current.status.phase == "Running" and current.metadata.labels["x"] == "y"


def test_velero_objects_have_no_status_subresource_so_updates_write_status(api_client):
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", backup("b", {}))
    custom.patch_namespaced_custom_object("velero.io", "v1", "velero", "backups", "b",
                                          {"status": {"phase": "Completed"}})
    assert custom.get_namespaced_custom_object("velero.io", "v1", "velero", "backups", "b")["status"] == {
        "phase": "Completed"}
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object_status("velero.io", "v1", "velero", "backups", "b")
    assert caught.value.status == 404


def test_unknown_backup_field_is_pruned_with_a_warning_by_default(api_client):
    custom = client.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object("velero.io", "v1", "velero", "backups",
                                                     backup("b", {"ttl": "1h", "bogus": True}))
    assert created["spec"] == {"ttl": "1h"}


def test_delete_returns_the_object_then_it_is_gone(api_client):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "gone"}})
    core.delete_namespaced_config_map("gone", NS)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("gone", NS)
    assert caught.value.status == 404


def test_watch_streams_current_objects_then_changes(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "first"}})
    events = []
    # the loop ends at the third event; the server's timeout only bounds a watch that misses one
    stream = watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=60)
    for event in stream:
        if event["object"].metadata.name == "kube-root-ca.crt":
            continue  # published into every namespace (fixtures/kubeapi/namespaces.py)
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 1:
            kube_api.store.create({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "second", "namespace": NS}})
        if len(events) == 2:
            kube_api.store.delete("v1", "ConfigMap", "first", NS)
        if len(events) == 3:
            break
    assert events == [("ADDED", "first"), ("ADDED", "second"), ("DELETED", "first")]


def test_watch_ends_at_timeout_seconds(api_client):
    started = time.monotonic()
    response = client.CoreV1Api(api_client).list_namespaced_config_map(NS, watch=True, timeout_seconds=1,
                                                                     _preload_content=False)
    response.read()
    assert time.monotonic() - started < 3


def test_listing_1000_objects_is_fast(api_client, kube_api):
    for i in range(1000):
        kube_api.store.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": f"cm-{i:04d}", "namespace": NS, "labels": {"n": str(i % 2)}}})
    core = client.CoreV1Api(api_client)
    # CPU time of this process (client and server threads): unlike wall time, other processes' load does not add
    started = time.process_time()
    listed = core.list_namespaced_config_map(NS, label_selector="n=1", _preload_content=False)
    assert len(json.loads(listed.data)["items"]) == 500
    assert time.process_time() - started < 1.0


def test_watch_from_a_list_resource_version_sees_changes_made_in_between(api_client, kube_api):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "old"}})
    listed = core.list_namespaced_config_map(NS)
    kube_api.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": NS}})
    kube_api.store.delete("v1", "ConfigMap", "old", NS)
    response = core.list_namespaced_config_map(NS, watch=True, timeout_seconds=1,
                                               resource_version=listed.metadata.resource_version,
                                               _preload_content=False)
    events = [json.loads(line) for line in response.read().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "new"), ("DELETED", "old")]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(events[0]["object"]["metadata"]
                                                                          ["resourceVersion"])


def test_scale_subresource_reads_and_sets_replicas(api_client):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_stateful_set(NS, {
        "metadata": {"name": "db"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                                             "template": {"metadata": {"labels": {"app": "db"}},
                                                          "spec": {"containers": [{"name": "db", "image": "pg"}]}}}})
    assert apps.read_namespaced_stateful_set_scale("db", NS).status.selector == "app=db"
    apps.patch_namespaced_stateful_set_scale("db", NS, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_stateful_set("db", NS).spec.replicas == 0
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_stateful_set_scale("db", NS, {"spec": {"replicas": -1}})
    assert caught.value.status == 422


def test_dry_run_validates_without_storing(api_client, kube_api):
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", backup("kept", {"ttl": "1h"}),
                                           dry_run="All")
    assert kube_api.store.list("velero.io/v1", "Backup", "velero") == []
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", backup("bad", {"ttl": 5}),
                                               dry_run="All")
    assert caught.value.status == 422 and "spec.ttl" in error_body(caught.value)["message"]
    custom.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", backup("kept", {"ttl": "1h"}))
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object("velero.io", "v1", "velero", "backups", "kept", {"spec": {"ttl": []}},
                                              dry_run="All")
    assert caught.value.status == 422
    custom.patch_namespaced_custom_object("velero.io", "v1", "velero", "backups", "kept", {"spec": {"ttl": "2h"}},
                                          dry_run="All")
    custom.delete_namespaced_custom_object("velero.io", "v1", "velero", "backups", "kept", dry_run="All")
    assert kube_api.store.get("velero.io/v1", "Backup", "kept", "velero")["spec"] == {"ttl": "1h"}


def test_stop_ends_open_watches_and_is_idempotent():
    ApiServer(Store()).stop()  # never started
    server = ApiServer(register_standard_types(Store())).start()
    response = requests.get(f"{server.url}/api/v1/secrets?watch=true", stream=True, timeout=5)
    started = time.monotonic()
    server.stop()
    server.stop()
    lines = [json.loads(line)["object"]["metadata"]["name"] for line in response.iter_lines() if line]
    assert time.monotonic() - started < 2 and lines == []


def test_a_watch_opened_during_a_mutation_waits_for_it_instead_of_deadlocking():
    """A controller's `Store.mutate` notifies the watches while it holds the store's lock; a watch opened at that
    moment used to hold the events lock while it waited for the store's: each waited for the other for good (a hung
    `make test`, found 2026-12-08 in test_helm_engine's install with wait). Here the mutation starts while the watch
    reads the current objects."""
    import threading

    store = register_standard_types(Store())
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}})
    server = ApiServer(store).start()
    watch_reads, mutation_holds_the_store = threading.Event(), threading.Event()
    list_views = store.list_views

    def reading_slowly(*args, **kwargs):
        watch_reads.set()
        mutation_holds_the_store.wait(timeout=1)  # (with the fix the watch holds the store: the mutation waits)
        return list_views(*args, **kwargs)

    def change(obj: dict) -> None:
        mutation_holds_the_store.set()
        obj["data"] = {"k": "v"}

    answered: list[str] = []

    def open_watch() -> None:
        response = requests.get(f"{server.url}/api/v1/configmaps?watch=true&timeoutSeconds=1", timeout=10)
        answered.append(response.text)

    store.list_views = reading_slowly
    try:
        watcher = threading.Thread(target=open_watch, daemon=True)
        watcher.start()
        assert watch_reads.wait(timeout=10)
        mutation = threading.Thread(target=store.mutate, args=("v1", "ConfigMap", "cm", "default", change),
                                    daemon=True)
        mutation.start()
        mutation.join(timeout=10)
        watcher.join(timeout=10)
        assert not mutation.is_alive() and not watcher.is_alive(), "the mutation and the watch wait for each other"
        events = [json.loads(line) for line in answered[0].splitlines() if line]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events][:1] == [("ADDED", "cm")]
    finally:
        server.stop()
