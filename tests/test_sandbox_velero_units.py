"""The sandbox Velero's pure parts: resource modifiers, restore item actions, durations and names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from seatrial.fixtures.sandbox.velero import restore_actions as actions
from seatrial.fixtures.sandbox.velero.common import OperationLog, format_duration, parse_duration, valid_label_value
from seatrial.fixtures.sandbox.velero.modifiers import ModifierError, from_configmap, glob_matches
from seatrial.runbook.clients import velero


def configmap(text: str, *, extra_key: bool = False) -> dict:
    data = {"rules.yaml": text, **({"other.yaml": "x"} if extra_key else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rm", "namespace": "velero"}, "data": data}


def service(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "harbor", "namespace": "harbor"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"], **spec}}


@pytest.mark.parametrize(("text", "extra_key", "message"), [
    ("version: v2\nresourceModifierRules: []\n", False, "unsupported resource modifier version v2"),
    ("version: v1\nresourceModifierRules: []\n", True, "illegal resource modifiers velero/rm configmap"),
    ("version: v1\nresourceModifierRules:\n- conditions: {}\n  patches: []\n", False, "groupkind cannot be empty"),
    ("version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n"
     "  patches: [{operation: frob, path: /x}]\n", False, "unsupported operation frob"),
    ("version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: add, path: /a,"
     " value: b}]\n  mergePatches: [{patchData: '{}'}]\n", False, "only one of patches, mergePatches"),
    ("version: v1\nresourceModiferRules: []\n", False, "field resourceModiferRules not found"),
])
def test_bad_modifier_configmaps_are_refused_with_velero_messages(text: str, extra_key: bool, message: str):
    with pytest.raises(ModifierError, match=message):
        from_configmap(configmap(text, extra_key=extra_key))


def test_builder_configmap_sets_load_balancer_ip_only_on_the_matching_service():
    rules = [{"conditions": {"groupResource": "services", "resourceNameRegex": "^harbor$", "namespaces": ["harbor"]},
              "patches": [{"operation": "add", "path": "/spec/loadBalancerIP", "value": "192.168.1.240"}]}]
    modifiers = from_configmap(velero.resource_modifier_configmap("rm", "velero", rules))
    matching, other_name, other_ns = service(), service(), service()
    other_name["metadata"]["name"] = "harbor-core"
    assert modifiers.apply(matching, "services", "harbor") == []
    assert modifiers.apply(other_name, "services", "harbor") == []
    assert modifiers.apply(other_ns, "services", "elsewhere") == []
    assert matching["spec"]["loadBalancerIP"] == "192.168.1.240"
    assert "loadBalancerIP" not in other_name["spec"] and "loadBalancerIP" not in other_ns["spec"]


def test_json_patch_values_test_skips_and_replace_of_a_missing_path_is_an_error():
    text = """version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  patches:
  - {operation: replace, path: /spec/replicas, value: "0"}
  - {operation: add, path: /metadata/labels/frozen, value: "true"}
  - {operation: add, path: /spec/template/spec/containers/0/args, value: '["--read-only"]'}
- conditions: {groupResource: "*.apps"}
  patches:
  - {operation: test, path: /spec/replicas, value: "5"}
  - {operation: add, path: /metadata/labels/never, value: "set"}
- conditions: {groupResource: "**"}
  patches:
  - {operation: replace, path: /spec/missing, value: x}
"""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "core", "labels": {}},
                  "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "core"}]}}}}
    errors = from_configmap(configmap(text)).apply(deployment, "deployments.apps", "harbor")
    assert deployment["spec"]["replicas"] == 0
    assert deployment["metadata"]["labels"] == {"frozen": True}  # "true" goes in raw: a boolean
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["--read-only"]
    assert errors == ["doc is missing path: /spec/missing"]


def test_merge_patches_and_globs():
    text = """version: v1
