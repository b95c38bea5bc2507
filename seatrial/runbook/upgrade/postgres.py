"""Finding 3: a PostgreSQL major skipped between the two harbor-db images.

harbor-db's entrypoint upgrades `pgdata/pg<old>` to `pg<new>` only from the one major it knows; with
neither directory it runs initdb and Harbor starts EMPTY, silently. Facts: see SOURCE.md here.
"""

from __future__ import annotations

import re

from seatrial.runbook.upgrade.findings import FAIL, WARN, Finding, ok
from seatrial.runbook.upgrade.objects import WORKLOAD_KINDS, images, of_kind, ref

# Harbor releases -> (the major their entrypoint upgrades from, their own major), make/photon/db/Dockerfile
# per tag; (first, last) Harbor versions of each range. Harbor <= 2.2 shipped 9.6 (2.3 upgrades from "96").
MAJORS: list[tuple[tuple[int, int, int], tuple[int, int, int], str, str]] = [
    ((2, 0, 0), (2, 2, 99), "", "96"),
    ((2, 3, 0), (2, 6, 99), "96", "13"),
    ((2, 7, 0), (2, 8, 99), "", "13"),
    ((2, 9, 0), (2, 10, 99), "13", "14"),
    ((2, 11, 0), (2, 15, 1), "14", "15"),
    ((2, 15, 2), (2, 99, 99), "15", "18"),
]
IMAGE = re.compile(r"harbor-db:v?(\d+)\.(\d+)\.(\d+)")


def harbor_db(manifests: list[dict]) -> tuple[str, str, tuple[int, int, int]] | None:
    """(workload ref, image, Harbor version) of the render's harbor-db container, if any."""
    for workload in of_kind(manifests, *WORKLOAD_KINDS):
        for image in images(workload):
            match = IMAGE.search(image)
            if match:
                return ref(workload), image, tuple(int(g) for g in match.groups())  # type: ignore[return-value]
    return None


def majors(version: tuple[int, int, int]) -> tuple[str, str]:
    for first, last, upgrades_from, major in MAJORS:
        if first <= version <= last:
            return upgrades_from, major
    return "", ""


def _label(major: str) -> str:
    return "9.6" if major == "96" else major


def steps(old: tuple[int, int, int], new: tuple[int, int, int]) -> list[str]:
    """The chart minors to upgrade through, one per PostgreSQL major the jump skips (the newest Harbor minor
    whose entrypoint upgrades from the current major; chart 1.X ships Harbor 2.(X-4))."""
    path, current = [], majors(old)[1]
    while majors(new)[0] != current and majors(new)[1] != current:
        ranges = [(last, major) for first, last, upgrades_from, major in MAJORS
                  if upgrades_from == current and first <= new]
        if not ranges:
            return []
        last, current = ranges[-1]
        minor = min(last, new)[1]
        path.append(f"chart 1.{minor + 4}.x (Harbor 2.{minor}, PostgreSQL {_label(current)})")
    return path


def _unversioned(manifests: list[dict]) -> str | None:
    for workload in of_kind(manifests, *WORKLOAD_KINDS):
        for image in images(workload):
            if "harbor-db" in image and not IMAGE.search(image):
                return image
    return None


def check(old: list[dict], new: list[dict]) -> list[Finding]:
    before, after = harbor_db(old), harbor_db(new)
    unknown = _unversioned(old) or _unversioned(new)
    if unknown:
        return [Finding("postgres_major_reachable", "harbor-db", WARN, "the harbor-db image carries no Harbor "
                        "version: the PostgreSQL majors cannot be compared", unknown, "compare the two images' "
                        "PostgreSQL majors by hand (docker-entrypoint.sh upgrades from one major only)")]
    if before is None or after is None:
        return [ok("postgres_major_reachable", "harbor-db", "no internal database in both renders: nothing to judge")]
    (_, old_image, old_version), (workload, new_image, new_version) = before, after
    old_major = majors(old_version)[1]
    upgrades_from, new_major = majors(new_version)
    obj = f"{workload} (harbor-db)"
    if new_version < old_version:
        return [Finding("postgres_major_reachable", obj, FAIL, "harbor-db would be downgraded: the database schema "
                        "cannot go back", f"{old_image} -> {new_image}", "pick a chart version at least as new as "
                        "the deployed one")]
    if old_major == new_major or upgrades_from == old_major:
        return [ok("postgres_major_reachable", obj, f"PostgreSQL {_label(old_major)} -> {_label(new_major)}")]
    through = steps(old_version, new_version)
    fix = ("upgrade one chart minor at a time across each PostgreSQL major: first " + ", then ".join(through) +
           ", then the new chart") if through else "upgrade one chart minor at a time"
    return [Finding("postgres_major_reachable", obj, FAIL,
                    f"harbor-db {new_image} upgrades PostgreSQL only from {_label(upgrades_from) or 'no older major'}"
                    f"; the deployed database is PostgreSQL {_label(old_major)}: it would initdb and Harbor would "
                    "start EMPTY", f"{old_image} (PostgreSQL {_label(old_major)}) -> {new_image} (PostgreSQL "
                    f"{_label(new_major)})", fix)]
