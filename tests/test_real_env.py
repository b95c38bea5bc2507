"""The environment `real`: the real kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kwok as local
processes, brought up and down through its command line (`python -m seatrial.fixtures.real up|status|down`).

One environment (clusters only, `--no-install`) serves the module; the last test takes it down and proves nothing is
left: no process of its group, no directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config

from seatrial.fixtures.real.kubelet_server import KUBELET_PORT_ANNOTATION
from seatrial.fixtures.real.mounter import LAID_OUT
from seatrial.fixtures.real.node_address import node_address
from seatrial.fixtures.real.processes import group_members
from seatrial.fixtures.real.storage import DRIVER, SELECTED_NODE_ANNOTATION
from tests.waiting import wait_for

pytestmark = pytest.mark.real
WAIT_S = 120.0  # an upper bound for a loaded 2-core machine; met waits return at once


def real(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seatrial.fixtures.real", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("real") / "env"  # absent: `up` creates it, so `down` removes it
    up = real("up", "--dir", str(root), "--no-install")
    assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
    state = json.loads((root / "real.json").read_text())
    try:
        yield root, state, up
    finally:
        real("down", "--dir", str(root))  # idempotent: the last test has normally done it


@pytest.fixture(scope="module")
def apis(env):
    root, _, _ = env
    return {name: config.new_client_from_config(str(root / "kubeconfig"), context=name, persist_config=False)
            for name in ("source", "target")}


def test_up_says_where_and_status_is_healthy(env):
    root, state, up = env
    assert "real environment up in" in up.stdout and "contexts source, target" in up.stdout
    status = real("status", "--dir", str(root))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("ready; processes all running") == 2 and status.stdout.strip().endswith("healthy")
    assert state["clusters"]["source"] != state["clusters"]["target"]
    assert all(url.startswith("https://127.0.0.1:") for url in state["clusters"].values())
    ports = [url.rsplit(":", 1)[1] for url in state["clusters"].values()]
    assert len(set(ports)) == 2


def test_a_second_up_on_the_same_directory_says_it_runs(env):
    root, state, _ = env
    again = real("up", "--dir", str(root), "--no-install")
    assert again.returncode == 0
    assert f"already running in {root} (pid {state['pid']}" in again.stdout


def test_the_server_is_the_real_kube_apiserver_with_rbac(apis):
    version = client.VersionApi(apis["source"]).get_code()
    assert version.git_version == "v1.36.3"
    rbac = client.RbacAuthorizationV1Api(apis["source"])
    assert rbac.read_cluster_role("system:kube-controller-manager").metadata.name


@pytest.mark.parametrize("cluster", ["source", "target"])
def test_two_nodes_ready_at_an_address_of_this_machine_the_node_proxy_dials(apis, cluster):
    core = client.CoreV1Api(apis[cluster])
    nodes = _ready_nodes(core)
    address = node_address()
    assert address is not None and address != "127.0.0.1", "this machine has an address that is not loopback"
    for node in nodes:
        internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
        assert internal == [address], f"{node.metadata.name}: {node.status.addresses}"
        port = node.status.daemon_endpoints.kubelet_endpoint.port
        assert port == int(node.metadata.annotations[KUBELET_PORT_ANNOTATION]), node.metadata.annotations
    assert len({n.status.daemon_endpoints.kubelet_endpoint.port for n in nodes}) == 2, "a kubelet per node"


def _ready_nodes(core: client.CoreV1Api) -> list:
    def ready():
        nodes = core.list_node().items
        return [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]

    return wait_for("two Ready nodes", ready, timeout=WAIT_S, interval=0.5, done=lambda n: len(n) == 2)


def test_kube_root_ca_is_published_in_a_new_namespace_by_the_controller_manager(env, apis):
    root, _, _ = env
    core = client.CoreV1Api(apis["target"])
    name = f"ca-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    published = wait_for("kube-root-ca.crt", lambda: _get(core.read_namespaced_config_map, "kube-root-ca.crt", name),
                         timeout=WAIT_S, interval=0.2)
    assert published.data["ca.crt"] == (root / "target" / "pki" / "ca.crt").read_text()
    account = wait_for("the default ServiceAccount", lambda: _get(core.read_namespaced_service_account, "default",
                                                                   name), timeout=WAIT_S, interval=0.2)
    assert account.metadata.name == "default"


def test_a_claim_of_a_wait_for_first_consumer_class_is_provisioned_on_the_pods_node_and_laid_out(env, apis):
    root, _, _ = env
    core = client.CoreV1Api(apis["source"])
    ns = _namespace(core, "pv")
    core.create_namespaced_persistent_volume_claim(ns, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rook-ceph-block-wait",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod(ns, {
        "metadata": {"name": "app"},
        "spec": {"containers": [{"name": "app", "image": "busybox",
                                 "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                                  {"name": "scratch", "mountPath": "/scratch"}]}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                             {"name": "scratch", "emptyDir": {}}]}})
    pod = wait_for("the pod Running", lambda: core.read_namespaced_pod("app", ns), timeout=WAIT_S, interval=0.2,
                   done=lambda p: p.status.phase == "Running")
    claim = core.read_namespaced_persistent_volume_claim("data", ns)
    assert claim.status.phase == "Bound"
    assert claim.metadata.annotations[SELECTED_NODE_ANNOTATION] == pod.spec.node_name  # the scheduler chose
    pv = core.read_persistent_volume(claim.spec.volume_name)
    assert pv.spec.csi.driver == DRIVER and pv.spec.csi.volume_handle == pv.metadata.name
    assert pod.metadata.annotations[LAID_OUT] == pod.metadata.uid
    volumes = root / "source" / "pods" / pod.metadata.uid / "volumes"
    mount = volumes / "kubernetes.io~csi" / pv.metadata.name / "mount"
    assert mount.resolve() == (root / "source" / "pv" / pv.metadata.name).resolve()
    assert (mount / "lost+found").is_dir()
    assert (volumes / "kubernetes.io~empty-dir" / "scratch").is_dir()
    # Velero's node-agent glob: /host_pods/<uid>/volumes/*/<pv>/mount matches exactly one path
    assert len(list((root / "source" / "pods").glob(f"{pod.metadata.uid}/volumes/*/{pv.metadata.name}/mount"))) == 1


def test_a_pod_whose_claim_is_unbound_stays_pending(apis):
    core = client.CoreV1Api(apis["source"])
    ns = _namespace(core, "pending")
    core.create_namespaced_persistent_volume_claim(ns, {
        "metadata": {"name": "nowhere"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "no-such-class",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "waits"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "nowhere"}}]}})
    # the scheduler refuses the pod (unbound immediate claim), so nothing lays it out and kwok never runs it
    wait_for("the scheduler's verdict", lambda: core.read_namespaced_pod("waits", ns), timeout=WAIT_S, interval=0.2,
             done=lambda p: any(c.type == "PodScheduled" and c.status == "False"
                                for c in p.status.conditions or []))
    pod = core.read_namespaced_pod("waits", ns)
    assert pod.status.phase == "Pending" and LAID_OUT not in (pod.metadata.annotations or {})


def test_a_restored_pods_restore_wait_really_runs_until_its_volume_is_marked_restored(env, apis):
    """Velero adds `restore-wait` (velero-restore-helper <restore uid>, each restored volume at
    /restores/<volume>) to a pod it restores volumes into; the node-agent needs it Running. kwok would mark it
    Completed at once; the process runner runs the real helper, which exits once every volume holds
    .velero/<restore uid>, and only then are the pod's containers started."""
    root = env[0]
    core = client.CoreV1Api(apis["target"])
    ns = _namespace(core, "restore")
    core.create_namespaced_pod(ns, {"metadata": {"name": "restored"}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
        "initContainers": [{"name": "restore-wait", "image": "velero/velero:v1.16.2",
                            "command": ["/velero-restore-helper"], "args": ["restore-7f3a"],
                            "volumeMounts": [{"name": "data", "mountPath": "/restores/data"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}]}})
    waiting = wait_for("restore-wait running", lambda: core.read_namespaced_pod("restored", ns), timeout=WAIT_S,
                       interval=0.2, done=lambda p: p.status.init_container_statuses and
                       p.status.init_container_statuses[0].state.running)
    assert waiting.status.phase == "Pending" and not waiting.status.container_statuses[0].state.running
    marker = (root / "target" / "pods" / waiting.metadata.uid / "volumes" / "kubernetes.io~empty-dir" / "data" /
              ".velero" / "restore-7f3a")
    marker.parent.mkdir(parents=True)
    marker.write_text("")  # what the node-agent writes once the volume is restored
    done = wait_for("the pod running", lambda: core.read_namespaced_pod("restored", ns), timeout=WAIT_S,
                    interval=0.2, done=lambda p: p.status.phase == "Running")
    terminated = done.status.init_container_statuses[0].state.terminated
    assert terminated.exit_code == 0 and done.status.container_statuses[0].state.running


def test_a_job_completes(apis):
    batch, core = client.BatchV1Api(apis["target"]), client.CoreV1Api(apis["target"])
    ns = _namespace(core, "job")
    batch.create_namespaced_job(ns, {"metadata": {"name": "hook"}, "spec": {"backoffLimit": 0, "template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    job = wait_for("the Job complete", lambda: batch.read_namespaced_job("hook", ns), timeout=WAIT_S, interval=0.2,
                   done=lambda j: (j.status.succeeded or 0) == 1)
    assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])


def test_a_deployment_becomes_available_and_its_deleted_pods_go(env, apis):
    root, _, _ = env
    apps, core = client.AppsV1Api(apis["source"]), client.CoreV1Api(apis["source"])
    ns = _namespace(core, "deploy")
    labels = {"app": "web"}
    apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    wait_for("2 ready replicas", lambda: apps.read_namespaced_deployment("web", ns), timeout=WAIT_S, interval=0.2,
             done=lambda d: (d.status.ready_replicas or 0) == 2)
    uids = [p.metadata.uid for p in core.list_namespaced_pod(ns).items]
    apps.delete_namespaced_deployment("web", ns)  # background cascade: the garbage collector removes the rest
    wait_for("the pods gone", lambda: core.list_namespaced_pod(ns).items, timeout=WAIT_S, interval=0.2,
             done=lambda items: not items)
    wait_for("their kubelet directories gone", lambda: [u for u in uids if (root / "source" / "pods" / u).exists()],
             timeout=WAIT_S, interval=0.2, done=lambda left: not left)


def test_the_kubelet_stats_of_a_pods_volume_come_through_the_api_servers_node_proxy(env, apis):
    """What seatrial's checks read to tell an empty volume from one with data (seatrial.checks.emptiness): the real
    kube-apiserver proxies /api/v1/nodes/NODE/proxy/stats/summary to the node's kubelet, here ours."""
    root, _, _ = env
    core = client.CoreV1Api(apis["source"])
    ns = _namespace(core, "stats")
    core.create_namespaced_persistent_volume_claim(ns, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod(ns, {"metadata": {"name": "db"}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": "node-2"},
        "containers": [{"name": "db", "image": "postgres", "volumeMounts": [{"name": "pgdata", "mountPath": "/d"}]}],
        "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": "data"}}]}})
    pod = wait_for("the pod Running", lambda: core.read_namespaced_pod("db", ns), timeout=WAIT_S, interval=0.2,
                   done=lambda p: p.status.phase == "Running")
    pv = core.read_namespaced_persistent_volume_claim("data", ns).spec.volume_name
    written = 3 * 1024 * 1024
    (root / "source" / "pv" / pv / "base.dat").write_bytes(os.urandom(written))

    def summary(node: str) -> dict:
        answer = core.connect_get_node_proxy_with_path(node, "stats/summary", _preload_content=False)
        return json.loads(answer.data)

    on_node_2 = summary("node-2")
    assert on_node_2["node"]["nodeName"] == "node-2"
    [entry] = [p for p in on_node_2["pods"] if p["podRef"] == {"name": "db", "namespace": ns, "uid": pod.metadata.uid}]
    [volume] = entry["volume"]
    assert volume["name"] == "pgdata" and volume["pvcRef"] == {"name": "data", "namespace": ns}
    assert volume["usedBytes"] >= written and volume["inodesUsed"] >= 3  # the root, lost+found, the file
    assert volume["capacityBytes"] >= volume["availableBytes"] > 0
    assert not [p for p in summary("node-1")["pods"] if p["podRef"]["namespace"] == ns], "a kubelet tells its own"


