"""The dependency calls in flight, for the progress line (seatrial.runbook.heartbeat): a slow answer is said
while it is awaited, naming the dependency and the request, instead of a silence as long as the answer."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_calls: dict[int, tuple[str, float]] = {}  # token -> (what is awaited, since when: time.monotonic())
_tokens = itertools.count()


@contextmanager
def awaiting(what: str, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """While the block runs, `what` is awaited ("Harbor API at https://h to answer GET /api/v2.0/projects")."""
    token = next(_tokens)
    with _lock:
        _calls[token] = (what, clock())
    try:
        yield
    finally:
        with _lock:
            _calls.pop(token, None)


def longest() -> tuple[str, float] | None:
    """The call in flight the longest, with when it started; None when nothing is awaited."""
    with _lock:
        return min(_calls.values(), key=lambda call: call[1]) if _calls else None
