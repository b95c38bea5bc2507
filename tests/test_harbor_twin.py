"""The Harbor twin over HTTP, with the real docker-registry behind its `/v2`: Harbor's traps included."""

from __future__ import annotations

import base64
import json
import os
import secrets

import pytest
import requests

from seatrial.fixtures.harbor.server import HarborFrontend, start_harbor
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.registry import OCI_INDEX, OCI_MANIFEST, RegistryClient
from seatrial.runbook.errors import Forbidden, Unauthorized
from seatrial.runbook.secrets import Secret
from tests.memory_probe import MB, MeasuredServer, run_probe

API = "/api/v2.0"
READ_ONLY_BODY = {"errors": [{"code": "DENIED",
                              "message": "The system is in read only mode. Any modification is prohibited."}]}


def _admin(twin) -> tuple[str, str]:
    return ("admin", twin.admin_password.reveal())


def _jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_health_ping_and_systeminfo_for_anonymous_and_admin(harbor_twin):
    health = requests.get(f"{harbor_twin.url}{API}/health", timeout=5).json()
    assert health["status"] == "healthy"
    assert [c["name"] for c in health["components"]] == [
        "core", "database", "jobservice", "portal", "redis", "registry", "registryctl"]
    ping = requests.get(f"{harbor_twin.url}{API}/ping", timeout=5)
    assert (ping.status_code, ping.text, ping.headers["Content-Type"].split(";")[0]) == (200, "Pong", "text/plain")
    anonymous = requests.get(f"{harbor_twin.url}{API}/systeminfo", timeout=5).json()
    assert "harbor_version" not in anonymous and "read_only" not in anonymous
    admin = requests.get(f"{harbor_twin.url}{API}/systeminfo", auth=_admin(harbor_twin), timeout=5).json()
    assert admin["harbor_version"].startswith("v2.15") and admin["read_only"] is False
    assert admin["registry_storage_provider_name"] == "filesystem"


def test_health_reports_the_registry_unhealthy_when_it_does_not_answer(harbor_twin):
    harbor_twin.registry.stop()
    health = harbor_twin.client().health()
    assert health["status"] == "unhealthy"
    registry = next(c for c in health["components"] if c["name"] == "registry")
    assert registry["status"] == "unhealthy" and "error" in registry


def test_wrong_credentials_are_anonymous_on_lists_but_401_on_users_current(harbor_twin):
    admin = harbor_twin.client()
    admin.create_project("open", public=True)
    admin.create_project("closed")
    wrong = ("admin", "not-the-password")
    listed = requests.get(f"{harbor_twin.url}{API}/projects", auth=wrong, timeout=5)
    assert listed.status_code == 200
    assert sorted(p["name"] for p in listed.json()) == ["library", "open"]
    current = requests.get(f"{harbor_twin.url}{API}/users/current", auth=wrong, timeout=5)
    assert current.status_code == 401
    assert current.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert requests.get(f"{harbor_twin.url}{API}/users/current", timeout=5).status_code == 401
    assert requests.get(f"{harbor_twin.url}{API}/configurations", auth=wrong, timeout=5).status_code == 401
    private = requests.get(f"{harbor_twin.url}{API}/projects/closed", auth=wrong, timeout=5)
    assert private.status_code == 401


def test_pagination_headers_and_the_page_size_limit(harbor_twin):
    client = harbor_twin.client()
    for i in range(1, 230):  # plus "library": 230 projects
        client.create_project(f"p{i:03d}")
    auth = _admin(harbor_twin)
    url, pages, names = f"{harbor_twin.url}{API}/projects?page=1&page_size=100", 0, []
    while url:
        answer = requests.get(url, auth=auth, timeout=5)
        assert answer.status_code == 200 and answer.headers["X-Total-Count"] == "230"
        pages += 1
        names += [p["name"] for p in answer.json()]
        url = answer.links.get("next", {}).get("url")
        url = f"{harbor_twin.url}{url}" if url else None
    assert pages == 3 and len(set(names)) == 230
    middle = requests.get(f"{harbor_twin.url}{API}/projects?page=2&page_size=100", auth=auth, timeout=5)
    assert middle.headers["Link"] == (f'<{API}/projects?page=1&page_size=100>; rel="prev" , '
                                      f'<{API}/projects?page=3&page_size=100>; rel="next"')
    too_big = requests.get(f"{harbor_twin.url}{API}/projects?page_size=200", auth=auth, timeout=5)
    assert too_big.status_code == 422
    assert too_big.json() == {"errors": [{"code": "UNPROCESSABLE_ENTITY", "message": (
        "validation failure list:\npage_size in query should be less than or equal to 100")}]}


