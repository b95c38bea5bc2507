"""The real Helm v4 engine (seatrial.runbook.clients.helm over helm-python-sdk) against the test API server, with the
vendored
real charts: install (server-side apply), upgrade, rollback, uninstall, status, values and history; the
release read back from its Secret; kubectl seeing what the engine made."""

from __future__ import annotations

import json
from pathlib import Path

import helm_python
import pytest
from helm_python import _native

from seatrial.runbook.clients import helm, kube
from seatrial.runbook.errors import BadInput, Conflict, NotFound

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"
HARBOR_VALUES = {"expose": {"type": "clusterIP", "tls": {"enabled": False}},
                 "externalURL": "http://harbor.example", "harborAdminPassword": "Rehearsal-Admin-Pw-1"}
# The chart's pre-install hook Job (upgradeCRDs) needs a Job controller; the CRDs come from its crds/ anyway.
VELERO_VALUES = {"upgradeCRDs": False, "deployNodeAgent": True,
                 "configuration": {"backupStorageLocation": [{"name": "default", "provider": "aws", "bucket": "velero",
                                                              "config": {"region": "minio"}}],
                                   "volumeSnapshotLocation": []},
                 "credentials": {"useSecret": True, "secretContents": {"cloud": "[default]\naws_access_key_id=x\n"}}}


def chart(name: str) -> helm.Chart:
    return helm.load_chart(CHARTS / f"{name}.tgz")


@pytest.fixture
def engine(kube_api):
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace="harbor") as engine:
        yield engine


def names(kube_api, kind: str, namespace: str) -> list[str]:
    listed = kube_api.kubectl("get", kind, "-n", namespace, "-o", "json", check=True)
    return sorted(item["metadata"]["name"] for item in json.loads(listed.stdout)["items"])


def test_install_upgrade_rollback_of_the_harbor_chart(kube_api, engine):
    installed = engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES, create_namespace=True)
    assert (installed["status"], installed["revision"], installed["chart_version"]) == ("deployed", 1, "1.18.4")
    assert names(kube_api, "pvc", "harbor") == ["my-harbor-jobservice", "my-harbor-registry"]
    assert names(kube_api, "statefulset", "harbor") == ["my-harbor-database", "my-harbor-redis", "my-harbor-trivy"]
    core = kube_api.store.get("apps/v1", "Deployment", "my-harbor-core", "harbor")
    assert core["spec"]["template"]["spec"]["containers"][0]["image"] == "goharbor/harbor-core:v2.14.4"
    assert [(e["manager"], e["operation"]) for e in core["metadata"]["managedFields"]] == [("python", "Apply")]

    upgraded = engine.upgrade(chart("harbor-1.19.1"), "my-harbor", HARBOR_VALUES)
    assert (upgraded["status"], upgraded["revision"], upgraded["app_version"]) == ("deployed", 2, "2.15.1")
    core = kube_api.store.get("apps/v1", "Deployment", "my-harbor-core", "harbor")
    assert core["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/goharbor/harbor-core:v2.15.1"

    engine.rollback("my-harbor", revision=1)
    history = [(r["revision"], r["status"], r["chart_version"]) for r in engine.history("my-harbor")]
    assert history == [(1, "superseded", "1.18.4"), (2, "superseded", "1.19.1"), (3, "deployed", "1.18.4")]
    core = kube_api.store.get("apps/v1", "Deployment", "my-harbor-core", "harbor")
    assert core["spec"]["template"]["spec"]["containers"][0]["image"] == "goharbor/harbor-core:v2.14.4"
    assert engine.status("my-harbor")["revision"] == 3
    assert engine.get_values("my-harbor")["externalURL"] == "http://harbor.example"
    assert helm.masked(engine.get_values("my-harbor"))["harborAdminPassword"] == "***"

    with kube.Cluster(kube_api.kubeconfig, kube_api.context) as cluster:
        stored = helm.read_release(cluster, "my-harbor", "harbor")
    assert (stored.revision, stored.status, stored.chart_version) == (3, "deployed", "1.18.4")
    assert stored.config["externalURL"] == "http://harbor.example"
    assert sorted(o["metadata"]["name"] for o in stored.manifests() if o["kind"] == "PersistentVolumeClaim") == [
        "my-harbor-jobservice", "my-harbor-registry"]

    engine.uninstall("my-harbor")
    assert names(kube_api, "deployment", "harbor") == []
    assert names(kube_api, "secret", "harbor") == []


def test_install_of_the_velero_chart_serves_its_crds_and_makes_the_node_agent(kube_api):
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace="velero") as engine:
        installed = engine.install(chart("velero-10.1.3"), "velero", VELERO_VALUES, create_namespace=True)
        assert installed["status"] == "deployed"
        assert engine.status("velero")["app_version"] == "1.16.2"
    assert names(kube_api, "deployment", "velero") == ["velero"]
    assert names(kube_api, "daemonset", "velero") == ["node-agent"]
    assert names(kube_api, "backupstoragelocations.velero.io", "velero") == ["default"]
    assert "volumesnapshotlocations.velero.io" in kube_api.kubectl("api-resources", "-o", "name", check=True).stdout


