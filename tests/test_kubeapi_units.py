"""Selectors and patch semantics of the test API server, as pure functions."""

import pytest

from seatrial.fixtures.kubeapi.patch import json_patch, merge_patch, strategic_merge_patch
from seatrial.fixtures.kubeapi.selectors import field_selector, label_selector
from seatrial.fixtures.kubeapi.store import BadRequestError, InvalidError

OBJ = {"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "front"}},
       "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(("selector", "matches"), [
    ("", True), ("app=web", True), ("app==web", True), ("app!=web", False), ("app in (web,db)", True),
    ("app notin (web)", False), ("tier", True), ("!tier", False), ("!missing", True), ("missing", False),
    ("app=web,tier=back", False), ("missing!=x", True),
])
def test_label_selector(selector, matches):
    assert label_selector(selector)(OBJ) is matches


def test_bad_label_selector_is_a_400():
    with pytest.raises(BadRequestError, match="label selector"):
        label_selector("app in web")


@pytest.mark.parametrize(("selector", "matches"), [
    ("metadata.name=a", True), ("metadata.namespace!=ns", False), ("status.phase==Running", True),
    ("spec.nodeName=n2", False), ("metadata.name=a,status.phase=Failed", False),
])
def test_field_selector(selector, matches):
    assert field_selector(selector)(OBJ) is matches


def test_merge_patch_is_rfc7386():
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "list": [3]}) == {"a": {"c": 2, "d": 3}, "list": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "list": [1, 2]}


def test_strategic_patch_merges_named_lists_and_replaces_others():
    target = {"spec": {"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "1"}],
                       "volumes": [{"name": "data", "emptyDir": {}}], "args": ["old"]}}
    patch = {"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}],
                      "volumes": [{"name": "data", "$patch": "delete"}], "args": ["new"],
                      "$setElementOrder/containers": [{"name": "a"}]}}
    assert strategic_merge_patch(target, patch) == {"spec": {
        "containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b", "image": "2"},
                       {"name": "c", "image": "3"}],
        "volumes": [], "args": ["new"]}}


def test_json_patch_add_remove_replace_test():
    doc = {"metadata": {"annotations": {"a": "1"}}, "items": [1, 2]}
    patched = json_patch(doc, [
        {"op": "add", "path": "/metadata/annotations/backup.velero.io~1backup-volumes", "value": "data"},
        {"op": "remove", "path": "/metadata/annotations/a"},
        {"op": "replace", "path": "/items/0", "value": 9},
        {"op": "add", "path": "/items/-", "value": 3},
        {"op": "test", "path": "/items/1", "value": 2},
    ])
    assert patched == {"metadata": {"annotations": {"backup.velero.io/backup-volumes": "data"}}, "items": [9, 2, 3]}
    with pytest.raises(InvalidError):
        json_patch(doc, [{"op": "test", "path": "/items/0", "value": 5}])
    with pytest.raises(BadRequestError):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])


def test_kubeconfig_has_one_context_per_cluster(tmp_path):
    from kubernetes import config

    from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig

    path = write_kubeconfig(tmp_path / "kc", {"source": "http://127.0.0.1:1", "target": "http://127.0.0.1:2"},
                            current="target")
    contexts, active = config.list_kube_config_contexts(str(path))
    assert sorted(c["name"] for c in contexts) == ["source", "target"] and active["name"] == "target"
    assert {c["context"]["cluster"] for c in contexts} == {"source", "target"}
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError, match="prod"):
        write_kubeconfig(tmp_path / "kc2", {"source": "http://127.0.0.1:1"}, current="prod")
