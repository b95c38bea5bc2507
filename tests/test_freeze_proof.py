"""The freeze proven from what Harbor recorded (seatrial.checks.freeze_proof), not only sampled:

- the Harbor twin records the times as Harbor does (controller/artifact, controller/tag: Ensure): an artifact's
  push_time when it is created and never on a push of it again, a tag's when it is made or moved (the same tag),
  a repository's creation_time at its first push;
- the window runs from the freeze step's reading that saw the flag set to the backup step's reading after the
  Backup finished, all on Harbor's clock;
- through the real CLI on a sandbox: a thaw of a few seconds between two read_only readings, with a push in it,
  is not seen by the sampling but fails the backup's checks, naming what was pushed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from seatrial.checks.freeze_proof import Window, iso, parse, window, writes_inside
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 7, 16, 0, 0, tzinfo=UTC)


def _artifacts(harbor, repo: str) -> dict[str, dict]:
    project, name = repo.split("/", 1)
    return {a["digest"]: a for a in harbor.artifacts(project, name)}


def test_the_twin_records_push_and_creation_times_as_harbor_does(harbor_twin) -> None:
    registry, harbor = harbor_twin.registry_client(), harbor_twin.client()
    layer = os.urandom(1024)
    first = registry.push_image("library/app", "v1", [layer])
    (repo,) = [r for r in harbor.repositories("library") if r["name"] == "library/app"]
    artifact = _artifacts(harbor, "library/app")[first.digest]
    pushed, tag_v1 = artifact["push_time"], artifact["tags"][0]
    assert parse(repo["creation_time"]) <= parse(pushed) == parse(tag_v1["push_time"])

    again = registry.push_image("library/app", "v2", [layer])  # the same manifest, another tag
    assert again.digest == first.digest
    artifact = _artifacts(harbor, "library/app")[first.digest]
    assert artifact["push_time"] == pushed, "a push of an existing artifact does not change its push_time"
    tags = {t["name"]: t for t in artifact["tags"]}
    assert tags["v1"] == tag_v1 and parse(tags["v2"]["push_time"]) >= parse(pushed)

    registry.push_image("library/app", "v1", [layer])  # the tag where it is: nothing changes
    assert {t["name"]: t for t in _artifacts(harbor, "library/app")[first.digest]["tags"]}["v1"] == tag_v1

    other = registry.push_image("library/app", "v1", [os.urandom(1024)])  # the tag moves to another artifact
    artifacts = _artifacts(harbor, "library/app")
    moved = next(t for t in artifacts[other.digest]["tags"] if t["name"] == "v1")
    assert moved["id"] == tag_v1["id"] and parse(moved["push_time"]) >= parse(tag_v1["push_time"])
    assert [t["name"] for t in artifacts[first.digest]["tags"]] == ["v2"]
    assert artifacts[first.digest]["push_time"] == pushed


def test_the_window_runs_from_the_flag_seen_set_to_the_reading_after_the_backup() -> None:
    freeze = {"frozen_at": 0.0, "frozen_harbor_at": iso(T0)}
    inside = window(freeze, {"backup_done_harbor_at": iso(T0 + timedelta(minutes=5))}, (T0, 0.0))
    # the Date header has whole seconds: the flag may have been set up to a second after the reading's stamp
    assert (inside.start, inside.end) == (T0 + timedelta(seconds=1), T0 + timedelta(minutes=5, seconds=1))
    assert inside.holds(iso(T0 + timedelta(seconds=3))) and not inside.holds("2026-12-07T15:59:59.900Z")
    assert not inside.holds(iso(T0 + timedelta(minutes=6))) and not inside.holds("0001-01-01T00:00:00.000Z")

    # a journal without the readings: this machine's freeze time on Harbor's clock, up to Harbor's time now
    now = T0 + timedelta(minutes=10)
    older = window({"frozen_at": 1000.0}, {}, (now, 1600.0))
    assert older.start == now - timedelta(seconds=600) + timedelta(seconds=2) and older.end == now
    assert "to now" in older.describe()
    assert window({}, {}, (now, 1600.0)) is None


def test_writes_inside_the_window_are_named_oldest_first(harbor_twin) -> None:
    registry, harbor = harbor_twin.registry_client(), harbor_twin.client()
    registry.push_image("library/before", "v1", [os.urandom(512)])
    start = parse(_artifacts(harbor, "library/before").popitem()[1]["push_time"]) + timedelta(microseconds=1)
    during = registry.push_image("library/during", "v1", [os.urandom(512)])
    harbor.create_project("made-during")
    inside = Window(start, datetime.now(UTC) + timedelta(seconds=1), "test")
    writes = writes_inside(harbor, inside)
    assert any(w.startswith("repository library/during created at ") for w in writes), writes
    assert any(w.startswith(f"artifact library/during@{during.digest[:19]} pushed at ") for w in writes), writes
    assert any(w.startswith("tag library/during:v1 made or moved at ") for w in writes), writes
    assert any(w.startswith("project made-during created at ") for w in writes), writes
    assert not any("library/before" in w for w in writes), writes
    assert not writes_inside(harbor, Window(inside.end, inside.end + timedelta(hours=1), "test"))


@pytest.mark.slow
def test_a_short_thaw_between_two_readings_with_a_push_in_it_fails_the_backups_checks(tmp_path: Path) -> None:
    from seatrial.fixtures.sandbox.environment import Sandbox

    for tool in ("docker-registry", "restic"):
        require_tool(tool)
    sandbox = Sandbox(tmp_path / "sandbox").start()
    try:
        cli = [sys.executable, "-m", "seatrial.runbook.cli", "-c", str(sandbox.config_path)]
        done = subprocess.run([*cli, "run", "--until", "annotate"], cwd=ROOT, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        seen, pushed = [], []
        with subprocess.Popen([*cli, "step", "backup", "--yes"], cwd=ROOT, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                seen.append(line)
                if not pushed and ": InProgress, items" in line:
                    # just after a read_only reading (the next is 5 s away): thaw, push, freeze again
                    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as harbor:
                        harbor.set_read_only(False)
                        pushed.append(sandbox.source_harbor.registry_client().push_image(
                            "library/during-freeze", "v1", [os.urandom(2048)]))
                        harbor.set_read_only(True)
            code = child.wait(timeout=600)
        text = "".join(seen)
        assert pushed, f"the backup wait printed no progress line:\n{text}"
        assert code == 1, text
        assert "FAILED seatrial.checks.test_backup::test_nothing_written_to_the_source_during_the_freeze" in text, text
        assert "the source Harbor recorded 3 write(s) during the freeze" in text, text
        assert f"artifact library/during-freeze@{pushed[0].digest[:19]} pushed at 20" in text, text
        assert "repository library/during-freeze created at" in text and "freeze window 20" in text, text
    finally:
        sandbox.stop()