def test_installing_a_release_twice_is_an_error_naming_it(engine):
    engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES, create_namespace=True)
    with pytest.raises(Conflict) as caught:
        engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES)
    assert "release 'my-harbor' in namespace harbor" in caught.value.message and "\n" not in caught.value.message
    assert "upgrade the release" in caught.value.fix


def test_a_missing_release_is_not_found(engine):
    with pytest.raises(NotFound) as caught:
        engine.status("nothing-here")
    assert "release 'nothing-here'" in caught.value.message


def test_values_a_template_refuses_are_bad_input_at_install(engine):
    with pytest.raises(BadInput, match="expose.tls.auto.commonName"):
        engine.install(chart("harbor-1.18.4"), "my-harbor", {"expose": {"type": "clusterIP"}},
                       create_namespace=True)


# -- the chart-upgrade trap of the real move ------------------------------------------------------
def bind_as_restored(kube_api, pvc: str, namespace: str = "harbor") -> str:
    """What a Velero restore leaves: the claim bound to its restored volume (spec.volumeName set)."""
    def bind(obj):
        obj["spec"]["volumeName"] = f"pvc-{obj['metadata']['uid']}"
        obj.setdefault("status", {})["phase"] = "Bound"
    return kube_api.store.mutate("v1", "PersistentVolumeClaim", pvc, namespace, bind)["spec"]["volumeName"]


def upgrade_force_replace(kube_api, chart_: helm.Chart, release: str, values: dict) -> None:
    """`helm upgrade --force-replace` (client-side apply, objects replaced with PUT): what seatrial never does,
    called through the engine's own entry point because seatrial.runbook.clients.helm does not offer it."""
    with helm_python.Config(kubeconfig_path=kube_api.kubeconfig, kube_context=kube_api.context,
                            namespace="harbor") as config:
        _native.call_string("helm_upgrade", config._raw(), _native.HANDLE(0), chart_.engine_chart._raw(), None,
                            release, json.dumps(values),
                            json.dumps({"namespace": "harbor", "force_replace": True, "server_side_apply": "false"}))


def test_force_replace_after_a_restore_is_refused_three_times_as_in_the_real_move(kube_api, engine):
    """The seed's first attempt: after the restore, `helm upgrade --force` from 1.7 to 1.8 replaced the bound
    chartmuseum and registry claims (the manifest has no volumeName) and the database StatefulSet (here its
    volumeClaimTemplates change: the database grows in the same upgrade)."""
    engine.install(chart("harbor-1.7.5"), "my-harbor", HARBOR_VALUES, create_namespace=True)
    volumes = {pvc: bind_as_restored(kube_api, pvc) for pvc in ("my-harbor-chartmuseum", "my-harbor-registry")}
    grown = {**HARBOR_VALUES, "persistence": {"persistentVolumeClaim": {"database": {"size": "2Gi"}}}}
    with pytest.raises(helm_python.HelmReleaseError) as caught:
        upgrade_force_replace(kube_api, chart("harbor-1.8.3"), "my-harbor", grown)
    message = str(caught.value)
    for pvc, volume in volumes.items():
        assert (f'failed to replace object: PersistentVolumeClaim "{pvc}" is invalid: spec: Forbidden: spec is '
                "immutable after creation except resources.requests and volumeAttributesClassName for bound "
                "claims\n  core.PersistentVolumeClaimSpec{") in message
        assert f'- \tVolumeName: "{volume}",\n+ \tVolumeName: "",' in message
    assert ('failed to replace object: StatefulSet.apps "my-harbor-database" is invalid: spec: Forbidden: updates '
            "to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden") in message
    assert message.count("failed to replace object") == 3
    assert [r["status"] for r in engine.history("my-harbor")] == ["deployed", "failed"]
    for pvc, volume in volumes.items():
        assert kube_api.store.get("v1", "PersistentVolumeClaim", pvc, "harbor")["spec"]["volumeName"] == volume


