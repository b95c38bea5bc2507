"""The retry layer (seatrial.runbook.retry) and waits that ride out transient faults (seatrial.runbook.wait), against
a real
loopback HTTP server that answers what each test scripts: 429 with Retry-After, 503, then 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seatrial.runbook import retry
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.errors import ApiError, NotFound, ProtocolError, ReadOnlyRefused, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret
from seatrial.runbook.wait import is_transient, wait_until
from tests.clock import FakeClock


@pytest.fixture
def scripted() -> Iterator[dict]:
    """A server answering the next scripted (status, headers, body) for each request; the last one repeats."""
    state: dict = {"script": [], "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            state["requests"] += 1
            script = state["script"]
            status, headers, body = script.pop(0) if len(script) > 1 else script[0]
            self.send_response_only(status)
            if "Date" not in headers:
                self.send_header("Date", self.date_time_string())
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def test_delay_is_exponential_capped_and_honours_retry_after(monkeypatch):
    monkeypatch.setenv("SEATRIAL_RETRY_BASE_S", "0.5")
    assert [retry.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert retry.delay(1, "3") == 3.0
    assert retry.delay(1, "3600") == retry.RETRY_AFTER_CAP_S
    assert retry.delay(1, "not a date") == 0.5


def test_a_post_is_sent_again_only_when_the_server_says_it_did_not_act():
    notes: list[str] = []
    retry.set_reporter(notes.append)
    try:
        assert retry.again(1, dependency="x", status=503, method="POST", sleep=lambda _s: None)
        assert not retry.again(1, dependency="x", status=500, method="POST", sleep=lambda _s: None)
        assert retry.again(1, dependency="x", status=500, method="GET", sleep=lambda _s: None)
        assert not retry.again(1, dependency="x", status=404, method="GET", sleep=lambda _s: None)
    finally:
        retry.set_reporter(None)
    assert notes[0].startswith("  x answered 503; retrying in") and "attempt 2 of" in notes[0]


def test_harbor_rides_out_429_and_503_honouring_retry_after_and_says_so(scripted, monkeypatch):
    monkeypatch.setenv("SEATRIAL_RETRY_BASE_S", "0.01")
    scripted["script"] = [(429, {"Retry-After": "1"}, b""), (503, {}, b"busy"),
                          (200, {"Content-Type": "application/json"}, b'{"status": "healthy"}')]
    notes: list[str] = []
    retry.set_reporter(notes.append)
    started = time.monotonic()
    try:
        with HarborClient(scripted["url"], "admin", Secret("pw-retry-test", "harbor password")) as harbor:
            assert harbor.health() == {"status": "healthy"}
    finally:
        retry.set_reporter(None)
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not honoured"
    assert scripted["requests"] == 3
    assert "answered 429, Retry-After 1; retrying in 1.0s" in notes[0] and "answered 503" in notes[1], notes


def test_after_the_bound_a_5xx_is_a_dependency_fault_and_401_is_not_retried(scripted, monkeypatch):
    monkeypatch.setenv("SEATRIAL_RETRY_BASE_S", "0.01")
    monkeypatch.setenv("SEATRIAL_RETRY_ATTEMPTS", "3")
    scripted["script"] = [(502, {}, b"<html>bad gateway</html>")]
    harbor = HarborClient(scripted["url"], "admin", Secret("pw-retry-test", "harbor password"))
    with pytest.raises(ApiError) as caught:
        harbor.health()
    assert scripted["requests"] == 3 and caught.value.exit_code == 3
    assert "answered 502" in caught.value.message and "after 3 attempts" in caught.value.message

    scripted["requests"], scripted["script"] = 0, [(401, {}, b'{"errors": [{"code": "UNAUTHORIZED"}]}')]
    with pytest.raises(Unauthorized) as refused:
        harbor.health()
    assert scripted["requests"] == 1 and refused.value.exit_code == 3

    scripted["script"] = [(200, {"Content-Type": "text/html"}, b"<html>Please log in</html>")]
    with pytest.raises(ProtocolError) as garbage:
        harbor.health()
    assert garbage.value.exit_code == 3 and "Please log in" in garbage.value.message
    assert "corrupt" not in garbage.value.render()


def test_is_transient():
    assert is_transient(Unreachable("down"))
    assert is_transient(ApiError("x", status=503)) and is_transient(ApiError("x", status=429))
    assert not is_transient(Unauthorized("x", status=401)) and not is_transient(NotFound("x", status=404))
    assert not is_transient(ProtocolError("x", status=200))


def test_a_wait_rides_out_a_transient_fault_and_says_so():
    answers = iter([Unreachable("connection refused"), ApiError("busy", status=503), None, "done"])

    def probe():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    seen: list[str] = []
    assert wait_until(probe, timeout=10, interval=0.01, what="backup b", grace=5,
                      progress=lambda _v: "phase InProgress", on_progress=seen.append) == "done"
    assert seen[0].startswith("  backup b: retrying, the last answer was: connection refused [")
    assert "busy" in seen[1] and seen[2].startswith("phase InProgress [")


def test_a_wait_on_a_dependency_that_stays_down_ends_early_with_its_error():
    def probe():
        raise Unreachable("cannot reach Harbor at http://127.0.0.1:9: connection refused")

    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        wait_until(probe, timeout=600, interval=0.05, what="target Harbor to answer", grace=0.3)
    assert time.monotonic() - started < 5, "the wait did not end early"
    assert caught.value.exit_code == 3 and "connection refused" in caught.value.message
    assert "kept failing for" in caught.value.message


def test_a_wait_prints_a_progress_line_with_the_elapsed_time_even_when_nothing_changes(monkeypatch):
    monkeypatch.setattr("seatrial.runbook.wait.PROGRESS_EVERY_S", 0.1)
    monkeypatch.setattr("seatrial.runbook.wait.time",
                        FakeClock())  # the lines counted do not depend on the machine's load
    seen: list[str] = []
    with pytest.raises(Exception, match="gave up after"):
        wait_until(lambda: None, timeout=0.55, interval=0.02, what="x", progress=lambda _v: "same",
                   on_progress=seen.append)
    assert len(seen) >= 4, seen
    assert all(line.startswith("same [") and line.endswith("s]") for line in seen)


def test_a_non_transient_error_ends_a_wait_at_once():
    calls = []

    def probe():
        calls.append(1)
        raise Unauthorized("wrong password", status=401)

    with pytest.raises(Unauthorized):
        wait_until(probe, timeout=60, interval=0.01, what="x", grace=30)
    assert len(calls) == 1


def test_a_read_only_refusal_is_a_state_not_a_dependency_fault(scripted):
    scripted["script"] = [(403, {"Content-Type": "application/json"},
                           b'{"errors": [{"code": "DENIED", "message": "The system is in read only mode."}]}')]
    harbor = HarborClient(scripted["url"], "admin", Secret("pw-retry-test", "harbor password"))
    with pytest.raises(ReadOnlyRefused) as caught:
        harbor.create_project("p")
    assert caught.value.exit_code == 1


def test_a_read_only_reading_carries_harbors_own_time(scripted):
    scripted["script"] = [(200, {"Content-Type": "application/json", "Date": "Sat, 28 Nov 2026 23:02:45 GMT"},
                           b'{"read_only": false}')]
    harbor = HarborClient(scripted["url"], "admin", Secret("pw-retry-test", "harbor password"))
    assert harbor.read_only_reading() == (False, "2026-11-28T23:02:45Z")