def test_the_kubelet_servers_listen_on_the_node_address_only(apis):
    nodes = _ready_nodes(client.CoreV1Api(apis["target"]))
    for node in nodes:
        port = node.status.daemon_endpoints.kubelet_endpoint.port
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        with socket.create_connection((node_address(), port), timeout=10):
            pass


def test_down_leaves_no_process_and_no_directory(env):
    root, state, _ = env
    pids = [pid for cluster in state["processes"].values() for pid in cluster.values()]
    assert len(pids) == 10  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok per cluster
    down = real("down", "--dir", str(root))
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped the real environment" in down.stdout
    assert group_members(state["pid"]) == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and _state(pid) != "Z"] == []
    assert not root.exists()
    assert real("status", "--dir", str(root)).returncode == 3


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _namespace(core: client.CoreV1Api, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for("the default ServiceAccount", lambda: _get(core.read_namespaced_service_account, "default", name),
             timeout=WAIT_S, interval=0.2)  # pods are refused until the ServiceAccount controller made it
    return name


def _get(read, *args):
    try:
        return read(*args)
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_down_in_a_directory_up_did_not_create_removes_only_what_up_made(tmp_path: Path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("the user's own file\n")
    up = real("up", "--dir", str(root), "--no-install")
    assert up.returncode == 0, up.stdout + up.stderr
    assert (root / "kubeconfig").is_file() and (root / "source" / "pki" / "ca.crt").is_file()
    down = real("down", "--dir", str(root))
    assert down.returncode == 0, down.stdout + down.stderr
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
