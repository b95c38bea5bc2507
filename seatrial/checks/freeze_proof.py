"""The freeze proven from what the source Harbor recorded, not only sampled.

The backup step reads the read_only flag every few seconds; a thaw between two readings is not seen. Harbor itself
records every write that matters to the move: an artifact's `push_time` when it is created, a tag's `push_time`
when it is made or moved, a repository's or project's `creation_time` (controller/artifact and controller/tag,
Ensure). None may fall inside the freeze window: from the moment the flag was seen set (the freeze step's
reading, Harbor's clock) to the backup's completion (the backup step's reading after it, Harbor's clock).
Harbor's clock throughout, so no offset between machines enters; its Date header has whole seconds, so the window
starts one second after the reading that saw the flag set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from seatrial.runbook.migration.inventory import HarborLister

FLOOR_SLACK = timedelta(seconds=1)  # the Date header's whole seconds
LOCAL_SLACK = timedelta(seconds=2)  # this machine's freeze time shifted to Harbor's clock (whole-second offset)


@dataclass(frozen=True)
class Window:
    start: datetime  # exclusive of what came before: writes at or after it are inside
    end: datetime
    how: str  # how the bounds were found, for the message

    def holds(self, stamp: str | None) -> datetime | None:
        when = parse(stamp)
        return when if when is not None and self.start <= when <= self.end else None

    def describe(self) -> str:
        return f"{iso(self.start)}..{iso(self.end)} (Harbor's clock; {self.how})"


def parse(stamp: str | None) -> datetime | None:
    if not stamp or stamp.startswith("0001-"):  # Go's zero time: never set
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(freeze: dict, backup: dict, harbor_now: tuple[datetime, float]) -> Window | None:
    """The freeze window from the journal's freeze and backup steps; `harbor_now` = (Harbor's time, this machine's
    time.time() of the same answer), for a journal written before the readings were recorded. None: no freeze."""
    harbor_time, local_time = harbor_now
    seen = parse(freeze.get("frozen_harbor_at"))
    if seen is not None:
        start, how = seen + FLOOR_SLACK, "from the reading that saw the flag set"
    elif isinstance(freeze.get("frozen_at"), int | float):
        shifted = harbor_time - timedelta(seconds=local_time - freeze["frozen_at"])
        start, how = shifted + LOCAL_SLACK, "from this machine's freeze time, shifted to Harbor's clock"
    else:
        return None
    done = parse(backup.get("backup_done_harbor_at"))
    if done is not None:
        return Window(start, done + FLOOR_SLACK, how + " to the reading after the backup completed")
    return Window(start, harbor_time, how + " to now: the backup's completion was not read")


def writes_inside(harbor: HarborLister, inside: Window) -> list[str]:
    """What Harbor recorded as written inside the window: projects and repositories created, artifacts pushed,
    tags made or moved (one listing per page: projects, each one's repositories, each repository's artifacts)."""
    found: list[tuple[datetime, str]] = []

    def note(stamp: str | None, what: str) -> None:
        when = inside.holds(stamp)
        if when is not None:
            found.append((when, f"{what} at {iso(when)}"))

    for project in harbor.projects():
        name = project["name"]
        note(project.get("creation_time"), f"project {name} created")
        for repo in harbor.repositories(name):
            full = repo["name"]
            note(repo.get("creation_time"), f"repository {full} created")
            for artifact in harbor.artifacts(name, full.split("/", 1)[1]):
                _note_artifact(note, full, artifact)
    return [what for _, what in sorted(found)]


def _note_artifact(note, repository: str, artifact: dict[str, Any]) -> None:
    note(artifact.get("push_time"), f"artifact {repository}@{artifact.get('digest', '?')[:19]} pushed")
    for tag in artifact.get("tags") or []:
        note(tag.get("push_time"), f"tag {repository}:{tag.get('name')} made or moved")
    for accessory in artifact.get("accessories") or []:
        note(accessory.get("creation_time"), f"accessory {repository}@{accessory.get('digest', '?')[:19]} pushed")


def harbor_now(harbor) -> tuple[datetime, float]:
    """Harbor's time (its Date header) and this machine's, of one answer."""
    before = time.time()
    _, at = harbor.read_only_reading()
    return parse(at) or datetime.now(UTC), (before + time.time()) / 2
