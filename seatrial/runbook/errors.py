"""Typed errors with the exit codes the CLI documents.

Every error carries a message meant for a person: what is wrong and how to fix it.
None of them may hold a secret value; build messages from names, never from values.
"""

from __future__ import annotations

TROUBLESHOOTING = "docs/troubleshooting.md"
DEPENDENCY_FAULT_GUIDE = "a-dependency-is-unreachable-or-failing-exit-3"


class SeatrialError(Exception):
    """Base class. `exit_code` is what the CLI exits with; `guide` the heading of docs/troubleshooting.md that
    explains this kind of failure ("" when none does; tests/test_docs_commands.py checks each one is there)."""

    exit_code = 1
    guide = ""

    def __init__(self, message: str, *, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.message}\n  fix: {self.fix}" if self.fix else self.message

    def see_also(self) -> str:
        """Where the guide explains this failure, e.g. `docs/troubleshooting.md#a-wait-gave-up`, or ""."""
        return f"{TROUBLESHOOTING}#{self.guide}" if self.guide else ""


class CheckFailed(SeatrialError):
    exit_code = 1


class BadInput(SeatrialError):
    """Configuration or arguments are wrong. Nothing was changed."""

    exit_code = 2
    guide = "bad-arguments-and-refused-commands-exit-2"


class ConfigError(BadInput):
    """A configuration key is wrong; `key` is its dotted path, e.g. `storage.bucket`."""

    guide = "configuration-errors-exit-2"

    def __init__(self, key: str, message: str, *, fix: str):
        self.key = key
        super().__init__(f"{key}: {message}", fix=fix)


class Unreachable(SeatrialError):
    """A dependency (cluster, bucket, Harbor) cannot be reached."""

    exit_code = 3
    guide = DEPENDENCY_FAULT_GUIDE

    @property
    def dependency_fault(self) -> bool:
        return True


# Answers that say the dependency itself is in trouble (after the clients' retries): exit 3, never a verdict.
DEPENDENCY_FAULT_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504})


class ApiError(SeatrialError):
    """An API answered with an error status. `status` is the HTTP status.

    5xx and 429 (left after the clients' retries) are dependency faults: exit 3, like Unreachable."""

    exit_code = 1

    def __init__(self, message: str, *, status: int | None = None, fix: str | None = None):
        self.status = status
        super().__init__(message, fix=fix)
        if status is not None and (status >= 500 or status == 429):
            self.exit_code = 3
            self.guide = self.guide or DEPENDENCY_FAULT_GUIDE

    @property
    def dependency_fault(self) -> bool:
        return self.exit_code == 3


class Unauthorized(ApiError):
    """401: the credentials are refused; every later call would fail the same way (exit 3)."""

    exit_code = 3
    guide = "credentials-refused-401-403"


class Forbidden(ApiError):
    """403: the dependency refuses this user (exit 3)."""

    exit_code = 3
    guide = "credentials-refused-401-403"


class ReadOnlyRefused(Forbidden):
    """Harbor refused a write because it is read-only: a state of the migration, not a dependency fault."""

    exit_code = 1
    guide = "the-target-harbor-is-still-read-only"


class ProtocolError(ApiError):
    """The dependency answered something that is not its protocol (an HTML proxy page, a body that is not
    JSON, a manifest that does not parse): a dependency problem, never a statement about the user's data."""

    exit_code = 3
    guide = DEPENDENCY_FAULT_GUIDE


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Invalid(ApiError):
    """422: the object failed validation."""


class DigestMismatch(SeatrialError):
    """Content pulled from a registry does not hash to its digest."""

    exit_code = 1
    guide = "verify-harbor-checks"


class WaitTimeout(SeatrialError):
    """A wait gave up; the message says the last state it saw."""

    exit_code = 1
    guide = "a-wait-gave-up"