def test_a_session_with_a_cookie_jar_falls_into_the_csrf_trap(harbor_twin):
    with requests.Session() as session:
        session.auth = _admin(harbor_twin)
        first = session.put(f"{harbor_twin.url}{API}/configurations", json={"read_only": False}, timeout=5)
        assert first.status_code == 200 and "sid" in session.cookies
        second = session.put(f"{harbor_twin.url}{API}/configurations", json={"read_only": False}, timeout=5)
        assert second.status_code == 403
        assert second.json() == {"errors": [{"code": "FORBIDDEN", "message": "CSRF token invalid"}]}
    client = harbor_twin.client()
    for _ in range(3):
        client.set_read_only(False)
    client.create_project("after-csrf")
    assert client.project("after-csrf") is not None


def test_read_only_refuses_writes_before_authentication(harbor_twin):
    client = harbor_twin.client()
    client.create_project("frozen")
    client.set_read_only(True)
    assert client.read_only() is True
    assert client.systeminfo()["read_only"] is True
    configuration = requests.get(f"{harbor_twin.url}{API}/configurations", auth=_admin(harbor_twin), timeout=5).json()
    assert configuration["read_only"] == {"value": True, "editable": True}

    anonymous = requests.post(f"{harbor_twin.url}/v2/frozen/r/blobs/uploads/", timeout=5)
    assert (anonymous.status_code, anonymous.json()) == (403, READ_ONLY_BODY)
    anonymous_api = requests.delete(f"{harbor_twin.url}{API}/projects/frozen", timeout=5)
    assert (anonymous_api.status_code, anonymous_api.json()) == (403, READ_ONLY_BODY)
    layers = [os.urandom(4096), os.urandom(1024)]
    with harbor_twin.registry_client() as registry:
        with pytest.raises(Forbidden) as refused:
            registry.push_image("frozen/app", "v1", layers)
        assert "read only mode" in refused.value.message
    with pytest.raises(Forbidden) as api_refused:
        client.delete_project("frozen")
    assert f"Harbor at {harbor_twin.url} is read-only" in api_refused.value.message
    assert "thaw" in api_refused.value.fix

    client.set_read_only(False)
    assert client.read_only() is False
    with harbor_twin.registry_client() as registry:
        pushed = registry.push_image("frozen/app", "v1", layers)
    [artifact] = client.artifacts("frozen", "app")
    assert (artifact["digest"], artifact["size"]) == (pushed.digest, pushed.size)
    assert [t["name"] for t in artifact["tags"]] == ["v1"]


def test_v2_challenge_and_token_service(harbor_twin):
    url = harbor_twin.url
    ping = requests.get(f"{url}/v2/", timeout=5)
    assert ping.status_code == 401
    assert ping.headers["Www-Authenticate"] == f'Bearer realm="{url}/service/token",service="harbor-registry"'
    pull = requests.get(f"{url}/v2/library/x/manifests/latest", timeout=5)
    assert 'scope="repository:library/x:pull"' in pull.headers["Www-Authenticate"]
    bad_basic = requests.get(f"{url}/v2/", auth=("admin", "wrong"), timeout=5)
    assert bad_basic.headers["Www-Authenticate"] == 'Basic realm="harbor"'
    assert requests.get(f"{url}/v2/", auth=_admin(harbor_twin), timeout=5).status_code == 200
    upload = requests.post(f"{url}/v2/library/x/blobs/uploads/", auth=_admin(harbor_twin), timeout=5)
    assert upload.status_code == 202
    assert upload.headers["Location"].startswith(f"{url}/v2/library/x/blobs/uploads/")  # not the registry's URL

    assert requests.get(f"{url}/service/token?service=harbor-registry", timeout=5).status_code == 401
    assert requests.get(f"{url}/service/token?service=other&scope=repository:library/x:pull",
                        auth=_admin(harbor_twin), timeout=5).status_code == 400
    scope = "repository:library/x:pull,push"
    wrong = requests.get(f"{url}/service/token", params={"service": "harbor-registry", "scope": scope},
                         auth=("admin", "wrong"), timeout=5)
    assert wrong.status_code == 200
    assert _jwt_claims(wrong.json()["token"])["access"] == [{"type": "repository", "name": "library/x",
                                                             "actions": ["pull"]}]  # library is public
    missing = requests.get(f"{url}/service/token", auth=_admin(harbor_twin), timeout=5,
                           params={"service": "harbor-registry", "scope": "repository:nowhere/x:pull,push"})
    assert _jwt_claims(missing.json()["token"])["access"][0]["actions"] == []
    right = requests.get(f"{url}/service/token", params={"service": "harbor-registry", "scope": scope},
                         auth=_admin(harbor_twin), timeout=5).json()
    assert _jwt_claims(right["token"])["access"][0]["actions"] == ["pull", "push"]
    assert right["expires_in"] == 1800 and right["access_token"] == ""


