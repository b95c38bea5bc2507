"""The real control plane's ports come from below the kernel's ephemeral range, so an outgoing connection elsewhere
on the machine cannot take one between the choice and the program's bind."""

from __future__ import annotations

import socket

from seatrial.fixtures import ports


def test_ports_are_below_the_ephemeral_range_free_and_never_given_twice():
    low = ports.ephemeral_low()
    chosen = [ports.unassigned_port() for _ in range(200)]
    assert len(set(chosen)) == len(chosen)
    assert all(ports.LOWEST <= port < low for port in chosen), (low, min(chosen), max(chosen))
    with socket.socket() as sock:
        sock.bind((ports.LOOPBACK, chosen[-1]))  # free when handed out


def test_a_port_someone_listens_on_is_not_chosen(monkeypatch):
    with socket.socket() as held:
        held.bind((ports.LOOPBACK, 0))
        taken = held.getsockname()[1]
        held.listen()
        picks = iter([taken, taken])
        real = ports.random.randint
        monkeypatch.setattr(ports.random, "randint", lambda low, high: next(picks, None) or real(low, high))
        monkeypatch.setattr(ports, "LOWEST", 1024)
        assert ports.unassigned_port() != taken


def test_without_room_below_the_range_the_kernel_chooses(tmp_path, monkeypatch):
    (tmp_path / "range").write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "RANGE_FILE", tmp_path / "range")
    assert ports.ephemeral_low() == 1024
    assert ports.unassigned_port() >= 1024
