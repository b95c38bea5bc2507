"""Chart hooks need Jobs that run to completion: a Job's pod runs, exits 0, the Job is Complete; deleting the
Job removes its pod. Through the real kubectl against a sandbox cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.harbor.pgdata import entrypoint_majors, start_database
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.cluster import SandboxCluster
from tests.test_sandbox_cluster import Kubectl, wait_for


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    with SandboxCluster("source", tmp_path) as cluster:
        yield Kubectl(write_kubeconfig(tmp_path / "kubeconfig", {"source": cluster.url}), "source")


JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "upgrade-crds", "namespace": "default"},
       "spec": {"backoffLimit": 3, "template": {"metadata": {"name": "upgrade-crds"}, "spec": {
           "restartPolicy": "OnFailure",
           "containers": [{"name": "velero", "image": "velero/velero:v1.16.2", "command": ["/bin/true"]}]}}}}


def test_a_job_runs_to_completion_and_takes_its_pod_when_deleted(kubectl: Kubectl, tmp_path: Path):
    manifest = tmp_path / "job.yaml"
    manifest.write_text(yaml.safe_dump(JOB))
    kubectl("create", "-f", str(manifest))
    job = wait_for("the Job to complete", lambda: (j := kubectl.json("get", "job", "upgrade-crds", "-n", "default"))
                   .get("status", {}).get("succeeded") == 1 and j)
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions == {"SuccessCriteriaMet": "True", "Complete": "True"}
    assert job["status"]["completionTime"] >= job["status"]["startTime"]
    pods = kubectl.json("get", "pods", "-n", "default", "-l", "job-name=upgrade-crds")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]
    assert pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    kubectl("wait", "--for=condition=complete", "job/upgrade-crds", "-n", "default", "--timeout=20s")
    kubectl("delete", "job", "upgrade-crds", "-n", "default")
    wait_for("the Job's pod to be collected", lambda: not kubectl.json(
        "get", "pods", "-n", "default", "-l", "job-name=upgrade-crds")["items"])


def test_a_daemonset_gets_one_pod_per_node(kubectl: Kubectl, tmp_path: Path):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"name": "agent"}}, "template": {
              "metadata": {"labels": {"name": "agent"}},
              "spec": {"containers": [{"name": "agent", "image": "velero/velero:v1.16.2"}]}}}}
    (tmp_path / "ds.json").write_text(json.dumps(ds))
    kubectl("create", "-f", str(tmp_path / "ds.json"))
    pods = wait_for("one running agent per node", lambda: len(items := [
        p for p in kubectl.json("get", "pods", "-n", "default", "-l", "name=agent")["items"]
        if p["status"]["phase"] == "Running"]) == 2 and items)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2"]


def test_harbor_db_entrypoint_upgrades_one_major_and_otherwise_starts_empty(tmp_path: Path):
    pgdata = tmp_path / "pgdata"
    first = start_database(pgdata, "2.8.6")  # PostgreSQL 13
    assert (first.action, first.directory.name) == ("initdb", "pg13")
    (first.directory / "harbor-twin-db.json").write_text("{}")
    upgraded = start_database(pgdata, "2.9.5")  # entrypoint "13" -> "14"
    assert (upgraded.action, upgraded.directory.name) == ("upgraded from pg13", "pg14")
    assert (upgraded.directory / "harbor-twin-db.json").exists() and not (pgdata / "pg13").exists()
    assert start_database(pgdata, "2.10.3").action == "existing"
    skipped = start_database(pgdata, "2.11.2")  # entrypoint "14" -> "15": pg14 is there, upgraded
    assert skipped.action == "upgraded from pg14"
    jump = tmp_path / "jump"
    start_database(jump, "2.8.6")
    empty = start_database(jump, "2.11.2")  # pg13 -> a "14","15" entrypoint: initdb, the pg13 data left unused
    assert empty.action == "initdb" and not any(empty.directory.iterdir()) and (jump / "pg13").is_dir()
    assert entrypoint_majors("v2.2.4").new == "96" and entrypoint_majors("2.3.5").old == "96"
    assert entrypoint_majors("2.15.2").new == "18"


def test_a_deleted_workload_takes_its_pods_unless_orphaned(kubectl: Kubectl, tmp_path: Path):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"name": "agent"}}, "template": {
              "metadata": {"labels": {"name": "agent"}},
              "spec": {"containers": [{"name": "agent", "image": "velero/velero:v1.16.2"}]}}}}
    (tmp_path / "ds.json").write_text(json.dumps(ds))

    def agents() -> list[dict]:
        return kubectl.json("get", "pods", "-n", "default", "-l", "name=agent")["items"]

    kubectl("create", "-f", str(tmp_path / "ds.json"))
    first = wait_for("two agents", lambda: len(items := agents()) == 2 and items)
    kubectl("delete", "daemonset", "agent", "-n", "default", "--cascade=orphan")
    def orphans() -> list[dict] | None:
        items = agents()
        return items if items and not any(p["metadata"].get("ownerReferences") for p in items) else None

    kept = wait_for("the orphans to lose their owner", orphans)
    assert {p["metadata"]["name"] for p in kept} == {p["metadata"]["name"] for p in first}  # the pods stayed
    kubectl("create", "-f", str(tmp_path / "ds.json"))
    adopted = wait_for("the new DaemonSet to count them", lambda: (kubectl.json(
        "get", "daemonset", "agent", "-n", "default").get("status") or {}).get("numberReady") == 2)
    assert adopted and {p["metadata"]["name"] for p in agents()} == {p["metadata"]["name"] for p in first}
    kubectl("delete", "daemonset", "agent", "-n", "default")
    wait_for("the pods to go with their DaemonSet", lambda: not agents())
