"""A restored volume compared with its snapshot, file by file: the same paths, and for each its type, mode, size and
SHA-256 of contents (symlinks: their target). Equal byte counts prove nothing about content; this does.

The snapshot is read back into a scratch directory with the real uploader (restic, or the kopia CLI for Velero's
kopia snapshots) and both trees are walked; contents are hashed in chunks, so memory stays constant per file whatever
its size. The restore's own marker (`.velero/` at the top, which releases the pod's restore-wait) is not part of the
volume.

A restored volume lives on: its application starts as soon as the data is in. A file whose modification time is
after the PodVolumeRestore completed was written by the application since (restic and kopia restore the snapshot's
times), so it is listed as changed since the restore, not as a difference; a file that is missing is always a
difference.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1024 * 1024
RESTORE_MARKER = ".velero"
SHOWN = 5  # differing paths named in a verdict
CLOCK_SLACK_S = 2.0  # the PVR's completionTimestamp has whole seconds


@dataclass(frozen=True)
class Entry:
    kind: str  # file | dir | symlink | other
    mode: int
    size: int
    digest: str  # SHA-256 of a file's contents, a symlink's target, "" otherwise
    mtime: float

    def describe(self) -> str:
        if self.kind == "file":
            return f"file {self.size} bytes, mode {self.mode:o}, sha256 {self.digest[:12]}"
        return f"{self.kind} mode {self.mode:o}" + (f" -> {self.digest}" if self.kind == "symlink" else "")

    def same(self, other: Entry) -> bool:
        return (self.kind, self.mode, self.size, self.digest) == (other.kind, other.mode, other.size, other.digest)


def volume_directory(pvc: dict | None, pvs_by_name: dict[str, dict], csi_directory: Path | None = None) -> Path | None:
    """The directory behind a Bound PVC when it is on this machine, as a rehearsal's: a `local` or `hostPath` PV's
    path, or a CSI PV's `csi_directory/<volumeHandle>` (volumes.csi_directories)."""
    if pvc is None:
        return None
    spec = (pvs_by_name.get((pvc.get("spec") or {}).get("volumeName") or "") or {}).get("spec") or {}
    path = (spec.get("local") or spec.get("hostPath") or {}).get("path")
    if path:
        return Path(path) if Path(path).is_dir() else None
    handle = (spec.get("csi") or {}).get("volumeHandle") or ""
    if csi_directory is None or not handle or handle in (".", "..") or "/" in handle:
        return None  # a handle that is not one directory name never names a directory of csi_directory
    return csi_directory / handle if (csi_directory / handle).is_dir() else None


def why_no_directory(pv: dict | None, csi_directory: Path | None) -> str:
    """Why a target PV has no directory on this machine, for a check that cannot compare it."""
    if pv is None:
        return "its PVC is bound to no PV"
    spec = pv.get("spec") or {}
    path = (spec.get("local") or spec.get("hostPath") or {}).get("path")
    if path:
        return f"its path {path} is not a directory here"
    csi = spec.get("csi") or {}
    if not csi:
        return "it is neither a local, a hostPath nor a CSI PV"
    if csi_directory is None:
        return (f"it is a CSI volume (driver {csi.get('driver')}) and volumes.csi_directories names no directory "
                "for the target")
    return f"{csi_directory / str(csi.get('volumeHandle'))} (its volumeHandle in volumes.csi_directories.target) " \
           "is not a directory"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def entries(root: Path) -> dict[str, Entry]:
    """Relative path -> Entry for everything under `root` (not `root` itself, not the restore marker)."""
    found: dict[str, Entry] = {}
    pending = [Path(root)]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as listing:
            for item in listing:
                path = Path(item.path)
                relative = path.relative_to(root).as_posix()
                if relative == RESTORE_MARKER or relative.startswith(RESTORE_MARKER + "/"):
                    continue
                info = item.stat(follow_symlinks=False)
                mode = stat.S_IMODE(info.st_mode)
                if stat.S_ISLNK(info.st_mode):
                    found[relative] = Entry("symlink", mode, 0, os.readlink(path), info.st_mtime)
                elif stat.S_ISDIR(info.st_mode):
                    found[relative] = Entry("dir", mode, 0, "", info.st_mtime)
                    pending.append(path)
                elif stat.S_ISREG(info.st_mode):
                    found[relative] = Entry("file", mode, info.st_size, sha256_of(path), info.st_mtime)
                else:
                    found[relative] = Entry("other", mode, 0, "", info.st_mtime)
    return found


@dataclass
class Comparison:
    files: int = 0  # files of the snapshot found identical
    differences: list[str] = field(default_factory=list)  # "path: what" in path order
    changed_since: list[str] = field(default_factory=list)  # written by the application after the restore

    @property
    def identical(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        since = f"; {len(self.changed_since)} changed by the application since the restore, not compared " \
                f"(e.g. {', '.join(self.changed_since[:SHOWN])})" if self.changed_since else ""
        if self.identical:
            return f"identical ({self.files} file{'' if self.files == 1 else 's'}{since})"
        return (f"DIFFERS in {len(self.differences)} path(s): {'; '.join(self.differences[:SHOWN])}"
                f"{' ...' if len(self.differences) > SHOWN else ''}{since}")


def compare(snapshot: dict[str, Entry], restored: dict[str, Entry], restored_at: float | None) -> Comparison:
    """The snapshot's tree against the restored one. `restored_at`: when the restore completed (epoch seconds);
    an entry modified after it was written by the application (None: every entry is compared)."""
    result = Comparison()

    def written_since(entry: Entry) -> bool:
        return restored_at is not None and entry.mtime > restored_at + CLOCK_SLACK_S

    for path in sorted(snapshot.keys() | restored.keys()):
        wanted, got = snapshot.get(path), restored.get(path)
        if wanted is None:
            assert got is not None
            if path == "lost+found" and got.kind == "dir":
                continue  # the target's own filesystem made it
            if written_since(got):
                result.changed_since.append(path)
            else:
                result.differences.append(f"{path}: not in the snapshot ({got.describe()})")
            continue
        if got is None:
            result.differences.append(f"{path}: missing ({wanted.describe()} in the snapshot)")
            continue
        if wanted.kind == "dir" and got.kind == "dir":
            if wanted.mode != got.mode:
                result.differences.append(f"{path}: mode {got.mode:o}, the snapshot's {wanted.mode:o}")
            continue
        if wanted.same(got):
            result.files += wanted.kind == "file"
        elif written_since(got):
            result.changed_since.append(path)
        else:
            result.differences.append(f"{path}: {got.describe()}, the snapshot has {wanted.describe()}")
    return result
