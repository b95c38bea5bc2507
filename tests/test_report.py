"""The run report as evidence: the verdict first, failures (root cause first) with their fixes, one row per
volume, the steps as a timeline, the freeze window with its projection, the inventory; the same facts in
Markdown and in the page, which a real browser (Debian's headless Chromium) renders for a reader."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from test_config import HARBOR_PASSWORD_ENV, SECRET_KEY, Workspace

from seatrial.fixtures.browser import page_text, screenshot
from seatrial.runbook.errors import BadInput
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.migration.report import build_html, build_markdown, freeze_window, parse_size, write_report
from seatrial.runbook.migration.steps import STEP_ORDER

REPO = Path(__file__).resolve().parent.parent
GiB = 2**30

ROOT_CAUSE = ("the backup tarball of seatrial-my-harbor-1 is missing from s3://velero/harbor-move: no object of "
              "the namespace can be restored from it\n  observed: harbor-move/backups/seatrial-my-harbor-1/"
              "seatrial-my-harbor-1.tar.gz absent; the bucket holds the backup's directory without it\n"
              "  fix: the object was removed after Velero wrote it (a lifecycle rule, a manual delete): find what "
              "deletes objects under the prefix, then back up again")


def _case(name: str, inner: str = "", module: str = "seatrial.checks.test_backup") -> str:
    return f'<testcase classname="{module}" name="{name}" time="0.01">{inner}</testcase>'


def _suite(step: str, properties: dict[str, object], cases: list[str]) -> str:
    props = "".join(f"<property name={quoteattr(k)} value={quoteattr(str(v))}/>" for k, v in properties.items())
    return (f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="seatrial-{step}" '
            f'tests="{len(cases)}"><properties>{props}</properties>{"".join(cases)}</testsuite></testsuites>')


def _pod_volumes(start: str, *ends: tuple[str, int]) -> list[dict]:
    """PodVolumeBackups/Restores one after another (as the journal keeps them), each ending at its given time."""
    moves, begun = [], start
    for (end, size), (pod, volume) in zip(ends, (("my-harbor-database-0", "database-data"),
                                                 ("my-harbor-registry-5d9c7b-x2x8q", "registry-data")), strict=False):
        moves.append({"name": f"pv-{volume}", "pod": pod, "volume": volume, "phase": "Completed",
                      "started": f"2026-11-28T{begun}Z", "completed": f"2026-11-28T{end}Z", "bytes": size})
        begun = end
    return moves


def _run_dir(config, *, failing: bool, recorded_changes: dict | None = None) -> Journal:
    """A run's journal and JUnit files as the runner and the checks write them (pytest's xunit2 format)."""
    run, now = config.run_dir, time.time()
    (run / "junit").mkdir(parents=True)
    journal = Journal(run)
    seconds_of = {"preflight": 4.0, "freeze": 2.0, "annotate": 1.0, "backup": 40.0, "restore": 60.0, "fixup": 2.0,
                  "thaw-target": 1.5, "verify-harbor": 9.0}
    timeline = [(step, seconds_of.get(step, 1.0)) for step in STEP_ORDER]  # later steps (upgrade) take 1 s
    clock = now - 200
    recorded = {
        "freeze": {"frozen_at": clock + 5, "artifacts": 12},
        "backup": {"backup": "seatrial-my-harbor-1", "phase": "Completed", "items": 80, "total_items": 80,
                   "volumes": 2, "bytes": 6 * GiB, "started": "2026-11-28T10:00:00Z",
                   "completed": "2026-11-28T10:00:30Z",
                   # 2 s per volume + 256 MiB/s
                   "pod_volumes": _pod_volumes("10:00:01", ("10:00:11", 2 * GiB), ("10:00:29", 4 * GiB))},
        "restore": {"restore": "seatrial-my-harbor-1", "phase": "Completed", "warnings": 0, "errors": 0,
                    "items": 80, "total_items": 80, "volumes": 2, "bytes": 6 * GiB,
                    "started": "2026-11-28T10:02:00Z", "completed": "2026-11-28T10:02:50Z",
                    # 3 s per volume + 204.8 MiB/s
                    "pod_volumes": _pod_volumes("10:02:05", ("10:02:18", 2 * GiB), ("10:02:41", 4 * GiB))},
    }
    for step, seconds in timeline:
        data = journal.read()
        failed = failing and step == "backup"
        data["steps"][step] = {"status": "failed" if failed else "passed", "ended": clock + seconds,
                               "duration": seconds, "checks_passed": 5,
                               "checks_failed": ["checks/test_backup.py::test_bucket_holds_full_layout"] if failed
                               else [], **recorded.get(step, {}), **(recorded_changes or {}).get(step, {})}
        journal.write(data)
        clock += seconds + 1
        if failed:
            break
    journal.record_name("backup", "seatrial-my-harbor-1")
    volumes = {
        "harbor/my-harbor-database-0:database-data": ("database-data-my-harbor-database-0", 2 * GiB, "5e1f0c2ab3d4"),
        "harbor/my-harbor-registry-5d9c7b-x2x8q:registry-data": ("my-harbor-registry", 4 * GiB, "9a8b7c6d5e4f")}
    properties: dict[str, object] = {"seatrial.backup": "seatrial-my-harbor-1"}
    for ident, (pvc, size, snapshot) in volumes.items():
        properties.update({f"test_volume_backed_up[{ident}].snapshot_id": snapshot,
                           f"test_volume_backed_up[{ident}].pvc": pvc, f"test_volume_backed_up[{ident}].bytes": size})
    shared = "harbor/my-harbor-registry-5d9c7b-z9z9z:registry-data"  # a second replica on the same RWX claim
    properties.update({f"test_volume_backed_up[{shared}].snapshot_id": "9a8b7c6d5e4f",
                       f"test_volume_backed_up[{shared}].pvc": "my-harbor-registry",
                       f"test_volume_backed_up[{shared}].bytes": 4 * GiB})
    properties.update({"test_volume_backed_up[harbor/my-harbor-redis-0:data].pvc": "data-my-harbor-redis-0",
                       "test_volume_backed_up[harbor/my-harbor-redis-0:data].excluded": "volumes.exclude"})
    cases = [_case("test_backup_completed"),
             *[_case(f"test_volume_backed_up[{ident}]") for ident in volumes]]
    if failing:
        cases.insert(0, _case("test_bucket_holds_full_layout", f"<failure message={quoteattr(ROOT_CAUSE)}>"
                                                               f"{ROOT_CAUSE}</failure>"))
        not_judged = quoteattr("not judged: the backup tarball of seatrial-my-harbor-1 is missing from "
                               "s3://velero/harbor-move: no object of the namespace can be restored from it")
        cases += [_case(f"test_tarball_holds_object[configmaps/harbor/cm-{i}]",
                        f'<skipped type="pytest.skip" message={not_judged}/>') for i in range(36)]
    (run / "junit" / "backup.xml").write_text(_suite("backup", properties, cases))
    if not failing:
        restored = {f"test_volume_restored[{ident.split('/', 1)[1]}].bytes_restored": size
                    for ident, (_, size, _) in volumes.items()}
        (run / "junit" / "restore.xml").write_text(_suite("restore", restored, [
            _case(f"test_volume_restored[{ident.split('/', 1)[1]}]", module="seatrial.checks.test_restore")
            for ident in volumes]))
        journal.record_name("restore", "seatrial-my-harbor-1")
    return journal


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    data = workspace.data()
    data["run_dir"] = str(tmp_path / "run")
    workspace.write(data)
    return workspace


def test_a_failed_run_leads_with_its_root_cause_and_fix(workspace: Workspace) -> None:
    config = workspace.load()
    journal = _run_dir(config, failing=True)
    text = build_markdown(config, journal, live=False)
    lines = text.splitlines()
    assert lines[2].startswith("**Verdict: FAILED** -- 1 check failed; the run stopped at backup")
    failures = text.index("## Failures")
    assert failures < text.index("## Volumes") < text.index("## Freeze window") < text.index("## Steps")
    assert "1. **backup: `test_bucket_holds_full_layout`** -- the backup tarball of seatrial-my-harbor-1 is missing" \
        in text
    assert "   - fix: the object was removed after Velero wrote it" in text
    assert "36 check(s) not judged" in text and "- 36 x not judged: the backup tarball" in text
    assert "| restore | not run |" in text
    assert "| `test_tarball_holds_object[configmaps/harbor/cm-0]` | not judged | the backup tarball of" in text


def test_a_green_run_with_checks_not_judged_says_nothing_failed(workspace: Workspace) -> None:
    config = workspace.load()
    journal = _run_dir(config, failing=False)
    restore = Path(config.run_dir) / "junit" / "restore.xml"
    reason = quoteattr("not judged: content parity reads restic snapshots only; this volume was moved by kopia")
    restore.write_text(restore.read_text().replace(
        "</testsuite>", _case("test_volume_content_identical[my-harbor-database-0:database-data]",
                              f'<skipped type="pytest.skip" message={reason}/>', "seatrial.checks.test_restore")
        + "</testsuite>"))
    text = build_markdown(config, journal, live=False)
    assert "**Verdict: PASSED**" in text
    assert "## Failures" not in text and "wait on a failure above" not in text, text
    assert "## Not judged" in text and "1 check(s) not judged, nothing failed:" in text, text
    page = build_html(config, journal, live=False)
    assert "<h2>Not judged</h2>" in page and "Failures (0)" not in page and "waiting on a failure" not in page


def test_a_green_run_shows_volumes_timeline_freeze_window_and_projection(workspace: Workspace) -> None:
    config = workspace.load()
    journal = _run_dir(config, failing=False)
    text = build_markdown(config, journal, live=False, project=parse_size("2TiB"))
    assert "**Verdict: PASSED** -- every step passed its checks" in text
    assert "## Failures" not in text
    assert ("| my-harbor-database-0 | database-data | database-data-my-harbor-database-0 | 2.0 GiB | 5e1f0c2ab3d4 | "
            "2.0 GiB | same byte count |") in text
    assert "| my-harbor-redis-0 | data | data-my-harbor-redis-0 | - | - | - | left out on purpose (volumes.exclude) |" \
        in text
    # the claim two replicas share was backed up and restored once: one row with both pods, restored
    assert ("| my-harbor-registry-5d9c7b-x2x8q, my-harbor-registry-5d9c7b-z9z9z | registry-data | my-harbor-registry "
            "| 4.0 GiB | 9a8b7c6d5e4f | 4.0 GiB | same byte count |") in text
    assert "not restored yet" not in text
    window = freeze_window(journal.read()["steps"])
    # frozen (during freeze) until the end of thaw-target
    assert window.seconds == pytest.approx(2 + 1 + 1 + 40 + 1 + 60 + 1 + 2 + 1 + 1.5 + 1, abs=0.01)
    assert "- backup throughput: 6.0 GiB in 30 s = 204.8 MiB/s" in text
    assert "- restore throughput: 6.0 GiB in 50 s = 122.9 MiB/s" in text
    assert ("- seatrial's own share: **32 s of the 112 s (28%)** -- the golden inventory, the checks between the "
            "steps and the waits; Velero's backup took 30 s, its restore 50 s") in text
    assert ("- backup fit: 2.0 s per volume + bytes at 256.0 MiB/s (least squares), from 2 PodVolumeBackups: "
            "my-harbor-database-0:database-data 2.0 GiB in 10 s, my-harbor-registry-5d9c7b-x2x8q:registry-data "
            "4.0 GiB in 18 s") in text
    assert "- restore fit: 3.0 s per volume + bytes at 204.8 MiB/s (least squares)" in text
    # 2 TiB: seatrial's 31.5 s, each direction's time besides its volumes (30 - 28, 50 - 36), then per direction
    # 2 volumes x the fixed cost + 2 TiB at the fitted throughput
    projected = 31.5 + (2 + 2 * 2 + 2**41 / (256 * 2**20)) + (14 + 2 * 3 + 2**41 / (204.8 * 2**20))
    assert window.projection(2**41) == pytest.approx(projected)
    assert f"- projection for 2.0 TiB: freeze window about **{projected / 3600:.1f} h** = seatrial's 32 s; " in text
    assert "341 times the data this run moved" in text


def test_a_small_run_projects_nothing_and_says_what_to_rehearse_with(workspace: Workspace) -> None:
    """1.2 MiB moved in whole-second timestamps measures Velero's fixed costs: no '123.7 days' for 1 TiB."""
    config = workspace.load()
    small = {direction: {"bytes": 1258291, "pod_volumes": _pod_volumes(start, (end, 1258291 - 4096),
                                                                        (end, 4096))}
             for direction, start, end in (("backup", "10:00:01", "10:00:05"), ("restore", "10:02:05", "10:02:09"))}
    journal = _run_dir(config, failing=False, recorded_changes=small)
    text = build_markdown(config, journal, live=False)
    assert ("- projection for 1.0 TiB: **none** -- only 1.2 MiB of volume data moved in the backup: Velero's fixed "
            "costs and its whole-second timestamps would be all it measured. Rehearse with at least 1.0 GiB to "
            "project (python -m seatrial.fixtures.rehearse --volume-data 1GiB)") in text
    assert "days" not in text and "freeze window about" not in text
    assert "- backup per volume (PodVolumeBackups): my-harbor-database-0:database-data 1.2 MiB in 4 s" in text
    assert "seatrial's own share: **32 s of the 112 s (28%)**" in text  # measured all the same


