"""How checks fail and how they are parametrized from the live clusters.

`fail(what, observed, fix)` ends a check with three plain lines and no traceback from helpers:
what is wrong, what was observed, the one-line fix.

`@live(argname, factory, ids=...)` parametrizes a check from the live clusters at collection
(testinfra's pattern): one test per object with a readable id. A factory that cannot read what it
needs (the backup name is unknown, a list failed) yields one failing test that says why, instead of
an empty, silently skipped set.

`@needs(key)` / `@establishes(key)` tie a check to a root cause (seatrial.checks.causes): one false fact is reported
once, first, and the checks it explains are "not judged" instead of failing with guesses of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pytest

from seatrial.runbook.secrets import redact


def message(what: str, observed: object, fix: str) -> str:
    return redact(f"{what}\n  observed: {observed}\n  fix: {fix}")


def fail(what: str, observed: object, fix: str) -> None:
    __tracebackhide__ = True
    # `from None`: a check that fails while handling a client error shows its three lines, not the chain
    raise pytest.fail.Exception(message(what, observed, fix), pytrace=False) from None


def expect(condition: bool, what: str, observed: object, fix: str) -> None:
    __tracebackhide__ = True
    if not condition:
        fail(what, observed, fix)


@dataclass(frozen=True)
class Unavailable:
    """Stands in for the parameters of a check whose objects could not be read."""

    what: str
    observed: str
    fix: str

    def __repr__(self) -> str:
        return "unavailable"


@dataclass(frozen=True)
class Nothing:
    """Stands in for an empty, allowed parameter set: the check passes on `none`."""

    what: str

    def __repr__(self) -> str:
        return "none"


def live(argname: str, factory: Callable[..., Iterable], *, ids: Callable[[object], str] = str,
         allow_empty: bool = False, empty: str = ""):
    """Mark a check for live parametrization; `factory(ctx)` returns the objects."""
    return pytest.mark.seatrial_live(argname=argname, factory=factory, ids=ids, allow_empty=allow_empty,
                                     empty=empty)


def needs(*keys: str):
    """The prerequisites (seatrial.checks.causes) this check stands on: when one is false, the check is
    "not judged: <cause>" and the cause is reported once, first."""
    return pytest.mark.seatrial_needs(*keys)


def establishes(key: str):
    """This check's own subject is the prerequisite `key`: when it is false, this check is the one failure
    that reports the cause (with its fix), first; the checks that need it are not judged."""
    return pytest.mark.seatrial_establishes(key)
