"""seatrial.fixtures.real.kubelet_server over real TLS sockets: what the real kube-apiserver's node proxy meets when it
dials a node of the real environment (tests/test_real_env.py goes through the proxy itself)."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import requests
from cryptography import x509

from seatrial.fixtures.real.kubelet_server import KubeletServer
from seatrial.fixtures.real.node_address import node_address

LOOPBACK = "127.0.0.1"
SUMMARY = {"node": {"nodeName": "node-1", "startTime": "2026-12-07T20:00:00Z"}, "pods": []}


@pytest.fixture
def serve(tmp_path: Path):
    started: list[KubeletServer] = []

    def start(summary) -> tuple[KubeletServer, requests.Session]:
        server = KubeletServer("node-1", LOOPBACK, tmp_path, summary).start()
        started.append(server)
        session = requests.Session()
        session.trust_env = False
        session.verify = str(server.certificate)  # its own CA: the certificate names the node's address
        return server, session

    yield start
    for server in started:
        server.stop()


def test_it_answers_the_summary_over_tls_with_a_self_signed_certificate(serve, tmp_path: Path) -> None:
    server, session = serve(lambda: SUMMARY)
    answer = session.get(f"https://{LOOPBACK}:{server.port}/stats/summary", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json() == SUMMARY
    certificate = x509.load_pem_x509_certificate(server.certificate.read_bytes())
    assert certificate.issuer == certificate.subject
    assert certificate.subject.rfc4514_string().startswith("CN=node-1@")
    key = tmp_path / "kubelet" / "node-1" / "kubelet.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_other_paths_are_not_found_and_a_failed_summary_is_a_500_naming_no_detail(serve) -> None:
    def failing() -> dict:
        raise RuntimeError("https://user:secret@apiserver refused")

    server, session = serve(failing)
    assert session.get(f"https://{LOOPBACK}:{server.port}/containerLogs/ns/pod/c", timeout=10).status_code == 404
    answer = session.get(f"https://{LOOPBACK}:{server.port}/stats/summary", timeout=10)
    assert answer.status_code == 500 and answer.text == "failed to get the node summary: RuntimeError\n"


def test_a_client_that_never_finishes_its_handshake_holds_up_no_other(serve) -> None:
    server, session = serve(lambda: SUMMARY)
    with socket.create_connection((LOOPBACK, server.port), timeout=10):  # connected, silent
        assert session.get(f"https://{LOOPBACK}:{server.port}/stats/summary", timeout=10).json() == SUMMARY


def test_it_listens_on_its_address_only(tmp_path: Path) -> None:
    address = node_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    server = KubeletServer("node-1", address, tmp_path, lambda: SUMMARY).start()
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, server.port), timeout=10).close()
        socket.create_connection((address, server.port), timeout=10).close()
    finally:
        server.stop()
