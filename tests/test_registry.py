"""RegistryClient against the real docker-registry (distribution 2.8) behind a Harbor-like token service."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import threading
import uuid
import warnings
from pathlib import Path

import boto3
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from seatrial.fixtures.registry import process as registry_process
from seatrial.fixtures.registry.fixture import running_registry
from seatrial.fixtures.registry.process import free_port, start_registry
from seatrial.fixtures.registry.token import InvalidToken, TokenIssuer, granted_actions, parse_scopes
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.registry import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    parse_challenge,
    sha256_digest,
)
from seatrial.runbook.errors import ApiError, BadInput, DigestMismatch, NotFound, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret
from tests.memory_probe import MB, run_probe


def write_random_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(MB, remaining))
            out.write(chunk)
            remaining -= len(chunk)
    return path


def flip_first_byte(path: Path) -> None:
    with path.open("r+b") as data:
        first = data.read(1)
        data.seek(0)
        data.write(bytes([first[0] ^ 0xFF]))


# ------------------------------------------------------------------ push and pull


def test_multi_blob_artifact_round_trips_through_the_token_flow(registry, tmp_path):
    big_layer = write_random_file(tmp_path / "layer.tar", 5 * MB)
    layers: list[bytes | Path] = [os.urandom(1024), os.urandom(300 * 1024), big_layer]
    client = registry.client()

    pushed = client.push_image("library/app", "v1", layers)

    assert pushed.manifest_media_type == OCI_MANIFEST
    assert [b.media_type for b in pushed.blobs] == [OCI_CONFIG, OCI_LAYER_TAR, OCI_LAYER_TAR, OCI_LAYER_TAR]
    assert pushed.blobs[3].size == 5 * MB
    # the registry holds it under token auth only: without a token the same GET is challenged
    anonymous = requests.get(f"{registry.url}/v2/library/app/manifests/v1", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["Www-Authenticate"].startswith("Bearer ")

    fresh_client = registry.client()
    by_tag = fresh_client.pull_manifest("library/app", "v1")
    by_digest = fresh_client.pull_manifest("library/app", pushed.digest)
    assert by_tag.digest == by_digest.digest == pushed.digest
    assert by_tag.blobs == pushed.blobs
    verified = fresh_client.verify_artifact("library/app", "v1")
    assert verified.blobs_verified == 4
    assert verified.size == pushed.size == len(by_tag.body) + sum(b.size for b in pushed.blobs)
    assert {entry["subject"] for entry in registry.token_server.issued} == {registry.username}


def test_tokens_are_cached_per_scope(registry):
    client = registry.client()
    client.push_image("library/cached", "v1", [os.urandom(64), os.urandom(64), os.urandom(64)])
    client.verify_artifact("library/cached", "v1")

    scopes = [entry["access"][0]["actions"] for entry in registry.token_server.issued]
    # 4 HEADs, 4 upload POSTs, 4 PUTs and a manifest PUT share one push token; all pulls one pull token
    assert scopes == [["pull", "push"], ["pull"]]


def test_push_of_an_existing_blob_is_skipped_and_a_pipe_is_streamed(registry):
    client = registry.client()
    payload = os.urandom(2 * MB)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_end, "rb") as pipe:
        from_pipe = client.push_blob("library/pipe", pipe)
    writer.join()
    assert from_pipe.digest == sha256_digest(payload)
    assert client.verify_blob("library/pipe", from_pipe.digest, from_pipe.size) == len(payload)

    data_file = registry.blob_data_path(from_pipe.digest)
    stamp = data_file.stat().st_mtime_ns
    assert client.push_blob("library/pipe", payload) == from_pipe
    assert data_file.stat().st_mtime_ns == stamp


def test_tags_follow_link_pagination(registry):
    client = registry.client()
    pushed = client.push_image("library/tagged", "t0", [os.urandom(32)])
    manifest = client.pull_manifest("library/tagged", "t0")
    for name in ("t1", "t2", "t3", "t4"):
        client.push_manifest("library/tagged", name, manifest.body, OCI_MANIFEST)

    assert sorted(client.tags("library/tagged", page_size=2)) == ["t0", "t1", "t2", "t3", "t4"]
    assert client.pull_manifest("library/tagged", "t3").digest == pushed.digest


def test_deleted_manifest_is_not_found_naming_repo_and_reference(registry):
    client = registry.client()
    pushed = client.push_image("library/gone", "v1", [os.urandom(32)])
    client.delete_manifest("library/gone", pushed.digest)

    with pytest.raises(NotFound) as caught:
        client.pull_manifest("library/gone", pushed.digest)
    assert "library/gone" in str(caught.value)
    assert pushed.digest in str(caught.value)
    assert "fix:" in str(caught.value)


# ------------------------------------------------------------------ credentials


def test_wrong_password_gets_an_anonymous_token_and_the_push_is_unauthorized(registry):
    client = registry.client(password=Secret("not-the-password", "wrong password"))

    with pytest.raises(Unauthorized) as caught:
        client.push_blob("library/app", b"layer bytes")

    message = str(caught.value)
    assert "library/app" in message and sha256_digest(b"layer bytes") in message
    assert "password" in message  # the fix names the likely cause
    assert caught.value.status == 401
    # the token service answered 200 with empty actions, as Harbor does for bad credentials
    assert registry.token_server.issued
    assert all(entry["subject"] == "" for entry in registry.token_server.issued)
    assert all(a["actions"] == [] for entry in registry.token_server.issued for a in entry["access"])


def test_ping_with_an_unknown_user_is_unauthorized(registry):
    registry.client().ping()
    with pytest.raises(Unauthorized) as caught:
        registry.client(username="nobody", password=Secret("wrong-" + uuid.uuid4().hex, "wrong")).ping()
    assert "nobody" in str(caught.value)


def test_no_token_appears_in_errors(registry):
    client = registry.client()
    client.push_image("library/secretive", "v1", [os.urandom(16)])
    with pytest.raises(NotFound) as not_found:
        client.pull_manifest("library/secretive", "missing")
    with pytest.raises(Unauthorized) as unauthorized:
        registry.client(password=Secret("wrong-one", "wrong")).pull_manifest("library/secretive", "v1")

    tokens = [entry["token"] for entry in registry.token_server.issued]
    assert len(tokens) >= 3
    texts = [str(not_found.value), repr(not_found.value), str(unauthorized.value), repr(unauthorized.value),
             repr(client)]
    for token in tokens:
        for text in texts:
            assert token not in text
            assert token.split(".")[2] not in text  # not even the signature


# ------------------------------------------------------------------ corruption


def test_corrupted_blob_on_disk_is_a_digest_mismatch_naming_the_blob(registry):
    client = registry.client()
    pushed = client.push_image("library/corrupt", "v1", [os.urandom(4096), os.urandom(8192)])
    victim = pushed.blobs[2]
    flip_first_byte(registry.blob_data_path(victim.digest))

    with pytest.raises(DigestMismatch) as direct:
        client.verify_blob("library/corrupt", victim.digest, victim.size)
    with pytest.raises(DigestMismatch) as full_pull:
        client.verify_artifact("library/corrupt", "v1")

    for error in (direct.value, full_pull.value):
        message = str(error)
        assert victim.digest in message
        assert "library/corrupt" in message
        assert "observed sha256:" in message
    # the intact blobs still verify
    assert client.verify_blob("library/corrupt", pushed.blobs[1].digest) == 4096


def test_corrupted_manifest_on_disk_is_a_digest_mismatch(registry):
    client = registry.client()
    pushed = client.push_image("library/badmanifest", "v1", [os.urandom(64)])
    stored = registry.blob_data_path(pushed.digest)
    body = stored.read_bytes()
    # still valid JSON (the registry parses it before serving), but it now names another layer size
    tampered = body.replace(b'"size":64', b'"size":65')
    assert tampered != body
    stored.write_bytes(tampered)

    with pytest.raises(DigestMismatch) as caught:
        client.pull_manifest("library/badmanifest", pushed.digest)
    assert pushed.digest in str(caught.value)
    assert "library/badmanifest" in str(caught.value)


# Runs in a child process: tracemalloc traces every thread of its process, and this process also runs the token
# server (werkzeug reads 10 MB at once to drain each closed connection) and, in a full run, the threads other
# modules' servers leave behind; under load one of those landing inside the window measured 11.6 MB once.
STREAMING_PROBE = """
import json, sys, tracemalloc
from seatrial.runbook.clients.registry import RegistryClient
from seatrial.runbook.secrets import Secret
args = json.loads(sys.stdin.read())
client = RegistryClient(args["url"], args["username"], Secret(args["password"], "registry password"))
absent = "sha256:" + "0" * 64
assert not client.blob_exists("library/big", absent, for_push=True)  # both tokens before measuring
assert not client.blob_exists("library/big", absent)
tracemalloc.start()
pushed = client.push_blob("library/big", args["source"])
_, push_peak = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
pulled = client.verify_blob("library/big", pushed.digest, pushed.size)
_, pull_peak = tracemalloc.get_traced_memory()
print(json.dumps({"pulled": pulled, "push_peak": push_peak, "pull_peak": pull_peak}))
"""


def test_streaming_pull_of_a_30mb_blob_keeps_memory_flat(registry, tmp_path):
    size = 30 * MB
    source = write_random_file(tmp_path / "big.bin", size)
    issued_before = len(registry.token_server.issued)
    measured = run_probe("the streaming probe", STREAMING_PROBE, {
        "url": registry.url, "username": registry.username, "password": registry.password.reveal(),
        "source": str(source)})

    assert measured["pulled"] == size
    # the two tokens fetched before measuring serve the whole push and pull
    assert len(registry.token_server.issued) == issued_before + 2
    push_peak, pull_peak = measured["push_peak"], measured["pull_peak"]
    assert push_peak < 6 * MB, f"push peaked at {push_peak / MB:.1f} MB for a 30 MB blob"
    assert pull_peak < 6 * MB, f"pull peaked at {pull_peak / MB:.1f} MB for a 30 MB blob"


# ------------------------------------------------------------------ input and parsing


@pytest.mark.parametrize("repo", ["Library/App", "library//app", "/library/app", "library/app/", ""])
def test_bad_repository_names_are_bad_input(registry, repo):
    with pytest.raises(BadInput) as caught:
        registry.client().pull_manifest(repo, "v1")
    assert "fix:" in str(caught.value)


def test_bad_reference_is_bad_input(registry):
    with pytest.raises(BadInput):
        registry.client().pull_manifest("library/app", "sha256:short")
    with pytest.raises(BadInput):
        registry.client().pull_manifest("library/app", "-v1")


def test_password_must_be_a_secret(registry):
    with pytest.raises(BadInput):
        registry.client(password="plain")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header, scheme, params",
    [
        (
            'Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:p/r:pull,push"',
            "bearer",
            {"realm": "https://h/service/token", "service": "harbor-registry", "scope": "repository:p/r:pull,push"},
        ),
        (
            'Bearer realm="https://h/t", service="s", error="insufficient_scope"',
            "bearer",
            {"realm": "https://h/t", "service": "s", "error": "insufficient_scope"},
        ),
        ('Basic realm="harbor"', "basic", {"realm": "harbor"}),
        ("bearer realm=https://h/t,service=s", "bearer", {"realm": "https://h/t", "service": "s"}),
    ],
)
def test_parse_challenge(header, scheme, params):
    challenge = parse_challenge(header)
    assert challenge.scheme == scheme
    assert challenge.params == params


def test_parse_scopes_splits_actions_on_the_last_colon():
    assert parse_scopes(["repository:proj/team/repo:pull,push", "registry:catalog:*", "bogus"]) == [
        {"type": "repository", "name": "proj/team/repo", "actions": ["pull", "push"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]


# ------------------------------------------------------------------ the token service itself


def test_token_service_answers_like_harbor(registry):
    realm = registry.token_server.realm
    auth = (registry.username, registry.password.reveal())
    scope = "repository:p/r:pull,push"

    good = requests.get(realm, params={"service": "harbor-registry", "scope": scope}, auth=auth, timeout=5)
    assert good.status_code == 200
    body = good.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["expires_in"] == 1800

    wrong_service = requests.get(realm, params={"service": "other", "scope": scope}, auth=auth, timeout=5)
    assert wrong_service.status_code == 400
    no_credentials_no_scope = requests.get(realm, params={"service": "harbor-registry"}, timeout=5)
    assert no_credentials_no_scope.status_code == 401
    bad_credentials = requests.get(
        realm, params={"service": "harbor-registry", "scope": scope}, auth=("admin", "bad"), timeout=5
    )
    assert bad_credentials.status_code == 200
    assert registry.token_server.issued[-1]["access"] == [{"type": "repository", "name": "p/r", "actions": []}]


# ------------------------------------------------------------------ other registry configurations


def test_relative_upload_locations_are_resolved(tmp_path):
    require_tool("docker-registry")
    with running_registry(tmp_path, {"http": {"relativeurls": True}}) as relative:
        client = relative.client()
        pushed = client.push_image("library/relative", "v1", [os.urandom(2048)])
        assert client.verify_artifact("library/relative", "v1").digest == pushed.digest


def test_read_only_registry_refuses_the_push_with_a_read_only_fix(tmp_path):
    require_tool("docker-registry")
    with running_registry(tmp_path, {"storage": {"maintenance": {"readonly": {"enabled": True}}}}) as frozen:
        with pytest.raises(ApiError) as caught:
            frozen.client().push_blob("library/frozen", b"layer")
    assert caught.value.status == 405
    assert "library/frozen" in str(caught.value)
    assert "read-only" in str(caught.value)


def test_registry_that_challenges_with_basic(tmp_path):
    require_tool("docker-registry")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = pytest.importorskip("crypt", reason="bcrypt for htpasswd comes from the crypt module (Python < 3.13)")
    password = Secret("basic-password-" + os.urandom(4).hex(), "basic password")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{crypt.crypt(password.reveal(), crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    overrides = {"auth": {"token": None, "htpasswd": {"realm": "basic-realm", "path": str(htpasswd)}}}
    with running_registry(tmp_path, overrides) as basic:
        assert requests.get(f"{basic.url}/v2/", timeout=5).headers["Www-Authenticate"].startswith("Basic ")
        client = basic.client(username="alice", password=password)
        pushed = client.push_image("library/basic", "v1", [os.urandom(512)])
        assert client.verify_artifact("library/basic", "v1").size == pushed.size
        with pytest.raises(Unauthorized) as caught:
            basic.client(username="alice", password=Secret("wrong-" + uuid.uuid4().hex, "wrong")).tags("library/basic")
        assert "alice" in str(caught.value)
        assert basic.token_server.issued == []


def test_issuer_verifies_its_own_tokens_and_refuses_others():
    mine, other = TokenIssuer(), TokenIssuer()
    token = mine.issue("alice", parse_scopes(["repository:p/r:pull,push"]))

    claims = mine.verify(token)
    assert claims["sub"] == "alice" and claims["aud"] == "harbor-registry" and claims["iss"] == "harbor-token-issuer"
    assert granted_actions(claims, "p/r") == {"pull", "push"}
    assert granted_actions(claims, "p/other") == set()
    with pytest.raises(InvalidToken, match="signature"):
        other.verify(token)
    with pytest.raises(InvalidToken, match="malformed"):
        mine.verify("not-a-token")

    mine.expires_in = -3600
    expired = mine.issue("alice", [])
    with pytest.raises(InvalidToken, match="expired"):
        mine.verify(expired)
    mine.service = "another-registry"
    with pytest.raises(InvalidToken, match="audience"):
        mine.verify(token)


def write_server_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own trust anchor) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_is_verified_and_no_password_goes_to_a_plain_http_realm(tmp_path):
    require_tool("docker-registry")
    cert, key = write_server_certificate(tmp_path)
    with running_registry(tmp_path, tls=(cert, key)) as secure:
        assert secure.url.startswith("https://")
        # verification is on by default: an unknown CA is refused
        with pytest.raises(Unreachable) as untrusted:
            secure.client().ping()
        assert "SSLError" in str(untrusted.value)
        # with the CA bundle the TLS handshake succeeds; the token realm is plain http, so the client
        # refuses to send the password there
        with pytest.raises(Unauthorized) as cleartext:
            secure.client(verify=str(cert)).ping()
        assert "not https" in str(cleartext.value)
        assert secure.token_server.issued == []


def test_index_is_verified_through_every_child(registry):
    client = registry.client()
    amd64 = client.push_image("library/multi", "amd64", [os.urandom(1000)])
    arm64 = client.push_image("library/multi", "arm64", [os.urandom(2000), os.urandom(3000)])
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": manifest_size, "platform": platform}
                for child, manifest_size, platform in (
                    (amd64, amd64.size - sum(b.size for b in amd64.blobs), {"architecture": "amd64", "os": "linux"}),
                    (arm64, arm64.size - sum(b.size for b in arm64.blobs), {"architecture": "arm64", "os": "linux"}),
                )
            ],
        }
    ).encode()
    index_digest = client.push_manifest("library/multi", "latest", index, OCI_INDEX)

    pulled = client.pull_manifest("library/multi", "latest")
    assert pulled.is_index and pulled.digest == index_digest
    assert [c.digest for c in pulled.children] == [amd64.digest, arm64.digest]
    verified = client.verify_artifact("library/multi", "latest")
    assert (verified.manifests_verified, verified.blobs_verified) == (3, 5)
    # Harbor (src/controller/artifact/abstractor.go, every 2.x): the index manifest's own length + its children
    assert verified.size == len(index) + amd64.size + arm64.size

    flip_first_byte(registry.blob_data_path(arm64.blobs[2].digest))
    with pytest.raises(DigestMismatch, match=arm64.blobs[2].digest):
        client.verify_artifact("library/multi", "latest")


def test_a_cached_token_the_registry_no_longer_accepts_is_replaced_once(registry, tmp_path):
    client = registry.client()
    pushed = client.push_image("library/rotated", "v1", [os.urandom(100)])
    client.verify_artifact("library/rotated", "v1")
    issued_before = len(registry.token_server.issued)

    # the registry comes back with a new token key (as after a restore with a regenerated secret);
    # the client's cached pull token is now refused with 401
    port = int(registry.url.rsplit(":", 1)[1])
    registry.process.stop()
    rotated = TokenIssuer()
    registry.token_server.service.issuer = rotated
    restarted = start_registry(
        registry.storage_dir, issuer=rotated, realm=registry.token_server.realm, workdir=tmp_path / "rotated", port=port
    )
    try:
        assert client.verify_artifact("library/rotated", "v1").digest == pushed.digest
    finally:
        restarted.stop()
    assert len(registry.token_server.issued) == issued_before + 1


def test_a_port_taken_before_the_registry_binds_it_is_replaced_by_another(tmp_path, monkeypatch):
    """free_port() only finds a port free at that moment; another process may bind it before the registry does."""
    require_tool("docker-registry")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(registry_process, "free_port", lambda: next(ports, None) or free_port())
        issuer = TokenIssuer()
        started = start_registry(tmp_path / "storage", issuer=issuer, realm="http://127.0.0.1:1/token",
                                 workdir=tmp_path / "work")
        try:
            assert started.url != f"http://127.0.0.1:{taken}"
            assert requests.get(f"{started.url}/v2/", timeout=30).status_code == 401
        finally:
            started.stop()
        with pytest.raises(registry_process.PortTaken, match=f"127.0.0.1:{taken}.*address already in use"):
            start_registry(tmp_path / "storage", issuer=issuer, realm="http://127.0.0.1:1/token",
                           workdir=tmp_path / "chosen", port=taken)  # a port the caller chose is not replaced


def test_blob_redirected_to_object_storage_is_followed_and_verified(tmp_path):
    """With an S3 backend distribution answers blob GETs with a 307 to a presigned URL on another port."""
    require_tool("docker-registry")
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: nobody can take it first
    moto.start()
    endpoint = "http://{}:{}".format(*moto.get_host_and_port())
    keys = {"aws_access_key_id": "registry-key", "aws_secret_access_key": "registry-secret-" + os.urandom(4).hex()}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    s3.create_bucket(Bucket="registry")
    overrides = {
        "storage": {
            "filesystem": None,
            "s3": {"region": "us-east-1", "regionendpoint": endpoint, "bucket": "registry", "secure": False},
        }
    }
    env = {
        "REGISTRY_STORAGE_S3_ACCESSKEY": keys["aws_access_key_id"],
        "REGISTRY_STORAGE_S3_SECRETKEY": keys["aws_secret_access_key"],
    }
    try:
        with running_registry(tmp_path, overrides, env=env) as on_s3:
            assert keys["aws_secret_access_key"] not in on_s3.process.config_path.read_text()
            client = on_s3.client()
            pushed = client.push_image("library/s3", "v1", [os.urandom(70_000)])
            layer = pushed.blobs[1]
            token = on_s3.issuer.issue("admin", parse_scopes(["repository:library/s3:pull"]))
            direct = requests.get(
                f"{on_s3.url}/v2/library/s3/blobs/{layer.digest}",
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
                timeout=5,
            )
            assert direct.status_code == 307
            assert direct.headers["Location"].startswith(endpoint + "/registry/")

            assert client.verify_artifact("library/s3", "v1").size == pushed.size

            hexdigest = layer.digest.split(":")[1]
            key = f"docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"
            s3.put_object(Bucket="registry", Key=key, Body=os.urandom(layer.size))
            with pytest.raises(DigestMismatch, match=layer.digest):
                client.verify_blob("library/s3", layer.digest, layer.size)
    finally:
        moto.stop()