def test_push_to_a_missing_project_fails(harbor_twin):
    with harbor_twin.registry_client() as registry, pytest.raises(Unauthorized):
        registry.push_image("nowhere/app", "v1", [b"layer"])
    assert harbor_twin.client().project("nowhere") is None


def test_tags_live_in_the_database_and_pulls_resolve_them(harbor_twin):
    client = harbor_twin.client()
    client.create_project("tags")
    with harbor_twin.registry_client() as registry:
        first = registry.push_image("tags/nested/app", "v1", [os.urandom(2048)])
        second = registry.push_image("tags/nested/app", "v1", [os.urandom(2048)])  # moves the tag
        assert registry.verify_artifact("tags/nested/app", "v1").digest == second.digest
        assert registry.tags("tags/nested/app") == ["v1"]
    registry_dir = harbor_twin.attached[1]
    manifests = registry_dir / "docker/registry/v2/repositories/tags/nested/app/_manifests"
    assert (manifests / "revisions").is_dir() and not (manifests / "tags").exists()  # Harbor 2.15: DB only
    artifacts = {a["digest"]: a for a in client.artifacts("tags", "nested/app")}
    assert set(artifacts) == {first.digest, second.digest}
    assert artifacts[first.digest]["tags"] is None and [t["name"] for t in artifacts[second.digest]["tags"]] == ["v1"]
    single = requests.get(f"{harbor_twin.url}{API}/projects/tags/repositories/nested%2Fapp/artifacts",
                          auth=_admin(harbor_twin), timeout=5)
    assert single.status_code == 404  # one encoding of '/' is not enough
    tags = requests.get(f"{harbor_twin.url}{API}/projects/tags/repositories/nested%252Fapp/artifacts/v1/tags",
                        auth=_admin(harbor_twin), timeout=5)
    assert [t["name"] for t in tags.json()] == ["v1"] and tags.headers["X-Total-Count"] == "1"


def test_state_survives_a_restart_and_keeps_the_stored_admin_password(tmp_path):
    require_tool("docker-registry")
    dirs = {"database_dir": tmp_path / "db", "registry_dir": tmp_path / "registry"}
    first_password = Secret("first-Admin-pw", "Harbor admin password")
    twin = start_harbor(**dirs, workdir=tmp_path / "w1", admin_password=first_password)
    try:
        twin.client().create_project("keep")
        with twin.registry_client() as registry:
            pushed = registry.push_image("keep/app", "v1", [os.urandom(8192)])
        twin.client().set_read_only(True)
    finally:
        twin.stop()
    again = start_harbor(**dirs, workdir=tmp_path / "w2", admin_password=Secret("ignored-pw", "new password"))
    try:
        with pytest.raises(Unauthorized):
            again.client().verify_credentials()  # the chart's new password is ignored, as Harbor does
        client = HarborClient(again.url, "admin", first_password)
        assert client.verify_credentials()["username"] == "admin"
        assert client.read_only() is True
        [artifact] = client.artifacts("keep", "app")
        assert (artifact["digest"], artifact["size"]) == (pushed.digest, pushed.size)
        with again.registry_client(password=first_password) as registry:
            assert registry.verify_artifact("keep/app", "v1").digest == pushed.digest
    finally:
        again.stop()
    assert "first-Admin-pw" not in (tmp_path / "db").joinpath("harbor-twin-db.json").read_text()