def test_a_projection_beyond_what_the_run_supports_is_refused(workspace: Workspace) -> None:
    config = workspace.load()
    journal = _run_dir(config, failing=False)
    text = build_markdown(config, journal, live=False, project=parse_size("100TiB"))
    assert ("- projection for 100.0 TiB: **none** -- 100.0 TiB is more than 10,000 times the 6.0 GiB this run "
            "moved: rehearse with at least 10.2 GiB to project that far") in text


def test_volumes_of_one_size_put_all_the_time_on_the_data_and_say_so(workspace: Workspace) -> None:
    config = workspace.load()
    same = {"backup": {"pod_volumes": _pod_volumes("10:00:01", ("10:00:11", 2 * GiB), ("10:00:21", 2 * GiB))}}
    journal = _run_dir(config, failing=False, recorded_changes=same)
    text = build_markdown(config, journal, live=False)
    assert ("- backup fit: 0.0 s per volume + bytes at 204.8 MiB/s; no fixed cost could be told apart from the data "
            "(volumes of one size, or a negative intercept): all of the time is put on the data, which "
            "overestimates") in text


def test_volumes_moved_at_the_same_time_pay_the_fixed_cost_once_at_the_rate_they_reached(workspace: Workspace):
    config = workspace.load()
    overlapping = [{**move, "started": "2026-11-28T10:00:01Z"} for move in
                   _pod_volumes("10:00:01", ("10:00:11", 2 * GiB), ("10:00:19", 4 * GiB))]
    journal = _run_dir(config, failing=False, recorded_changes={"backup": {"pod_volumes": overlapping}})
    text = build_markdown(config, journal, live=False, project=parse_size("2TiB"))
    assert ("- backup fit: 2.0 s per volume + bytes at 256.0 MiB/s (least squares), from 2 PodVolumeBackups: "
            "my-harbor-database-0:database-data 2.0 GiB in 10 s, my-harbor-registry-5d9c7b-x2x8q:registry-data "
            "4.0 GiB in 18 s; they moved at the same time (their intervals overlap): 6.0 GiB in 18 s from the "
            "first start to the last end, 384.0 MiB/s together after the fixed cost") in text
    window = freeze_window(journal.read()["steps"])
    # the backup: 30 - 18 s besides its volumes, the fixed 2 s once, 2 TiB at 6 GiB / 16 s; the restore as before
    projected = 31.5 + (12 + 2 + 2**41 / (6 * GiB / 16)) + (14 + 2 * 3 + 2**41 / (204.8 * 2**20))
    assert window.projection(2**41) == pytest.approx(projected)
    assert "the backup's 12 s besides its volumes + 2.0 s once + 2.0 TiB at 384.0 MiB/s together" in text


