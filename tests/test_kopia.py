"""Velero's kopia repositories read from outside Velero (seatrial.runbook.clients.kopia, seatrial.checks.repository),
at three levels:

1. the repository password opens `kopia.repository`: against a REAL kopia-written format blob
   (fixtures/data/kopia/, with its SOURCE.md), accepted with its password and refused with any other;
2. index and pack blobs written inside a PodVolumeBackup's time window, in a bucket (moto over HTTP) laid out
   as Velero lays out a kopia repository (`<prefix>/kopia/<namespace>/`);
3. the real kopia CLI when it is on PATH, here a stand-in `kopia` that records its arguments and environment:
   the real kopia was NOT run in this project (no kopia package is reachable here; README says so).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from seatrial.fixtures.kopia_vector import VECTOR, VECTOR_PASSWORD
from seatrial.runbook.clients.kopia import FORMAT_BLOB, KopiaCli, WrongPassword, open_format, writes_in_window
from seatrial.runbook.clients.velero_layout import BackupStore
from seatrial.runbook.errors import ApiError, NotFound
from seatrial.runbook.secrets import Secret

PREFIX = "velero"
NS = "harbor"


def test_the_password_opens_a_real_kopia_format_blob():
    fmt = open_format(VECTOR.read_bytes(), Secret(VECTOR_PASSWORD, "repository password"))
    # the defaults Velero creates its repositories with (fidelity-audit.md section 4)
    assert (fmt.hash, fmt.encryption, fmt.splitter) == ("BLAKE2B-256-128", "AES256-GCM-HMAC-SHA256",
                                                       "DYNAMIC-4M-BUZHASH")
    assert (fmt.version, fmt.index_version, fmt.key_algo) == (3, 2, "scrypt-65536-8-1")
    assert fmt.build_version.startswith("v0.22.4")
    assert "masterKey" not in repr(fmt) and "secret" not in repr(fmt).lower()  # the key material is not kept


@pytest.mark.parametrize("password", ["test124", "Test123", "static-passw0rd-x9"])
def test_any_other_password_is_refused_and_never_shown(password):
    with pytest.raises(WrongPassword) as refused:
        open_format(VECTOR.read_bytes(), Secret(password, "repository password"), where="velero/kopia/harbor/x")
    assert "does not open velero/kopia/harbor/x" in str(refused.value)
    assert password not in str(refused.value) and password not in (refused.value.fix or "")


def test_a_blob_that_is_no_format_blob_is_named_not_called_a_wrong_password():
    with pytest.raises(ApiError, match="is not a kopia format blob") as raised:
        open_format(b"<html>proxy error</html>", Secret("whatever-pw-1", "p"))
    assert not isinstance(raised.value, WrongPassword)
    document = json.loads(VECTOR.read_text())
    with pytest.raises(ApiError, match="unknown key derivation 'argon2-x'"):
        open_format(json.dumps({**document, "keyAlgo": "argon2-x"}).encode(), Secret(VECTOR_PASSWORD, "p"))


# ----------------------------------------------------------------------------- level 2: a kopia-shaped bucket


def _velero_kopia_repository(client, bucket: str) -> tuple[datetime, datetime]:
    """What Velero's EnsureRepo and one node-agent upload leave under <prefix>/kopia/<ns>/ (repo_init.go,
    epoch manager, content manager); returns the upload's window as the PodVolumeBackup would record it."""
    root = f"{PREFIX}/kopia/{NS}/"
    for name, body in ((FORMAT_BLOB, VECTOR.read_bytes()), ("kopia.blobcfg", b"{}"), ("kopia.maintenance", b"{}"),
                       ("udmrepo.Repository", b"{}"), ("xe0", b""), ("_log_20261128_0", b"log")):
        client.put_object(Bucket=bucket, Key=root + name, Body=body)
    started = _server_time(client, bucket, root + FORMAT_BLOB)
    for name in ("p3f0a1b2c3d4e5f60718293a4b5c6d7e8-s1a2b", "q9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b-s1a2b",
                 "xn0_5f2b1c0d9e8a7b6c5d4e3f2a1b0c9d8e-s1a2b-c1"):
        client.put_object(Bucket=bucket, Key=root + name, Body=os.urandom(64))
    ended = _server_time(client, bucket, root + "xn0_5f2b1c0d9e8a7b6c5d4e3f2a1b0c9d8e-s1a2b-c1")
    return started, ended


