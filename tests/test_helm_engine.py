"""The real Helm v4 engine (runbook.helm over helm-python-sdk) against the test API server, with the vendored
real charts: install (server-side apply), upgrade, rollback, uninstall, status, values and history; the
release read back from its Secret; kubectl seeing what the engine made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbook import helm, kube
from runbook.errors import BadInput, NotFound

CHARTS = Path(__file__).resolve().parent.parent / "fixtures" / "charts"
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
    with pytest.raises(Exception) as caught:
        engine.install(chart("harbor-1.18.4"), "my-harbor", HARBOR_VALUES)
    assert "release 'my-harbor' in namespace harbor" in caught.value.message and "\n" not in caught.value.message


def test_a_missing_release_is_not_found(engine):
    with pytest.raises(NotFound) as caught:
        engine.status("nothing-here")
    assert "release 'nothing-here'" in caught.value.message


def test_values_a_template_refuses_are_bad_input_at_install(engine):
    with pytest.raises(BadInput, match="expose.tls.auto.commonName"):
        engine.install(chart("harbor-1.18.4"), "my-harbor", {"expose": {"type": "clusterIP"}},
                       create_namespace=True)