def test_status_json_reports_the_window_and_seatrials_share(workspace: Workspace) -> None:
    _run_dir(workspace.load(), failing=False)
    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(workspace.path), "status", "-o",
                           "json"], cwd=REPO, env={**workspace.environ, "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    window = json.loads(done.stdout)["freeze_window"]
    assert window["seconds"] == pytest.approx(111.5, abs=0.01)
    assert (window["velero_backup_s"], window["velero_restore_s"]) == (30, 50)
    assert window["seatrial_s"] == pytest.approx(31.5, abs=0.01)
    assert window["seatrial_share"] == pytest.approx(31.5 / 111.5, abs=0.001)
    assert window["fits"]["backup"]["throughput_bytes_per_s"] == pytest.approx(256 * 2**20)
    assert window["fits"]["restore"]["fixed_s_per_volume"] == pytest.approx(3.0)


@pytest.mark.parametrize("given, expected", [("2TiB", 2**41), ("500GiB", 500 * 2**30), ("1.5TB", 1.5e12),
                                             ("800G", 800e9), ("1024", 1024)])
def test_project_sizes_are_read_in_binary_and_decimal_units(given: str, expected: float) -> None:
    assert parse_size(given) == int(expected)


@pytest.mark.parametrize("given", ["", "lots", "2XB", "-1GiB", "0TiB", "0.0000001B", "0.5", "1" + "0" * 400,
                                   "2000PiB"])
def test_a_bad_project_size_names_the_argument(given: str) -> None:
    with pytest.raises(BadInput) as error:
        parse_size(given)
    assert "--project-size" in error.value.message and "2TiB" in error.value.fix


def test_seatrial_report_projects_for_a_given_size_and_refuses_a_bad_one(workspace: Workspace) -> None:
    _run_dir(workspace.load(), failing=False)
    environ = {**workspace.environ, "PATH": "/usr/bin:/bin"}

    def report(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(workspace.path), "report",
                               *args],
                              cwd=REPO, env=environ, capture_output=True, text=True, timeout=60, check=False)

    done = report("--project-size", "500GiB")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "- projection for 500.0 GiB: freeze window about" in (workspace.root / "run" / "report.md").read_text()
    bad = report("--project-size", "lots")
    assert bad.returncode == 2 and "--project-size 'lots' is not a data size" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    huge = report("--project-size", "1" + "0" * 400)  # was an OverflowError: "internal error", exit 70
    assert huge.returncode == 2 and "is more than 1 EiB" in huge.stderr and "internal error" not in huge.stderr


