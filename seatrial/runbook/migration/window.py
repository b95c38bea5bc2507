"""The freeze window as a run measured it, and what it says about a bigger move.

The window runs from the freeze (source read-only) to the thaw of the target. Velero's share is the Backup's
and the Restore's own start..completion; the rest is seatrial's own (the golden inventory, the checks between
the steps, the waits) — every second of it is downtime too.

A projection is fitted from each PodVolumeBackup's and PodVolumeRestore's start, end and bytes: a fixed cost per
volume plus bytes over a throughput (least squares). Volumes moved one after another add up; volumes whose
intervals overlap moved at the same time (node-agents on several nodes, the sandbox's parallel uploads): then the
fixed cost is paid once and the data goes at the rate they reached together. Velero stamps those times
in whole seconds and a small rehearsal's volumes move in well under a second, so below `MIN_PROJECT_BYTES` of
data the fit would measure Velero's fixed costs and the timestamps' rounding: no number is given then, only
what to rehearse with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

MIN_PROJECT_BYTES = 2**30  # 1 GiB moved, per direction, before a projection is given
MAX_EXTRAPOLATION = 10_000  # a projection for more than this many times the data moved is refused
REHEARSE_HINT = "python -m seatrial.fixtures.rehearse --volume-data 1GiB"


def _seconds(stamp: Any) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pod_volume_moves(objects: list[dict]) -> list[dict]:
    """What the journal keeps of each PodVolumeBackup or PodVolumeRestore: volume, start, end, bytes."""
    moves = []
    for obj in objects:
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        pod = spec.get("pod") or {}
        moves.append({"name": (obj.get("metadata") or {}).get("name", ""), "volume": spec.get("volume", ""),
                      "pod": pod.get("name", ""), "phase": status.get("phase", ""),
                      "started": status.get("startTimestamp"), "completed": status.get("completionTimestamp"),
                      "bytes": int((status.get("progress") or {}).get("totalBytes") or 0)})
    return moves


@dataclass(frozen=True)
class Move:
    volume: str
    bytes: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


def _moves(entry: dict) -> list[Move]:
    found = []
    for move in entry.get("pod_volumes") or []:
        start, end = _seconds(move.get("started")), _seconds(move.get("completed"))
        if start is not None and end is not None and move.get("phase", "Completed") == "Completed":
            found.append(Move(f"{move.get('pod')}:{move.get('volume')}", int(move.get("bytes") or 0), start, end))
    return found


@dataclass(frozen=True)
class Fit:
    """seconds = fixed + bytes / throughput, per volume, for one direction (backup or restore)."""

    direction: str
    moves: tuple[Move, ...]
    fixed_s: float = 0.0
    throughput: float | None = None  # bytes per second; None when refused
    refused: str = ""  # why no projection: in words a planner can act on
    note: str = ""  # how the fit was made when it is not the plain least squares

    @property
    def moved(self) -> int:
        return sum(m.bytes for m in self.moves)

    @property
    def span_s(self) -> float:
        """From the first volume's start to the last one's end."""
        return max(m.end for m in self.moves) - min(m.start for m in self.moves) if self.moves else 0.0

    @property
    def concurrent(self) -> bool:
        """Some volumes moved at the same time: their intervals overlap."""
        ordered = sorted(self.moves, key=lambda m: m.start)
        return any(later.start < earlier.end for earlier, later in zip(ordered, ordered[1:], strict=False))

    @property
    def together(self) -> float | None:
        """Bytes per second of the volumes moved at the same time, once the fixed cost is paid."""
        data_s = self.span_s - self.fixed_s
        return self.moved / data_s if self.concurrent and data_s > 0 else None

    def seconds_for(self, total: int) -> float:
        """The volumes' time for `total` bytes: one after another, or together at the rate they reached."""
        assert self.throughput
        if self.concurrent:
            return self.fixed_s + total / (self.together or self.throughput)
        return len(self.moves) * self.fixed_s + total / self.throughput


