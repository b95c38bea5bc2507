"""The upgrade guard over real renders of the vendored Harbor charts (the real Helm engine): each finding
class planted (by a chart pair where one shows it, by values where none does) and caught, naming the object;
the PVC fix computed, proven by rendering again, and taken by the guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from seatrial.runbook.clients import helm
from seatrial.runbook.upgrade import fix as volume_fix
from seatrial.runbook.upgrade.findings import FAIL, OK, WARN
from seatrial.runbook.upgrade.planner import chart_side, make_plan

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"
RELEASE, NS = "my-harbor", "harbor"
_loaded: dict[str, helm.Chart] = {}


def chart(version: str) -> helm.Chart:
    if version not in _loaded:
        _loaded[version] = helm.load_chart(CHARTS / f"harbor-{version}.tgz")
    return _loaded[version]


def plan(old: str, new: str, old_values: dict | None = None, new_values: dict | None = None, **options):
    old_values = old_values or {}
    deployed = chart_side(chart(old), old_values, release=RELEASE, namespace=NS, upgrade=False)
    return make_plan(deployed, chart(new), old_values if new_values is None else new_values, release=RELEASE,
                     namespace=NS, **options)


def found(result, check: str, status: str = FAIL) -> dict[str, object]:
    return {f.object: f for f in result.findings if f.check == check and f.status == status}


# -- 1. the seed's story: 1.6.4 -> 1.7.5 with the same values ---------------------------------------------

def test_seed_story_every_pvc_and_statefulset_would_be_new_and_the_fix_keeps_them():
    result = plan("1.6.4", "1.7.5")
    renamed = found(result, "data_volume_kept")
    assert set(renamed) == {f"PersistentVolumeClaim/{name}" for name in (
        "my-harbor-harbor-registry", "my-harbor-harbor-jobservice", "my-harbor-harbor-chartmuseum",
        "database-data-my-harbor-harbor-database-0", "data-my-harbor-harbor-redis-0", "data-my-harbor-harbor-trivy-0")}
    database = renamed["PersistentVolumeClaim/database-data-my-harbor-harbor-database-0"]
    assert "database-data-my-harbor-database-0" in database.observed
    assert "StatefulSet/my-harbor-database" in database.what  # the StatefulSet is new too
    assert result.exit_code == 1
    # the fix is computed, verified by rendering again, and printed as a values file
    assert result.fix is not None and result.fix.verified
    assert result.fix.values == {"fullnameOverride": "my-harbor-harbor"}
    assert "fullnameOverride: my-harbor-harbor" in result.fix_values() and "verified" in result.fix_values()
    fixed = plan("1.6.4", "1.7.5", {}, result.fix.values)
    assert not found(fixed, "data_volume_kept") and fixed.exit_code == 0
    assert found(fixed, "data_volume_kept", OK)  # one passing check per data volume, not an empty set


def test_existing_claim_is_found_under_the_key_this_chart_version_reads():
    def readers(version):
        c = chart(version)

        def render(values):
            return c.render(values, release=RELEASE, namespace=NS, is_upgrade=True)
        return {role[1]: ".".join(path) for role, path in volume_fix.existing_claim_keys(c.values, render, {}).items()}

    assert readers("1.7.5")["jobservice"] == "persistence.persistentVolumeClaim.jobservice.existingClaim"
    assert readers("1.10.4")["jobservice"] == "persistence.persistentVolumeClaim.jobservice.jobLog.existingClaim"
    assert readers("1.19.1")["database"] == "persistence.persistentVolumeClaim.database.existingClaim"


def test_when_fullname_override_cannot_keep_a_volume_existing_claim_does():
    # The deployed registry used a restored claim; the new values forget it.
    deployed = {"persistence": {"persistentVolumeClaim": {"registry": {"existingClaim": "registry-restored"}}}}
    result = plan("1.9.6", "1.10.4", deployed, {})
    assert set(found(result, "data_volume_kept")) == {"PersistentVolumeClaim/registry-restored"}
    assert result.fix.method == "existingClaim" and result.fix.verified
    assert result.fix.values == deployed
    assert plan("1.9.6", "1.10.4", deployed, result.fix.values).exit_code == 0


# -- 2. fields Kubernetes refuses to update -----------------------------------------------------------------

def test_a_changed_volume_claim_template_is_refused_with_the_orphan_way_through():
    bigger = {"persistence": {"persistentVolumeClaim": {"database": {"size": "5Gi"}}}}
    result = plan("1.17.4", "1.18.4", {}, bigger)
    refused = found(result, "update_allowed")
    assert set(refused) == {"StatefulSet/my-harbor-database"}
    finding = refused["StatefulSet/my-harbor-database"]
    assert "volumeClaimTemplates" in finding.observed
    assert "kubectl -n harbor delete statefulset my-harbor-database --cascade=orphan" in finding.fix


def test_a_changed_selector_is_refused_for_deployments_and_statefulsets():
    same_names = {"fullnameOverride": "my-harbor"}
    result = plan("1.18.4", "1.19.1", same_names, {**same_names, "nameOverride": "registry"})
    refused = found(result, "update_allowed")
    assert "Deployment/my-harbor-core" in refused and "StatefulSet/my-harbor-database" in refused
    assert "selector" in refused["Deployment/my-harbor-core"].observed


def test_a_shrunk_pvc_is_refused():
    result = plan("1.18.4", "1.19.1", {}, {"persistence": {"persistentVolumeClaim": {"registry": {"size": "1Gi"}}}})
    finding = found(result, "update_allowed")["PersistentVolumeClaim/my-harbor-registry"]
    assert "shrinks: 5Gi -> 1Gi" in finding.observed


# -- 3. a PostgreSQL major skipped --------------------------------------------------------------------------

def test_a_skipped_postgres_major_names_the_chart_to_step_through():
    result = plan("1.10.4", "1.15.2", accept_removed=frozenset({"chartmuseum"}))
    finding = found(result, "postgres_major_reachable")["StatefulSet/my-harbor-database (harbor-db)"]
    assert "PostgreSQL 13" in finding.observed and "PostgreSQL 15" in finding.observed
    assert "chart 1.14.x (Harbor 2.10, PostgreSQL 14)" in finding.fix
    assert result.exit_code == 1
    assert not found(plan("1.13.5", "1.15.2"), "postgres_major_reachable")  # 14 -> 15: known to the entrypoint


def test_a_harbor_db_image_by_digest_is_a_warning_not_a_pass():
    pinned = {"database": {"internal": {"image": {"repository": "goharbor/harbor-db", "tag": "latest@sha256:00"}}}}
    result = plan("1.18.4", "1.19.1", pinned)
    assert found(result, "postgres_major_reachable", WARN), [f for f in result.findings
                                                              if f.check == "postgres_major_reachable"]


# -- 4. values keys the new chart ignores ---------------------------------------------------------------------

def test_a_moved_values_key_is_named_with_the_key_that_replaced_it():
    values = {"persistence": {"persistentVolumeClaim": {"jobservice": {"existingClaim": "my-harbor-jobservice"}}}}
    result = plan("1.9.6", "1.10.4", values)
    finding = found(result, "values_key_read")["persistence.persistentVolumeClaim.jobservice.existingClaim"]
    assert "persistence.persistentVolumeClaim.jobservice.jobLog.existingClaim" in finding.fix
    assert found(plan("1.9.6", "1.9.6", values), "values_key_read", OK)  # the same key is read by 1.9


def test_a_removed_component_key_is_named():
    result = plan("1.11.4", "1.12.6", {"chartmuseum": {"enabled": True}}, accept_removed=frozenset({"chartmuseum"}))
    assert set(found(result, "values_key_read")) == {"chartmuseum.enabled"}


# -- 5. a data PVC the new chart no longer renders -------------------------------------------------------------

def test_chartmuseum_disappearing_at_1_12_is_a_failure_until_acknowledged():
    result = plan("1.11.4", "1.12.6")
    finding = found(result, "data_volume_still_served")["PersistentVolumeClaim/my-harbor-chartmuseum"]
    assert "resource-policy: keep" in finding.what and "--accept-removed chartmuseum" in finding.fix
    assert result.exit_code == 1
    accepted = plan("1.11.4", "1.12.6", accept_removed=frozenset({"chartmuseum"}))
    assert accepted.exit_code == 0
    assert "accepted" in found(accepted, "data_volume_still_served", OK)["PersistentVolumeClaim/my-harbor-chartmuseum"
                                                                          ].what


# -- 6. RWO + RollingUpdate: a warning --------------------------------------------------------------------------

def test_rolling_update_with_an_rwo_volume_is_a_warning_with_the_values_fix():
    result = plan("1.18.4", "1.19.1")
    warned = found(result, "rollout_cannot_hang", WARN)
    assert set(warned) == {"Deployment/my-harbor-registry", "Deployment/my-harbor-jobservice"}
    assert "updateStrategy.type: Recreate" in warned["Deployment/my-harbor-registry"].fix
    assert result.exit_code == 0  # a warning is printed, not failed
    recreate = plan("1.18.4", "1.19.1", {}, {"updateStrategy": {"type": "Recreate"}})
    assert not found(recreate, "rollout_cannot_hang", WARN)


# -- 7. replace semantics ----------------------------------------------------------------------------------------

def test_force_is_refused_with_the_seeds_reason():
    result = plan("1.18.4", "1.19.1", force=True)
    finding = found(result, "no_replace")["helm upgrade my-harbor"]
    assert "spec is immutable after creation except resources.requests for bound claims" in finding.observed
    assert result.exit_code == 1


# -- 8. Services -------------------------------------------------------------------------------------------------

def test_a_service_whose_type_changes_is_named():
    cluster_ip = {"expose": {"type": "clusterIP", "tls": {"enabled": False}}}
    node_port = {"expose": {"type": "nodePort", "tls": {"enabled": False}}}
    result = plan("1.18.4", "1.19.1", cluster_ip, node_port)
    changed = found(result, "service_address_kept")
    assert list(changed) == ["Service/harbor"]
    assert "type: 'ClusterIP' -> 'NodePort'" in changed["Service/harbor"].observed


def test_consecutive_minors_with_the_same_values_are_safe():
    result = plan("1.18.4", "1.19.1", {"updateStrategy": {"type": "Recreate"}})
    assert result.exit_code == 0 and not result.warnings() and result.fix is None


@pytest.mark.parametrize("release", ["registry"])
def test_a_release_name_without_harbor_keeps_its_names_across_1_7(release):
    deployed = chart_side(chart("1.6.4"), {}, release=release, namespace=NS, upgrade=False)
    result = make_plan(deployed, chart("1.7.5"), {}, release=release, namespace=NS)
    assert not found(result, "data_volume_kept")


@pytest.mark.parametrize(("kubernetes", "status"), [((1, 32), FAIL), ((1, 33), OK), ((1, 36), OK), (None, WARN)])
def test_a_changed_statefulset_revision_history_limit_is_judged_by_the_clusters_version(kubernetes, status):
    """Kubernetes 1.32 refuses it ('updates to statefulset spec for fields other than ...', pkg/apis/apps/validation
    of v1.32.0), 1.33 allows it; an offline plan does not know the cluster, so it warns. The deployed release set
    revisionHistoryLimit 5 (values of a chart that has it); the new render has none: the patch drops it."""
    deployed = chart_side(chart("1.19.1"), {}, release=RELEASE, namespace=NS, upgrade=False)
    for manifest in deployed.manifests:
        if manifest["kind"] == "StatefulSet" and manifest["metadata"]["name"] == "my-harbor-database":
            manifest["spec"]["revisionHistoryLimit"] = 5
    deployed.kubernetes = kubernetes
    result = make_plan(deployed, chart("1.19.1"), {}, release=RELEASE, namespace=NS)
    (finding,) = [f for f in result.findings if f.check == "update_allowed" and
                  f.object == "StatefulSet/my-harbor-database"]
    assert finding.status == status, finding
    if status == FAIL:
        assert "spec.revisionHistoryLimit: 5 -> None" in finding.observed
        assert "--cascade=orphan" in finding.fix
    if status == WARN:
        assert "updatable from Kubernetes 1.33 on" in finding.observed and "-c seatrial.yaml" in finding.fix


def test_the_kubernetes_version_is_read_from_git_version():
    from seatrial.runbook.upgrade.immutable import parse_kubernetes_version

    assert parse_kubernetes_version("v1.32.4") == (1, 32)
    assert parse_kubernetes_version("v1.36.3-gke.1200") == (1, 36)
    assert parse_kubernetes_version("") is None