def _server_time(client, bucket: str, key: str) -> datetime:
    return client.head_object(Bucket=bucket, Key=key)["LastModified"]


def test_blobs_written_in_the_pod_volume_backups_window(s3_server):
    client, bucket = s3_server.client(), s3_server.new_bucket()
    started, ended = _velero_kopia_repository(client, bucket)
    blobs = BackupStore(client, bucket, PREFIX).kopia_blobs(NS)
    assert {b.name for b in blobs} >= {FORMAT_BLOB, "udmrepo.Repository", "xe0"}
    during = writes_in_window(blobs, started, ended)
    assert [n[:2] for n in during.index] == ["xn"] and sorted(n[0] for n in during.packs) == ["p", "q"]
    # a PodVolumeBackup of an hour ago: the same repository holds nothing written during it
    earlier = writes_in_window(blobs, started - timedelta(hours=1), started - timedelta(minutes=59))
    assert earlier.index == () and earlier.packs == ()


def _pvb(started: datetime, ended: datetime, total: int = 4096) -> dict:
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {"metadata": {"name": "b1-x7k2p"},
            "spec": {"pod": {"namespace": NS, "name": "my-harbor-registry-5d9c-abcde"}, "volume": "registry-data",
                     "uploaderType": "kopia"},
            "status": {"phase": "Completed", "snapshotID": "k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a",
                       "startTimestamp": started.astimezone(UTC).strftime(stamp),
                       "completionTimestamp": ended.astimezone(UTC).strftime(stamp),
                       "progress": {"totalBytes": total, "bytesDone": total}}}


