"""The real environment's informer (seatrial.fixtures.real.informer) against an API server (the sandbox's): what is
deleted while no watch runs is reported DELETED at the next list, so a pod's kubelet directory never outlives it."""

from __future__ import annotations

import threading

from kubernetes import client, config

from seatrial.fixtures.real.informer import Informer


def test_a_deletion_missed_between_watches_is_reported_at_the_next_list(kube_api):
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gap"}})
    with config.new_client_from_config(str(kube_api.kubeconfig), context=kube_api.context) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("gap", {"metadata": {"name": "stays"}})
        core.create_namespaced_config_map("gap", {"metadata": {"name": "goes"}})
        seen: list[tuple[str, str]] = []
        informer = Informer(lambda **kw: core.list_namespaced_config_map("gap", **kw),
                            lambda kind, obj: seen.append((kind, obj["metadata"]["name"])), name="gap",
                            stop=threading.Event())
        informer._list()  # the first list; the thread is not started, so no watch runs from here on
        core.delete_namespaced_config_map("goes", "gap")
        seen.clear()
        informer._list()  # the list after a gap
    assert ("DELETED", "goes") in seen and ("ADDED", "stays") in seen
    assert ("ADDED", "goes") not in seen
