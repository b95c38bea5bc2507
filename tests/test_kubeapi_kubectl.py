"""The test API server through the real kubectl."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from seatrial.fixtures.tools import require_tool
from tests.waiting import wait_for


@pytest.fixture
def kube(kube_api):
    require_tool("kubectl")
    store = kube_api.store
    for ns in ("harbor", "velero"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    store.create({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "harbor-core-0", "namespace": "harbor", "labels": {"app": "harbor"}},
                  "spec": {"containers": [{"name": "core", "image": "goharbor/harbor-core:v2.11.0"}]}})
    store.create({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "harbor-core", "namespace": "harbor"},
                  "spec": {"template": {"metadata": {"labels": {"app": "harbor"}}, "spec": {"containers": [
                      {"name": "core", "image": "goharbor/harbor-core:v2.11.0"},
                      {"name": "sidecar", "image": "busybox"}]}}}})
    store.create({"apiVersion": "velero.io/v1", "kind": "Backup",
                  "metadata": {"name": "nightly", "namespace": "velero"},
                  "spec": {"includedNamespaces": ["harbor"], "ttl": "24h0m0s"}})
    return kube_api


def ok(result) -> str:
    assert result.returncode == 0, f"kubectl failed ({result.returncode}): {result.stderr}"
    return result.stdout


def test_get_pods_prints_a_table(kube):
    lines = ok(kube.kubectl("get", "pods", "-n", "harbor")).splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"] and lines[1].split()[0] == "harbor-core-0"
    assert "harbor-core-0" in ok(kube.kubectl("get", "pods", "-A", "-l", "app=harbor"))
    assert ok(kube.kubectl("get", "pods", "-n", "harbor", "-l", "app=other")) == ""


def test_get_backups_as_json(kube):
    listed = json.loads(ok(kube.kubectl("get", "backups.velero.io", "-n", "velero", "-o", "json")))
    assert [(b["kind"], b["metadata"]["name"]) for b in listed["items"]] == [("Backup", "nightly")]
    assert json.loads(ok(kube.kubectl("get", "crd", "backups.velero.io", "-o", "json")))["spec"]["group"] == "velero.io"


def test_annotate_and_label_a_pod(kube):
    ok(kube.kubectl("annotate", "pod", "harbor-core-0", "-n", "harbor", "backup.velero.io/backup-volumes=data"))
    ok(kube.kubectl("label", "pod", "harbor-core-0", "-n", "harbor", "tier=web"))
    meta = kube.store.get("v1", "Pod", "harbor-core-0", "harbor")["metadata"]
    assert meta["annotations"] == {"backup.velero.io/backup-volumes": "data"}
    assert meta["labels"] == {"app": "harbor", "tier": "web"}


def test_strategic_patch_merges_maps_and_containers_by_name(kube):
    patch = {"spec": {"template": {"metadata": {"annotations": {"restarted": "now"}},
                                   "spec": {"containers": [{"name": "sidecar", "image": "alpine"}]}}}}
    ok(kube.kubectl("patch", "deploy", "harbor-core", "-n", "harbor", "--type", "strategic", "-p", json.dumps(patch)))
    template = kube.store.get("apps/v1", "Deployment", "harbor-core", "harbor")["spec"]["template"]
    assert template["metadata"] == {"labels": {"app": "harbor"}, "annotations": {"restarted": "now"}}
    assert [(c["name"], c["image"]) for c in template["spec"]["containers"]] == [
        ("core", "goharbor/harbor-core:v2.11.0"), ("sidecar", "alpine")]


def test_merge_and_json_patch(kube):
    ok(kube.kubectl("patch", "backup", "nightly", "-n", "velero", "--type", "merge", "-p",
                    '{"spec":{"ttl":"48h0m0s","includedNamespaces":["harbor","harbor-db"]}}'))
    assert kube.store.get("velero.io/v1", "Backup", "nightly", "velero")["spec"] == {
        "ttl": "48h0m0s", "includedNamespaces": ["harbor", "harbor-db"]}
    ok(kube.kubectl("patch", "deployment", "harbor-core", "-n", "harbor", "--type", "json", "-p",
                    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"x:1"}]'))
    containers = kube.store.get("apps/v1", "Deployment", "harbor-core", "harbor")["spec"]["template"]["spec"]
    assert containers["containers"][0]["image"] == "x:1"


def test_strategic_patch_of_a_velero_object_is_refused_like_a_crd(kube):
    result = kube.kubectl("patch", "backup", "nightly", "-n", "velero", "--type", "strategic", "-p", '{"spec":{}}')
    assert result.returncode != 0 and "strategic-merge-patch+json is not supported" in result.stderr


def test_invalid_patch_of_a_backup_is_refused_naming_the_field(kube):
    result = kube.kubectl("patch", "backup", "nightly", "-n", "velero", "--type", "merge", "-p", '{"spec":{"ttl":5}}')
    assert result.returncode != 0 and "spec.ttl" in result.stderr


def test_create_invalid_backup_fails_naming_the_field(kube, tmp_path):
    manifest = tmp_path / "backup.json"
    manifest.write_text(json.dumps({"apiVersion": "velero.io/v1", "kind": "Backup",
                                    "metadata": {"name": "bad", "namespace": "velero"},
                                    "spec": {"includedNamespaces": "harbor"}}))
    result = kube.kubectl("create", "-f", str(manifest))
    assert result.returncode != 0
    assert "spec.includedNamespaces" in result.stderr and "must be of type array" in result.stderr


def test_create_with_unknown_field_is_strict_by_default_in_kubectl(kube, tmp_path):
    manifest = tmp_path / "backup.json"
    manifest.write_text(json.dumps({"apiVersion": "velero.io/v1", "kind": "Backup",
                                    "metadata": {"name": "typo", "namespace": "velero"},
                                    "spec": {"includedNamespace": ["harbor"]}}))
    refused = kube.kubectl("create", "-f", str(manifest))
    assert refused.returncode != 0 and 'unknown field "spec.includedNamespace"' in refused.stderr
    warned = kube.kubectl("create", "-f", str(manifest), "--validate=warn")
    assert warned.returncode == 0 and "spec.includedNamespace" in warned.stderr
    assert kube.store.get("velero.io/v1", "Backup", "typo", "velero")["spec"] == {}


def test_create_valid_manifest_then_delete(kube, tmp_path):
    manifest = tmp_path / "cm.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "settings", "namespace": "harbor"}, "data": {"a": "1"}}))
    ok(kube.kubectl("create", "-f", str(manifest)))
    assert kube.store.get("v1", "ConfigMap", "settings", "harbor")["data"] == {"a": "1"}
    ok(kube.kubectl("delete", "-f", str(manifest)))
    ok(kube.kubectl("delete", "backup", "nightly", "-n", "velero"))
    assert kube.store.list("velero.io/v1", "Backup", "velero") == []
    missing = kube.kubectl("delete", "backup", "nightly", "-n", "velero")
    assert missing.returncode != 0 and 'backups.velero.io "nightly" not found' in missing.stderr


def test_wait_returns_when_condition_is_met_and_times_out_otherwise(kube):
    ok(kube.kubectl("wait", "--for=jsonpath={.spec.ttl}=24h0m0s", "backup/nightly", "-n", "velero", "--timeout=5s"))
    result = kube.kubectl("wait", "--for=jsonpath={.status.phase}=Completed", "backup/nightly", "-n", "velero",
                          "--timeout=1s")
    assert result.returncode != 0 and "timed out" in result.stderr


def test_wait_sees_a_change_made_while_it_waits(kube):
    def watching() -> list[str]:
        return [path for method, path in list(kube.server.requests)
                if method == "GET" and "/backups?" in path and "watch=true" in path]

    with ThreadPoolExecutor(1) as pool:
        waited = pool.submit(kube.kubectl, "wait", "--for=jsonpath={.status.phase}=Completed", "backup/nightly",
                             "-n", "velero", "--timeout=60s")
        # the change is made once kubectl watches (not after a fixed sleep it may not have started within)
        wait_for("kubectl wait to watch the Backup", lambda: watching() or waited.done() and waited.result(),
                 timeout=60)
        kube.store.mutate("velero.io/v1", "Backup", "nightly", "velero",
                          lambda backup: backup.setdefault("status", {}).update(phase="Completed"))
        ok(waited.result())


def test_imperative_creates_sent_as_protobuf_are_understood(kube, tmp_path):
    ok(kube.kubectl("create", "namespace", "harbor-restore"))
    ok(kube.kubectl("create", "configmap", "settings", "-n", "harbor-restore", "--from-literal=mode=restore"))
    key_file = tmp_path / "key"
    key_file.write_bytes(b"\x00\x01binary")
    ok(kube.kubectl("create", "secret", "generic", "keys", "-n", "harbor-restore", f"--from-file=key={key_file}"))
    ok(kube.kubectl("create", "serviceaccount", "robot", "-n", "harbor-restore"))
    assert kube.store.get("v1", "ConfigMap", "settings", "harbor-restore")["data"] == {"mode": "restore"}
    secret = kube.store.get("v1", "Secret", "keys", "harbor-restore")
    assert secret["type"] == "Opaque" and base64.b64decode(secret["data"]["key"]) == b"\x00\x01binary"
    assert kube.store.get("v1", "ServiceAccount", "robot", "harbor-restore")["metadata"]["name"] == "robot"
    refused = kube.kubectl("create", "deployment", "web", "--image=nginx", "-n", "harbor-restore")
    assert refused.returncode != 0 and "send it as JSON" in refused.stderr


def test_scale_a_deployment(kube):
    ok(kube.kubectl("scale", "deployment/harbor-core", "-n", "harbor", "--replicas=0"))
    assert kube.store.get("apps/v1", "Deployment", "harbor-core", "harbor")["spec"]["replicas"] == 0


def test_tables_use_the_crd_printer_columns(kube):
    kube.store.create({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                       "metadata": {"name": "default", "namespace": "velero"},
                       "spec": {"provider": "aws", "default": True, "objectStorage": {"bucket": "velero"}},
                       "status": {"phase": "Available"}})
    header, row = ok(kube.kubectl("get", "bsl", "-n", "velero")).splitlines()
    assert header.split() == ["NAME", "PHASE", "LAST", "VALIDATED", "AGE", "DEFAULT"]
    assert row.split()[:2] == ["default", "Available"] and row.split()[-1] == "true"
    assert ok(kube.kubectl("get", "backups", "-n", "velero")).split()[:3] == ["NAME", "AGE", "nightly"]


def test_server_side_dry_run_reports_the_invalid_field(kube):
    result = kube.kubectl("patch", "backup", "nightly", "-n", "velero", "--type", "merge", "--dry-run=server",
                          "-p", '{"spec":{"includedNamespaces":"harbor"}}')
    assert result.returncode != 0 and "spec.includedNamespaces" in result.stderr
    ok(kube.kubectl("delete", "backup", "nightly", "-n", "velero", "--dry-run=server"))
    assert kube.store.get("velero.io/v1", "Backup", "nightly", "velero")