def fit(direction: str, entry: dict) -> Fit:
    moves = tuple(_moves(entry))
    if not moves:
        return Fit(direction, moves, refused=f"no {direction} of a pod volume was measured in this run")
    moved = sum(m.bytes for m in moves)
    if moved < MIN_PROJECT_BYTES:
        return Fit(direction, moves, refused=f"only {_size(moved)} of volume data moved in the {direction}: Velero's "
                   f"fixed costs and its whole-second timestamps would be all it measured. Rehearse with at least "
                   f"{_size(MIN_PROJECT_BYTES)} to project ({REHEARSE_HINT})")
    n = len(moves)
    mean_b = sum(m.bytes for m in moves) / n
    mean_s = sum(m.seconds for m in moves) / n
    spread = sum((m.bytes - mean_b) ** 2 for m in moves)
    slope = sum((m.bytes - mean_b) * (m.seconds - mean_s) for m in moves) / spread if spread else 0.0
    if spread and slope > 0:
        fixed = mean_s - slope * mean_b
        if fixed >= 0:
            return Fit(direction, moves, fixed, 1 / slope)
    # volumes of one size, or a fit whose fixed cost came out negative: all the time is put on the data (no
    # fixed cost), which overestimates a bigger move rather than underestimating it
    seconds = sum(m.seconds for m in moves)
    if seconds <= 0:
        return Fit(direction, moves, refused=f"the {direction}'s volumes took no measurable time "
                   f"({_size(moved)} within Velero's one-second timestamps): rehearse with more data to project")
    return Fit(direction, moves, 0.0, moved / seconds,
               note="no fixed cost could be told apart from the data (volumes of one size, or a negative intercept): "
                    "all of the time is put on the data, which overestimates")


@dataclass(frozen=True)
class Window:
    """One run's freeze window, split into Velero's backup and restore and seatrial's own share."""

    frozen_at: float | None
    writable_at: float | None
    backup_s: float | None  # the Backup's own start..completion
    restore_s: float | None
    backup: Fit
    restore: Fit

    @property
    def seconds(self) -> float | None:
        return self.writable_at - self.frozen_at if self.frozen_at and self.writable_at else None

    @property
    def seatrial_s(self) -> float | None:
        """The window less Velero's backup and restore: the inventory, the checks, the waits between steps."""
        if self.seconds is None:
            return None
        return max(self.seconds - (self.backup_s or 0.0) - (self.restore_s or 0.0), 0.0)

    @property
    def seatrial_share(self) -> float | None:
        return self.seatrial_s / self.seconds if self.seconds and self.seatrial_s is not None else None

    def refused(self, size: int) -> str:
        """Why `size` bytes cannot be projected from this run ("" when it can)."""
        if self.seconds is None:
            return "the window is not closed yet (the target has not been thawed)"
        for one in (self.backup, self.restore):
            if one.refused:
                return one.refused
        smallest = min(self.backup.moved, self.restore.moved)
        if size > smallest * MAX_EXTRAPOLATION:
            return (f"{_size(size)} is more than {MAX_EXTRAPOLATION:,} times the {_size(smallest)} this run moved: "
                    f"rehearse with at least {_size(size / MAX_EXTRAPOLATION)} to project that far")
        return ""

    def projection(self, size: int) -> float | None:
        """The window for `size` bytes of volume data: seatrial's own share and Velero's work besides the volumes
        as measured, plus each direction's fit for `size` bytes. None when refused."""
        if self.refused(size):
            return None
        total = self.seatrial_s or 0.0
        for one, whole in ((self.backup, self.backup_s), (self.restore, self.restore_s)):
            total += besides_volumes(one, whole) + one.seconds_for(size)
        return total

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "velero_backup_s": self.backup_s, "velero_restore_s": self.restore_s,
                "seatrial_s": self.seatrial_s, "seatrial_share": self.seatrial_share,
                "fits": {one.direction: {"volumes": len(one.moves), "bytes": one.moved, "fixed_s_per_volume":
                                         one.fixed_s if one.throughput else None,
                                         "throughput_bytes_per_s": one.throughput, "concurrent": one.concurrent,
                                         "together_bytes_per_s": one.together, "refused": one.refused or None}
                         for one in (self.backup, self.restore)}}


def besides_volumes(one: Fit, whole: float | None) -> float:
    """The Backup's (or Restore's) own time outside its volumes' span: items, tarball, phases."""
    return max((whole or 0.0) - one.span_s, 0.0)


def window(steps: dict) -> Window:
    backup, restore = steps.get("backup") or {}, steps.get("restore") or {}

    def own(entry: dict) -> float | None:
        start, end = _seconds(entry.get("started")), _seconds(entry.get("completed"))
        return max(end - start, 0.0) if start is not None and end is not None else None

    thaw = steps.get("thaw-target") or {}
    return Window((steps.get("freeze") or {}).get("frozen_at"),
                  thaw.get("ended") if thaw.get("status") == "passed" else None,
                  own(backup), own(restore), fit("backup", backup), fit("restore", restore))


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
