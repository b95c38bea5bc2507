"""Pure pieces of the fidelity fixes (fidelity-audit.md): what real Velero writes and installs, read right.
The behaviour around them is tested through the sandbox in tests/test_checks_sandbox.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from seatrial.checks.facts import RestoredItem, cluster_made_warning, restored_items
from seatrial.checks.repository import restic_repository
from seatrial.runbook.clients.velero import server_uploader, server_version, velero_server


def test_the_restore_resource_list_is_read_as_velero_writes_it():
    # pkg/restore/request.go: "<group/version>/<Kind>" -> ["ns/name(action)"], cluster-scoped without "ns/"
    items = restored_items({"v1/ConfigMap": ["harbor/kube-root-ca.crt(skipped)", "harbor/my-harbor-core(created)"],
                            "v1/PersistentVolumeClaim": ["harbor/my-harbor-registry(skipped)"],
                            "v1/ServiceAccount": ["harbor/default(updated)"],
                            "v1/Namespace": ["harbor(created)"],
                            "apps/v1/Deployment": ["harbor/my-harbor-core(failed)"]})
    assert RestoredItem("Namespace", "", "harbor", "created") in items
    lost = sorted(str(i) for i in items if i.lost)
    assert lost == ["Deployment harbor/my-harbor-core(failed)",
                    "PersistentVolumeClaim harbor/my-harbor-registry(skipped)"]


def test_cluster_made_objects_are_known_by_their_warning():
    assert cluster_made_warning('harbor: could not restore, ConfigMap "kube-root-ca.crt" already exists. Warning: '
                                "the in-cluster version is different than the backed-up version")
    assert not cluster_made_warning('harbor: could not restore, ConfigMap "my-harbor-core" already exists.')


def _deployment(name: str, image: str, args: list[str], labels: dict | None = None, command=("/velero",)) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"template": {"spec": {"containers": [{"name": "velero", "image": image,
                                                           "command": list(command), "args": args}]}}}}


def test_the_velero_server_is_found_by_name_command_or_labels():
    chart = _deployment("velero-prod", "velero/velero:v1.18.1", ["server", "--uploader-type=kopia"])
    other = _deployment("minio", "minio/minio:latest", ["server", "/data"], command=("minio",))
    assert velero_server([other, chart]) is chart  # the Helm chart names it after the release
    labelled = _deployment("backup", "registry.local/velero:v1.16.2", [], labels={"app.kubernetes.io/name": "velero"},
                           command=("/entrypoint",))
    assert velero_server([other, labelled]) is labelled
    named = _deployment("velero", "velero/velero:v1.16.2", ["server"])
    assert velero_server([chart, named]) is named
    assert velero_server([other]) is None


@pytest.mark.parametrize(("image", "args", "version", "uploader"), [
    ("velero/velero:v1.16.2", ["server"], (1, 16, 2), "restic"),  # the v1.16 server's own default
    ("velero/velero:v1.16.2", ["server", "--uploader-type", "kopia"], (1, 16, 2), "kopia"),
    ("velero/velero:v1.17.2", ["server"], (1, 17, 2), "kopia"),
    ("harbor.local/mirror/velero@sha256:" + "a" * 64, ["server", "--uploader-type=restic"], None, "restic"),
])
def test_uploader_and_version_of_the_server(image, args, version, uploader):
    deployment = _deployment("velero", image, args)
    assert server_version(deployment) == version and server_uploader(deployment) == uploader


def test_restic_repo_prefix_of_the_location_is_kept_on_seatrials_endpoint():
    bsl = {"metadata": {"name": "default"},
           "spec": {"config": {"s3Url": "http://minio.minio.svc:9000",
                               "resticRepoPrefix": "s3:http://minio.minio.svc:9000/velero/custom/restic"}}}
    config = SimpleNamespace(velero=SimpleNamespace(namespace="velero", storage_location="default"),
                             storage=SimpleNamespace(endpoint="https://s3.example.org", bucket="velero",
                                                     prefix="cluster-a"))
    ctx = SimpleNamespace(config=config, objects=lambda side, api, kind, ns: [bsl] if kind == "BackupStorageLocation"
                          else [])
    assert restic_repository(ctx, "harbor") == "s3:https://s3.example.org/velero/custom/restic/harbor"


@pytest.mark.parametrize(("text", "value"), [
    ("1Gi", 2**30), ("500M", 5e8), ("1.5e9", 1.5e9), ("100m", 0.1), ("2Pi", 2 * 2**50), ("1Ei", 2**60),
    ("10k", 1e4), ("3", 3.0), (None, 0.0), ("1E3", 1000.0),
])
def test_kubernetes_quantities_are_parsed_fully(text, value):
    from seatrial.checks.facts import parse_quantity

    assert parse_quantity(text) == pytest.approx(value)


def test_a_quantity_that_is_none_is_said_not_guessed():
    from seatrial.checks.facts import parse_quantity

    assert parse_quantity("12 gigs") is None and parse_quantity("Gi") is None


def _service(annotations: dict, ip: str | None = None) -> dict:
    return {"metadata": {"name": "my-harbor", "namespace": "harbor", "annotations": annotations},
            "spec": {"type": "LoadBalancer", **({"loadBalancerIP": ip} if ip else {})},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}}


def test_a_metallb_address_annotation_copied_from_the_source_is_flagged():
    from _pytest.outcomes import Failed

    from seatrial.checks.test_fixup import test_service_has_target_address as check

    key = "metallb.universe.tf/loadBalancerIPs"
    source = _service({key: "192.0.2.10"})

    def ctx(services: dict):
        return SimpleNamespace(config=SimpleNamespace(fixup=SimpleNamespace(services=services),
                                                      source=SimpleNamespace(namespace="harbor")),
                               objects=lambda side, api, kind, ns: [source])

    with pytest.raises(Failed, match="still carries the source's address in annotation metallb"):
        check(ctx({}), _service({key: "192.0.2.10"}))
    check(ctx({}), _service({key: "198.51.100.10"}))  # changed for the target: fine


def test_annotation_values_stay_strings_through_velero_resource_modifiers():
    """E8: Velero's addQuotes turns `true`, `null`, numbers and `{`/`[` values into JSON; seatrial quotes them and the
    sandbox's modifier (Velero's rule, json_patch.go since v1.14) keeps them strings, as the API server needs."""
    from seatrial.fixtures.sandbox.velero.modifiers import from_configmap
    from seatrial.runbook.clients.velero import resource_modifier_configmap
    from seatrial.runbook.migration.steps.fixup import modifier_rules

    annotations = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true", "example.com/port": "8080",
                   "example.com/empty": "null", "example.com/json": "{not json", "example.com/name": "harbor"}
    fix = SimpleNamespace(load_balancer_ip="198.51.100.10", annotations=annotations)
    cfg = SimpleNamespace(fixup=SimpleNamespace(services={"my-harbor": fix}),
                          source=SimpleNamespace(namespace="harbor"))
    modifiers = from_configmap(resource_modifier_configmap("seatrial-fixup", "velero", modifier_rules(cfg)))
    helm = {"meta.helm.sh/release-name": "my-harbor"}  # Helm annotates what it installs: the map exists
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "my-harbor", "namespace": "harbor", "annotations": dict(helm)},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    assert modifiers.apply(service, "services", "harbor") == []
    assert service["metadata"]["annotations"] == {**helm, **annotations}
    assert service["spec"]["loadBalancerIP"] == "198.51.100.10"


def test_annotations_reach_a_service_that_has_no_annotations_map():
    """A Service without metadata.annotations: a JSON-patch `add` to /metadata/annotations/<key> fails there (RFC
    6902 needs the parent), and Velero then does not restore the Service; seatrial's merge patch creates the map."""
    from seatrial.fixtures.sandbox.velero.modifiers import from_configmap
    from seatrial.runbook.clients.velero import resource_modifier_configmap
    from seatrial.runbook.migration.steps.fixup import modifier_rules

    def bare_service() -> dict:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-harbor", "namespace": "harbor"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}

    annotations = {"example.com/port": "8080", "metallb.universe.tf/loadBalancerIPs": "198.51.100.10"}
    fix = SimpleNamespace(load_balancer_ip="198.51.100.10", annotations=annotations)
    cfg = SimpleNamespace(fixup=SimpleNamespace(services={"my-harbor": fix}),
                          source=SimpleNamespace(namespace="harbor"))
    service = bare_service()
    modifiers = from_configmap(resource_modifier_configmap("seatrial-fixup", "velero", modifier_rules(cfg)))
    assert modifiers.apply(service, "services", "harbor") == []
    assert service["metadata"]["annotations"] == annotations
    assert service["spec"]["loadBalancerIP"] == "198.51.100.10"

    # the sandbox's modifier refuses the JSON-patch form on the same Service, as Velero does
    json_add = [{"conditions": {"groupResource": "services", "namespaces": ["harbor"]}, "patches": [
        {"operation": "add", "path": "/metadata/annotations/example.com~1port", "value": "\"8080\""}]}]
    service = bare_service()
    errors = from_configmap(resource_modifier_configmap("rm", "velero", json_add)).apply(service, "services", "harbor")
    assert errors and "annotations" not in service["metadata"]