def test_frontend_answers_503_until_attached(tmp_path):
    require_tool("docker-registry")
    password = Secret("frontend-pw", "Harbor admin password")
    with HarborFrontend(0, workdir=tmp_path / "w", admin_password=password) as frontend:
        before = requests.get(f"{frontend.url}{API}/health", timeout=5)
        assert before.status_code == 503
        assert before.json()["errors"][0]["message"].startswith("harbor is not ready: ")
        frontend.attach(tmp_path / "db", tmp_path / "registry")
        assert requests.get(f"{frontend.url}{API}/health", timeout=5).status_code == 200
        frontend.client().create_project("attached")
        frontend.detach()
        assert requests.get(f"{frontend.url}{API}/projects", timeout=5).status_code == 503
        frontend.attach(tmp_path / "db", tmp_path / "registry")
        assert frontend.client().project("attached") is not None


# The twin and the client each run alone in a process of their own (tests/memory_probe.py): in this process
# other tests' servers and fixtures allocate in their threads while we measure.
TWIN_ALONE = """
import json, sys
from pathlib import Path
from seatrial.fixtures.harbor.server import start_harbor
from seatrial.runbook.secrets import Secret
from tests.memory_probe import answer_heap_commands
args = json.loads(sys.stdin.readline())
root = Path(args["dir"])
twin = start_harbor(database_dir=root / "database", registry_dir=root / "registry", workdir=root / "work",
                    admin_password=Secret(args["password"], "Harbor admin password"))
try:
    answer_heap_commands({"url": twin.url})
finally:
    twin.stop()
"""

BLOB_CLIENT = """
import json, sys, tracemalloc
from seatrial.runbook.clients.registry import RegistryClient
from seatrial.runbook.secrets import Secret
args = json.loads(sys.stdin.read())
with RegistryClient(args["url"], "admin", Secret(args["password"], "Harbor admin password")) as registry:
    absent = "sha256:" + "0" * 64
    assert not registry.blob_exists("big/blob", absent, for_push=True)  # both tokens before measuring
    assert not registry.blob_exists("big/blob", absent)
    tracemalloc.start()
    if args["push"]:
        pushed = registry.push_blob("big/blob", args["source"])
        answer = {"digest": pushed.digest, "size": pushed.size}
    else:
        answer = {"size": registry.verify_blob("big/blob", args["digest"], args["size"])}
    answer["peak"] = tracemalloc.get_traced_memory()[1]
print(json.dumps(answer))
"""


def test_blobs_stream_through_the_twin_in_constant_memory(tmp_path):
    require_tool("docker-registry")
    size = 64 * MB
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(size // MB):
            out.write(os.urandom(MB))
    password = "Harbor-" + secrets.token_urlsafe(12)
    with MeasuredServer("the Harbor twin", TWIN_ALONE, {"dir": str(tmp_path / "twin"), "password": password},
                        log=tmp_path / "twin.log") as twin:
        url = twin.ready["url"]
        HarborClient(url, "admin", Secret(password, "Harbor admin password")).create_project("big")
        with RegistryClient(url, "admin", Secret(password, "Harbor admin password")) as warm_up:
            small = warm_up.push_blob("big/warm-up", os.urandom(MB))  # the twin's code paths, before measuring
            assert warm_up.verify_blob("big/warm-up", small.digest, small.size) == MB
        client = {"url": url, "password": password}
        twin.trace()
        pushed = run_probe("the pushing client", BLOB_CLIENT, {**client, "push": True, "source": str(source)})
        twin_push = twin.peak()
        pulled = run_probe("the pulling client", BLOB_CLIENT, {**client, "push": False, **pushed})
        twin_pull = twin.peak()

    assert pushed["size"] == pulled["size"] == size
    # A copy of the blob would be 64 MB (the twin measured 129 MB and 74 MB when it read bodies whole). The twin's
    # peak holds werkzeug's 10 MB read that drains each closed connection (~9.7 MB measured): the bound leaves room
    # for a second connection draining at the same moment, as the client's next request comes in.
    peaks = [("the client's push", pushed["peak"], 6 * MB), ("the client's pull", pulled["peak"], 6 * MB),
             ("the twin's push", twin_push, 24 * MB), ("the twin's pull", twin_pull, 24 * MB)]
    for who, peak, bound in peaks:
        assert peak < bound, f"{who} peaked at {peak / MB:.1f} MB for a 64 MB blob (bound {bound // MB} MB)"


def test_an_index_is_sized_as_its_own_length_plus_its_children(harbor_twin):
    """Harbor's abstractor (src/controller/artifact/abstractor.go, every 2.x): `art.Size += len(content)`, then
    each child's size."""
    harbor_twin.client().create_project("multi")
    with harbor_twin.registry_client() as registry:
        amd = registry.push_image("multi/app", "amd64", [os.urandom(3000)])
        arm = registry.push_image("multi/app", "arm64", [os.urandom(5000)])
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": a.digest, "size": 0,
             "platform": {"architecture": arch, "os": "linux"}}
            for a, arch in ((amd, "amd64"), (arm, "arm64"))]}).encode()
        digest = registry.push_manifest("multi/app", "latest", index, OCI_INDEX)
        verified = registry.verify_artifact("multi/app", "latest")
    artifact = harbor_twin.client().artifacts("multi", "app")[0]
    assert artifact["digest"] == digest == verified.digest
    assert artifact["size"] == len(index) + amd.size + arm.size == verified.size


