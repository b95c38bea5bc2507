"""A clock for code that polls (seatrial.runbook.wait): time passes only when the code sleeps, so what a test sees of
the
elapsed time does not depend on how loaded the machine is."""

from __future__ import annotations


class FakeClock:
    """Stands in for the `time` module of the code under test: `monkeypatch.setattr("seatrial.runbook.wait.time",
    clock)`."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
