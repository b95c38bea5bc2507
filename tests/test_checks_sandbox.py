"""The checks against the sandbox: a clean migration passes every check; each planted failure makes its
own check fail with a message that names the object.

Failures are planted through the sandbox's real interfaces only: kubectl against its API servers, the S3
API (boto3), restic on the repository, the target registry's storage directory, and the Harbor API. Each
check module then runs as the runner runs it (`seatrial.runbook.migration.runner.run_checks`: `python -m pytest
checks/test_<step>.py --seatrial-config ... --junitxml ...`) and the tests read its JUnit file.

Plants are grouped so that one sandbox and one check run serve several failure classes; every group
also asserts that the checks it did not target still pass, so a check that fails for everything is caught.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import yaml

from seatrial.checks.repository import through_endpoint
from seatrial.fixtures.browser import page_text
from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.helm import Helm
from seatrial.runbook.config import Config, load_config
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.migration.report import write_report
from seatrial.runbook.migration.runner import run, run_checks
from seatrial.runbook.migration.steps import preflight
from seatrial.runbook.migration.steps.context import StepContext

NAMESPACE = "harbor"
VELERO_NS = "velero"
SOURCE_LB_IP = "192.0.2.10"


# ----------------------------------------------------------------------------- plumbing


@dataclass(frozen=True)
class Case:
    outcome: str  # passed | failed | skipped
    message: str


@dataclass
class Checked:
    """One check module's run, read from its JUnit file."""

    step: str
    exit_code: int
    cases: dict[str, Case] = field(default_factory=dict)  # test name with its id -> outcome
    output: str = ""
    not_judged: int = 0  # as the runner counts them

    def case(self, name: str) -> Case:
        assert name in self.cases, f"{name} did not run in {self.step}; ran: {sorted(self.cases)}\n{self.output}"
        return self.cases[name]

    def failed(self, name: str, *fragments: str) -> str:
        case = self.case(name)
        assert case.outcome == "failed", f"{self.step}: {name} {case.outcome}, expected failed\n{case.message}"
        for fragment in fragments:
            assert fragment in case.message, f"{self.step}: {name}: {fragment!r} not in:\n{case.message}"
        assert "observed:" in case.message and "fix:" in case.message, case.message
        assert "Traceback" not in case.message and "During handling" not in case.message, case.message
        return case.message

    def passed(self, name: str) -> None:
        case = self.case(name)
        assert case.outcome == "passed", f"{self.step}: {name} {case.outcome}, expected passed\n{case.message}"

    def failing(self) -> list[str]:
        return sorted(name for name, case in self.cases.items() if case.outcome != "passed")


def check(config: Config, step: str, *extra: str) -> Checked:
    """Run one step's check module exactly as the runner does and read every test case of its JUnit."""
    result = run_checks(StepContext(config, yes=True, out=lambda line: None), step, extra=extra)
    checked = Checked(step, result.exit_code, output=result.output, not_judged=result.not_judged)
    if result.junit is None:
        return checked
    for element in ET.parse(result.junit).getroot().iter("testcase"):
        problem = element.find("failure")
        if problem is None:
            problem = element.find("error")
        if problem is not None:
            outcome = "failed"
            message = (problem.get("message") or "") + "\n" + (problem.text or "")
        elif element.find("skipped") is not None:
            outcome, message = "skipped", element.find("skipped").get("message") or ""
        else:
            outcome, message = "passed", ""
        checked.cases[element.get("name")] = Case(outcome, message)
    return checked


