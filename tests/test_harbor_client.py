"""seatrial.runbook.clients.harbor.HarborClient against the Harbor twin: errors, paging, and no password in any
message."""

from __future__ import annotations

import socket
import uuid

import pytest

from seatrial.runbook.clients.harbor import HarborClient, repository_path
from seatrial.runbook.errors import Conflict, Invalid, NotFound, SeatrialError, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret

WRONG = "wrong-Password-123"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_verify_credentials(harbor_twin):
    assert harbor_twin.client().verify_credentials()["username"] == "admin"
    wrong = HarborClient(harbor_twin.url, "admin", Secret(WRONG, "password"))
    with pytest.raises(Unauthorized) as refused:
        wrong.verify_credentials()
    text = refused.value.render()
    assert f"wrong username or password for {harbor_twin.url}" in text
    assert "anonymous" in text and WRONG not in text and WRONG not in repr(refused.value)
    # the same wrong credentials on a list endpoint: no error, only public projects
    harbor_twin.client().create_project("private-one")
    assert [p["name"] for p in wrong.projects()] == ["library"]


def test_paging_lists_every_project_with_page_size_100(harbor_twin):
    client = harbor_twin.client()
    for i in range(1, 230):
        client.create_project(f"proj-{i:03d}")
    names = [p["name"] for p in client.projects()]
    assert len(names) == 230 and len(set(names)) == 230
    assert client.statistics()["total_project_count"] == 230


def test_project_lifecycle_and_typed_errors(harbor_twin):
    client = harbor_twin.client()
    assert client.project("absent") is None
    client.create_project("team", public=True)
    assert client.project("team")["metadata"]["public"] == "true"
    with pytest.raises(Conflict) as exists:
        client.create_project("team")
    assert "CONFLICT" in exists.value.message and "/api/v2.0/projects" in exists.value.message
    with pytest.raises(Invalid):
        client.create_project("Not_Valid!")
    with pytest.raises(NotFound):
        client.delete_project("absent")
    with harbor_twin.registry_client() as registry:
        registry.push_image("team/app", "v1", [b"layer-bytes"])
    with pytest.raises(Conflict) as not_empty:
        client.delete_project("team")
    assert "PRECONDITION" in not_empty.value.message
    client.delete_repository("team", "app")
    assert client.repositories("team") == []
    client.delete_project("team")
    assert client.project("team") is None


def test_delete_artifact_removes_it_from_listing_and_pulls(harbor_twin):
    client = harbor_twin.client()
    client.create_project("del")
    with harbor_twin.registry_client() as registry:
        kept = registry.push_image("del/a/b", "keep", [b"one"])
        gone = registry.push_image("del/a/b", "gone", [b"two"])
        client.delete_artifact("del", "a/b", gone.digest)
        assert [a["digest"] for a in client.artifacts("del", "a/b")] == [kept.digest]
        with pytest.raises(SeatrialError):
            registry.pull_manifest("del/a/b", "gone")


def test_unreachable_names_the_url_and_never_the_password(harbor_twin):
    url = f"http://127.0.0.1:{_closed_port()}"
    client = HarborClient(url, "admin", Secret(WRONG, "password"), timeout=2)
    with pytest.raises(Unreachable) as down:
        client.health()
    assert url in down.value.message and WRONG not in down.value.render()


def test_no_error_message_holds_the_password(harbor_twin):
    secret = harbor_twin.admin_password.reveal()
    client = harbor_twin.client()
    client.create_project("quiet")
    client.set_read_only(True)
    failures: list[SeatrialError] = []
    for action in (lambda: client.create_project("quiet2"), lambda: client.delete_project("nope"),
                   lambda: client.artifacts("quiet", "none"), lambda: client.delete_artifact("quiet", "x", "v1")):
        with pytest.raises(SeatrialError) as caught:
            action()
        failures.append(caught.value)
    client.set_read_only(False)
    assert failures and all(secret not in f.render() and secret not in repr(f) for f in failures)
    assert secret not in repr(client)


def test_repository_path_encodes_slashes_twice():
    assert repository_path("a/b") == "a%252Fb"
    assert repository_path("plain") == "plain"


def test_bad_input_is_one_clear_error():
    with pytest.raises(SeatrialError, match="not an http"):
        HarborClient("harbor.example.com", "admin", Secret("unused-" + uuid.uuid4().hex))
    with pytest.raises(SeatrialError, match="must be a Secret"):
        HarborClient("https://harbor.example.com", "admin", "plain")  # type: ignore[arg-type]
