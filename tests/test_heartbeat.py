"""A progress line at least every 10 s whatever a dependency does (seatrial.runbook.heartbeat): a call that is slow
to answer is said while it is awaited, naming the dependency and the request. Time is the fake clock's, or ended
by events (a request held by the fault proxy until the line that names it is said)."""

from __future__ import annotations

import pytest
from clock import FakeClock

from seatrial.fixtures.faultproxy import FaultProxy
from seatrial.runbook import inflight
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.heartbeat import Heartbeat

HARBOR_CALL = "Harbor API at https://h to answer GET /api/v2.0/projects"


@pytest.fixture(autouse=True)
def calls_of_this_test_only(monkeypatch):
    """The calls in flight are the process's: under pytest-xdist a worker may still run an earlier file's
    background thread (a sandbox's S3 client) whose call would be the longest here, on the real clock."""
    monkeypatch.setattr(inflight, "_calls", {})


def test_ten_silent_seconds_bring_a_line_naming_the_call_awaited_longest() -> None:
    clock, lines = FakeClock(), []
    beat = Heartbeat(lines.append, every=10, clock=clock.monotonic)
    with inflight.awaiting(HARBOR_CALL, clock=clock.monotonic):
        clock.sleep(9.9)
        assert not beat.tick() and not lines
        clock.sleep(0.1)
        with inflight.awaiting("the Kubernetes API of context 'source' to answer GET /api/v1/pods",
                               clock=clock.monotonic):
            assert beat.tick()
        assert lines == [f"  ... still waiting for {HARBOR_CALL}: 10s so far"]
        clock.sleep(5)
        beat.said()  # a line said by the step: the silence starts again
        clock.sleep(9)
        assert not beat.tick()
        clock.sleep(1)
        assert beat.tick()
        assert lines[-1] == f"  ... still waiting for {HARBOR_CALL}: 25s so far"
    clock.sleep(10)
    assert beat.tick()
    assert lines[-1] == "  ... still working; nothing to report for 10s"
    assert inflight.longest() is None


def test_no_line_over_a_question_to_the_operator() -> None:
    clock, lines = FakeClock(), []
    beat = Heartbeat(lines.append, every=10, clock=clock.monotonic)
    with beat.quiet():
        clock.sleep(60)  # the operator thinks it over
        assert not beat.tick()
    clock.sleep(9)
    assert not beat.tick() and not lines  # the silence counts from the answer
    clock.sleep(1)
    assert beat.tick()


def test_a_harbor_answer_held_back_is_said_while_it_is_awaited(harbor_twin) -> None:
    proxy = FaultProxy(harbor_twin.url).start()
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if "still waiting for Harbor API" in line:
            proxy.release()  # the answer comes only after the line that names it

    proxy.set("hold", paths=("/api/",), budget=1)
    try:
        with Heartbeat(say, every=0.05).running():
            with HarborClient(proxy.url, "admin", harbor_twin.admin_password) as client:
                assert client.read_only() is False
    finally:
        proxy.stop()
    assert proxy.faulted == 1
    assert lines and lines[0].startswith(
        f"  ... still waiting for Harbor API at {proxy.url} to answer GET /api/v2.0/systeminfo: "), lines