def kubectl(sandbox: Sandbox, context: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([require_tool("kubectl"), f"--kubeconfig={sandbox.kubeconfig}", f"--context={context}",
                           f"--cache-dir={sandbox.root / 'kube-cache'}", *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def apply(sandbox: Sandbox, context: str, *objects: dict) -> None:
    kubectl(sandbox, context, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))


def get(sandbox: Sandbox, context: str, *args: str) -> dict:
    return json.loads(kubectl(sandbox, context, "get", *args, "-o", "json"))


def wait_for(what: str, probe: Callable[[], object], timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def s3(sandbox: Sandbox):
    return boto3.client("s3", endpoint_url=sandbox.s3_endpoint, region_name="us-east-1",
                        aws_access_key_id=sandbox.access_key.reveal(),
                        aws_secret_access_key=sandbox.secret_key.reveal())


def bucket_key(sandbox: Sandbox, *parts: str) -> str:
    return "/".join([p for p in (sandbox.prefix,) if p] + list(parts))


def harbor(sandbox: Sandbox, side: str) -> HarborClient:
    url = sandbox.source_harbor_url if side == "source" else sandbox.target_harbor_url
    return HarborClient(url, "admin", sandbox.admin_password)


def phase_of(sandbox: Sandbox, context: str, kind: str, name: str, namespace: str = VELERO_NS) -> str | None:
    return (get(sandbox, context, kind, name, "-n", namespace).get("status") or {}).get("phase")


def claim(name: str, storage_class: str, size: str = "1Gi") -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": size}}}}


def pod(name: str, claim_name: str, volume: str = "data") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                     "volumeMounts": [{"name": volume, "mountPath": "/data"}]}],
                     "volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim_name}}]}}


# ----------------------------------------------------------------------------- preflight plants


@dataclass
class PreflightPlants:
    checked: Checked
    backup_name: str
    annotated: Checked
    jobservice_pod: str


@pytest.fixture(scope="module")
def preflight_plants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreflightPlants]:
    """A sandbox of its own (nothing migrated), seven preflight failures planted at once, preflight's
    checks run once. The sandbox is stopped before the tests read the result."""
    require_tool("docker-registry")
    require_tool("kubectl")
    box = Sandbox(tmp_path_factory.mktemp("preflight-plants"), projects=1, repositories=1, artifacts=1).start()
    try:
        config = load_config(box.config_path)
        ctx = StepContext(config, yes=True, out=lambda line: None)
        preflight.apply(ctx)  # chooses and records the backup and restore names, as the runner would
        backup_name = ctx.journal.name("planned_backup")
        client = s3(box)
        # 1. a foreign top-level directory under the prefix: Velero marks the location Unavailable
        client.put_object(Bucket="velero", Key=bucket_key(box, "not-velero", "readme.txt"), Body=b"other data")
        # 2. the target's location on another prefix: it will never see the source's backups
        kubectl(box, "target", "-n", VELERO_NS, "patch", "backupstoragelocation", "default", "--type=merge",
                "-p", '{"spec":{"objectStorage":{"prefix":"elsewhere"}}}')
        # 3. another repository password on target
        other = base64.b64encode(b"not-the-source-password").decode()
        kubectl(box, "target", "-n", VELERO_NS, "patch", "secret", "velero-repo-credentials", "--type=merge",
                "-p", json.dumps({"data": {"repository-password": other}}))
        # 4. the target namespace exists already
        kubectl(box, "target", "create", "namespace", NAMESPACE)
        # 5. the planned backup name is already in the bucket
        client.put_object(Bucket="velero", Key=bucket_key(box, "backups", backup_name, "velero-backup.json"),
                          Body=json.dumps({"kind": "Backup", "metadata": {"name": backup_name}}).encode())
        # 6. the source's StorageClass is missing on target
        kubectl(box, "target", "delete", "storageclass", "rook-ceph-block")
        # 7. a pod that is not Running (its claim cannot bind): Velero would skip its volumes
        apply(box, "source", claim("stuck-data", "no-such-class"), pod("stuck-0", "stuck-data"))
        # 8. the target's Velero installed by the Helm chart as release velero-prod: no Deployment named velero
        server = _without_status(get(box, "target", "deployment", "velero", "-n", VELERO_NS))
        server["metadata"]["name"] = "velero-prod"
        server["metadata"]["labels"] = {**server["metadata"].get("labels", {}), "app.kubernetes.io/name": "velero"}
        apply(box, "target", server)
        kubectl(box, "target", "-n", VELERO_NS, "delete", "deployment", "velero")
        # 9. the source's Velero is v1.17 (kopia only) while the configuration says restic
        kubectl(box, "source", "-n", VELERO_NS, "patch", "deployment", "velero", "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "velero/velero:v1.17.2"}]))
        # 10. the node-agent kept off node-1 (a nodeSelector), where Trivy's and Redis' pods keep volumes
        kubectl(box, "source", "-n", VELERO_NS, "patch", "daemonset", "node-agent", "--type=merge", "-p",
                json.dumps({"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/hostname": "node-2"}}}}}))
        wait_for("the node-agent gone from node-1", lambda: not [
            p for p in get(box, "source", "pods", "-n", VELERO_NS, "-l", "name=node-agent")["items"]
            if p["spec"].get("nodeName") == "node-1"] and (get(box, "source", "daemonset", "node-agent", "-n",
                                                               VELERO_NS).get("status") or {}).get("numberReady") == 1)
        wait_for("target Velero server velero-prod ready", lambda: (get(box, "target", "deployment", "velero-prod",
                                                                        "-n", VELERO_NS).get("status") or {}).get(
            "readyReplicas") == 1)
        wait_for("source BSL Unavailable and target BSL revalidated", lambda: (
            phase_of(box, "source", "backupstoragelocation", "default") == "Unavailable"
            and (get(box, "target", "backupstoragelocation", "default", "-n", VELERO_NS).get("status") or {}).get(
                "phase") == "Available"), timeout=30)
        wait_for("the stuck pod Pending", lambda: (get(box, "source", "pod", "stuck-0", "-n", NAMESPACE).get(
            "status") or {}).get("phase") == "Pending", timeout=15)
        checked = check(config, "preflight")
        # 11. (annotate) a volume opted out by an annotation the configuration does not declare
        jobservice = next(p["metadata"]["name"] for p in get(box, "source", "pods", "-n", NAMESPACE)["items"]
                          if p["metadata"]["name"].startswith("my-harbor-jobservice-"))
        kubectl(box, "source", "-n", NAMESPACE, "annotate", "pod", jobservice,
                "backup.velero.io/backup-volumes-excludes=job-logs")
        annotated = check(config, "annotate")
    finally:
        box.stop()
    yield PreflightPlants(checked, backup_name, annotated, jobservice)


def test_preflight_flags_unavailable_storage_location(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_storage_location_available[source]", "BackupStorageLocation default",
                                    "Unavailable", "not-velero")
    preflight_plants.checked.passed("test_storage_location_available[target]")


def test_preflight_flags_locations_on_different_prefixes(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_storage_location_points_at_the_bucket[target]", "velero/elsewhere",
                                    "BackupStorageLocation default")
    preflight_plants.checked.passed("test_storage_location_points_at_the_bucket[source]")


def test_preflight_flags_different_repository_password(preflight_plants: PreflightPlants) -> None:
    message = preflight_plants.checked.failed("test_repository_password_equal", "velero-repo-credentials", "differs")
    assert "not-the-source-password" not in message and "static-passw0rd" not in message


