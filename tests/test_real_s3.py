"""The real environment's S3 server, versitygw (s3.py): it checks every request's signature (moto takes any keys),
keeps its keys off the command line, and holds what restic and kopia write; without its build, `up` says how to
build it or to choose moto, and makes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from seatrial.checks.content_parity import compare, entries
from seatrial.fixtures.real.processes import Children
from seatrial.fixtures.real.s3 import VersityGateway
from seatrial.fixtures.real.velero_build import kopia_dir
from seatrial.runbook.clients.kopia import KopiaCli
from seatrial.runbook.secrets import Secret

ACCESS = "VGWTEST" + "A1B2C3"
SECRET = "vgw-secret-" + "x" * 24


@pytest.fixture
def gateway(tmp_path: Path):
    children = Children(tmp_path / "logs")
    gw = VersityGateway(children, tmp_path / "s3", Secret(ACCESS, "S3 access key"), Secret(SECRET, "S3 secret key"),
                        "us-east-1").start()
    try:
        yield gw
    finally:
        children.stop()


def _client(endpoint: str, secret: str = SECRET):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


@pytest.mark.real
def test_objects_round_trip_and_a_wrong_secret_is_refused(gateway):
    s3 = _client(gateway.endpoint)
    s3.create_bucket(Bucket="velero")
    s3.put_object(Bucket="velero", Key="real/backups/b1/velero-backup.json", Body=b"{}")
    assert s3.get_object(Bucket="velero", Key="real/backups/b1/velero-backup.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as refused:
        _client(gateway.endpoint, secret="not-" + SECRET).list_objects_v2(Bucket="velero")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.real
def test_its_keys_are_in_its_environment_never_on_its_command_line(gateway):
    cmdline = Path(f"/proc/{gateway.child.process.pid}/cmdline").read_bytes().decode()
    assert SECRET not in cmdline and ACCESS not in cmdline
    assert "posix" in cmdline


@pytest.mark.real
def test_restic_backs_up_and_restores_through_it(gateway, tmp_path: Path):
    _client(gateway.endpoint).create_bucket(Bucket="velero")
    data = tmp_path / "volume"
    data.mkdir()
    (data / "blob").write_bytes(os.urandom(3 * 1024 * 1024))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": ACCESS,
           "AWS_SECRET_ACCESS_KEY": SECRET, "RESTIC_PASSWORD": "static-passw0rd",
           "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    repository = f"s3:{gateway.endpoint}/velero/real/restic/harbor"
    for args in (["init"], ["backup", "."], ["restore", "latest", "--target", str(tmp_path / "out")], ["check"]):
        done = subprocess.run(["restic", "-r", repository, *args], cwd=data, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    restored = next((tmp_path / "out").rglob("blob"))
    assert restored.read_bytes() == (data / "blob").read_bytes()


@pytest.mark.real
def test_kopia_snapshots_through_it_and_seatrials_read_only_reader_restores_the_snapshot(gateway, tmp_path: Path,
                                                                                         monkeypatch):
    """What content parity does on a kopia rehearsal: the real kopia CLI writes a snapshot into versitygw, then
    KopiaCli (connected `--readonly`) reads it back by its manifest ID, and the two trees compare identical."""
    found = kopia_dir()
    if found is None:
        pytest.fail("the kopia CLI is not built: make real-binaries", pytrace=False)
    _client(gateway.endpoint).create_bucket(Bucket="velero")
    data = tmp_path / "volume"
    (data / "docker" / "registry").mkdir(parents=True)
    (data / "docker" / "registry" / "blob").write_bytes(os.urandom(2 * 1024 * 1024))
    (data / "PG_VERSION").write_text("15\n")
    (data / "PG_VERSION").chmod(0o600)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KOPIA_PASSWORD": "static-passw0rd",
           "AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET, "KOPIA_CHECK_FOR_UPDATES": "false"}
    config = f"--config-file={tmp_path / 'writer.config'}"
    host_port = gateway.endpoint.removeprefix("http://")
    kopia = str(found / "kopia")
    for args in (["repository", "create", "s3", "--bucket=velero", "--prefix=real/kopia/harbor/",
                  f"--endpoint={host_port}", "--disable-tls", config],
                 ["snapshot", "create", str(data), config]):
        done = subprocess.run([kopia, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, (args[:2], done.stderr[-2000:])
    listed = subprocess.run([kopia, "snapshot", "list", "--all", "--json", config], env=env, capture_output=True,
                            text=True, timeout=120, check=True)
    manifest_id = json.loads(listed.stdout)[0]["id"]

    monkeypatch.setenv("PATH", f"{found}{os.pathsep}{os.environ['PATH']}")
    reader = KopiaCli("velero", "real/kopia/harbor", gateway.endpoint, Secret("static-passw0rd", "password"),
                      Secret(ACCESS, "access key"), Secret(SECRET, "secret key"), region="us-east-1")
    restored = tmp_path / "restored"
    try:
        assert manifest_id in reader.snapshot_ids()
        reader.restore(manifest_id, restored)
    finally:
        reader.close()
    result = compare(entries(restored), entries(data), None)
    assert result.identical and result.summary().startswith("identical (2 files"), result.summary()


def test_up_without_versitygw_says_how_to_build_it_and_makes_nothing(tmp_path: Path, monkeypatch):
    kube = tmp_path / "bin"
    kube.mkdir()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        (kube / name).write_text("#!/bin/sh\nexit 1\n")
        (kube / name).chmod(0o755)
    monkeypatch.setenv("SEATRIAL_REAL_BIN_DIR", str(kube))
    target = tmp_path / "env"
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.real", "up", "--dir", str(target)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "versitygw is not built" in lines[0], done.stderr
    assert "--only versitygw" in lines[0] and "--s3 moto" in lines[0]
    assert not target.exists()


def test_s3_moto_keeps_the_sandboxs_imitation_with_the_bucket_made(tmp_path: Path):
    from seatrial.fixtures.real.environment import RealEnvironment
    from seatrial.fixtures.sandbox.environment import BUCKET

    environment = RealEnvironment(tmp_path, s3_server="moto", progress=lambda line: None)
    environment._start_s3()
    try:
        s3 = boto3.client("s3", endpoint_url=environment.s3.endpoint, region_name="us-east-1",
                          aws_access_key_id=environment.access_key.reveal(),
                          aws_secret_access_key=environment.secret_key.reveal())
        assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert not environment.children.started, "moto runs in this process: no versitygw was started"
    finally:
        environment.stop()
