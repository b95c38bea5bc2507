"""The run journal: what each step did, in the run directory, so `run` can resume and checks can find
the names a run created (backup, restore) and the golden inventory.

One JSON file, rewritten atomically. A lock file refuses a second run on the same directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from seatrial.runbook.errors import BadInput

JOURNAL = "journal.json"
LOCK = "seatrial.lock"
INVENTORY = "golden-inventory.json"
TARGET_INVENTORY = "target-inventory.json"


def _shape_problem(data: object) -> str | None:
    """What is wrong with a journal's structure (None when it is what seatrial writes)."""
    if not isinstance(data, dict):
        return f"the top level is a {type(data).__name__}, not an object"
    for key in ("steps", "names"):
        if not isinstance(data.get(key, {}), dict):
            return f'"{key}" is a {type(data[key]).__name__}, not an object'
    for step, entry in data.get("steps", {}).items():
        if not isinstance(entry, dict):
            return f'steps["{step}"] is a {type(entry).__name__}, not an object'
        if "ended" in entry and not isinstance(entry["ended"], int | float):
            return f'steps["{step}"].ended is {entry["ended"]!r}, not a time'
        if not isinstance(entry.get("status", ""), str):
            return f'steps["{step}"].status is {entry["status"]!r}, not a status'
    for kind, name in data.get("names", {}).items():
        if not isinstance(name, str):
            return f'names["{kind}"] is {name!r}, not a name'
    if not isinstance(data.get("used_names", []), list):
        return '"used_names" is not a list'
    return None


@dataclass
class Journal:
    run_dir: Path

    @property
    def path(self) -> Path:
        return self.run_dir / JOURNAL

    @property
    def inventory_path(self) -> Path:
        return self.run_dir / INVENTORY

    @property
    def target_inventory_path(self) -> Path:
        return self.run_dir / TARGET_INVENTORY

    def read(self) -> dict:
        if not self.path.exists():
            return {"steps": {}, "names": {}}
        fix = f"restore it from a backup or move it away to start a new run: mv {self.path} {self.path}.broken"
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise BadInput(f"the journal {self.path} is not valid JSON ({exc.msg} at line {exc.lineno})",
                           fix=fix) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"the journal {self.path} cannot be read ({type(exc).__name__})", fix=fix) from None
        problem = _shape_problem(data)
        if problem:
            raise BadInput(f"the journal {self.path} was edited into something seatrial did not write: {problem}",
                           fix=fix)
        data.setdefault("steps", {})
        data.setdefault("names", {})
        return data

    def write(self, data: dict) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:
            raise BadInput(f"run_dir: the journal cannot be written in {self.run_dir} ({type(exc).__name__}: "
                           f"{exc.strerror or exc})", fix="point run_dir at a writable directory") from None

    # -- steps -----------------------------------------------------------------------------------
    def step(self, name: str) -> dict:
        return self.read()["steps"].get(name, {})

    def start(self, name: str) -> None:
        """A new attempt at a step; `attempt_after` keeps the last attempt's outcome (a crash leaves "running"),
        `previous` what it recorded (a resumed backup adopts the Backup it made, with its freeze readings)."""
        data = self.read()
        before = data["steps"].get(name, {})
        # what an attempt that recorded nothing (it stopped early) leaves of the one before it stays known
        previous = {**(before.get("previous") or {}), **{k: v for k, v in before.items() if k != "previous"}}
        data["steps"][name] = {"status": "running", "started": time.time(), "attempt_after": before.get("status"),
                               "previous": previous}
        self.write(data)

    def finish(self, name: str, outcome: str, **recorded) -> None:
        data = self.read()
        entry = data["steps"].setdefault(name, {"started": time.time()})
        entry.update(status=outcome, ended=time.time(), **recorded)
        self.write(data)

    def note(self, name: str, **recorded) -> None:
        """Add to a step's entry without changing its outcome or times."""
        data = self.read()
        data["steps"].setdefault(name, {}).update(recorded)
        self.write(data)

    def done(self, name: str) -> bool:
        return self.step(name).get("status") == "passed"

    # -- names created by the run ----------------------------------------------------------------
    def name(self, kind: str) -> str | None:
        return self.read()["names"].get(kind)

    def record_name(self, kind: str, value: str) -> None:
        data = self.read()
        data["names"][kind] = value
        used = data.setdefault("used_names", [])
        if value not in used:
            used.append(value)
        self.write(data)

    def used_names(self) -> set[str]:
        """Every backup and restore name this run has chosen, including abandoned ones."""
        return set(self.read().get("used_names", []))

    def forget_names(self, *kinds: str) -> None:
        data = self.read()
        for kind in kinds:
            data["names"].pop(kind, None)
        self.write(data)

    def forget_steps(self, *steps: str) -> None:
        data = self.read()
        for step in steps:
            data["steps"].pop(step, None)
        self.write(data)

    # -- the state each Harbor was left in (for the report) --------------------------------------
    def set_harbor_state(self, side: str, state: str) -> None:
        data = self.read()
        data.setdefault("harbor", {})[side] = {"state": state, "at": time.time()}
        self.write(data)

    def harbor_state(self, side: str) -> str | None:
        return (self.read().get("harbor", {}).get(side) or {}).get("state")

    # -- one run at a time -----------------------------------------------------------------------
    def lock(self) -> RunLock:
        return RunLock(self.run_dir / LOCK)


class RunLocked(BadInput):
    """Another live run holds the run directory's lock."""

    guide = "another-run-holds-the-run-lock"


class RunLock:
    """An exclusive lock on the run directory: `flock` on a lock file that also holds the owner's pid (for the
    message). The kernel drops the lock when its holder dies, so a lock left by a dead run is free, and two runs
    can never both believe they hold it (a pid file alone let a run that looked between another's create and its
    pid write take over a live lock). The file is removed at the end; a run whose locked file was removed in
    between tries again on the new one."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"run_dir: {self.path.parent} cannot be made ({type(exc).__name__}: {exc.strerror or exc})",
                           fix="point run_dir at a writable directory") from None
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                owner = self._owner()
                raise RunLocked(f"another seatrial run holds {self.path} (pid {owner or 'unknown'})",
                                fix="wait for it to finish (a run that died frees the lock by itself)") from None
            if not self._still_at_path(fd):  # its holder removed it as we opened it: lock the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._fd = fd
            return self
        raise BadInput(f"cannot take the run lock {self.path}", fix="try again; is another run starting and ending?")

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # removed while still locked: a waiter sees it moved and retries
            os.close(self._fd)
            self._fd = None

    def _still_at_path(self, fd: int) -> bool:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)

    def _owner(self) -> int:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 probes without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
