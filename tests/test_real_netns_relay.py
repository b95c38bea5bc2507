"""Two programs that both bind one fixed port (Velero's :8080) run side by side, each in a network namespace of
its own, and still reach a service on this machine's loopback through the relay (Unix sockets, no routing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from seatrial.fixtures.real.netns_relay import HostRelay, command

CHILD = textwrap.dedent("""
    import socket, sys
    fixed = socket.create_server(("127.0.0.1", 48080))  # the same fixed port in both namespaces
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as upstream:
        upstream.sendall(sys.argv[2].encode())
        upstream.shutdown(socket.SHUT_WR)
        print(upstream.recv(100).decode())
""")


@pytest.fixture
def echo_port():
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"echo:" + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_two_programs_bind_one_fixed_port_in_their_namespaces_and_reach_the_host(tmp_path: Path, echo_port: int):
    relay_dir = tmp_path / ("a-directory-deep-enough-" * 4) / "relay"  # beyond a Unix socket path's 107 bytes
    tmp_path = relay_dir.parent
    relay = HostRelay(relay_dir, [echo_port]).start()
    try:
        runs = [subprocess.Popen(command(tmp_path / "relay", [echo_port],
                                         [sys.executable, "-c", CHILD, str(echo_port), name]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("source", "target")]
        outputs = [run.communicate(timeout=60) for run in runs]
    finally:
        relay.stop()
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["echo:source", "echo:target"]
