"""The process that runs one check module: the same command for every step and for upgrade-plan, so a check
behaves alike wherever it runs (seatrial.checks, found as an installed package, never by a clone's path)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from seatrial.runbook.errors import BadInput

# pytest exit codes -> ours: 3 is the checks' "dependency unreachable" exit; 4 a usage error.
PYTEST_EXIT = {0: 0, 1: 1, 3: 3, 4: 2}
# A check process starts once per step: only the plugins the checks use. pytest-kind's plugin is of no use
# to them and costs a third of a second; unraisableexception runs two full garbage collections at exit (~40 ms
# over the clients' objects) to turn an exception in a finalizer into a warning, which Python's own hook prints
# to stderr anyway; the cache is never read. The redaction plugin scrubs every report and the JUnit file.
CHECK_PROCESS_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:pytest-kind", "-p", "no:unraisableexception",
                         "-p", "seatrial.runbook.checking.pytest_redact")

def checks_dir() -> Path:
    spec = importlib.util.find_spec("seatrial.checks")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("the seatrial checks are not installed", fix="reinstall seatrial (pip install seatrial)")
    return Path(next(iter(spec.submodule_search_locations)))


def check_command(module: Path, junit: Path, suite: str, *options: str) -> list[str]:
    """The pytest process that runs one check module, as every step (and upgrade-plan) runs it."""
    # --confcutdir: only checks/conftest.py, as in an installed seatrial (a source tree's own conftest loads
    # every test fixture); -c devnull: no ini file either (a source tree's pyproject.toml holds the test suite's
    # options: --durations, its timeout).
    return [sys.executable, "-m", "pytest", str(module), *options, "-q", "-c", os.devnull, *CHECK_PROCESS_PLUGINS,
            f"--junitxml={junit}", "-o", "junit_family=xunit2", "-o", f"junit_suite_name={suite}",
            "--rootdir", str(checks_dir().parent.parent), f"--confcutdir={checks_dir()}"]
