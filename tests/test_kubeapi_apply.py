"""Server-side apply on the test API server, through the real kubectl and plain HTTP: create on apply, update,
field ownership (managedFields), 409 conflicts with Kubernetes' message, force; and the CRDs a chart ships
being served at once."""

from __future__ import annotations

import json

import pytest
import requests

from seatrial.fixtures.kubeapi import fields

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
  labels: {{app: demo}}
data:
{data}
"""


def configmap_yaml(**data: str) -> str:
    return CONFIGMAP.format(data="\n".join(f"  {k}: {json.dumps(v)}" for k, v in data.items()))


def apply(kube_api, text: str, *extra: str):
    return kube_api.kubectl("apply", "--server-side", "-f", "-", *extra, input=text)


def owners(kube_api, name: str = "settings") -> dict[tuple[str, str], set[str]]:
    """(manager, operation) -> the owned fields as Kubernetes prints them."""
    obj = kube_api.store.get("v1", "ConfigMap", name, "default")
    return {(e["manager"], e["operation"]): {fields.path_string(p) for p in fields.from_fields_v1(e["fieldsV1"])}
            for e in obj["metadata"]["managedFields"]}


def test_apply_creates_then_updates_and_records_the_owner(kube_api):
    created = apply(kube_api, configmap_yaml(a="1", b="2"))
    assert created.returncode == 0, created.stderr
    assert "configmap/settings serverside-applied" in created.stdout
    assert owners(kube_api) == {("kubectl", "Apply"): {".metadata.labels.app", ".data.a", ".data.b"}}
    entry = kube_api.store.get("v1", "ConfigMap", "settings", "default")["metadata"]["managedFields"][0]
    assert entry["fieldsType"] == "FieldsV1" and entry["apiVersion"] == "v1"
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}

    updated = apply(kube_api, configmap_yaml(a="10"))  # b is no longer applied: the server removes it
    assert updated.returncode == 0, updated.stderr
    assert kube_api.store.get("v1", "ConfigMap", "settings", "default")["data"] == {"a": "10"}
    assert owners(kube_api) == {("kubectl", "Apply"): {".metadata.labels.app", ".data.a"}}


def test_another_manager_with_a_different_value_conflicts_then_forces(kube_api):
    assert apply(kube_api, configmap_yaml(a="1", b="2")).returncode == 0
    refused = apply(kube_api, configmap_yaml(a="changed"), "--field-manager=helm")
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in refused.stderr
    assert kube_api.store.get("v1", "ConfigMap", "settings", "default")["data"] == {"a": "1", "b": "2"}

    forced = apply(kube_api, configmap_yaml(a="changed"), "--field-manager=helm", "--force-conflicts")
    assert forced.returncode == 0, forced.stderr
    assert kube_api.store.get("v1", "ConfigMap", "settings", "default")["data"] == {"a": "changed", "b": "2"}
    assert owners(kube_api) == {("kubectl", "Apply"): {".metadata.labels.app", ".data.b"},
                                ("helm", "Apply"): {".metadata.labels.app", ".data.a"}}


def test_the_same_value_is_shared_not_a_conflict(kube_api):
    assert apply(kube_api, configmap_yaml(a="1")).returncode == 0
    shared = apply(kube_api, configmap_yaml(a="1"), "--field-manager=other")
    assert shared.returncode == 0, shared.stderr
    assert owners(kube_api)[("other", "Apply")] == owners(kube_api)[("kubectl", "Apply")]


def test_fields_an_update_changed_conflict_with_their_updater_and_its_api_version(kube_api):
    assert apply(kube_api, configmap_yaml(a="1", b="2")).returncode == 0
    patched = kube_api.kubectl("patch", "configmap", "settings", "--type=merge", "-p",
                               '{"data": {"a": "by-hand", "b": "by-hand"}}')
    assert patched.returncode == 0, patched.stderr
    assert owners(kube_api)[("kubectl-patch", "Update")] == {".data.a", ".data.b"}
    assert owners(kube_api)[("kubectl", "Apply")] == {".metadata.labels.app"}  # an update takes the fields
    refused = apply(kube_api, configmap_yaml(a="1", b="2"))
    assert "Apply failed with 2 conflicts: conflicts with \"kubectl-patch\" using v1" in refused.stderr
    assert "- .data.a\n- .data.b" in refused.stderr


def test_apply_over_http_is_a_409_status_with_field_manager_conflict_causes(kube_api):
    url = f"{kube_api.url}/api/v1/namespaces/default/configmaps/settings"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    first = requests.patch(url, params={"fieldManager": "one"}, data=configmap_yaml(a="1"), headers=headers,
                           timeout=10)
    assert first.status_code == 201 and first.json()["metadata"]["managedFields"][0]["manager"] == "one"
    again = requests.patch(url, params={"fieldManager": "one"}, data=configmap_yaml(a="2"), headers=headers,
                           timeout=10)
    assert again.status_code == 200 and again.json()["data"] == {"a": "2"}
    conflict = requests.patch(url, params={"fieldManager": "two"}, data=configmap_yaml(a="3"), headers=headers,
                              timeout=10)
    status = conflict.json()
    assert conflict.status_code == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "one": .data.a'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "one"',
                                            "field": ".data.a"}]
    missing = requests.patch(url, data=configmap_yaml(a="3"), headers=headers, timeout=10)
    assert missing.status_code == 422
    assert missing.json()["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                         "is required for apply patch")


def test_apply_merges_containers_by_name_and_keeps_other_managers_fields(kube_api):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}}
    assert apply(kube_api, json.dumps(deployment)).returncode == 0
    scaled = kube_api.kubectl("scale", "deployment", "web", "--replicas=3")
    assert scaled.returncode == 0, scaled.stderr
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert apply(kube_api, json.dumps(deployment)).returncode == 0
    live = kube_api.store.get("apps/v1", "Deployment", "web", "default")
    assert live["spec"]["replicas"] == 3  # not applied, owned by nobody else's apply: kept
    assert live["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "nginx:2"}]
    applied = next(e for e in live["metadata"]["managedFields"] if e["operation"] == "Apply")
    containers = applied["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}


def test_a_crd_applied_by_a_client_is_served_at_once(kube_api):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                      "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}
    assert apply(kube_api, json.dumps(crd)).returncode == 0
    established = kube_api.kubectl("wait", "--for=condition=established", "crd/widgets.example.com", "--timeout=10s")
    assert established.returncode == 0, established.stderr
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"},
              "spec": {"size": 3}}
    created = apply(kube_api, json.dumps(widget))
    assert created.returncode == 0, created.stderr
    assert kube_api.store.get("example.com/v1", "Widget", "w", "default")["spec"] == {"size": 3}


@pytest.mark.parametrize("body", ["- not\n- an object\n", "a: [unclosed\n"])
def test_a_malformed_apply_body_is_400(kube_api, body):
    answer = requests.patch(f"{kube_api.url}/api/v1/namespaces/default/configmaps/x", params={"fieldManager": "m"},
                            data=body, headers={"Content-Type": "application/apply-patch+yaml"}, timeout=10)
    assert answer.status_code == 400


def test_a_watch_list_ends_its_initial_events_with_a_bookmark(kube_api):
    """client-go's watch-list (Helm's wait, kstatus): without the bookmark the client waits 30 s for it."""
    response = requests.get(f"{kube_api.url}/api/v1/namespaces/default/configmaps",
                            params={"watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                                    "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "1"},
                            stream=True, timeout=10)
    events = [json.loads(line) for line in response.iter_lines() if line]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["metadata"]["name"] == "kube-root-ca.crt"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) >= int(
        events[0]["object"]["metadata"]["resourceVersion"])


def test_managed_fields_a_client_writes_are_taken_as_given(kube_api):
    """Helm 4 moves a client-side-apply manager to server-side apply with a JSON patch of managedFields."""
    patched = kube_api.kubectl("create", "configmap", "settings", "--from-literal=a=1")
    assert patched.returncode == 0, patched.stderr
    entry = {"manager": "helm", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {"f:a": {}}}}
    moved = kube_api.kubectl("patch", "configmap", "settings", "--type=json", "-p",
                             json.dumps([{"op": "replace", "path": "/metadata/managedFields", "value": [entry]}]))
    assert moved.returncode == 0, moved.stderr
    assert owners(kube_api) == {("helm", "Apply"): {".data.a"}}
    refused = apply(kube_api, configmap_yaml(a="2"))
    assert 'Apply failed with 1 conflict: conflict with "helm": .data.a' in refused.stderr
