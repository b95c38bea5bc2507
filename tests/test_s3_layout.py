"""Velero's bucket layout over a real S3 server (moto over HTTP, or MinIO via SEATRIAL_S3_ENDPOINT)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import tarfile
import time

import pytest

from seatrial.runbook.clients.s3 import check_bucket, parse_credentials_file, s3_client
from seatrial.runbook.clients.velero_layout import (
    VALID_TOP_LEVEL,
    BackupStore,
    ItemRef,
    Layout,
    group_resource,
    item_path,
    parse_item_path,
    write_backup,
    write_restore_files,
)
from seatrial.runbook.errors import ConfigError, NotFound, Unreachable
from seatrial.runbook.secrets import Secret
from tests.memory_probe import MB, run_probe

P = "velero/cluster-a"


@pytest.mark.parametrize(("key", "expected"), [
    (Layout(P).backups_dir(), f"{P}/backups/"),
    (Layout(P).backup_dir("b1"), f"{P}/backups/b1/"),
    (Layout(P).backup_metadata("b1"), f"{P}/backups/b1/velero-backup.json"),
    (Layout(P).backup_tarball("b1"), f"{P}/backups/b1/b1.tar.gz"),
    (Layout(P).backup_logs("b1"), f"{P}/backups/b1/b1-logs.gz"),
    (Layout(P).pod_volume_backups("b1"), f"{P}/backups/b1/b1-podvolumebackups.json.gz"),
    (Layout(P).volume_snapshots("b1"), f"{P}/backups/b1/b1-volumesnapshots.json.gz"),
    (Layout(P).item_operations("b1"), f"{P}/backups/b1/b1-itemoperations.json.gz"),
    (Layout(P).resource_list("b1"), f"{P}/backups/b1/b1-resource-list.json.gz"),
    (Layout(P).results("b1"), f"{P}/backups/b1/b1-results.gz"),
    (Layout(P).volume_info("b1"), f"{P}/backups/b1/b1-volumeinfo.json.gz"),
    (Layout(P).restores_dir(), f"{P}/restores/"),
    (Layout(P).restore_dir("r1"), f"{P}/restores/r1/"),
    (Layout(P).restore_logs("r1"), f"{P}/restores/r1/restore-r1-logs.gz"),
    (Layout(P).restore_results("r1"), f"{P}/restores/r1/restore-r1-results.gz"),
    (Layout(P).restore_resource_list("r1"), f"{P}/restores/r1/restore-r1-resource-list.json.gz"),
    (Layout(P).restore_item_operations("r1"), f"{P}/restores/r1/restore-r1-itemoperations.json.gz"),
    (Layout(P).restore_volume_info("r1"), f"{P}/restores/r1/r1-volumeinfo.json.gz"),
    (Layout(P).restic_repo("harbor"), f"{P}/restic/harbor"),
    (Layout(P).kopia_repo("harbor"), f"{P}/kopia/harbor/"),
    (Layout("/velero/").backup_metadata("b"), "velero/backups/b/velero-backup.json"),
    (Layout("").backup_tarball("b"), "backups/b/b.tar.gz"),
    (Layout("").kopia_repo("harbor"), "kopia/harbor/"),
])
def test_layout_keys(key, expected):
    assert key == expected


def test_required_keys_leave_out_the_best_effort_log():
    keys = Layout("").backup_required_keys("b")
    assert len(keys) == 8 and "backups/b/b-logs.gz" not in keys and "backups/b/b-results.gz" in keys
    assert len(Layout("").restore_required_keys("r")) == 5
    assert VALID_TOP_LEVEL == {"backups", "restores", "restic", "kopia", "metadata", "plugins"}


@pytest.mark.parametrize(("api_version", "plural", "expected"), [
    ("v1", "pods", "pods"), ("apps/v1", "deployments", "deployments.apps"),
    ("networking.k8s.io/v1", "ingresses", "ingresses.networking.k8s.io"),
])
def test_group_resource(api_version, plural, expected):
    assert group_resource(api_version, plural) == expected


@pytest.mark.parametrize(("args", "path", "ref"), [
    (("pods", "harbor", "core-1"), "resources/pods/namespaces/harbor/core-1.json",
     ItemRef("pods", "harbor", "core-1")),
    (("pods", "harbor", "core-1", "v1-preferredversion"),
     "resources/pods/v1-preferredversion/namespaces/harbor/core-1.json",
     ItemRef("pods", "harbor", "core-1", True, "v1")),
    (("persistentvolumes", None, "pvc-1234"), "resources/persistentvolumes/cluster/pvc-1234.json",
     ItemRef("persistentvolumes", None, "pvc-1234")),
    (("deployments.apps", "harbor", "core", "v1beta1"),
     "resources/deployments.apps/v1beta1/namespaces/harbor/core.json",
     ItemRef("deployments.apps", "harbor", "core", False, "v1beta1")),
])
def test_item_paths_round_trip(args, path, ref):
    assert item_path(*args) == path
    assert parse_item_path(path) == ref


@pytest.mark.parametrize("path", ["metadata/version", "resources/pods/namespaces/harbor", "resources/pods/x.json",
                                  "resources/pods/namespaces/a/b/c.json", "other/pods/cluster/x.json"])
def test_parse_item_path_ignores_what_is_not_an_item(path):
    assert parse_item_path(path) is None


def _pod(name: str, payload: str = "") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "harbor"},
            "data": payload}


def _write(client, bucket: str, layout: Layout, name: str, items) -> dict:
    metadata = {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": {"name": name, "namespace": "velero"},
                "status": {"phase": "Completed", "formatVersion": "1.1.0"}}
    write_backup(client, bucket, layout, name, metadata=metadata, items=items,
                 pod_volume_backups=[{"metadata": {"name": f"{name}-x"}, "status": {"snapshotID": "abc"}}],
                 volume_info=[{"pvcName": "data", "backupMethod": "PodVolumeBackup"}],
                 results={"errors": {}, "warnings": {"velero": ["w1"]}},
                 resource_list={"v1/Pod": ["harbor/core-1"]}, logs="level=info msg=done\n")
    return metadata


def test_written_backup_reads_back_file_by_file(s3_server):
    client, bucket, layout = s3_server.client(), s3_server.new_bucket(), Layout("velero")
    items = [(item_path("pods", "harbor", "core-1"), _pod("core-1")),
             (item_path("clusterroles.rbac.authorization.k8s.io", None, "harbor"),
              {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "harbor"}})]
    metadata = _write(client, bucket, layout, "b1", items)
    store = BackupStore(client, bucket, "velero")

    assert store.list_backups() == ["b1"] and store.has_backup("b1") and not store.has_backup("b2")
    assert store.backup_metadata("b1") == metadata
    assert store.pod_volume_backups("b1")[0]["status"]["snapshotID"] == "abc"
    assert store.volume_info("b1") == [{"pvcName": "data", "backupMethod": "PodVolumeBackup"}]
    assert store.results("b1")["warnings"] == {"velero": ["w1"]}
    assert store.resource_list("b1") == {"v1/Pod": ["harbor/core-1"]}
    assert store.read_gz_json(layout.volume_snapshots("b1")) is None  # Velero writes `null`
    log = client.get_object(Bucket=bucket, Key=layout.backup_logs("b1"))["Body"].read()
    assert gzip.decompress(log) == b"level=info msg=done\n"
    assert store.missing_backup_keys("b1") == []

    tarball = client.get_object(Bucket=bucket, Key=layout.backup_tarball("b1"))["Body"]
    with tarfile.open(fileobj=tarball, mode="r|gz") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive}
    assert files["metadata/version"] == b"1.1.0\n"
    assert json.loads(files["resources/pods/v1-preferredversion/namespaces/harbor/core-1.json"]) == _pod("core-1")
    assert "resources/clusterroles.rbac.authorization.k8s.io/cluster/harbor.json" in files
    assert "resources/clusterroles.rbac.authorization.k8s.io/v1-preferredversion/cluster/harbor.json" in files
    assert len(files) == 5

    items_read = list(store.tarball_items("b1", with_objects=True))
    assert {i.ref for i in items_read if i.ref} == {
        ItemRef("pods", "harbor", "core-1"), ItemRef("pods", "harbor", "core-1", True, "v1"),
        ItemRef("clusterroles.rbac.authorization.k8s.io", None, "harbor"),
        ItemRef("clusterroles.rbac.authorization.k8s.io", None, "harbor", True, "v1")}
    assert next(i for i in items_read if i.path.endswith("core-1.json")).object == _pod("core-1")

    client.delete_object(Bucket=bucket, Key=layout.results("b1"))
    assert store.missing_backup_keys("b1") == ["velero/backups/b1/b1-results.gz"]
    assert store.results("b1") is None


def test_restore_files_and_the_missing_one(s3_server):
    client, bucket, layout = s3_server.client(), s3_server.new_bucket(), Layout("")
    write_restore_files(client, bucket, layout, "r1", logs="ok\n", results={"errors": {}, "warnings": {}},
                        resource_list={"v1/Pod": ["harbor/core-1(created)"]}, volume_info=[])
    store = BackupStore(client, bucket, "")
    assert store.list_restores() == ["r1"]
    assert store.missing_restore_keys("r1") == []
    assert store.restore_results("r1") == {"errors": {}, "warnings": {}}
    assert client.head_object(Bucket=bucket, Key="restores/r1/r1-volumeinfo.json.gz")
    client.delete_object(Bucket=bucket, Key="restores/r1/restore-r1-resource-list.json.gz")
    assert store.missing_restore_keys("r1") == ["restores/r1/restore-r1-resource-list.json.gz"]


# Runs alone in a child process (tests/memory_probe.py): tracemalloc traces every thread of its process, and in
# this one other tests' servers and session fixtures may allocate while we measure.
TARBALL_READER = """
import json, sys, tracemalloc
from seatrial.runbook.clients.s3 import s3_client
from seatrial.runbook.secrets import Secret
from seatrial.runbook.clients.velero_layout import BackupStore
args = json.loads(sys.stdin.read())
client = s3_client(args["endpoint"], region=args["region"], access_key=Secret(args["access_key"], "S3 access key"),
                   secret_key=Secret(args["secret_key"], "S3 secret key"))