class _Context:
    """What seatrial.checks.repository reads of a CheckContext: the configuration, the bucket, memo, objects."""

    def __init__(self, s3_server, bucket: str, run_dir: Path, password: str = VECTOR_PASSWORD):
        self.config = SimpleNamespace(
            storage=SimpleNamespace(bucket=bucket, endpoint=s3_server.endpoint, region=s3_server.region,
                                    access_key=s3_server.access_key, secret_key=s3_server.secret_key, verify=True),
            velero=SimpleNamespace(repository_password=Secret(password, "repository password"), namespace="velero"),
            run_dir=run_dir)
        self.bucket = BackupStore(s3_server.client(), bucket, PREFIX)
        self._memo: dict = {}

    def memo(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


def test_the_check_levels_over_a_velero_kopia_bucket(s3_server, tmp_path):
    from seatrial.checks.repository import kopia_format, kopia_window

    client, bucket = s3_server.client(), s3_server.new_bucket()
    started, ended = _velero_kopia_repository(client, bucket)
    ctx = _Context(s3_server, bucket, tmp_path)
    assert kopia_format(ctx, NS).encryption == "AES256-GCM-HMAC-SHA256"
    writes, window = kopia_window(ctx, NS, _pvb(started, ended))
    assert writes.index and writes.packs and window.endswith("Z")
    stale, _ = kopia_window(ctx, NS, _pvb(started - timedelta(hours=2), started - timedelta(hours=1)))
    assert not stale.index and not stale.packs
    with pytest.raises(WrongPassword):
        kopia_format(_Context(s3_server, bucket, tmp_path, password="target-has-another-pw"), NS)


def test_an_unknown_password_is_not_reported_as_a_missing_repository(s3_server, tmp_path):
    """The repository is in the bucket but the cluster has no velero-repo-credentials: the check must say the
    password is unknown, not that the repository is missing (the scale scene met this)."""
    from seatrial.checks.repository import RepositoryPasswordUnknown, kopia_format

    client, bucket = s3_server.client(), s3_server.new_bucket()
    _velero_kopia_repository(client, bucket)
    ctx = _Context(s3_server, bucket, tmp_path)
    ctx.config.velero.repository_password = None
    ctx.objects = lambda side, api_version, kind, namespace: []
    with pytest.raises(RepositoryPasswordUnknown) as raised:
        kopia_format(ctx, NS, "target")
    assert "velero/velero-repo-credentials" in raised.value.message and "on the target" in raised.value.fix
    assert not isinstance(raised.value, NotFound)
    with pytest.raises(NotFound):  # no repository at all stays NotFound
        kopia_format(_Context(s3_server, s3_server.new_bucket(), tmp_path), NS)


# ----------------------------------------------------------------------------- level 3: a stand-in kopia on PATH


STAND_IN = '''#!{python}
"""A stand-in for the kopia CLI: records argv and which secrets arrived in the environment, answers JSON."""
import json, os, sys
record = os.environ["STAND_IN_RECORD"]
with open(record, "a") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "password": os.environ.get("KOPIA_PASSWORD"),
                           "access_key": os.environ.get("AWS_ACCESS_KEY_ID")}}) + "\\n")
if sys.argv[1:3] == ["snapshot", "list"]:
    # what the real kopia CLI prints for a snapshot Velero 1.18 wrote: no backup tag
    print(json.dumps([{{"id": "k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a",
                       "source": {{"host": "default", "userName": "default",
                                   "path": "snapshot-pod-volume/kopia/harbor/my-harbor-database-0/data"}},
                       "tags": {{"snapshot-requester": "snapshot-pod-volume", "snapshot-uploader": "kopia"}}}}]))
'''


@pytest.fixture
def stand_in_kopia(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kopia = bin_dir / "kopia"
    kopia.write_text(STAND_IN.format(python=sys.executable))
    kopia.chmod(kopia.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "kopia-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STAND_IN_RECORD", str(record))
    return record


def test_the_kopia_cli_connects_read_only_and_lists_every_snapshot_not_by_backup_tag(stand_in_kopia, tmp_path):
    """Velero 1.17+ tags its kopia snapshots with no backup name: a `--tags backup:<name>` listing finds nothing
    there, and the check would call the data gone. The manifest is found by its ID instead."""
    password = Secret("kopia-pw-7f3a91", "repository password")
    cli = KopiaCli("velero", "velero/kopia/harbor", "http://127.0.0.1:9000", password,
                   Secret("AKIDKOPIA7", "access key"), Secret("kopia-secret-7f3a", "secret key"), region="minio")
    try:
        assert cli.snapshot_ids() == {"k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"}
        cli.snapshot_ids()  # connected once
    finally:
        cli.close()
    calls = [json.loads(line) for line in stand_in_kopia.read_text().splitlines()]
    assert len(calls) == 3
    connect, listing = calls[0]["argv"], calls[1]["argv"]
    assert connect[:4] == ["repository", "connect", "s3", "--readonly"]
    assert {"--bucket=velero", "--prefix=velero/kopia/harbor/", "--endpoint=127.0.0.1:9000", "--disable-tls",
            "--region=minio", "--no-persist-credentials"} <= set(connect)
    assert listing[:4] == ["snapshot", "list", "--all", "--json"]
    assert not any(a.startswith("--tags") for a in listing)
    config_file = next(a for a in connect if a.startswith("--config-file="))
    assert config_file in listing and config_file.startswith(f"--config-file={tempfile_root()}")
    # secrets travel in the environment only
    assert all(call["password"] == "kopia-pw-7f3a91" and call["access_key"] == "AKIDKOPIA7" for call in calls)
    assert not any("kopia-pw-7f3a91" in a or "kopia-secret-7f3a" in a for call in calls for a in call["argv"])
    assert not Path(config_file.split("=", 1)[1]).parent.exists(), "the private config directory is removed"


def test_the_kopia_cli_restores_a_snapshot_by_its_id_on_the_read_only_connection(stand_in_kopia, tmp_path):
    """Content parity of a kopia volume reads the snapshot back by its manifest ID (a Velero 1.17+ PodVolumeBackup's
    snapshotID) into a scratch directory, on the same `--readonly` connection the listing uses."""
    cli = KopiaCli("velero", "velero/kopia/harbor", "http://127.0.0.1:9000", Secret("kopia-pw-7f3a91", "pw"),
                   Secret("AKIDKOPIA7", "access key"), Secret("kopia-secret-7f3a", "secret key"))
    try:
        cli.snapshot_ids()
        cli.restore("k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a", tmp_path / "scratch")
    finally:
        cli.close()
    calls = [json.loads(line)["argv"] for line in stand_in_kopia.read_text().splitlines()]
    assert [c[:2] for c in calls] == [["repository", "connect"], ["snapshot", "list"], ["snapshot", "restore"]]
    assert calls[2][2:4] == ["k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a", str(tmp_path / "scratch")]
    assert next(a for a in calls[0] if a.startswith("--config-file=")) in calls[2]


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_the_check_runs_level_three_when_kopia_is_on_path(stand_in_kopia, s3_server, tmp_path):
    from seatrial.checks.repository import kopia_cli_snapshots

    client, bucket = s3_server.client(), s3_server.new_bucket()
    _velero_kopia_repository(client, bucket)
    repository, ids = kopia_cli_snapshots(_Context(s3_server, bucket, tmp_path), NS)
    assert ids == {"k8c3e1f0a9b8c7d6e5f4a3b2c1d0e9f8a"} and f"s3://{bucket}/{PREFIX}/kopia/{NS}/" in repository
    connect = json.loads(stand_in_kopia.read_text().splitlines()[0])["argv"]
    assert f"--prefix={PREFIX}/kopia/{NS}/" in connect and "--disable-tls" in connect  # moto speaks http


def test_without_kopia_on_path_level_three_does_not_run(s3_server, tmp_path, monkeypatch):
    from seatrial.checks.repository import kopia_cli_snapshots

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    bucket = s3_server.new_bucket()
    assert kopia_cli_snapshots(_Context(s3_server, bucket, tmp_path), NS) is None


def test_a_failing_kopia_names_the_repository_and_hides_the_password(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kopia = bin_dir / "kopia"
    kopia.write_text(f"#!{sys.executable}\nimport os, sys\n"
                     "sys.stderr.write('ERROR invalid repository password ' + os.environ['KOPIA_PASSWORD'])\n"
                     "sys.exit(1)\n")
    kopia.chmod(kopia.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    cli = KopiaCli("velero", "p/kopia/harbor/", "https://s3.example:443", Secret("leaky-pw-93ab1", "password"),
                   Secret("AKIDX1", "a"), Secret("secret-x1-93ab", "s"), verify=False)
    started = time.monotonic()
    try:
        with pytest.raises(Exception, match="invalid repository password") as failed:
            cli.snapshot_ids()
    finally:
        cli.close()
    assert "leaky-pw-93ab1" not in str(failed.value) and "s3://velero/p/kopia/harbor/" in str(failed.value)
    assert "--disable-tls-verification" in cli.connect_args() and "--disable-tls" not in cli.connect_args()
    assert time.monotonic() - started < 30


def test_preflight_tries_each_sides_password_on_the_kopia_repository(s3_server, tmp_path):
    """Level 1 before the restore: the target's password must open the repository the source wrote."""
    from _pytest.outcomes import Failed

    from seatrial.checks.test_preflight import test_repository_password_opens_the_kopia_repository as check

    client, bucket = s3_server.client(), s3_server.new_bucket()
    facts: dict[str, str] = {}
    empty = _Context(s3_server, bucket, tmp_path)
    empty.config.source = SimpleNamespace(namespace=NS)
    check(empty, "target", lambda key, value: facts.__setitem__(key, value))  # no repository yet: nothing to open
    assert "no kopia repository" in facts["kopia"]
    _velero_kopia_repository(client, bucket)
    opened = _Context(s3_server, bucket, tmp_path)
    opened.config.source = SimpleNamespace(namespace=NS)
    check(opened, "target", lambda key, value: facts.__setitem__(key, value))
    assert "opens velero/kopia/harbor/kopia.repository" in facts["kopia"]
    wrong = _Context(s3_server, bucket, tmp_path, password="copied-wrongly-42")
    wrong.config.source = SimpleNamespace(namespace=NS)
    with pytest.raises(Failed, match="target: the repository password does not open the kopia repository") as failed:
        check(wrong, "target", lambda key, value: None)
    assert "copied-wrongly-42" not in str(failed.value) and "restore could not read it" in str(failed.value)
