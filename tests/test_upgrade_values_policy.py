"""The guard renders what the engine deploys. The real Helm engine upgrades a release on the test API server
under each values policy (values given, none given and reused, --reuse-values, --reset-values,
--reset-then-reuse-values); the manifest it records for the new revision is the guard's render, object for
object. A no-op upgrade (the same chart, no values) is green; the seed saw it fail with "accessModes RWX -> RWO"."""

from __future__ import annotations

from pathlib import Path

import pytest

from seatrial.runbook.clients import helm
from seatrial.runbook.clients.helm_upgrade_values import coalesce, upgrade_values
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.errors import BadInput
from seatrial.runbook.upgrade import planner

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"
NS, RELEASE = "harbor", "my-harbor"
INSTALLED = {"expose": {"type": "clusterIP", "tls": {"enabled": False}}, "externalURL": "http://harbor.example",
             "harborAdminPassword": "Values-Policy-Admin-Pw-5",
             "core": {"replicas": 2}}
SHARED_REGISTRY = {**INSTALLED, "persistence": {"persistentVolumeClaim": {"registry": {"accessMode": "ReadWriteMany"}}}}
GIVEN = {"updateStrategy": {"type": "Recreate"}, "logLevel": "debug"}


def chart(version: str) -> helm.Chart:
    return helm.load_chart(CHARTS / f"harbor-{version}.tgz")


def comparable(objects: list[dict]) -> dict[str, dict]:
    """Objects by kind/name without what the chart makes at random on every render (its generated secrets
    and the pod template checksums of them). A ConfigMap's text loses its trailing newlines: the release
    manifest joins the templates, so a kept (`|+`) block at a document's end gains the separator's newline."""
    found = {}
    for obj in objects:
        if obj.get("kind") == "Secret":
            continue
        if obj.get("kind") == "ConfigMap":
            obj["data"] = {k: v.rstrip("\n") for k, v in (obj.get("data") or {}).items()}
        template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        annotations = template.get("annotations") or {}
        for key in [k for k in annotations if k.startswith("checksum/")]:
            del annotations[key]
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return found


def core_replicas(objects: list[dict]) -> int:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-core")
                )["spec"]["replicas"]


def installed(kube_api, values: dict, version: str = "1.18.4"):
    with helm.Helm(kube_api.kubeconfig, kube_api.context, namespace=NS) as engine, \
            Cluster(kube_api.kubeconfig, kube_api.context, name="target") as cluster:
        engine.install(chart(version), RELEASE, values, create_namespace=True)
        yield engine, cluster


@pytest.fixture
def release(kube_api):
    yield from installed(kube_api, INSTALLED)


@pytest.fixture
def shared_registry_release(kube_api):
    yield from installed(kube_api, SHARED_REGISTRY)


@pytest.fixture
def older_release(kube_api):
    yield from installed(kube_api, INSTALLED, "1.17.4")


@pytest.mark.parametrize(("policy", "version", "given", "replicas"), [
    ("default", "1.18.4", {}, 2),          # none given: the deployed values, as they are
    ("default", "1.19.1", GIVEN, 1),       # given: those alone (the deployed ones are dropped)
    ("reuse", "1.18.4", GIVEN, 2),         # over the deployed ones, the deployed chart's values.yaml under them
    ("reset", "1.19.1", GIVEN, 1),
    ("reset-then-reuse", "1.19.1", GIVEN, 2),
])
def test_the_guard_renders_what_the_engine_deploys(release, policy, version, given, replicas):
    assert_rendered_as_deployed(*release, policy, version, given, replicas)


def test_reuse_values_keeps_the_deployed_charts_values_yaml(older_release):
    """1.17.4 -> 1.18.4 with --reuse-values: 1.18.4's new keys (trivy.dbRepository, ipFamily...) are absent, as
    the deployed chart's values.yaml stands in for the new one's."""
    assert_rendered_as_deployed(*older_release, "reuse", "1.18.4", GIVEN, 2)


def assert_rendered_as_deployed(engine, cluster, policy, version, given, replicas):
    deployed = helm.read_release(cluster, RELEASE, NS)
    new_chart = chart(version)
    values = upgrade_values(policy, given, deployed.config, deployed.chart_values)
    guessed = new_chart.render(values.for_render(new_chart.values), release=RELEASE, namespace=NS, is_upgrade=True)

    engine.upgrade(new_chart, RELEASE, given, policy=policy)
    upgraded = helm.read_release(cluster, RELEASE, NS)
    assert upgraded.revision == deployed.revision + 1 and upgraded.chart_version == version
    assert upgraded.config == values.user
    assert core_replicas(upgraded.manifests()) == replicas
    deployed_objects, rendered = comparable(upgraded.manifests()), comparable(guessed)
    assert sorted(deployed_objects) == sorted(rendered)
    different = [name for name in deployed_objects if deployed_objects[name] != rendered[name]]
    assert not different, f"the guard's render is not what the engine deployed: {different}"


def test_reuse_values_across_charts_fails_in_the_guard_as_in_the_engine(release):
    """--reuse-values keeps the deployed chart's values.yaml: 1.19.1's templates read trivy.livenessProbe, which
    1.18.4's values do not have (Helm's known --reuse-values trap). The guard's render fails as the engine does."""
    engine, cluster = release
    deployed = helm.read_release(cluster, RELEASE, NS)
    new_chart = chart("1.19.1")
    values = upgrade_values("reuse", GIVEN, deployed.config, deployed.chart_values)
    with pytest.raises(BadInput) as guessed:
        new_chart.render(values.for_render(new_chart.values), release=RELEASE, namespace=NS, is_upgrade=True)
    with pytest.raises(BadInput) as deployed_error:
        engine.upgrade(new_chart, RELEASE, GIVEN, policy="reuse")
    for raised in (guessed, deployed_error):
        assert "<.Values.trivy.livenessProbe.initialDelaySeconds>: nil pointer" in raised.value.message
    assert helm.read_release(cluster, RELEASE, NS).revision == deployed.revision


def test_a_no_op_upgrade_is_green(shared_registry_release):
    _, cluster = shared_registry_release
    deployed = helm.read_release(cluster, RELEASE, NS)
    new_chart = chart("1.18.4")
    plan = planner.make_plan(planner.release_side(deployed), new_chart,
                             upgrade_values("default", {}, deployed.config, deployed.chart_values),
                             release=RELEASE, namespace=NS)
    assert plan.exit_code == 0, [f.to_dict() for f in plan.failures()]
    # what the guard used to judge: the chart's defaults, which change the registry PVC's access mode
    defaults = planner.make_plan(planner.release_side(deployed), new_chart, {}, release=RELEASE, namespace=NS)
    assert any("accessModes" in f.what or "accessModes" in f.observed for f in defaults.failures())


def test_coalescing_follows_helm():
    values = {"a": {"x": None, "y": 2}, "b": None, "c": 3}
    defaults = {"a": {"x": 1, "z": 3}, "b": {"deep": 1}, "d": 4, "c": {"table": 1}}
    assert coalesce(values, defaults) == {"a": {"y": 2, "z": 3}, "d": 4, "c": 3}
    assert values == {"a": {"x": None, "y": 2}, "b": None, "c": 3}  # neither input is changed
    assert coalesce({"kept": None}, {}) == {"kept": None}  # a null that nulls no default stays
