"""The restic wrapper against the real restic binary and a real S3 server (moto over HTTP)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import uuid
from pathlib import Path

import pytest

from seatrial.fixtures.restic_fixture import restic_for
from seatrial.runbook.clients.restic import Restic, public_repository
from seatrial.runbook.errors import SeatrialError, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret


def _tree(root: Path, files: int = 25) -> None:
    for n in range(files):
        path = root / f"dir{n % 4}" / f"sub{n % 3}" / f"file-{n}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1 + n * 997))
    (root / "empty.txt").write_bytes(b"")


def _checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_backup_snapshots_by_tag_and_restore_round_trip(restic_repo, tmp_path):
    source = tmp_path / "volume"
    _tree(source)
    tags = {"backup": "harbor-b1", "ns": "harbor", "volume": "registry-data"}
    result = restic_repo.backup(source, tags)
    assert result.files == 26 and result.total_bytes == sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    restic_repo.backup(source, {"backup": "harbor-b2", "ns": "harbor", "volume": "registry-data"})

    snapshots = restic_repo.snapshots(tags={"backup": "harbor-b1", "ns": "harbor"})
    assert len(snapshots) == 1 and snapshots[0]["id"].startswith(result.snapshot_id)
    assert set(snapshots[0]["tags"]) == {"backup=harbor-b1", "ns=harbor", "volume=registry-data"}
    assert snapshots[0]["hostname"] == "velero"
    assert restic_repo.snapshots(tags={"backup": "harbor-b1", "ns": "other"}) == []
    assert len(restic_repo.snapshots()) == 2

    target = tmp_path / "restored"
    restic_repo.restore(result.snapshot_id, target)
    assert _checksums(target) == _checksums(source)  # relative paths: the tree lands directly in target
    restic_repo.check()


def test_is_initialized(s3_server, restic_binary):
    restic = restic_for(s3_server, s3_server.new_bucket("restic"), "velero/restic/harbor",
                        Secret(uuid.uuid4().hex, "repository password"), restic_binary)
    assert not restic.is_initialized()
    restic.init()
    assert restic.is_initialized()


def test_wrong_password_is_a_clear_error(restic_repo, restic_binary):
    wrong = Secret("wrong-" + uuid.uuid4().hex, "repository password")
    other = Restic(restic_repo.repository, wrong, env=restic_repo.extra_env, binary=restic_binary)
    for action in (other.snapshots, other.is_initialized):
        with pytest.raises(Unauthorized) as error:
            action()
        message = str(error.value)
        assert message.startswith(f"wrong repository password for {restic_repo.repository}\n")
        assert wrong.reveal() not in message and "velero-repo-credentials" in message


def test_unreachable_repository_names_it_without_credentials(restic_binary, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    restic = Restic(f"s3:http://minio:planted-pass-xyz@127.0.0.1:{port}/velero/restic/harbor",
                    Secret("pw-" + uuid.uuid4().hex), env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
                    binary=restic_binary, timeout=60)
    with pytest.raises(SeatrialError) as error:
        restic.snapshots()
    message = str(error.value)
    assert isinstance(error.value, Unreachable), message
    assert f"s3:http://127.0.0.1:{port}/velero/restic/harbor" in message and "planted-pass-xyz" not in message


def test_public_repository_strips_url_credentials():
    assert public_repository("s3:http://u:p@10.0.0.1:9000/b/p/restic/ns") == "s3:http://10.0.0.1:9000/b/p/restic/ns"
    assert public_repository("s3:http://10.0.0.1:9000/b") == "s3:http://10.0.0.1:9000/b"


def test_secrets_reach_restic_through_the_environment_only(tmp_path):
    """A stand-in executable that records its argv and environment (a real process, not a mock)."""
    record = tmp_path / "record"
    fake = tmp_path / "restic"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.argv\nenv > {record}.env\necho "[]"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    password, secret_key = Secret("pw-" + uuid.uuid4().hex), Secret("sk-" + uuid.uuid4().hex)
    os.environ["RESTIC_PASSWORD_FILE"] = "/nonexistent"  # a caller's restic settings must not leak in
    try:
        Restic("s3:http://127.0.0.1:1/b/restic/ns", password, env={"AWS_SECRET_ACCESS_KEY": secret_key},
               binary=str(fake)).snapshots(tags={"backup": "b1"})
    finally:
        del os.environ["RESTIC_PASSWORD_FILE"]
    argv = Path(f"{record}.argv").read_text()
    env = Path(f"{record}.env").read_text().splitlines()
    assert password.reveal() not in argv and secret_key.reveal() not in argv
    assert f"RESTIC_PASSWORD={password.reveal()}" in env and f"AWS_SECRET_ACCESS_KEY={secret_key.reveal()}" in env
    assert not any(line.startswith("RESTIC_PASSWORD_FILE=") for line in env)
    assert argv.split() == ["--no-cache", "--no-lock", "snapshots", "--json", "--tag", "backup=b1"]


def test_missing_binary_is_a_clear_error():
    with pytest.raises(SeatrialError, match="restic binary"):
        Restic("s3:http://127.0.0.1:1/b", Secret("pw-" + uuid.uuid4().hex), binary="/nonexistent/restic").snapshots()


# What restic 0.14 printed when the object store in front of a healthy repository cut its answers short (the fault
# proxy's "truncated" and "halved"), and when the repository or bucket is not there.
CUT_SHORT = [
    "Fatal: unable to open config file: Stat: unexpected EOF\nIs there a repository at the following location?\n"
    "s3:http://127.0.0.1:38319/rbucket/restic/harbor\n",
    "Fatal: unable to open config file: Stat: XML syntax error on line 2: unexpected EOF\nIs there a repository at "
    "the following location?\ns3:http://127.0.0.1:38319/rbucket/restic/harbor\n",
    "List(key) returned error, retrying after 3.221479586s: unexpected EOF\nList(key) returned error, retrying after "
    "5.608623477s: unexpected EOF\nFatal: unexpected EOF\n",
]
ABSENT = [
    "Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the "
    "following location?\ns3:http://127.0.0.1:39965/rbucket/restic/none\n",
    "Fatal: unable to open config file: Stat: The specified bucket does not exist\nIs there a repository at the "
    "following location?\ns3:http://127.0.0.1:39965/nobucket/restic/none\n",
]


# what the real restic 0.14 printed through the fault proxy cutting answers short; the real restic's run through it
# (43 s of its own retries) is tests/test_fault_matrix.py's, end to end through `seatrial verify backup`
@pytest.mark.parametrize("stderr", CUT_SHORT)
def test_an_object_store_restic_could_not_read_is_a_dependency_fault_not_a_missing_repository(stderr):
    import subprocess

    from seatrial.runbook.errors import ProtocolError

    restic = Restic("s3:http://127.0.0.1:38319/rbucket/restic/harbor", Secret("pw", "repository password"))
    error = restic._error("snapshots", subprocess.CompletedProcess(["restic"], 1, "", stderr))
    assert isinstance(error, ProtocolError) and error.exit_code == 3, error
    assert "no restic repository" not in error.message and "the object store failed restic's reads" in error.message
    assert "not judged" in error.fix


@pytest.mark.parametrize("stderr", ABSENT)
def test_a_repository_the_object_store_says_is_absent_is_missing(stderr):
    import subprocess

    restic = Restic("s3:http://127.0.0.1:39965/rbucket/restic/none", Secret("pw", "repository password"))
    error = restic._error("snapshots", subprocess.CompletedProcess(["restic"], 1, "", stderr))
    assert error.exit_code == 1 and "there is no restic repository at" in error.message