resourceModifierRules:
- conditions: {groupResource: persistentvolumeclaims, namespaces: [harbor]}
  mergePatches:
  - patchData: |
      {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": null, "team": "registry"}}}
"""
    pvc = {"metadata": {"name": "data", "annotations": {"volume.kubernetes.io/selected-node": "n1"}}, "spec": {}}
    assert from_configmap(configmap(text)).apply(pvc, "persistentvolumeclaims", "harbor") == []
    assert pvc["metadata"]["annotations"] == {"team": "registry"}
    assert glob_matches("*.apps", "deployments.apps") and not glob_matches("*", "deployments.apps")
    assert glob_matches("**", "deployments.apps") and glob_matches("pods", "pods")


def test_service_action_clears_cluster_ips_and_unset_node_ports_but_not_the_load_balancer_ip():
    explicit = json.dumps({"spec": {"ports": [{"port": 443, "nodePort": 30443}]}})
    svc = service(type="LoadBalancer", loadBalancerIP="192.0.2.10", healthCheckNodePort=31000,
                  ports=[{"port": 80, "nodePort": 30080}, {"port": 443, "nodePort": 30443}])
    svc["metadata"]["annotations"] = {actions.LAST_APPLIED: explicit}
    actions.service_action(svc, preserve_node_ports=False)
    assert "clusterIP" not in svc["spec"] and "clusterIPs" not in svc["spec"]
    assert svc["spec"]["ports"] == [{"port": 80}, {"port": 443, "nodePort": 30443}]
    assert "healthCheckNodePort" not in svc["spec"] and svc["spec"]["loadBalancerIP"] == "192.0.2.10"
    headless = service(clusterIP="None", clusterIPs=["None"])
    actions.service_action(headless, preserve_node_ports=False)
    assert headless["spec"]["clusterIP"] == "None"
    kept = service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    actions.service_action(kept, preserve_node_ports=True)
    assert kept["spec"]["ports"] == [{"port": 80, "nodePort": 30080}]


def test_reset_metadata_pvc_binding_and_restore_wait():
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"},
           "metadata": {"name": "data", "namespace": "harbor", "uid": "u", "resourceVersion": "9",
                        "ownerReferences": [{}], "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                                                 "volume.kubernetes.io/selected-node": "n1",
                                                                 "keep": "me"}},
           "spec": {"volumeName": "pvc-1"}}
    actions.reset_metadata_and_status(pvc)
    actions.reset_pvc_binding(pvc, provision_again=True)
    assert pvc["metadata"] == {"name": "data", "namespace": "harbor", "annotations": {"keep": "me"}}
    assert "status" not in pvc and "volumeName" not in pvc["spec"]
    pod = {"spec": {"initContainers": [{"name": "restore-wait"}, {"name": "migrate"}], "nodeName": "n1"}}
    actions.pod_action(pod)
    actions.add_restore_wait(pod, "uid-1", ["data", "cache"])
    helper = pod["spec"]["initContainers"][0]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["restore-wait", "migrate"]
    assert helper["args"] == ["uid-1"] and [m["name"] for m in helper["volumeMounts"]] == ["cache", "data"]
    assert "nodeName" not in pod["spec"]


def test_durations_names_and_result_counts():
    assert parse_duration("720h0m0s") == timedelta(hours=720) and parse_duration("1h30m") == timedelta(minutes=90)
    assert format_duration(parse_duration("72h")) == "72h0m0s"
    with pytest.raises(ValueError):
        parse_duration("3 days")
    long = "seatrial-my-harbor-20261125t213000-with-a-very-long-suffix-that-goes-on"
    assert len(valid_label_value(long)) == 63 and valid_label_value("short") == "short"
    log = OperationLog("backup", "b", "velero")
    log.warn("w1", "harbor")
    log.warn("w2")
    log.error("e1", "harbor")
    assert (log.warnings, log.errors) == (2, 1)
    assert log.results == {"warnings": {"namespaces": {"harbor": ["w1"]}, "velero": ["w2"]},
                           "errors": {"namespaces": {"harbor": ["e1"]}}}
    assert 'level=warning msg="w1"' in log.text()
