"""The charts seatrial ships (Harbor 1.6.4-1.19.1, Velero 7.2.2, 10.1.3, 12.1.0; see SOURCE.md), found through
importlib.resources so that a wheel finds them as a clone does."""

from __future__ import annotations

import atexit
import re
from contextlib import ExitStack
from importlib import resources
from pathlib import Path

_FILES = ExitStack()
atexit.register(_FILES.close)
_NAME = re.compile(r"^(?P<name>[a-z0-9-]+?)-(?P<version>\d+\.\d+\.\d+)\.tgz$")


def charts_dir() -> Path:
    """The directory of the shipped chart archives (extracted once if seatrial runs from a zip)."""
    return _FILES.enter_context(resources.as_file(resources.files(__name__)))


def shipped_versions(name: str) -> list[str]:
    """The versions of chart `name` that seatrial ships, oldest first."""
    found = (_NAME.match(entry.name) for entry in resources.files(__name__).iterdir())
    versions = [m["version"] for m in found if m and m["name"] == name]
    return sorted(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


def chart_path(name: str, version: str) -> Path | None:
    """The archive of chart `name` at `version`, or None when seatrial does not ship it."""
    path = charts_dir() / f"{name}-{version}.tgz"
    return path if path.is_file() else None