def test_a_project_is_found_by_name_on_harbor_before_2_2(tmp_path):
    """Harbor 2.0 and 2.1 have no `X-Is-Resource-Name`: `GET /projects/{x}` takes an id and refuses a name (400).
    The client then lists `GET /projects?name=` (a substring filter) and matches the name exactly."""
    require_tool("docker-registry")
    password = Secret("old-harbor-pw", "Harbor admin password")
    with HarborFrontend(0, workdir=tmp_path / "w", admin_password=password) as frontend:
        frontend.attach(tmp_path / "db", tmp_path / "registry", version="2.1.6")
        client = frontend.client()
        client.create_project("app-staging")
        client.create_project("app")
        by_name = requests.get(f"{frontend.url}{API}/projects/app", headers={"X-Is-Resource-Name": "true"},
                               auth=("admin", password.reveal()), timeout=5)
        assert by_name.status_code == 400, by_name.text
        assert client.project("app")["name"] == "app"
        assert client.project("app-staging")["name"] == "app-staging"
        assert client.project("ap") is None


def test_a_signature_is_an_accessory_hidden_from_the_default_listing(harbor_twin):
    """A manifest with an OCI `subject` (cosign, notation, SBOM) is an accessory in Harbor: the default artifact
    listing leaves it out (src/pkg/artifact/dao/dao.go); `with_accessory=true` nests it in its subject, and
    `…/artifacts/{ref}/accessories` lists it. The inventory carries it and the registry client pulls it by digest."""
    import random

    from seatrial.fixtures.sandbox.seed import SeededArtifact, push_signature
    from seatrial.runbook.migration.inventory import take_inventory

    harbor_twin.client().create_project("signed")
    with harbor_twin.registry_client() as registry:
        image = registry.push_image("signed/app", "v1", [os.urandom(4000)])
        subject = SeededArtifact("signed", "app", "v1", image.digest, image.size, ())
        signature = push_signature(registry, subject, random.Random(1))
        verified = registry.verify_artifact("signed/app", signature)
    base = f"{harbor_twin.url}{API}/projects/signed/repositories/app/artifacts"
    default = requests.get(base, auth=_admin(harbor_twin), timeout=5).json()
    assert [a["digest"] for a in default] == [image.digest] and default[0].get("accessories") is None
    [listed] = requests.get(base, params={"with_accessory": "true"}, auth=_admin(harbor_twin), timeout=5).json()
    [accessory] = listed["accessories"]
    assert (accessory["digest"], accessory["type"], accessory["subject_artifact_digest"]) == (
        signature, "signature.cosign", image.digest)
    assert accessory["size"] == verified.size
    endpoint = requests.get(f"{base}/{image.digest}/accessories", auth=_admin(harbor_twin), timeout=5)
    assert [a["digest"] for a in endpoint.json()] == [signature] and endpoint.headers["X-Total-Count"] == "1"
    records = take_inventory(harbor_twin.client()).artifact_records()
    assert {(r["digest"], r["subject"]) for r in records} == {(image.digest, ""), (signature, image.digest)}
