"""Secret values that cannot leak by accident.

A `Secret` never shows its value in str(), repr(), f-strings or pickles; code that needs the
value calls `reveal()`. Every revealed value is also registered so that `redact()` can scrub it
from any text that leaves the process (logs, reports, JUnit files, exception messages).
"""

from __future__ import annotations

import threading

_known: set[str] = set()
_lock = threading.Lock()
MASK = "***"
# Scrubbing a 1-5 character value out of every line would garble all output ("x" -> "***" in every
# word); such values still never show through repr/str, they are just not searched for in text.
MIN_SCRUBBED_LENGTH = 6


class Secret:
    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str = "secret"):
        if not isinstance(value, str):
            raise TypeError("Secret value must be a string")
        self._value = value
        self.name = name
        register(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({self.name}={MASK})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError("a Secret cannot be pickled")


def register(value: str) -> None:
    """Mark a value as secret without wrapping it (e.g. a token issued at run time)."""
    if len(value) >= MIN_SCRUBBED_LENGTH:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Replace every known secret value in `text` with the mask."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
