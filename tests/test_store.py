"""The object store every server and controller of the sandbox builds on."""

import pytest

from seatrial.fixtures.kubeapi.store import AlreadyExistsError, ConflictError, NotFoundError, ResourceType, Store

NS = ResourceType("", "v1", "Namespace", "namespaces", namespaced=False)
CM = ResourceType("", "v1", "ConfigMap", "configmaps", has_status=False)


@pytest.fixture
def store():
    s = Store()
    s.register(NS)
    s.register(CM)
    s.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    return s


def test_stale_resource_version_is_a_conflict(store):
    cm = store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "harbor"}})
    cm["data"] = {"k": "v"}
    store.replace(cm)
    with pytest.raises(ConflictError):
        store.replace(cm)  # same, now stale, resourceVersion


def test_create_twice_is_already_exists_and_missing_namespace_is_not_found(store):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "harbor"}}
    store.create(obj)
    with pytest.raises(AlreadyExistsError):
        store.create(obj)
    with pytest.raises(NotFoundError):
        store.create({**obj, "metadata": {"name": "a", "namespace": "absent"}})


def test_deleting_a_namespace_deletes_its_objects_and_notifies(store):
    seen = []
    store.subscribe(lambda event, obj, rtype: seen.append((event, obj["metadata"]["name"])))
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "harbor"}})
    store.delete("v1", "Namespace", "harbor")
    assert store.list("v1", "ConfigMap") == []
    assert ("DELETED", "a") in seen and ("DELETED", "harbor") in seen
