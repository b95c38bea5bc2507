"""What the checks say, on the sandbox and on the real environment: the clean preflight green on both, and each
planted defect caught by the same checks on both (tests/test_contract_real.py compares the Kubernetes behaviours
underneath). The defects are planted through the Kubernetes API, as a user's mistake would be, and taken back."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from kubernetes import client, config

from tests.contract_environments import both_environments
from tests.waiting import wait_for

pytestmark = pytest.mark.real
WAIT_S = 120.0


@pytest.fixture(scope="module")
def environments(request, tmp_path_factory):
    yield from both_environments(request, tmp_path_factory)


def failed_checks(environment, step: str = "preflight") -> list[str]:
    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(environment.config_path),
                           "verify", step], capture_output=True, text=True, timeout=600, check=False)
    summary = re.search(rf"{step}: (\d+) passed, (\d+) failed", done.stdout)
    assert summary, done.stdout[-2000:] + done.stderr[-2000:]
    return sorted(re.findall(rf"FAILED seatrial\.checks\.test_{step}::(\S+)", done.stdout))


def target(environment) -> client.ApiClient:
    return config.new_client_from_config(str(environment.kubeconfig), context="target", persist_config=False)


def _namespace_present(api: client.ApiClient) -> Callable[[], None]:
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "harbor"}})

    def undo() -> None:
        core.delete_namespace("harbor")
        wait_for("the namespace gone", lambda: [n for n in core.list_namespace().items
                                                if n.metadata.name == "harbor"], timeout=WAIT_S, interval=0.2,
                 done=lambda left: not left)
    return undo


def _storage_class_missing(api: client.ApiClient) -> Callable[[], None]:
    storage = client.StorageV1Api(api)
    kept = storage.read_storage_class("rook-ceph-block")
    storage.delete_storage_class("rook-ceph-block")

    def undo() -> None:
        kept.metadata.resource_version = None
        kept.metadata.uid = None
        kept.metadata.managed_fields = None
        storage.create_storage_class(kept)
    return undo


def _node_agent_nowhere(api: client.ApiClient) -> Callable[[], None]:
    apps = client.AppsV1Api(api)
    patch = {"spec": {"template": {"spec": {"nodeSelector": {"seatrial.io/nowhere": "true"}}}}}
    apps.patch_namespaced_daemon_set("node-agent", "velero", patch)
    wait_for("node-agent on no node", lambda: apps.read_namespaced_daemon_set("node-agent", "velero").status,
             timeout=WAIT_S, interval=0.2, done=lambda s: s and (s.desired_number_scheduled or 0) == 0)

    def undo() -> None:
        apps.patch_namespaced_daemon_set("node-agent", "velero", {"spec": {"template": {"spec": {
            "nodeSelector": {"seatrial.io/nowhere": None}}}}})
        wait_for("node-agent back", lambda: apps.read_namespaced_daemon_set("node-agent", "velero").status,
                 timeout=WAIT_S, interval=0.2, done=lambda s: s and (s.number_ready or 0) == 2)
    return undo


def _database_opted_out(api: client.ApiClient) -> Callable[[], None]:
    """On the source: the database pod opts its data volume out of file-system backup, undeclared."""
    core = client.CoreV1Api(api)
    key = "backup.velero.io/backup-volumes-excludes"
    core.patch_namespaced_pod("my-harbor-database-0", "harbor", {"metadata": {"annotations": {key: "database-data"}}})

    def undo() -> None:
        core.patch_namespaced_pod("my-harbor-database-0", "harbor", {"metadata": {"annotations": {key: None}}})
    return undo


ANNOTATE_DEFECTS = {
    "the database volume opted out without a word": (
        _database_opted_out, ["test_volume_covered[harbor/my-harbor-database-0:database-data]"]),
}


def source(environment) -> client.ApiClient:
    return config.new_client_from_config(str(environment.kubeconfig), context="source", persist_config=False)


DEFECTS: dict[str, tuple[Callable[[client.ApiClient], Callable[[], None]], list[str]]] = {
    "the target namespace exists": (_namespace_present, ["test_target_namespace_absent"]),
    "the source's StorageClass is missing on the target": (
        _storage_class_missing, ["test_storage_class_on_target[rook-ceph-block]"]),
    "no node-agent on the target's nodes": (_node_agent_nowhere, ["test_node_agent_ready[target]"]),
}


def test_the_clean_preflight_is_green_on_both(environments):
    assert {name: failed_checks(env) for name, env in environments.items()} == {"sandbox": [], "real": []}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_planted_defect_is_caught_by_the_same_checks_on_both(environments, defect):
    plant, expected = DEFECTS[defect]
    caught = {}
    for name, environment in environments.items():
        undo = plant(target(environment))
        try:
            caught[name] = failed_checks(environment)
        finally:
            undo()
    assert caught == {"sandbox": expected, "real": expected}


def test_the_clean_annotate_checks_are_green_on_both(environments):
    assert {name: failed_checks(env, "annotate") for name, env in environments.items()} == {"sandbox": [],
                                                                                           "real": []}


@pytest.mark.parametrize("defect", list(ANNOTATE_DEFECTS))
def test_a_planted_annotate_defect_is_caught_by_the_same_checks_on_both(environments, defect):
    plant, expected = ANNOTATE_DEFECTS[defect]
    caught = {}
    for name, environment in environments.items():
        undo = plant(source(environment))
        try:
            caught[name] = failed_checks(environment, "annotate")
        finally:
            undo()
    assert caught == {"sandbox": expected, "real": expected}
