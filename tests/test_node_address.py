"""seatrial.fixtures.real.node_address: the real environment's Nodes get an address of this machine that the API
server's node proxy dials (not loopback, not link-local), and a server can listen on it."""

from __future__ import annotations

import socket

import pytest

from seatrial.fixtures.real.node_address import interface_addresses, node_address, proxyable


@pytest.mark.parametrize("address, dialled", [
    ("127.0.0.1", False), ("127.1.2.3", False), ("169.254.10.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("192.0.2.2", True), ("10.1.2.3", True), ("172.17.0.1", True), ("203.0.113.9", True),
])
def test_proxyable_follows_the_api_servers_rule(address: str, dialled: bool) -> None:
    assert proxyable(address) is dialled


def test_the_node_address_is_one_of_this_machines_and_can_be_listened_on() -> None:
    found = node_address()
    if found is None:  # a machine with loopback only: every interface address is refused, so none is offered
        assert all(not proxyable(address) for _, address in interface_addresses())
        return
    assert found in [address for _, address in interface_addresses()] and proxyable(found)
    with socket.create_server((found, 0)) as server, socket.create_connection(server.getsockname()[:2], timeout=10):
        pass