store = BackupStore(client, args["bucket"], args["prefix"])
assert store.has_backup(args["name"])  # loads botocore's models before the measurement
tracemalloc.start()
streamed = sum(item.ref is not None for item in store.tarball_items(args["name"]))
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"streamed": streamed, "peak": peak}))
"""


def test_large_tarball_streams_in_constant_memory(s3_server):
    client, bucket, layout = s3_server.client(), s3_server.new_bucket(), Layout("p")
    count, payload_bytes = 2000, 12 * 1024  # random payloads: gzip cannot shrink the tarball below ~20 MB

    def items():
        for n in range(count):
            payload = base64.b64encode(os.urandom(payload_bytes)).decode()
            yield item_path("pods", "harbor", f"pod-{n:04d}"), _pod(f"pod-{n:04d}", payload)

    _write(client, bucket, layout, "big", items())
    size = client.head_object(Bucket=bucket, Key=layout.backup_tarball("big"))["ContentLength"]
    assert size > 20 * MB

    measured = run_probe("the tarball reader", TARBALL_READER, {
        "endpoint": s3_server.endpoint, "region": s3_server.region, "access_key": s3_server.access_key.reveal(),
        "secret_key": s3_server.secret_key.reveal(), "bucket": bucket, "prefix": "p", "name": "big"})
    assert measured["streamed"] == 2 * count
    store = BackupStore(client, bucket, "p")
    index = store.tarball_index("big")
    assert len(index) == 2 * count and set(index.values()) == {len(json.dumps(_pod("pod-0000", "x" * 16384)))}
    assert {ref.plain() for ref in index} == {ItemRef("pods", "harbor", f"pod-{n:04d}") for n in range(count)}
    peak = measured["peak"]
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB while streaming a {size / MB:.0f} MB tarball (bound 2 MB)"


def test_invalid_top_level_directories(s3_server):
    client, bucket = s3_server.client(), s3_server.new_bucket()
    for key in ("velero/backups/b/velero-backup.json", "velero/kopia/harbor/kopia.repository",
                "velero/docker/registry/v2/blobs/x", "velero/README"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    store = BackupStore(client, bucket, "velero")
    assert store.top_level_dirs() == {"backups", "kopia", "docker"}
    assert store.invalid_top_level_dirs() == ["docker"]
    assert store.repo_has_data("kopia", "harbor") and not store.repo_has_data("restic", "harbor")
    assert not store.repo_has_data("kopia", "harbo")  # a prefix of the namespace is not the namespace
    assert BackupStore(client, bucket, "velero/backups").invalid_top_level_dirs() == ["b"]


def test_listing_pages_through_more_than_a_thousand_backups(s3_server):
    from concurrent.futures import ThreadPoolExecutor

    client, bucket = s3_server.client(), s3_server.new_bucket()
    with ThreadPoolExecutor(max_workers=8) as pool:  # S3 runs in its own process: the puts overlap (30 s -> ~10 s)
        list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"backups/b{n:04d}/velero-backup.json",
                                                  Body=b"{}"), range(1005)))
    assert BackupStore(client, bucket, "").list_backups() == [f"b{n:04d}" for n in range(1005)]


def test_missing_files_and_buckets_are_not_found(s3_server):
    client, bucket = s3_server.client(), s3_server.new_bucket()
    store = BackupStore(client, bucket, "velero")
    with pytest.raises(NotFound, match="velero/backups/nope/velero-backup.json"):
        store.backup_metadata("nope")
    with pytest.raises(NotFound, match="nope.tar.gz"):
        list(store.tarball_items("nope"))
    check_bucket(client, bucket, s3_server.endpoint)
    with pytest.raises(NotFound, match="does not exist") as error:
        check_bucket(client, "no-such-bucket-seatrial", s3_server.endpoint)
    assert "mb" in error.value.fix


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_fails_fast_and_names_it():
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    client = s3_client(endpoint, region="us-east-1", access_key=Secret("AKIDPLANTED"),
                       secret_key=Secret("planted-secret-value-123"))
    started = time.monotonic()
    with pytest.raises(Unreachable) as error:
        check_bucket(client, "velero", endpoint)
    assert time.monotonic() - started < 5
    assert endpoint in str(error.value) and "planted-secret-value-123" not in str(error.value)
    with pytest.raises(Unreachable):
        BackupStore(client, "velero", "").list_backups()


SECRET = "wJalrXUtnFEMI-planted-K7MDENG"


@pytest.mark.parametrize(("text", "names"), [
    (f"[profile x]\naws_access_key_id = AKID\naws_secret_access_key = {SECRET}\n", "no [default] section"),
    (f"[default]\naws_secret_access_key = {SECRET}\n", "aws_access_key_id"),
    ("[default]\naws_access_key_id = AKID\n", "aws_secret_access_key"),
    (f"aws_secret_access_key = {SECRET}\n", "line 1"),
    (f"[default]\naws_access_key_id = AKID\n{SECRET}\n", "line"),
    (f"[default]\naws_access_key_id = AKID\naws_secret_access_key = {SECRET}\naws_secret_access_key = {SECRET}\n",
     "malformed"),
])
def test_credentials_file_errors_name_the_key_never_the_value(tmp_path, text, names):
    path = tmp_path / "credentials-velero"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        parse_credentials_file(path)
    message = str(error.value)
    assert names in message and str(path) in message
    assert SECRET not in message and SECRET not in repr(error.value.args)


def test_credentials_file_gives_secrets(tmp_path):
    path = tmp_path / "credentials-velero"
    path.write_text(f"[default]\naws_access_key_id = AKIDSEATRIAL\naws_secret_access_key = {SECRET}\n")
    access, secret = parse_credentials_file(path)
    assert access.reveal() == "AKIDSEATRIAL" and secret.reveal() == SECRET
    assert SECRET not in repr(secret)


def test_start_moto_server_serves_in_this_process_until_stopped():
    from seatrial.fixtures.s3server import start_moto_server

    server = start_moto_server()
    client = s3_client(server.endpoint, region="us-east-1", access_key=Secret("AKIDINPROC"),
                       secret_key=Secret("inproc-secret-" + os.urandom(8).hex()))
    assert server.endpoint.startswith("http://127.0.0.1:")
    client.create_bucket(Bucket="inproc")
    check_bucket(client, "inproc", server.endpoint)
    server.stop()
    with pytest.raises(Unreachable):
        check_bucket(client, "inproc", server.endpoint)


def test_remove_buckets_empties_and_deletes_what_new_bucket_made(s3_server):
    from seatrial.fixtures.s3server import S3Server

    own = S3Server(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_server.region)
    bucket = own.new_bucket("gone")
    own.client().put_object(Bucket=bucket, Key="a/b", Body=b"x")
    own.remove_buckets()
    with pytest.raises(NotFound):
        check_bucket(own.client(), bucket, own.endpoint)


def test_an_in_process_s3_server_logs_no_access_lines(monkeypatch):
    """A sandbox's S3 server keeps serving in threads while later tests capture stderr. werkzeug logs one INFO line
    per request and, when no handler is there at that moment, adds its own bound to the stderr of the moment: a
    test's capture file, closed later, so every later request printed '--- Logging error ---' into whichever test
    was capturing (a CLI test asserting a one-line error failed on it). The server logs only warnings."""
    import logging

    from seatrial.fixtures.s3server import start_moto_server

    monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.NOTSET)
    server = start_moto_server()
    server.stop()
    assert logging.getLogger("werkzeug").level >= logging.WARNING  # INFO would let werkzeug's own _log set it up


@pytest.mark.parametrize("fault", ["truncated", "halved"])
@pytest.mark.parametrize("read", ["metadata", "gz-json", "tarball"])
def test_an_answer_cut_short_is_a_dependency_fault_naming_what_came(s3_server, read, fault):
    """The object store answers 200 with half the body, its whole Content-Length announced (a connection cut
    mid-answer) or re-framed to the half (only the checksum sent with it tells): exit 3 naming the object and what
    came, never "damaged" nor a botocore error; the same read through the healed proxy gives the object."""
    from seatrial.fixtures.faultproxy import FaultProxy
    from seatrial.runbook.errors import ProtocolError

    client, bucket, layout = s3_server.client(), s3_server.new_bucket(), Layout("velero")
    _write(client, bucket, layout, "b1", [(item_path("pods", "harbor", f"core-{i}"), _pod(f"core-{i}", "x" * i))
                                          for i in range(200)])
    proxy = FaultProxy(s3_server.endpoint).start()
    try:
        cut = s3_client(proxy.url, region=s3_server.region, access_key=s3_server.access_key,
                        secret_key=s3_server.secret_key)
        store = BackupStore(cut, bucket, "velero")
        key, reading = {"metadata": (layout.backup_metadata("b1"), lambda: store.backup_metadata("b1")),
                        "gz-json": (layout.results("b1"), lambda: store.results("b1")),
                        "tarball": (layout.backup_tarball("b1"), lambda: store.tarball_index("b1"))}[read]
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        proxy.set(fault, paths=(f"/{bucket}/{key}",))
        with pytest.raises(ProtocolError) as raised:
            reading()
        assert proxy.faulted == 1
        error = raised.value
        assert error.exit_code == 3 and error.dependency_fault
        assert f"GET {key} at " in error.message and "the object store answered 200, but " in error.message
        if fault == "truncated":
            assert f"the body broke off after {size // 2} bytes of the {size} announced" in error.message, error.message
        else:
            assert f"the {size // 2} bytes that came do not match the checksum it sent with them" in error.message, \
                error.message
        assert "damaged" not in error.render() and "not judged" in error.fix
        proxy.set(None)
        assert reading()
    finally:
        proxy.stop()
