"""The tests' one polling wait: a probe until it returns something true, with a deadline that says what it last saw."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(what: str, probe: Callable[[], object], timeout: float = 60.0, interval: float = 0.05,
             done: Callable[[object], object] = bool):
    """`probe()` until `done(value)` (by default: the value is true); returns that value. The timeout is an upper
    bound for a loaded machine, not an expectation: a wait that is met returns at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last probe: {value!r})")
        time.sleep(interval)
