"""The sandbox's HTTP servers wait without a timer (an idle sandbox must not wake 20 times a second per server)
and still stop at once when asked: stop_serving wakes the loop that would otherwise look again in an hour."""

from __future__ import annotations

import socket
import socketserver

import pytest

from seatrial.fixtures import quiet_server
from seatrial.fixtures.quiet_server import IDLE_POLL_S, serve_in_thread, stop_serving


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.readline())


def test_the_loop_looks_for_shutdown_only_hourly_and_still_stops_when_asked():
    assert IDLE_POLL_S >= 3600
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    thread = serve_in_thread(server, "echo")
    with socket.create_connection(server.server_address[:2], timeout=5) as client:
        client.sendall(b"ping\n")
        assert client.recv(16) == b"ping\n"
    stop_serving(server, thread)  # without the knock this would wait out the hour (pytest-timeout fails it)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(server.server_address[:2], timeout=1).close()


def test_stopping_a_server_that_never_started_only_closes_it(monkeypatch):
    server = socketserver.TCPServer(("127.0.0.1", 0), _Echo)
    knocked = []
    monkeypatch.setattr(quiet_server.socket, "create_connection", lambda *a, **k: knocked.append(a))
    stop_serving(server, None)
    assert knocked == [] and server.socket.fileno() == -1


def test_the_kube_api_server_and_the_harbor_twin_serve_without_a_timer(kube_api, harbor_twin):
    for thread in (kube_api.server._thread, harbor_twin._thread):
        assert thread.is_alive() and thread._kwargs == {"poll_interval": IDLE_POLL_S}  # what serve_forever got
