"""A progress line at least every 10 s whatever a dependency does: when nothing has been said for that long
(a request answered after 20 s, a check process reading a slow Harbor), a line says what is awaited and for
how long, from a thread of its own, so that a slow call cannot hold the progress line back."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from seatrial.runbook import inflight
from seatrial.runbook.wait import PROGRESS_EVERY_S


def progress_every() -> float:
    """Seconds of silence before the heartbeat speaks: SEATRIAL_PROGRESS_EVERY_S (tests make it short)."""
    return max(0.01, float(os.environ.get("SEATRIAL_PROGRESS_EVERY_S", PROGRESS_EVERY_S)))


class Heartbeat:
    def __init__(self, say: Callable[[str], None], *, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._say = say
        self.every = progress_every() if every is None else every
        self._clock = clock
        self._last = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._quiet = 0  # > 0 while the operator is asked a question: no line over the prompt

    def said(self) -> None:
        """Something was said: the silence starts again."""
        self._last = self._clock()

    def tick(self) -> bool:
        """Say what is awaited if nothing was said for `every` seconds; whether a line was said."""
        now = self._clock()
        silent = now - self._last
        if silent < self.every or self._quiet:
            return False
        call = inflight.longest()
        if call is None:
            line = f"  ... still working; nothing to report for {silent:.0f}s"
        else:
            what, since = call
            line = f"  ... still waiting for {what}: {now - since:.0f}s so far"
        self._last = now
        self._say(line)
        return True

    def _beat(self) -> None:
        while not self._stop.wait(max(0.01, self.every - (self._clock() - self._last))):
            self.tick()

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """No line within the block (a question to the operator waits on them, not on a dependency)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1
            self.said()

    @contextmanager
    def running(self) -> Iterator[Heartbeat]:
        """The heartbeat's thread for the block (nested blocks share the outer one)."""
        if self._thread is not None:
            yield self
            return
        self._stop.clear()
        self.said()
        self._thread = threading.Thread(target=self._beat, name="seatrial-heartbeat", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self._thread = None