def test_the_upgrade_seatrial_does_keeps_the_restored_claims_bound(kube_api, engine):
    engine.install(chart("harbor-1.7.5"), "my-harbor", HARBOR_VALUES, create_namespace=True)
    volumes = {pvc: bind_as_restored(kube_api, pvc) for pvc in ("my-harbor-chartmuseum", "my-harbor-registry")}
    upgraded = engine.upgrade(chart("harbor-1.8.3"), "my-harbor", HARBOR_VALUES)
    assert (upgraded["status"], upgraded["chart_version"]) == ("deployed", "1.8.3")
    for pvc, volume in volumes.items():
        assert kube_api.store.get("v1", "PersistentVolumeClaim", pvc, "harbor")["spec"]["volumeName"] == volume


# -- waiting: client-go's watch-list against the server -------------------------------------------
def test_install_with_wait_in_the_sandbox_waits_for_the_controllers(tmp_path):
    from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
    from seatrial.fixtures.sandbox.cluster import SandboxCluster

    cluster = SandboxCluster("target", tmp_path).start()
    try:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"target": cluster.url})
        with helm.Helm(kubeconfig, "target", namespace="harbor") as engine:
            installed = engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES, create_namespace=True,
                                       wait=True, timeout_s=120)
        assert installed["status"] == "deployed"
        for claim in cluster.store.list("v1", "PersistentVolumeClaim", "harbor"):
            assert claim["status"]["phase"] == "Bound", claim["metadata"]["name"]
    finally:
        cluster.stop()


def test_a_wait_that_times_out_names_what_is_not_ready_on_one_line(engine):
    """The test API server alone runs no controllers: nothing becomes ready."""
    with pytest.raises(Exception) as caught:
        engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES, create_namespace=True, wait=True,
                       timeout_s=3)
    message = caught.value.message
    assert "not ready" in message and "\n" not in message and len(message) < 1400
    assert "Rehearsal-Admin-Pw-1" not in str(caught.value)


def test_the_1_7_rename_leaves_the_old_claims_beside_new_empty_ones(kube_api, engine):
    """The trap itself (upgrade-facts.md): 1.6.4 -> 1.7.5 with the same values renames every PVC; the old ones
    stay (helm.sh/resource-policy: keep), the new ones are new, empty claims. Nothing fails."""
    engine.install(chart("harbor-1.6.4"), "my-harbor", HARBOR_VALUES, create_namespace=True)
    old = {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube_api.store.list("v1", "PersistentVolumeClaim",
                                                                                      "harbor")}
    assert sorted(old) == ["my-harbor-harbor-chartmuseum", "my-harbor-harbor-jobservice", "my-harbor-harbor-registry"]
    upgraded = engine.upgrade(chart("harbor-1.7.5"), "my-harbor", HARBOR_VALUES)
    assert upgraded["status"] == "deployed"
    claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in kube_api.store.list("v1", "PersistentVolumeClaim",
                                                                                         "harbor")}
    assert sorted(claims) == sorted([*old, "my-harbor-chartmuseum", "my-harbor-jobservice", "my-harbor-registry"])
    assert all(claims[name] == uid for name, uid in old.items())  # kept, untouched
    assert names(kube_api, "statefulset", "harbor") == ["my-harbor-database", "my-harbor-redis", "my-harbor-trivy"]


def test_the_velero_chart_with_its_hook_job_installs_and_upgrades_with_wait_in_the_sandbox(tmp_path):
    """The chart's pre-install/pre-upgrade hook Job runs to completion (the sandbox's Job controller), the
    Deployment and the node-agent DaemonSet, labelled alike by the chart, each keep their own pods."""
    from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
    from seatrial.fixtures.sandbox.cluster import SandboxCluster

    values = {key: value for key, value in VELERO_VALUES.items() if key != "upgradeCRDs"}
    cluster = SandboxCluster("target", tmp_path).start()
    try:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"target": cluster.url})
        with helm.Helm(kubeconfig, "target", namespace="backup") as engine:
            installed = engine.install(chart("velero-10.1.3"), "velero-b", values, create_namespace=True,
                                       wait=True, timeout_s=120)
            assert installed["status"] == "deployed"
            upgraded = engine.upgrade(chart("velero-12.1.0"), "velero-b", values, wait=True, timeout_s=120)
            assert (upgraded["status"], upgraded["chart_version"]) == ("deployed", "12.1.0")
        agents = cluster.store.get("apps/v1", "DaemonSet", "node-agent", "backup")["status"]
        assert agents["numberReady"] == agents["desiredNumberScheduled"] == len(cluster.nodes)
        assert cluster.store.list("batch/v1", "Job", "backup") == []  # hook-succeeded: deleted
    finally:
        cluster.stop()