def test_a_target_location_that_is_not_read_only_is_a_warning_not_a_failure():
    """F2: Velero's migration guide wants the restoring cluster's BSL ReadOnly (GC and deletions skip it)."""
    from seatrial.checks.test_preflight import test_storage_location_available as check

    def ctx(access: str | None):
        bsl = {"metadata": {"name": "default"}, "spec": {**({"accessMode": access} if access else {})},
               "status": {"phase": "Available"}}
        config = SimpleNamespace(velero=SimpleNamespace(storage_location="default", namespace="velero"))
        return SimpleNamespace(config=config, objects=lambda side, api, kind, ns: [bsl])

    facts: dict[str, str] = {}
    check(ctx(None), "target", facts.__setitem__)
    assert facts["access_mode"] == "ReadWrite" and "--access-mode ReadOnly" in facts["warning"]
    facts.clear()
    check(ctx("ReadOnly"), "target", facts.__setitem__)
    assert "warning" not in facts
    check(ctx(None), "source", facts.__setitem__)
    assert "warning" not in facts


def test_a_blob_redirect_to_storage_that_is_not_reachable_is_named_as_such():
    """I3: with S3 registry storage Harbor answers a blob GET with 307 to the storage's own address, which can be an
    in-cluster name: that is a dependency problem named as the redirect, never "corrupt"."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from seatrial.runbook.clients.registry import RegistryClient
    from seatrial.runbook.errors import DigestMismatch, Unreachable
    from seatrial.runbook.secrets import Secret

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{closed}/bucket/docker/registry/v2/blobs/data?X-Amz=1")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = RegistryClient(f"http://127.0.0.1:{server.server_port}", "admin", Secret("redirect-pw-1", "p"),
                                timeout=5)
        with pytest.raises(Unreachable) as raised:
            client.verify_blob("library/app", "sha256:" + "a" * 64, 10)
    finally:
        server.shutdown()
    assert f"redirected to its storage at http://127.0.0.1:{closed}" in str(raised.value)
    assert not isinstance(raised.value, DigestMismatch) and "corrupt" not in str(raised.value)


def test_the_freeze_is_compared_with_the_backup_window_on_the_clusters_clock():
    """C4: the freeze time is this machine's clock, the backup window the cluster's; the backup step measures the
    offset when it creates the Backup, so a laptop whose clock runs 90 s ahead is no false alarm."""
    from datetime import UTC, datetime

    from _pytest.outcomes import Failed

    from seatrial.checks.test_backup import test_source_read_only_during_backup as check

    start = datetime(2026, 11, 28, 22, 0, 0, tzinfo=UTC).timestamp()
    backup = {"metadata": {"name": "b1"}, "status": {"startTimestamp": "2026-11-28T22:00:00Z",
                                                     "completionTimestamp": "2026-11-28T22:05:00Z"}}

    def ctx(frozen_at: float, offset: float | None):
        steps = {"freeze": {"frozen_at": frozen_at, "thawed_at": None},
                 "backup": {"backup": "b1", "freeze_readings": [], "clock_offset_s": offset}}
        memo: dict = {}
        return SimpleNamespace(backup_name="b1", journal=SimpleNamespace(step=lambda name: steps.get(name, {})),
                               config=SimpleNamespace(velero=SimpleNamespace(namespace="velero")),
                               objects=lambda side, api, kind, ns: [backup],
                               memo=lambda key, compute: memo.setdefault(key, compute()))

    ahead = 90.0  # this machine's clock runs 90 s ahead: it froze 30 s before the backup started
    check(ctx(start - 30 + ahead, -ahead))
    with pytest.raises(Failed, match="was not read-only for the whole backup window"):
        check(ctx(start + 30 + ahead, -ahead))  # froze 30 s after the backup started: a real gap
    with pytest.raises(Failed):
        check(ctx(start - 30 + ahead, None))  # without the offset the skew alone looks like a gap
