"""Poll until something is true, report progress (with the elapsed time, at least every 10 s), ride out
transient dependency errors, and on timeout say what was last seen.

A transient error (unreachable, or a 429/5xx left after the client's own retries) never aborts a wait at
once: the wait goes on, saying so on its progress line. A dependency that stays faulty for
`dependency_grace` seconds (SEATRIAL_DEPENDENCY_GRACE_S, default 60) ends the wait early with that
error (exit 3), instead of waiting silently until the timeout. Any other error ends it at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from seatrial.runbook.errors import SeatrialError, WaitTimeout
from seatrial.runbook.secrets import redact

T = TypeVar("T")
MAX_STATE_CHARS = 500
PROGRESS_EVERY_S = 10.0


def dependency_grace() -> float:
    return float(os.environ.get("SEATRIAL_DEPENDENCY_GRACE_S", "60"))


def is_transient(exc: BaseException) -> bool:
    """A dependency fault that may pass: unreachable, 429 or 5xx. Not 401/403 (retrying cannot fix
    credentials) and not an answer outside the protocol."""
    from seatrial.runbook.errors import ProtocolError, Unreachable

    if isinstance(exc, Unreachable):
        return True
    status = getattr(exc, "status", None)
    return not isinstance(exc, ProtocolError) and status is not None and (status >= 500 or status == 429)


def wait_until(probe: Callable[[], T | None], *, timeout: float, interval: float = 1.0, what: str,
               progress: Callable[[T | None], str] | None = None,
               on_progress: Callable[[str], None] | None = None, fix: str | None = None,
               grace: float | None = None) -> T:
    """Call `probe` every `interval` seconds until it returns something truthy, and return that.

    `progress(value)` turns each probe result into a one-line state; `on_progress` receives it, with
    the elapsed time, whenever it changes and at least every 10 s. A transient error raised by `probe`
    (or `progress`) is retried for up to `grace` seconds in a row, then raised; other errors propagate.
    After `timeout` seconds raises WaitTimeout naming `what` and the last state, with secrets redacted.
    """
    describe = progress or repr
    grace = dependency_grace() if grace is None else grace
    started = time.monotonic()
    deadline = started + timeout
    last_state: str | None = None
    last_said = float("-inf")
    failing_since: float | None = None
    while True:
        now = time.monotonic()
        try:
            value = probe()
            if value:
                return value
            state = describe(value)
            failing_since = None
        except SeatrialError as exc:
            if not is_transient(exc):
                raise
            failing_since = failing_since if failing_since is not None else now
            if now - failing_since >= grace:
                exc.message = (f"{exc.message} (waiting for {what}: the dependency kept failing for "
                               f"{now - failing_since:.0f}s, so the wait ends here)")
                raise
            state = f"  {what}: retrying, the last answer was: {' '.join(exc.message.split())[:300]}"
        elapsed = time.monotonic() - started
        if state != last_state or elapsed - last_said >= PROGRESS_EVERY_S:
            last_state, last_said = state, elapsed
            if on_progress is not None:
                on_progress(redact(f"{state} [{elapsed:.0f}s]"))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining, PROGRESS_EVERY_S))
    shown = redact(last_state or "")
    if len(shown) > MAX_STATE_CHARS:
        shown = shown[:MAX_STATE_CHARS] + "..."
    raise WaitTimeout(f"gave up after {timeout:g}s waiting for {what}; last state seen: {shown}",
                      fix=fix or f"look at why {what} did not happen (the last state above), "
                                 "or raise the timeout if it was still progressing")
