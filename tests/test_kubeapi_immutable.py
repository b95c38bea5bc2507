"""Fields Kubernetes refuses to change, with its messages, through the real kubectl; and what
kube-controller-manager puts into every new namespace."""

from __future__ import annotations

import json

import pytest

from seatrial.fixtures.kubeapi import immutable
from seatrial.fixtures.kubeapi.store import InvalidError, Store
from seatrial.fixtures.kubeapi.types import register_standard_types

PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "rook-ceph-block"}}


def sts(**spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "db", "image": "postgres:14"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": "1Gi"}}}}],
                     **spec}}


def replace(kube_api, obj: dict):
    return kube_api.kubectl("replace", "-f", "-", input=json.dumps(obj))


def create(kube_api, obj: dict) -> None:
    created = kube_api.kubectl("create", "-f", "-", input=json.dumps(obj))
    assert created.returncode == 0, created.stderr


def test_a_bound_claim_refuses_a_replace_without_its_volume_name(kube_api):
    create(kube_api, PVC)
    kube_api.store.mutate("v1", "PersistentVolumeClaim", "data", "default",
                          lambda o: o["spec"].update(volumeName="pvc-1234"))
    refused = replace(kube_api, PVC)
    assert refused.returncode != 0
    assert ('The PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except '
            "resources.requests and volumeAttributesClassName for bound claims") in refused.stderr
    assert '- \tVolumeName: "pvc-1234",\n+ \tVolumeName: "",' in refused.stderr
    grown = json.loads(json.dumps(PVC))
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    grown["spec"]["volumeName"] = "pvc-1234"
    assert replace(kube_api, grown).returncode == 0  # resources.requests may change
    assert kube_api.kubectl("patch", "pvc", "data", "--type=merge", "-p",
                            '{"spec": {"storageClassName": "other"}}').returncode != 0


def test_the_binder_may_set_the_volume_name_once(kube_api):
    create(kube_api, PVC)
    bound = kube_api.kubectl("patch", "pvc", "data", "--type=merge", "-p", '{"spec": {"volumeName": "pvc-1"}}')
    assert bound.returncode == 0, bound.stderr
    again = kube_api.kubectl("patch", "pvc", "data", "--type=merge", "-p", '{"spec": {"volumeName": "pvc-2"}}')
    assert "spec is immutable after creation" in again.stderr


def test_a_statefulset_changes_only_what_kubernetes_allows(kube_api):
    create(kube_api, sts())
    allowed = sts(replicas=3, updateStrategy={"type": "OnDelete"}, minReadySeconds=5,
                  persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"})
    allowed["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:15"
    assert replace(kube_api, allowed).returncode == 0
    message = ('The StatefulSet "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than '
               "'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
               "'minReadySeconds' are forbidden")
    bigger = sts()
    bigger["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert message in replace(kube_api, bigger).stderr
    assert message in replace(kube_api, sts(serviceName="other")).stderr
    assert message in replace(kube_api, sts(selector={"matchLabels": {"app": "db", "tier": "x"}})).stderr


def test_a_volume_claim_template_as_the_api_server_prints_it_is_no_change(kube_api):
    create(kube_api, sts())
    printed = sts()
    printed["spec"]["volumeClaimTemplates"][0].update(apiVersion="v1", kind="PersistentVolumeClaim",
                                                      status={"phase": "Pending"})
    printed["spec"]["volumeClaimTemplates"][0]["metadata"].update(creationTimestamp=None, annotations=None)
    assert replace(kube_api, printed).returncode == 0


@pytest.mark.parametrize("kind,api_version", [("Deployment", "apps/v1"), ("DaemonSet", "apps/v1"),
                                              ("Job", "batch/v1")])
def test_selectors_are_immutable(kube_api, kind, api_version):
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "w"}},
                    "template": {"metadata": {"labels": {"app": "w", "tier": "a"}},
                                 "spec": {"containers": [{"name": "w", "image": "busybox"}]}}}}
    create(kube_api, obj)
    obj["spec"]["selector"] = {"matchLabels": {"app": "w", "tier": "a"}}
    refused = replace(kube_api, obj)
    assert ('spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"w", "tier":"a"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable") in refused.stderr


def test_a_job_template_is_immutable(kube_api):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "default"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "m", "image": "busybox:1"}]}}}}
    create(kube_api, job)
    refused = kube_api.kubectl("patch", "job", "migrate", "--type=json", "-p",
                               '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", '
                               '"value": "busybox:2"}]')
    assert 'The Job "migrate" is invalid: spec.template: Invalid value:' in refused.stderr
    assert "field is immutable" in refused.stderr


def test_a_service_keeps_its_cluster_ip(kube_api):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "core", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}
    create(kube_api, service)
    without = {**service, "spec": {"ports": [{"port": 8080}]}}
    assert replace(kube_api, without).returncode == 0  # left out: kept, as the API server does
    assert kube_api.store.get("v1", "Service", "core", "default")["spec"]["clusterIP"] == "10.96.0.10"
    moved = {**service, "spec": {"clusterIP": "10.96.0.99", "ports": [{"port": 80}]}}
    assert ('spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set'
            in replace(kube_api, moved).stderr)


def test_a_dry_run_is_refused_the_same_way(kube_api):
    create(kube_api, PVC)
    kube_api.store.mutate("v1", "PersistentVolumeClaim", "data", "default",
                          lambda o: o["spec"].update(volumeName="pvc-1234"))
    assert "spec is immutable" in kube_api.kubectl("replace", "--dry-run=server", "-f", "-",
                                                   input=json.dumps(PVC)).stderr


# -- namespaces -----------------------------------------------------------------------------------
def test_a_new_namespace_holds_default_and_kube_root_ca(kube_api):
    created = kube_api.kubectl("create", "namespace", "harbor")
    assert created.returncode == 0, created.stderr
    accounts = json.loads(kube_api.kubectl("get", "serviceaccounts", "-n", "harbor", "-o", "json", check=True).stdout)
    assert [a["metadata"]["name"] for a in accounts["items"]] == ["default"]
    configmap = json.loads(kube_api.kubectl("get", "configmap", "kube-root-ca.crt", "-n", "harbor", "-o", "json",
                                            check=True).stdout)
    assert configmap["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    existing = kube_api.store.get("v1", "ConfigMap", "kube-root-ca.crt", "default")
    assert existing["data"] == configmap["data"]  # one CA per cluster


def test_each_cluster_has_its_own_ca_and_a_deleted_default_comes_back(kube_api):
    other = register_standard_types(Store("other"))
    ours = kube_api.store.get("v1", "ConfigMap", "kube-root-ca.crt", "default")["data"]["ca.crt"]
    assert other.get("v1", "ConfigMap", "kube-root-ca.crt", "default")["data"]["ca.crt"] != ours
    deleted = kube_api.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", "default")
    assert deleted.returncode == 0, deleted.stderr
    assert kube_api.store.get("v1", "ConfigMap", "kube-root-ca.crt", "default")["data"]["ca.crt"] == ours


def test_controllers_writing_through_the_store_are_not_held_to_the_http_rules():
    """Immutability is the API server's rule for clients; the binder sets volumeName through the store."""
    store = register_standard_types(Store("direct"))
    store.create(PVC)
    bound = store.mutate("v1", "PersistentVolumeClaim", "data", "default",
                         lambda o: o["spec"].update(volumeName="pvc-1"))
    with pytest.raises(InvalidError, match='PersistentVolumeClaim "data" is invalid: spec: Forbidden'):
        immutable.check(bound, PVC)
