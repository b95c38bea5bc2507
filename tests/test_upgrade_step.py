"""The upgrade step's parts on a sandbox cluster (real API server, workload and volume controllers, two nodes)
with the real engine and the vendored charts: the guard refuses before any change; an upgrade by one minor
keeps every PVC object; forced through without the guard, the step's checks name the new empty PVCs; a stuck
rollout is named with its pod, PVC, cause and fix; rollback_on_failure rolls the release back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seatrial.checks.context import CheckContext
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.cluster import SandboxCluster
from seatrial.runbook.clients import helm
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.config import UpgradeConfig, load_config
from seatrial.runbook.errors import CheckFailed
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.upgrade import rollout
from seatrial.runbook.upgrade.step import (
    RolloutStuck,
    guard,
    pvc_objects,
    record,
    upgrade_and_wait,
    wait_for_rollouts,
    workloads,
)
from tests.test_config import Workspace

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"
NS, RELEASE = "harbor", "my-harbor"
VALUES = {"expose": {"type": "clusterIP", "tls": {"enabled": False}}, "externalURL": "http://harbor.example",
          "harborAdminPassword": "Upgrade-Step-Admin-Pw-3"}


def chart(version: str) -> helm.Chart:
    return helm.load_chart(CHARTS / f"harbor-{version}.tgz")


@pytest.fixture
def target(tmp_path):
    yield from _sandbox(tmp_path)


@pytest.fixture
def rbd_target(tmp_path):
    """Volumes any node attaches (Rook RBD's kind), so a RollingUpdate meets the Multi-Attach error."""
    yield from _sandbox(tmp_path, network_classes=("rook-ceph-block",))


def _sandbox(tmp_path, **options):
    with SandboxCluster("target", tmp_path / "cluster", **options) as running:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig-target", {"target": running.url})
        with Cluster(kubeconfig, "target", name="target") as cluster, \
                helm.Helm(kubeconfig, "target", namespace=NS) as engine:
            yield cluster, engine, kubeconfig


def install(cluster, engine, version: str, values: dict | None = None) -> None:
    c = chart(version)
    merged = {**VALUES, **(values or {})}
    engine.install(c, RELEASE, merged, create_namespace=True)
    wait_for_rollouts(cluster, NS, workloads(c.render(merged, release=RELEASE, namespace=NS)), timeout=120,
                      strategy=None, say=lambda _line: None)


def config(tmp_path: Path, kubeconfig: Path, upgrade: dict | None = None):
    """A seatrial.yaml whose target is the sandbox cluster (the source is never contacted here)."""
    (tmp_path / "config").mkdir(exist_ok=True)
    workspace = Workspace(tmp_path / "config")
    data = workspace.data()
    data["target"].update({"kubeconfig": str(kubeconfig), "context": "target", "namespace": NS, "release": RELEASE})
    data["run_dir"] = str(tmp_path / "run")
    data.pop("upgrade")
    if upgrade:
        data["upgrade"] = upgrade
    workspace.write(data)
    return load_config(workspace.path, environ=workspace.environ)


def check_failure(check, *args) -> str | None:
    try:
        check(*args)
    except pytest.fail.Exception as failed:
        return str(failed)
    return None


def test_the_step_refuses_the_seed_upgrade_before_any_change(target, tmp_path):
    cluster, engine, kubeconfig = target
    install(cluster, engine, "1.6.4")
    before = pvc_objects(cluster, NS)
    cfg = config(tmp_path, kubeconfig, {"chart": str(CHARTS / "harbor-1.7.5.tgz")})
    from seatrial.runbook.migration.steps import upgrade as step

    lines: list[str] = []
    with pytest.raises(CheckFailed) as refused:
        step.apply(StepContext(cfg, out=lines.append))
    assert "nothing was changed" in refused.value.message and "fix-values.yaml" in refused.value.fix
    assert any("FAILED data_volume_kept[PersistentVolumeClaim/my-harbor-harbor-registry]" in line for line in lines)
    assert len(engine.history(RELEASE)) == 1 and pvc_objects(cluster, NS) == before
    assert (cfg.run_dir / "junit" / "upgrade-plan.xml").exists()


def test_an_upgrade_by_one_minor_keeps_every_pvc_object_and_the_checks_say_so(target, tmp_path):
    cluster, engine, kubeconfig = target
    install(cluster, engine, "1.18.4", {"updateStrategy": {"type": "Recreate"}})
    values = tmp_path / "values.yaml"  # only what changes: the deployed values (the password) are reused
    values.write_text(yaml.safe_dump({"updateStrategy": {"type": "Recreate"}}))
    cfg = config(tmp_path, kubeconfig, {"chart": str(CHARTS / "harbor-1.19.1.tgz"), "values": [str(values)],
                                        "reuse_values": True})
    lines: list[str] = []
    guarded = guard(cluster, cfg.upgrade, release=RELEASE, namespace=NS, run_dir=cfg.run_dir, say=lines.append)
    assert guarded.plan.exit_code == 0, "\n".join(lines)
    assert guarded.values.user["harborAdminPassword"] == VALUES["harborAdminPassword"]
    before = pvc_objects(cluster, NS)
    assert {"my-harbor-registry", "database-data-my-harbor-database-0"} <= set(before)
    record(cfg.run_dir, {"release": RELEASE, "namespace": NS, "from": "1.18.4", "to": "1.19.1",
                         "app_version": "2.15.1", "revision_before": 1, "pvcs": before})
    upgrade_and_wait(engine, guarded, cluster, release=RELEASE, namespace=NS, timeout=120, rollback_on_failure=False,
                     say=lines.append)
    assert engine.status(RELEASE)["chart_version"] == "1.19.1"
    assert pvc_objects(cluster, NS) == before  # same names, UIDs and volumes

    from seatrial.checks import test_upgrade as checks

    ctx = CheckContext(cfg)
    assert check_failure(checks.test_no_new_pvcs, ctx) is None
    for pvc in before:
        assert check_failure(checks.test_data_pvc_same_object, ctx, pvc) is None


def test_forced_through_without_the_guard_the_checks_name_the_new_empty_pvcs(target, tmp_path):
    cluster, engine, kubeconfig = target
    install(cluster, engine, "1.6.4")
    cfg = config(tmp_path, kubeconfig, {"chart": str(CHARTS / "harbor-1.7.5.tgz")})
    before = pvc_objects(cluster, NS)
    record(cfg.run_dir, {"release": RELEASE, "namespace": NS, "from": "1.6.4", "to": "1.7.5", "app_version": "2.3.5",
                         "revision_before": 1, "pvcs": before})
    new_chart = chart("1.7.5")
    engine.upgrade(new_chart, RELEASE, VALUES)  # what the seed did, with no guard in front
    wait_for_rollouts(cluster, NS, workloads(new_chart.render(VALUES, release=RELEASE, namespace=NS)), timeout=120,
                      strategy=None, say=lambda _line: None)
    from seatrial.checks import test_upgrade as checks

    failure = check_failure(checks.test_no_new_pvcs, CheckContext(cfg))
    assert failure is not None and "new EMPTY volumes" in failure
    for name in ("my-harbor-registry", "my-harbor-jobservice", "database-data-my-harbor-database-0",
                 "data-my-harbor-redis-0"):
        assert name in failure
    # the old claims are still there (resource-policy keep / StatefulSet claims), only no longer used
    assert check_failure(checks.test_data_pvc_same_object, CheckContext(cfg), "my-harbor-harbor-registry") is None


# -- a stuck rollout, as the seed's registry hung ------------------------------------------------------------

def _planted_stuck_rollout(kube_api) -> Cluster:
    """Deployment my-harbor-registry mid-rollout: its old pod Running on node-1 holds the RWO PVC, the new
    pod on node-2 waits in ContainerCreating (what kubelet shows on a Multi-Attach error)."""
    store = kube_api.store
    labels = {"app": "harbor", "component": "registry"}
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    store.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "my-harbor-registry", "namespace": NS},
                  "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}})
    store.create({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "my-harbor-registry", "namespace": NS, "generation": 2},
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "r"}]}}},
                  "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}})
    volume = [{"name": "registry-data", "persistentVolumeClaim": {"claimName": "my-harbor-registry"}}]
    for name, node, phase, waiting in (("my-harbor-registry-5d9c7-old1", "node-1", "Running", None),
                                       ("my-harbor-registry-7f8b6-new1", "node-2", "Pending", "ContainerCreating")):
        pod_hash = name.split("-")[3]
        ready = "True" if phase == "Running" else "False"
        status = {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
        if waiting:
            status["containerStatuses"] = [{"name": "r", "ready": False, "state": {"waiting": {"reason": waiting}}}]
        store.create({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": name, "namespace": NS, "labels": {**labels, "pod-template-hash": pod_hash}},
                      "spec": {"nodeName": node, "containers": [{"name": "r"}], "volumes": volume},
                      "status": status})
    return Cluster(kube_api.kubeconfig, kube_api.context, name="target")


def test_a_stuck_rollout_is_named_with_pod_pvc_cause_and_fix(kube_api):
    cluster = _planted_stuck_rollout(kube_api)
    state = rollout.observe(cluster, NS, [("Deployment", "my-harbor-registry")], "updateStrategy.type")
    assert not state and len(state.stuck) == 1
    stuck = state.stuck[0]
    assert (stuck.pod, stuck.pvc, stuck.holder) == ("my-harbor-registry-7f8b6-new1", "my-harbor-registry",
                                                    "my-harbor-registry-5d9c7-old1")
    assert "ContainerCreating" in stuck.cause and "node node-1, while the new pod is on node-2" in stuck.cause
    assert "kubectl -n harbor delete replicaset my-harbor-registry-5d9c7" in stuck.fix
    assert "updateStrategy.type: Recreate" in stuck.fix
    with pytest.raises(RolloutStuck) as raised:
        wait_for_rollouts(cluster, NS, [("Deployment", "my-harbor-registry")], timeout=30, strategy=None,
                          say=lambda _line: None, stuck_after=0)
    assert "pod my-harbor-registry-7f8b6-new1 cannot start" in raised.value.message


def test_rollback_on_failure_rolls_the_release_back(kube_api, tmp_path):
    # The bare API server runs no controllers: the upgraded workloads never roll out, so the wait times out.
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace=NS) as engine:
        engine.install(chart("1.18.4"), RELEASE, VALUES, create_namespace=True)
        cluster = Cluster(kube_api.kubeconfig, kube_api.context, name="target")
        upgrade = UpgradeConfig(chart=str(CHARTS / "harbor-1.19.1.tgz"))
        guarded = guard(cluster, upgrade, release=RELEASE, namespace=NS, run_dir=tmp_path, say=lambda _line: None)
        assert guarded.values.user == VALUES  # no values given: helm reuses the deployed ones, and so does the guard
        with pytest.raises(Exception) as failed:
            upgrade_and_wait(engine, guarded, cluster, release=RELEASE, namespace=NS, timeout=3,
                             rollback_on_failure=True, say=lambda _line: None)
        assert "rolled back to revision 1" in failed.value.message
        history = engine.history(RELEASE)
        assert len(history) == 3 and engine.status(RELEASE)["chart_version"] == "1.18.4"


