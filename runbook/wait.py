"""Poll until something is true, report progress as it changes, and on timeout say what was last seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from runbook.errors import WaitTimeout
from runbook.secrets import redact

T = TypeVar("T")
MAX_STATE_CHARS = 500


def wait_until(probe: Callable[[], T | None], *, timeout: float, interval: float = 1.0, what: str,
               progress: Callable[[T | None], str] | None = None,
               on_progress: Callable[[str], None] | None = None, fix: str | None = None) -> T:
    """Call `probe` every `interval` seconds until it returns something truthy, and return that.

    `progress(value)` turns each probe result into a one-line state; `on_progress` receives it
    whenever it differs from the previous one. Errors raised by `probe` propagate. After `timeout`
    seconds raises WaitTimeout naming `what` and the last state (the last progress line, or the
    repr of the last value), with known secrets redacted.
    """
    describe = progress or repr
    deadline = time.monotonic() + timeout
    last_state: str | None = None
    while True:
        value = probe()
        if value:
            return value
        state = describe(value)
        if state != last_state:
            last_state = state
            if on_progress is not None:
                on_progress(redact(state))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    shown = redact(last_state or "")
    if len(shown) > MAX_STATE_CHARS:
        shown = shown[:MAX_STATE_CHARS] + "..."
    raise WaitTimeout(f"gave up after {timeout:g}s waiting for {what}; last state seen: {shown}",
                      fix=fix or f"look at why {what} did not happen (the last state above), "
                                 "or raise the timeout if it was still progressing")