def test_preflight_flags_existing_target_namespace(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_target_namespace_absent", "namespace harbor already exists")


def test_preflight_flags_backup_name_already_in_bucket(preflight_plants: PreflightPlants) -> None:
    name = preflight_plants.backup_name
    preflight_plants.checked.failed(f"test_name_unused[backup:{name}]", name,
                                    f"backups/{name}/velero-backup.json exists in the bucket")
    restore = [n for n in preflight_plants.checked.cases if n.startswith("test_name_unused[restore:")]
    assert len(restore) == 1 and preflight_plants.checked.cases[restore[0]].outcome == "passed"


def test_preflight_flags_storage_class_missing_on_target(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_storage_class_on_target[rook-ceph-block]", "'rook-ceph-block'",
                                    "does not exist on target", "storage_class_mapping")


def test_preflight_flags_pod_not_running(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_volume_can_be_file_system_backed_up[harbor/stuck-0:data]",
                                    "pod harbor/stuck-0 is not Running", "phase=Pending")
    preflight_plants.checked.passed("test_volume_can_be_file_system_backed_up[harbor/my-harbor-database-0:"
                                    "database-data]")


def test_annotate_flags_an_opt_out_the_configuration_does_not_declare(preflight_plants: PreflightPlants) -> None:
    pod_name = preflight_plants.jobservice_pod
    preflight_plants.annotated.failed(f"test_volume_covered[harbor/{pod_name}:job-logs]",
                                      f"harbor/{pod_name}:job-logs (PVC my-harbor-jobservice) would not be backed up",
                                      "volumes.exclude does not list it",
                                      f"kubectl -n harbor annotate pod {pod_name} "
                                      "backup.velero.io/backup-volumes-excludes-",
                                      "'my-harbor-jobservice:job-logs'")
    # Redis's volume is excluded by the configuration: deliberate, so it passes
    preflight_plants.annotated.passed("test_volume_covered[harbor/my-harbor-redis-0:data]")
    assert preflight_plants.annotated.failing() == [f"test_volume_covered[harbor/{pod_name}:job-logs]"]


def test_preflight_finds_a_velero_server_not_named_velero(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.passed("test_velero_server_ready[target]")  # velero-prod, by its labels and command
    preflight_plants.checked.passed("test_uploader_supported_by_the_server[target]")


def test_preflight_refuses_restic_on_velero_1_17(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_uploader_supported_by_the_server[source]", "Velero v1.17.2 cannot back up "
                                    "with restic", "velero/velero:v1.17.2", "set velero.uploader: kopia")


def test_preflight_flags_a_node_without_node_agent(preflight_plants: PreflightPlants) -> None:
    preflight_plants.checked.failed("test_node_agent_on_the_nodes_of_the_volumes[node-1]",
                                    "no running node-agent on node node-1", "my-harbor-trivy-0",
                                    "node-agent pods run on: ['node-2']", "nodeSelector")
    preflight_plants.checked.passed("test_node_agent_on_the_nodes_of_the_volumes[node-2]")
    preflight_plants.checked.passed("test_node_agent_ready[source]")  # ready everywhere it runs: not enough


def test_preflight_plants_leave_the_other_checks_green(preflight_plants: PreflightPlants) -> None:
    checked = preflight_plants.checked
    assert checked.exit_code == 1
    for name in ("test_velero_server_ready[source]", "test_velero_server_ready[target]",
                 "test_node_agent_ready[source]", "test_node_agent_ready[target]",
                 "test_harbor_credentials_authenticate[source]"):
        checked.passed(name)


# ----------------------------------------------------------------------------- the migration's sandbox


@pytest.fixture(scope="module")
def migration_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox of this module's own: the migration changes it for good (the session `sandbox` is shared)."""
    require_tool("docker-registry")
    require_tool("restic")
    require_tool("kubectl")
    # the target has another StorageClass than the source: volumes.storage_class_mapping must be applied
    box = Sandbox(tmp_path_factory.mktemp("migration"), target_storage_classes=("ceph-ssd",),
                  storage_class_mapping={"rook-ceph-block": "ceph-ssd"}).start()
    try:
        yield box
    finally:
        box.stop()


# ----------------------------------------------------------------------------- backup plants


OPT_IN = "backup.velero.io/backup-volumes"


@dataclass
class BackupPlants:
    checked: Checked
    backup: str
    trap_pod: str  # the registry pod, opt-in annotation naming its PVC
    agentless_node: str
    agentless_pods: list[str]
    removed_side_file: str
    removed_item: str
    forgotten: str  # "<pod>:<volume>" whose restic snapshot was forgotten


def _without_status(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items()
            if k not in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def _drop_tarball_item(sandbox: Sandbox, backup: str, group_resource: str, name: str) -> None:
    """Rewrite the backup tarball in the bucket without one object (both of its version paths)."""
    client, key = s3(sandbox), bucket_key(sandbox, "backups", backup, f"{backup}.tar.gz")
    original = client.get_object(Bucket="velero", Key=key)["Body"].read()
    rewritten, dropped = io.BytesIO(), 0
    with tarfile.open(fileobj=io.BytesIO(original), mode="r:gz") as source, \
            tarfile.open(fileobj=rewritten, mode="w:gz") as target:
        for member in source.getmembers():
            parts = member.name.split("/")
            if len(parts) > 2 and parts[1] == group_resource and parts[-1] == f"{name}.json":
                dropped += 1
                continue
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    assert dropped, f"{group_resource}/{name} is not in {key}"
    client.put_object(Bucket="velero", Key=key, Body=rewritten.getvalue())


def _restic(sandbox: Sandbox, repository: str, *args: str) -> str:
    password = base64.b64decode(get(sandbox, "source", "secret", "velero-repo-credentials", "-n", VELERO_NS)[
        "data"]["repository-password"]).decode()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(sandbox.root),
           "RESTIC_PASSWORD": password, "AWS_ACCESS_KEY_ID": sandbox.access_key.reveal(),
           "AWS_SECRET_ACCESS_KEY": sandbox.secret_key.reveal(), "AWS_DEFAULT_REGION": "us-east-1",
           "RESTIC_CACHE_DIR": str(sandbox.root / "restic-test-cache")}
    done = subprocess.run([require_tool("restic"), "-r", repository, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def backup_plants(migration_box: Sandbox) -> Iterator[BackupPlants]:
    """A backup made by hand (`kubectl create`, opt-in mode) of the migrated source, with five failures:
    the registry pod opted in by its PVC name, the node-agent gone from one node, then a side file
    deleted from the bucket, a ConfigMap cut out of the tarball and one PVB's snapshot forgotten in the
    restic repository. The backup module's checks run once, for that backup (before the migration, which
    they leave as they found it: annotations removed, node-agent back)."""
    box = migration_box
    config = load_config(box.config_path)
    pods = get(box, "source", "pods", "-n", NAMESPACE)["items"]
    registry_pod = next(p for p in pods if p["metadata"]["name"].startswith("my-harbor-registry-"))
    database_node = next(p for p in pods if p["metadata"]["name"] == "my-harbor-database-0")["spec"]["nodeName"]
    agentless_node = next(n["metadata"]["name"] for n in get(box, "source", "nodes")["items"]
                          if n["metadata"]["name"] != database_node)
    # a pod pinned to that node, its scratch volume opted in: the node-agent is needed there
    apply(box, "source", {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "agentless-probe", "namespace": NAMESPACE, "annotations": {OPT_IN: "scratch"}},
        "spec": {"nodeName": agentless_node, "containers": [{"name": "main", "image": "busybox:1.36",
                                                             "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
                 "volumes": [{"name": "scratch", "emptyDir": {}}]}})
    wait_for("agentless-probe Running", lambda: (get(box, "source", "pod", "agentless-probe", "-n", NAMESPACE).get(
        "status") or {}).get("phase") == "Running", timeout=15)
    # opt-in by pod VOLUME name everywhere, except the registry pod: its PVC name (the classic trap)
    annotated = []
    for item in pods:
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in item["spec"].get("volumes") or []
                  if v.get("persistentVolumeClaim")}
        if not claims:
            continue
        trap = item["metadata"]["name"].startswith("my-harbor-registry-")  # both replicas: one shared PVC
        value = ",".join(claims.values() if trap else claims.keys())
        kubectl(box, "source", "-n", NAMESPACE, "annotate", "pod", item["metadata"]["name"], f"{OPT_IN}={value}",
                "--overwrite")
        annotated.append(item["metadata"]["name"])
    # the node-agent gone from one node: delete the DaemonSet but keep its pods, then that node's pod
    daemonset = get(box, "source", "daemonset", "node-agent", "-n", VELERO_NS)
    kubectl(box, "source", "-n", VELERO_NS, "delete", "daemonset", "node-agent", "--cascade=orphan")
    agent = next(p for p in get(box, "source", "pods", "-n", VELERO_NS, "-l", "name=node-agent")["items"]
                 if p["spec"].get("nodeName") == agentless_node)
    kubectl(box, "source", "-n", VELERO_NS, "delete", "pod", agent["metadata"]["name"])
    agentless_pods = sorted(p["metadata"]["name"] for p in pods if p["spec"].get("nodeName") == agentless_node)
    agentless_pods.append("agentless-probe")
    name = f"by-hand-{secrets.token_hex(3)}"
    # Harbor's backup guide labels what Velero must leave out: not a missing object
    apply(box, "source", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "left-out", "namespace": NAMESPACE, "labels": {"velero.io/exclude-from-backup": "true"}},
        "data": {"k": "v"}})
    try:
        apply(box, "source", {"apiVersion": "velero.io/v1", "kind": "Backup",
                              "metadata": {"name": name, "namespace": VELERO_NS},
                              "spec": {"includedNamespaces": [NAMESPACE], "defaultVolumesToFsBackup": False,
                                       "snapshotVolumes": False, "storageLocation": "default"}})
        wait_for(f"Backup {name} to finish", lambda: phase_of(box, "source", "backup", name) in (
            "Completed", "PartiallyFailed", "Failed"), timeout=120)
        # damage what the backup left in the bucket and the repository
        side_file = f"{name}-resource-list.json.gz"
        s3(box).delete_object(Bucket="velero", Key=bucket_key(box, "backups", name, side_file))
        _drop_tarball_item(box, name, "configmaps", "my-harbor-core")
        pvbs = [p for p in get(box, "source", "podvolumebackups", "-n", VELERO_NS,
                               "-l", f"velero.io/backup-name={name}")["items"]
                if (p.get("status") or {}).get("phase") == "Completed" and (p.get("status") or {}).get("snapshotID")
                and p["spec"]["pod"]["name"] not in agentless_pods]
        assert pvbs, "no completed PodVolumeBackup to forget"
        victim = pvbs[0]
        # Velero's address names the in-cluster S3 host; from here the bucket is at the sandbox's endpoint
        _restic(box, through_endpoint(victim["spec"]["repoIdentifier"], box.s3_endpoint), "forget",
                victim["status"]["snapshotID"])
        # checked while the pods still carry the annotations the backup saw
        checked = check(config, "backup", f"--seatrial-backup={name}")
    finally:
        apply(box, "source", _without_status(daemonset))
        for pod_name in annotated:
            kubectl(box, "source", "-n", NAMESPACE, "annotate", "pod", pod_name, f"{OPT_IN}-")
        kubectl(box, "source", "-n", NAMESPACE, "delete", "pod", "agentless-probe", "--wait=false")
        wait_for("node-agent back on every node", lambda: (lambda st: st.get("numberReady") == st.get(
            "desiredNumberScheduled") > 0)(get(box, "source", "daemonset", "node-agent", "-n", VELERO_NS).get(
                "status") or {}), timeout=30)
    yield BackupPlants(checked, name, registry_pod["metadata"]["name"], agentless_node, agentless_pods, side_file,
                       "configmaps/harbor/my-harbor-core",
                       f"{victim['spec']['pod']['name']}:{victim['spec']['volume']}")


def test_backup_names_the_volume_annotated_with_its_pvc_name(backup_plants: BackupPlants) -> None:
    pod_name = backup_plants.trap_pod
    backup_plants.checked.failed(
        f"test_volume_backed_up[harbor/{pod_name}:registry-data]",
        f"harbor/{pod_name}:registry-data (PVC my-harbor-registry) was not backed up",
        "kubectl -n harbor patch deployment my-harbor-registry",
        '"backup.velero.io/backup-volumes":"registry-data"', "the pod VOLUME name, not the PVC name")
    # the same fact seen in the bucket's volumeinfo: reported once, by test_volume_backed_up
    _not_judged(backup_plants.checked, "test_no_volume_silently_skipped[harbor/my-harbor-registry]",
                f"reported by test_volume_backed_up[harbor/{pod_name}:registry-data]")
    backup_plants.checked.passed("test_volume_backed_up[harbor/my-harbor-database-0:database-data]")


def test_backup_partially_failed_without_node_agent(backup_plants: BackupPlants) -> None:
    message = backup_plants.checked.failed("test_backup_completed", f"Backup {backup_plants.backup} did not complete",
                                           "phase=PartiallyFailed")
    assert "errors=" in message
    backup_plants.checked.failed("test_backup_has_no_errors",
                                 f"daemonset pod not found in running state in node {backup_plants.agentless_node}")


def test_backup_flags_a_source_harbor_writable_during_the_backup(backup_plants: BackupPlants) -> None:
    # made by hand, with no freeze recorded and the source Harbor writable: pushes during it would be lost
    backup_plants.checked.failed("test_source_read_only_during_backup", "source Harbor is not read-only",
                                 "read_only=False", "run the freeze step")


def test_backup_names_the_side_file_missing_from_the_bucket(backup_plants: BackupPlants) -> None:
    backup_plants.checked.failed("test_bucket_holds_full_layout", backup_plants.removed_side_file)


def test_backup_names_the_object_missing_from_the_tarball(backup_plants: BackupPlants) -> None:
    backup_plants.checked.failed(f"test_tarball_holds_object[{backup_plants.removed_item}]",
                                 "configmaps harbor/my-harbor-core exists on the source but is not in the backup "
                                 "tarball")
    backup_plants.checked.passed("test_tarball_holds_object[configmaps/harbor/my-harbor-jobservice]")
    # labelled velero.io/exclude-from-backup: Velero leaves it out on purpose, not judged against the tarball
    assert not any("left-out" in n for n in backup_plants.checked.cases), \
        sorted(n for n in backup_plants.checked.cases if "configmaps" in n)


def test_backup_names_the_snapshot_missing_from_the_repository(backup_plants: BackupPlants) -> None:
    backup_plants.checked.failed(f"test_snapshot_in_repository[{backup_plants.forgotten}]",
                                 "which is not in the restic repository")
    planted = f"test_snapshot_in_repository[{backup_plants.forgotten}]"
    others = [n for n in backup_plants.checked.cases if n.startswith("test_snapshot_in_repository[") and n != planted]
    assert others and all(backup_plants.checked.cases[n].outcome == "passed" for n in others), others


def test_a_volume_opted_out_by_hand_gets_the_exclusion_fix(migration_box: Sandbox) -> None:
    """seatrial's backups cover every volume (defaultVolumesToFsBackup) and leave out only volumes.exclude: a
    volume someone opted out with the exclusion annotation is told to remove it, never to add the opt-in one."""
    box = migration_box
    pods = get(box, "source", "pods", "-n", NAMESPACE)["items"]
    replicas = sorted(p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("my-harbor-registry-"))
    registry_pod = replicas[0]
    for replica in replicas:  # both: they share one PVC, which Velero would back up from the other
        kubectl(box, "source", "-n", NAMESPACE, "annotate", "pod", replica,
                "backup.velero.io/backup-volumes-excludes=registry-data", "--overwrite")
    name = f"opted-out-{secrets.token_hex(3)}"
    try:
        apply(box, "source", {"apiVersion": "velero.io/v1", "kind": "Backup",
                              "metadata": {"name": name, "namespace": VELERO_NS},
                              "spec": {"includedNamespaces": [NAMESPACE], "defaultVolumesToFsBackup": True,
                                       "snapshotVolumes": False, "storageLocation": "default"}})
        wait_for(f"Backup {name} to finish", lambda: phase_of(box, "source", "backup", name) in (
            "Completed", "PartiallyFailed", "Failed"), timeout=120)
        checked = check(load_config(box.config_path), "backup", f"--seatrial-backup={name}")
    finally:
        for replica in replicas:
            kubectl(box, "source", "-n", NAMESPACE, "annotate", "pod", replica,
                    "backup.velero.io/backup-volumes-excludes-")
    message = checked.failed(f"test_volume_backed_up[harbor/{registry_pod}:registry-data]", "opts it out",
                             "volumes.exclude does not list it", "backup.velero.io/backup-volumes-excludes-",
                             "'my-harbor-registry:registry-data' in volumes.exclude")
    fix = message.split("fix:", 1)[1]
    assert "backup.velero.io/backup-volumes=" not in fix and '"backup.velero.io/backup-volumes"' not in fix, fix
    skipped = checked.cases.get("test_no_volume_silently_skipped[harbor/my-harbor-registry]")
    if skipped is not None:  # Velero's volumeinfo lists the opted-out volume as skipped: the same fact, once
        _not_judged(checked, "test_no_volume_silently_skipped[harbor/my-harbor-registry]",
                    f"reported by test_volume_backed_up[harbor/{registry_pod}:registry-data]")
    checked.passed("test_volume_backed_up[harbor/my-harbor-database-0:database-data]")


# ----------------------------------------------------------------------------- a clean migration


@dataclass
class Migration:
    sandbox: Sandbox
    config: Config
    backup: str
    restore: str
    seconds: float
    log: list[str]


@pytest.fixture(scope="module")
def migrated(migration_box: Sandbox) -> Migration:
    """The sandbox after the whole seatrial.runbook ran green: every step applied and gated by its checks."""
    sandbox = migration_box
    config = load_config(sandbox.config_path)
    lines: list[str] = []
    started = time.monotonic()
    code = run(StepContext(config, yes=True, out=lines.append))
    assert code == 0, "the clean migration did not go green:\n" + "\n".join(lines)
    journal = StepContext(config).journal
    return Migration(sandbox, config, journal.name("backup"), journal.name("restore"), time.monotonic() - started,
                     lines)


def test_clean_migration_passes_every_check(migrated: Migration, tmp_path: Path) -> None:
    junit = tmp_path / "all.xml"
    done = subprocess.run([os.sys.executable, "-m", "pytest", "seatrial/checks/",
                           f"--seatrial-config={migrated.config.path}",
                           "-p", "no:cacheprovider", "-o", "addopts=", "-o", "junit_family=xunit2",
                           f"--junitxml={junit}"],
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    names = {case.get("classname") + "::" + case.get("name") for case in cases}
    # the chart-upgrade guard's checks are not asked for in a migration: skipped, saying so, and only them
    not_asked = [c for c in cases
                 if c.get("classname") == "seatrial.checks.test_upgrade_plan" and c.find("skipped") is not None
                 and "no upgrade plan given" in (c.find("skipped").get("message") or "")]
    not_passed = [c.get("name") for c in cases if c not in not_asked and (
        c.find("skipped") is not None or c.find("failure") is not None or c.find("error") is not None)]
    assert not not_passed, not_passed
    for module in ("preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw_target", "verify_harbor"):
        assert any(name.startswith(f"seatrial.checks.test_{module}::") for name in names), module
    # one test per object, parametrized from the live clusters and the golden inventory
    assert any("test_volume_backed_up[harbor/my-harbor-database-0:database-data]" in n for n in names), names
    assert any("test_artifact_pulls_with_verified_digests[seed-1/repo-1@sha256:" in n for n in names), names
    # what real clusters have and the sandbox now has too (fidelity-audit.md S2-S4, S7): each passed above
    assert any("test_artifact_pulls_with_verified_digests[seed-1/multi-arch@sha256:" in n for n in names), names
    registry_volumes = [n for n in names if "test_volume_backed_up[harbor/my-harbor-registry-" in n]
    assert len(registry_volumes) == 2, registry_volumes  # two replicas, one RWX PVC backed up once
    assert any("test_volume_backed_up[harbor/my-harbor-jobservice-" in n for n in names), names  # an empty volume
    root_ca = get(migrated.sandbox, "target", "configmap", "kube-root-ca.crt", "-n", NAMESPACE)  # the target's own
    assert root_ca["data"]["ca.crt"] != get(migrated.sandbox, "source", "configmap", "kube-root-ca.crt", "-n",
                                            NAMESPACE)["data"]["ca.crt"]
    assert f"seatrial: backup {migrated.backup}, restore {migrated.restore}" in done.stdout
    # the releases, as the real Helm engine reads them: Velero on both clusters, and Harbor on the target too
    # (its release Secret travelled with the namespace)
    for context, namespace, release in (("source", "velero", "velero"), ("target", "velero", "velero"),
                                        ("source", NAMESPACE, "my-harbor"), ("target", NAMESPACE, "my-harbor")):
        with Helm(migrated.sandbox.kubeconfig, context, namespace=namespace) as engine:
            assert engine.status(release)["status"] == "deployed", (context, release)
    assert "warning" not in done.stdout.splitlines()[-1], done.stdout[-3000:]
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["seatrial.backup"] == migrated.backup and properties["seatrial.restore"] == migrated.restore
    first = migrated.sandbox.pushed[0]
    assert properties[f"test_artifact_present[{first.full_repository}@{first.digest[:19]}].digest"] == first.digest




# ----------------------------------------------------------------------------- cascades: one root cause each


def _variant(migrated: Migration, root: Path, harbor_password: str | None = None,
             repository_password_env: str | None = None) -> Config:
    """The migration's configuration with its own run directory (a copy of the journal, inventories and JUnit
    files, so the plants' JUnit files do not replace the migration's) and, optionally, other credentials."""
    data = yaml.safe_load(Path(migrated.config.path).read_text())
    run_dir = root / "run"
    shutil.copytree(migrated.config.run_dir, run_dir, ignore=shutil.ignore_patterns("*.lock"))
    data["run_dir"] = str(run_dir)
    if harbor_password is not None:
        (root / "wrong-password").write_text(harbor_password + "\n")
        (root / "wrong-password").chmod(0o600)
        data["harbor"]["password_file"] = str(root / "wrong-password")
    if repository_password_env is not None:
        data["velero"]["repository_password_env"] = repository_password_env
    path = root / "seatrial.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def _not_judged(checked: Checked, name: str, cause: str) -> None:
    case = checked.case(name)
    assert case.outcome == "skipped" and case.message.startswith(f"not judged: {cause}"), (name, case)


def test_wrong_harbor_credentials_are_one_root_cause(migrated: Migration, tmp_path: Path) -> None:
    wrong = "wrong-password-" + secrets.token_hex(4)
    variant = _variant(migrated, tmp_path, harbor_password=wrong)
    checked = check(variant, "verify-harbor")
    assert checked.exit_code == 1, checked.output
    failing = [name for name, case in checked.cases.items() if case.outcome == "failed"]
    assert failing == ["test_target_credentials_authenticate"], checked.output
    assert next(iter(checked.cases)) == "test_target_credentials_authenticate"  # reported first
    checked.failed("test_target_credentials_authenticate", "do not authenticate", "401",
                   "the restored database carries the SOURCE's users")
    cause = f"target Harbor {migrated.config.harbor.target_url}: the credentials of user 'admin' do not authenticate"
    dependents = [n for n in checked.cases if n.startswith(("test_project_present[", "test_artifact_present[",
                                                           "test_artifact_pulls_with_verified_digests["))]
    assert len(dependents) >= 19, dependents
    for name in [*dependents, "test_canary_push_and_pull"]:
        _not_judged(checked, name, cause)
    assert checked.not_judged == len(dependents) + 1  # the runner says how many wait on the root cause
    checked.passed("test_target_harbor_healthy")  # /health needs no login: judged, and green
    assert wrong not in checked.output and all(wrong not in c.message for c in checked.cases.values())
    # the report of these real checks, as a reader sees it in a browser
    _, page = write_report(variant, Journal(variant.run_dir), live=False)
    text = page_text(page)
    assert text.startswith("seatrial report FAILED 1 check failed, the first in verify-harbor"), text[:400]
    assert "verify-harbor · test_target_credentials_authenticate" in text and cause in text
    assert f"{len(dependents) + 1} × not judged: {cause}" in text
    assert "my-harbor-database-0 database-data database-data-my-harbor-database-0" in text
    assert "identical (" in text  # the sandbox compares each restored volume with its snapshot, file by file
    assert wrong not in page.read_text() and wrong not in (variant.run_dir / "report.md").read_text()


def test_a_missing_tarball_is_one_root_cause(migrated: Migration, tmp_path: Path) -> None:
    box = migrated.sandbox
    client, key = s3(box), bucket_key(box, "backups", migrated.backup, f"{migrated.backup}.tar.gz")
    kept = client.get_object(Bucket="velero", Key=key)["Body"].read()
    client.delete_object(Bucket="velero", Key=key)
    try:
        checked = check(_variant(migrated, tmp_path), "backup")
    finally:
        client.put_object(Bucket="velero", Key=key, Body=kept)
    failing = [name for name, case in checked.cases.items() if case.outcome == "failed"]
    assert failing == ["test_bucket_holds_full_layout"], checked.output
    message = checked.failed("test_bucket_holds_full_layout", f"the backup tarball of {migrated.backup} is missing",
                             f"{migrated.backup}.tar.gz absent", "removed after Velero wrote it")
    assert "storage.prefix" not in message  # the backup's directory is there: the prefix is right
    items = [n for n in checked.cases if n.startswith("test_tarball_holds_object[")]
    assert len(items) >= 30, items
    for name in items:
        _not_judged(checked, name, f"the backup tarball of {migrated.backup} is missing")
    checked.passed("test_backup_completed")


def test_a_wrong_backup_name_is_one_root_cause(migrated: Migration, tmp_path: Path) -> None:
    checked = check(_variant(migrated, tmp_path), "backup", "--seatrial-backup=no-such-backup")
    failing = [name for name, case in checked.cases.items() if case.outcome == "failed"]
    assert failing == ["test_backup_completed"], checked.output
    message = checked.failed("test_backup_completed", "Backup no-such-backup (from --seatrial-backup) does not exist",
                             migrated.backup, "--seatrial-backup NAME")
    assert "patch" not in message and "StatefulSet" not in message
    skipped = [n for n, case in checked.cases.items() if case.outcome == "skipped"]
    assert len(skipped) >= 10 and len(skipped) == len(checked.cases) - 1, checked.cases
    for name in skipped:
        _not_judged(checked, name, "source: Backup no-such-backup")


def test_an_unreadable_repository_is_one_root_cause_of_its_own(migrated: Migration, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "not-the-repository-password-" + secrets.token_hex(4)
    monkeypatch.setenv("SEATRIAL_TEST_REPOSITORY_PASSWORD", wrong)  # the checks' process inherits it
    checked = check(_variant(migrated, tmp_path, repository_password_env="SEATRIAL_TEST_REPOSITORY_PASSWORD"),
                    "backup")
    failing = [name for name, case in checked.cases.items() if case.outcome == "failed"]
    # no check's own subject is the repository: the cause is an item of its own, first
    assert failing == ["root_cause[backup-repository]"], checked.output
    assert next(iter(checked.cases)) == "root_cause[backup-repository]"
    checked.failed("root_cause[backup-repository]", f"the restic repository of namespace {NAMESPACE} cannot be read")
    snapshots = [n for n in checked.cases if n.startswith("test_snapshot_in_repository[")]
    assert len(snapshots) >= 3, snapshots
    for name in snapshots:
        _not_judged(checked, name, f"the restic repository of namespace {NAMESPACE} cannot be read")
    checked.passed("test_backup_completed")
    assert wrong not in checked.output and all(wrong not in c.message for c in checked.cases.values())


def test_an_object_created_after_the_backup_is_told_so(migrated: Migration, tmp_path: Path) -> None:
    box = migrated.sandbox
    apply(box, "source", {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "made-after-backup", "namespace": NAMESPACE}, "data": {"k": "v"}})
    try:
        checked = check(_variant(migrated, tmp_path), "backup")
    finally:
        kubectl(box, "source", "-n", NAMESPACE, "delete", "configmap", "made-after-backup")
    message = checked.failed("test_tarball_holds_object[configmaps/harbor/made-after-backup]",
                             "configmaps harbor/made-after-backup exists on the source but is not in the backup",
                             "after the backup started", "back up again")
    assert "label selector" not in message
    assert checked.failing() == ["test_tarball_holds_object[configmaps/harbor/made-after-backup]"], checked.output


# ----------------------------------------------------------------------------- restore-side plants


@dataclass
class RestorePlants:
    again: Checked  # restore checks for a second restore over the existing namespace
    restore: Checked  # restore checks for the migration's restore, with the target damaged
    fixup: Checked
    thaw: Checked
    second_restore: str
    lost_pvb: str


@pytest.fixture(scope="module")
def restore_plants(migrated: Migration) -> Iterator[RestorePlants]:
    """On the migrated target: a second Restore over the existing namespace ("already exists"), a source
    PVC whose twin on target is Pending, an extra PVC only on target, a pod that is not Ready, the Service
    back on the source's loadBalancerIP and Harbor read-only again. Undone afterwards (the Harbor plants
    come last)."""
    box, config = migrated.sandbox, migrated.config
    again = f"again-{secrets.token_hex(3)}"
    apply(box, "target", {"apiVersion": "velero.io/v1", "kind": "Restore",
                          "metadata": {"name": again, "namespace": VELERO_NS},
                          "spec": {"backupName": migrated.backup, "includedNamespaces": [NAMESPACE]}})
    wait_for(f"Restore {again} to finish", lambda: phase_of(box, "target", "restore", again) in (
        "Completed", "PartiallyFailed", "Failed", "FailedValidation"), timeout=120)
    apply(box, "source", claim("late-data", "rook-ceph-block"))
    apply(box, "target", claim("late-data", "no-such-class"), pod("stuck-0", "late-data"),
          claim("leftover-cache", "ceph-ssd"))
    kubectl(box, "target", "-n", NAMESPACE, "patch", "service", "my-harbor", "--type=merge",
            "-p", json.dumps({"spec": {"loadBalancerIP": SOURCE_LB_IP}}))
    # a PodVolumeBackup the target's backup sync lost (the restore would not have restored that volume)
    lost = next(p for p in get(box, "target", "podvolumebackups", "-n", VELERO_NS,
                               "-l", f"velero.io/backup-name={migrated.backup}")["items"]
                if p["spec"]["volume"] == "database-data")
    kubectl(box, "target", "-n", VELERO_NS, "delete", "podvolumebackup", lost["metadata"]["name"])
    target_harbor = harbor(box, "target")
    target_harbor.set_read_only(True)
    try:
        wait_for("late-data Bound on source", lambda: (get(box, "source", "pvc", "late-data", "-n", NAMESPACE).get(
            "status") or {}).get("phase") == "Bound", timeout=15)
        plants = RestorePlants(check(config, "restore", f"--seatrial-restore={again}"), check(config, "restore"),
                               check(config, "fixup"), check(config, "thaw-target"), again, lost["metadata"]["name"])
    finally:
        target_harbor.set_read_only(False)
        kubectl(box, "target", "-n", NAMESPACE, "patch", "service", "my-harbor", "--type=merge",
                "-p", json.dumps({"spec": {"loadBalancerIP": "198.51.100.10"}}))
        kubectl(box, "target", "-n", NAMESPACE, "delete", "pod/stuck-0", "pvc/late-data", "pvc/leftover-cache",
                "--wait=false")
        kubectl(box, "source", "-n", NAMESPACE, "delete", "pvc/late-data", "--wait=false")
    yield plants


def test_restore_over_an_existing_namespace_is_flagged(restore_plants: RestorePlants) -> None:
    restore_plants.again.failed("test_restore_created_everything", f"Restore {restore_plants.second_restore}",
                                "already exists", "skipped them")
    restore_plants.restore.passed("test_restore_created_everything")


def test_restore_flags_a_pod_volume_backup_the_target_never_got(restore_plants: RestorePlants) -> None:
    restore_plants.restore.failed("test_volume_restored[my-harbor-database-0:database-data]",
                                  f"PodVolumeBackup {restore_plants.lost_pvb}", "never reached the target",
                                  "backup sync")
    restored = [n for n in restore_plants.restore.cases if n.startswith("test_volume_restored[")
                and "database-data" not in n]
    assert restored and all(restore_plants.restore.cases[n].outcome == "passed" for n in restored), restored


def test_restore_flags_a_pvc_pending_on_target(restore_plants: RestorePlants) -> None:
    restore_plants.restore.failed("test_pvc_restored_and_bound[harbor/late-data]",
                                  "PVC harbor/late-data is not Bound on the target", "phase=Pending")
    restore_plants.restore.passed("test_pvc_restored_and_bound[harbor/database-data-my-harbor-database-0]")


def test_restore_flags_an_extra_pvc_on_target(restore_plants: RestorePlants) -> None:
    message = restore_plants.restore.failed("test_no_extra_pvcs_on_target", "leftover-cache")
    assert "late-data" not in message.split("observed:")[1].split("fix:")[0]


def test_restore_flags_a_pod_not_ready(restore_plants: RestorePlants) -> None:
    restore_plants.restore.failed("test_pod_ready[harbor/stuck-0]", "pod harbor/stuck-0 is not Ready on the target",
                                  "phase=Pending")
    restore_plants.restore.passed("test_pod_ready[harbor/my-harbor-database-0]")
    failing = restore_plants.restore.failing()
    assert failing == ["test_no_extra_pvcs_on_target", "test_pod_ready[harbor/stuck-0]",
                       "test_pvc_restored_and_bound[harbor/late-data]",
                       "test_volume_restored[my-harbor-database-0:database-data]"], failing


def test_fixup_flags_the_sources_load_balancer_ip(restore_plants: RestorePlants) -> None:
    restore_plants.fixup.failed("test_service_has_target_address[harbor/my-harbor]", "Service harbor/my-harbor",
                                SOURCE_LB_IP, "198.51.100.10")


def test_thaw_flags_a_target_harbor_still_read_only(restore_plants: RestorePlants) -> None:
    restore_plants.thaw.failed("test_target_writable", "is still read-only", "read_only=True")


# ----------------------------------------------------------------------------- Harbor plants (last: they destroy)


@dataclass
class HarborPlants:
    checked: Checked
    deleted: str  # "<project>/<repo>@<digest>"
    corrupted: str  # "<project>/<repo>@<digest>"
    corrupted_blob: str
    signature: str  # "<project>/<repo>@<digest>" of the cosign signature (an accessory) deleted on the target


def _artifact_id(repository: str, digest: str) -> str:
    return f"{repository}@{digest[:19]}"


@pytest.fixture(scope="module")
def harbor_plants(migrated: Migration, restore_plants: RestorePlants) -> HarborPlants:
    """On the migrated target Harbor: one artifact deleted through the Harbor API, one layer blob of
    another artifact overwritten in the registry's storage directory (same size, other bytes), and the seeded
    cosign signature (an accessory, hidden from Harbor's default listing) deleted through the Harbor API."""
    box, config = migrated.sandbox, migrated.config
    deleted, corrupted, signed = box.pushed[0], box.pushed[-1], box.pushed[2]
    assert deleted.full_repository != corrupted.full_repository
    harbor(box, "target").delete_artifact(deleted.project, deleted.repository, deleted.digest)
    [subject] = [a for a in harbor(box, "target").artifacts(signed.project, signed.repository)
                 if a["digest"] == signed.digest]
    [signature] = [a["digest"] for a in subject.get("accessories") or []]
    harbor(box, "target").delete_artifact(signed.project, signed.repository, signature)
    blob, size = corrupted.blobs[-1]
    registry_pvc = get(box, "target", "pvc", "my-harbor-registry", "-n", NAMESPACE)
    pv = get(box, "target", "pv", registry_pvc["spec"]["volumeName"])
    root = Path(pv["spec"]["local"]["path"])
    algorithm, hexdigest = blob.split(":")
    data = next(root.rglob(f"blobs/{algorithm}/{hexdigest[:2]}/{hexdigest}/data"))
    assert data.stat().st_size == size
    data.write_bytes(bytes(size))  # same length, other content
    checked = check(config, "verify-harbor")
    return HarborPlants(checked, f"{deleted.full_repository}@{deleted.digest}",
                        f"{corrupted.full_repository}@{corrupted.digest}", blob,
                        f"{signed.full_repository}@{signature}")


def test_verify_harbor_names_the_artifact_missing_on_target(harbor_plants: HarborPlants, migrated: Migration) -> None:
    deleted = migrated.sandbox.pushed[0]
    message = harbor_plants.checked.failed(
        f"test_artifact_present[{_artifact_id(deleted.full_repository, deleted.digest)}]",
        f"artifact {harbor_plants.deleted} is missing on the target Harbor", "deleted on the target since the restore")
    assert "the database volume was not restored" not in message  # the others are there: the fix says what was seen


def test_verify_harbor_names_the_signature_missing_on_target(harbor_plants: HarborPlants,
                                                             migrated: Migration) -> None:
    """H7: an accessory lost in the migration is named like any artifact (the golden inventory carries it)."""
    repository, digest = harbor_plants.signature.split("@")
    harbor_plants.checked.failed(f"test_artifact_present[{_artifact_id(repository, digest)}]",
                                 f"artifact {harbor_plants.signature} is missing on the target Harbor")
    signed = migrated.sandbox.pushed[2]
    harbor_plants.checked.passed(f"test_artifact_present[{_artifact_id(signed.full_repository, signed.digest)}]")


def test_verify_harbor_names_the_corrupted_blob(harbor_plants: HarborPlants, migrated: Migration) -> None:
    corrupted = migrated.sandbox.pushed[-1]
    name = f"test_artifact_pulls_with_verified_digests[{_artifact_id(corrupted.full_repository, corrupted.digest)}]"
    harbor_plants.checked.failed(name, f"artifact {harbor_plants.corrupted} is corrupt on the target",
                                 f"blob {harbor_plants.corrupted_blob}", "does not match its digest")


def test_verify_harbor_plants_leave_the_other_checks_green(harbor_plants: HarborPlants, migrated: Migration) -> None:
    checked = harbor_plants.checked
    for name in ("test_target_harbor_healthy", "test_target_credentials_authenticate", "test_canary_push_and_pull"):
        checked.passed(name)
    untouched = migrated.sandbox.pushed[1]
    checked.passed(f"test_artifact_present[{_artifact_id(untouched.full_repository, untouched.digest)}]")
    checked.passed(f"test_artifact_pulls_with_verified_digests["
                   f"{_artifact_id(untouched.full_repository, untouched.digest)}]")