def test_a_real_multi_attach_hang_is_named_and_rolled_back(rbd_target, tmp_path):
    """The seed's hang, in the sandbox: 1.18.4 runs with the chart's default RollingUpdate; the upgrade's new
    registry pod lands on the other node and cannot attach the ReadWriteOnce PVC the old pod holds."""
    cluster, engine, kubeconfig = rbd_target
    install(cluster, engine, "1.18.4")
    before = pvc_objects(cluster, NS)
    cfg = config(tmp_path, kubeconfig, {"chart": str(CHARTS / "harbor-1.19.1.tgz"), "reuse_values": True})
    lines: list[str] = []
    guarded = guard(cluster, cfg.upgrade, release=RELEASE, namespace=NS, run_dir=cfg.run_dir, say=lines.append)
    assert guarded.plan.exit_code == 0, "\n".join(lines)
    with pytest.raises(RolloutStuck) as raised:
        upgrade_and_wait(engine, guarded, cluster, release=RELEASE, namespace=NS, timeout=120,
                         rollback_on_failure=True, say=lines.append, stuck_after=1)
    message, fix = raised.value.message, raised.value.fix
    print(message, fix, sep="\n")
    waiting = message.split(" is stuck: pod ", 1)[1].split(" ", 1)[0]
    claim = message.split("ReadWriteOnce PVC ", 1)[1].split(" ", 1)[0]
    assert claim in ("my-harbor-registry", "my-harbor-jobservice")
    assert f"ContainerCreating: ReadWriteOnce PVC {claim} is still held by pod" in message
    assert "RollingUpdate starts the new pod before the old one stops" in message
    assert "rolled back to revision 1" in message
    volume = before[claim]["volumeName"]
    assert f'event FailedAttachVolume: Multi-Attach error for volume "{volume}" Volume is already used by pod(s) ' \
        f"{claim}-" in message
    assert f"kubectl -n {NS} delete replicaset {claim}-" in fix and "updateStrategy.type: Recreate" in fix
    events = [e for e in cluster.list("v1", "Event", NS) if e["involvedObject"]["name"] == waiting]
    assert any(e["reason"] == "FailedAttachVolume" and "Multi-Attach error" in e["message"] for e in events)

    assert engine.status(RELEASE)["chart_version"] == "1.18.4" and len(engine.history(RELEASE)) == 3
    old = chart("1.18.4").render(guarded.values.user, release=RELEASE, namespace=NS)
    wait_for_rollouts(cluster, NS, workloads(old), timeout=120, strategy=None, say=lines.append)
    assert pvc_objects(cluster, NS) == before  # the rollback left every volume where it was
    assert waiting not in {p["metadata"]["name"] for p in cluster.list("v1", "Pod", NS)}