def test_secrets_never_reach_the_report(workspace: Workspace) -> None:
    config = workspace.load()
    journal = _run_dir(config, failing=True)
    leak = f"denied for {SECRET_KEY} with {HARBOR_PASSWORD_ENV}"
    data = journal.read()
    data["steps"]["backup"]["error"] = leak
    journal.write(data)
    junit = config.run_dir / "junit" / "backup.xml"
    junit.write_text(junit.read_text().replace("absent;", f"absent ({leak});"))
    markdown, page = write_report(config, journal, live=False)
    for value in (SECRET_KEY, HARBOR_PASSWORD_ENV):
        assert value not in markdown.read_text() and value not in page.read_text()
    assert "denied for *** with ***" in page.read_text()


# ----------------------------------------------------------------------------- in a real browser


def _png_rows(path: Path, rows: int) -> tuple[int, int, list[bytes]]:
    """(width, height, the first `rows` rows as RGB(A) bytes) of a PNG, unfiltered (no imaging library here)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    raw, pixel = zlib.decompress(b"".join(chunks)), 3 if colour == 2 else 4
    stride, out, previous = width * pixel, [], bytearray(width * pixel)
    for y in range(min(rows, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - pixel] if i >= pixel else 0
            up, corner = previous[i], previous[i - pixel] if i >= pixel else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                best = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                line[i] = (line[i] + best) & 255
        out.append(bytes(line))
        previous = line
    return width, height, out


def test_a_reader_sees_the_verdict_the_failing_check_and_the_volume_table(workspace: Workspace,
                                                                          tmp_path: Path) -> None:
    config = workspace.load()
    _, page = write_report(config, _run_dir(config, failing=True), live=False)
    text = page_text(page)
    assert text.startswith("seatrial report FAILED 1 check failed; the run stopped at backup"), text[:300]
    assert "backup · test_bucket_holds_full_layout" in text
    assert "the backup tarball of seatrial-my-harbor-1 is missing" in text
    assert "fix: the object was removed after Velero wrote it" in text
    assert "36 × not judged: the backup tarball" in text
    assert ("pod volume PVC bytes backed up snapshot bytes restored data parity "
            "my-harbor-database-0 database-data database-data-my-harbor-database-0 2.0 GiB 5e1f0c2ab3d4") in text
    assert text.index("FAILED") < text.index("test_bucket_holds_full_layout") < text.index("bytes backed up")

    # what the eye meets first: the verdict banner, red for a failed run, green for a passed one
    width, height, rows = _png_rows(screenshot(page, tmp_path / "failed.png"), 140)
    assert (width, height) == (1200, 900)
    assert _has_colour(rows, (0xB3, 0x26, 0x1E)), "no red verdict banner at the top of the page"
    green = workspace.root / "green"
    green.mkdir()
    config_green = _green_config(workspace, green)
    _, green_page = write_report(config_green, _run_dir(config_green, failing=False), live=False)
    green_text = page_text(green_page)
    assert green_text.startswith("seatrial report PASSED every step passed its checks"), green_text[:300]
    assert "same byte count" in green_text and "Failures" not in green_text
    assert _has_colour(_png_rows(screenshot(green_page, tmp_path / "passed.png"), 140)[2], (0x1F, 0x7A, 0x3D)), \
        "no green verdict banner"


def _has_colour(rows: list[bytes], rgb: tuple[int, int, int]) -> bool:
    pixel = len(rows[0]) // 1200
    return any(sum(1 for x in range(0, len(row), pixel) if tuple(row[x:x + 3]) == rgb) > 300 for row in rows)


def _green_config(workspace: Workspace, root: Path):
    data = workspace.data()
    data["run_dir"] = str(root / "run")
    workspace.write(data)
    return workspace.load()


def test_an_unreachable_dependency_is_said_in_the_verdict(workspace: Workspace) -> None:
    config = workspace.load()
    journal = Journal(config.run_dir)
    journal.start("preflight")
    journal.finish("preflight", "unreachable", duration=3.0, checks_passed=0, checks_failed=[])
    text = build_markdown(config, journal, live=False)
    assert "**Verdict: FAILED** -- a dependency was unreachable at preflight, so no check could run" in text


def test_parity_names_an_empty_volume_instead_of_calling_zero_bytes_the_same():
    from seatrial.runbook.migration.report import _parity

    assert _parity({"bytes": "0", "restored": "0"}) == "empty volume (0 bytes on both sides)"
    assert _parity({"bytes": "4096", "restored": "4096"}) == "same byte count"
    assert _parity({"bytes": "0", "restored": "4096"}) == "DIFFERS (+4096 bytes)"
    assert _parity({"bytes": "4096"}) == "not restored yet"


def test_parity_says_what_the_file_by_file_comparison_found_over_the_byte_counts():
    from seatrial.runbook.migration.report import _parity

    assert _parity({"bytes": "4096", "restored": "4096", "content": "identical (12 files)"}) == "identical (12 files)"
    differs = "DIFFERS in 1 path(s): base/1/2608: file 8192 bytes, mode 600, sha256 0a1b2c3d4e5f, the snapshot has ..."
    assert _parity({"bytes": "4096", "restored": "4096", "content": differs}) == differs
    assert _parity({"excluded": "volumes.exclude", "content": "identical (1 file)"}).startswith("left out on purpose")


def test_the_report_asks_each_harbor_its_flag_once_without_retries(workspace: Workspace) -> None:
    """Both files of a report from one look per Harbor, one request each: a Harbor answering 503 does not hold the
    report back by a retry's backoff (a stopping run asks nothing at all: live=False)."""
    from seatrial.fixtures.faultproxy import FaultProxy

    source, target = FaultProxy("http://127.0.0.1:9").start(), FaultProxy("http://127.0.0.1:9").start()
    try:
        for proxy in (source, target):
            proxy.set("5xx", paths=("/",))
        data = workspace.data()
        data["harbor"].update(source_url=source.url, target_url=target.url)
        workspace.write(data)
        config = workspace.load()
        journal = _run_dir(config, failing=False)
        markdown, _ = write_report(config, journal)
        text = markdown.read_text()
        assert (source.faulted, target.faulted) == (1, 1)
        assert f"- target Harbor {target.url}: not restored; now: not answering (Harbor at {target.url}: GET " \
               "/api/v2.0/systeminfo answered 503" in text, text
        write_report(config, journal, live=False)
        assert (source.faulted, target.faulted) == (1, 1)
    finally:
        source.stop()
        target.stop()
