"""The tests' one polling wait: a probe until it returns something true, with a deadline that says what it last saw."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(what: str, probe: Callable[[], object], timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last probe: {value!r})")
        time.sleep(interval)
