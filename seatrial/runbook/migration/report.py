"""The run report, as evidence: `report.md` and `report.html` (one self-contained page) in the run directory,
from the journal and the JUnit files the checks wrote (their failures and the facts they recorded).

Top to bottom: the verdict; the failures, root causes first, each with its fix; a table per volume (bytes
backed up, snapshot, bytes restored, parity); the steps as a timeline; the freeze window (the downtime a team
plans for) with seatrial's own share of it, the measured throughput and a projection for a data size fitted
from the pod volumes (seatrial.runbook.migration.window), or the plain reason why none; the inventory before
and after.
Every line passes through `redact`: no secret reaches the report."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from seatrial.runbook.config import Config
from seatrial.runbook.errors import BadInput
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.migration.steps import EXTRA_STEPS, STEP_ORDER
from seatrial.runbook.migration.window import Fit, Window, besides_volumes
from seatrial.runbook.migration.window import window as window_of
from seatrial.runbook.secrets import redact

LIVE_PROBE_TIMEOUT_S = 5.0


def _checks(run_dir: Path, step: str) -> list[tuple[str, str, str]]:
    path = run_dir / "junit" / f"{step}.xml"
    if not path.exists():
        return []
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            outcome, message = "failed", ((problem.get("message") or "").splitlines() or [""])[0]
        elif skipped is not None:
            message = " ".join((skipped.get("message") or "").split())
            outcome = "not judged" if message.startswith("not judged: ") else "skipped"
            message = message.removeprefix("not judged: ")
        else:
            outcome, message = "passed", ""
        rows.append((case.get("name") or "", outcome, message))
    return rows


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _throughput(entry: dict) -> str:
    """Bytes over the Velero object's own start..completion window (whole seconds: at least one)."""
    start, end = _seconds(entry.get("started")), _seconds(entry.get("completed"))
    data = entry.get("bytes") or 0
    if start is None or end is None:
        return f"{_size(data)} (no timestamps)"
    window = max(end - start, 1.0)
    return f"{_size(data)} in {window:.0f} s ({_size(data / window)}/s)"


def _stats(kind: str, entry: dict, items_key: str) -> str:
    return (f"- {kind} `{entry.get(kind)}`: phase {entry.get('phase')}, {items_key} {entry.get('items')}/"
            f"{entry.get('total_items')}, {entry.get('volumes', 0)} volumes, {_throughput(entry)}"
            + (f", warnings {entry.get('warnings')}, errors {entry.get('errors')}" if kind == "restore" else ""))


def _load_inventory(path: Path):
    if not path.exists():
        return None
    from seatrial.runbook.migration.inventory import Inventory

    return Inventory.from_json(json.loads(path.read_text()))


def _describe_inventory(inventory) -> str:
    if inventory is None:
        return "not taken"
    records = inventory.artifact_records()
    repos = sum(len(p.repositories) for p in inventory.projects.values())
    return (f"{len(inventory.projects)} projects, {repos} repositories, {len(records)} artifacts, "
            f"{_size(sum(r.get('size') or 0 for r in records))} (taken {inventory.taken_at})")


def _inventory_lines(config: Config, journal: Journal) -> list[str]:
    golden = _load_inventory(journal.inventory_path)
    target = _load_inventory(journal.target_inventory_path)
    lines = [f"- before (source, at freeze): {_describe_inventory(golden)}",
             f"- after (target, at verify-harbor): {_describe_inventory(target)}"]
    if golden is not None and target is not None:
        from seatrial.runbook.migration.inventory import diff

        differences = diff(golden, target)
        lines.append(f"- parity by digest: {'identical' if not differences else f'{len(differences)} differences'}")
        lines += [f"  - {difference}" for difference in differences[:20]]
    return lines


def _live_read_only(config: Config, side: str) -> str:
    """What the Harbor says now, when it answers at once (the journal says what the run did): one request, no
    retries -- a line of the report is not worth a backoff."""
    from seatrial.runbook.clients.harbor import HarborClient
    from seatrial.runbook.errors import SeatrialError

    url = config.harbor.source_url if side == "source" else config.harbor.target_url
    try:
        with HarborClient(url, config.harbor.username, config.harbor.password, verify=config.harbor.verify,
                          timeout=LIVE_PROBE_TIMEOUT_S, retries=False) as client:
            return "read-only" if client.read_only() else "writable"
    except SeatrialError as exc:
        return f"not answering ({exc.message.splitlines()[0][:120]})"


def live_states(config: Config) -> dict[str, str]:
    """Each Harbor's read-only flag now, asked once for both files of a report."""
    return {side: _live_read_only(config, side) for side in ("source", "target")}


def _harbor_lines(config: Config, journal: Journal, now: dict[str, str]) -> list[str]:
    lines = []
    for side, url in (("source", config.harbor.source_url), ("target", config.harbor.target_url)):
        state = journal.harbor_state(side) or ("untouched" if side == "source" else "not restored")
        said = f"; now: {now[side]}" if side in now else ""
        lines.append(f"- {side} Harbor {url}: {state}{said}")
    return lines


def _step_rows(steps: dict) -> list[str]:
    rows = ["| step | outcome | duration | checks passed | checks failed | re-verified | started (UTC) |",
            "|---|---|---|---|---|---|---|"]
    for step in STEP_ORDER + EXTRA_STEPS:
        entry = steps.get(step)
        if not entry and step in EXTRA_STEPS:
            continue
        if not entry:
            rows.append(f"| {step} | not run | - | - | - | - | - |")
            continue
        reverified = datetime.fromtimestamp(entry["reverified"], UTC).strftime("%H:%M:%S") \
            if entry.get("reverified") else "-"
        rows.append(f"| {step} | {entry.get('status')} | {entry.get('duration', 0):.1f} s | "
                    f"{entry.get('checks_passed', 0)} | {len(entry.get('checks_failed', []))} | {reverified} | "
                    f"{_clock(_began(entry))} |")
    return rows


# -- evidence from the JUnit files ----------------------------------------------------------------

DEFAULT_PROJECTION = 2**40  # 1 TiB, when no --project-size is given
SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
              "T": 10**12, "TB": 10**12, "KI": 2**10, "KIB": 2**10, "MI": 2**20, "MIB": 2**20, "GI": 2**30,
              "GIB": 2**30, "TI": 2**40, "TIB": 2**40, "PI": 2**50, "PIB": 2**50}


MAX_PROJECTION = 2**60  # 1 EiB: beyond any Harbor, and still a number the projection's arithmetic can hold


def parse_size(text: str, option: str = "--project-size", example: str = "2TiB") -> int:
    """`2TiB`, `500GiB`, `1.5TB`, `800G` -> whole bytes (at least 1, at most 1 EiB); BadInput naming `option`
    otherwise. Read as a decimal, never a float: `1` and 400 zeros is a number too large, not an overflow."""
    import re
    from decimal import Decimal

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text or "")
    unit = found.group(2).upper() if found else None
    if not found or unit not in SIZE_UNITS:
        raise BadInput(f"{option} {text!r} is not a data size",
                       fix=f"give a number and a unit, e.g. {option} {example} (KiB, MiB, GiB, TiB; KB, MB, GB, TB)")
    size = Decimal(found.group(1)) * SIZE_UNITS[unit]
    if size < 1 or size != size.to_integral_value():
        raise BadInput(f"{option} {text!r} is not a whole number of bytes (at least 1)",
                       fix=f"give a size of whole bytes, e.g. {option} {example} or {option} 1536")
    if size > MAX_PROJECTION:
        raise BadInput(f"{option} {text!r} is more than 1 EiB", fix=f"give a smaller size, e.g. {option} {example}")
    return int(size)


@dataclass(frozen=True)
class Failure:
    step: str
    check: str
    what: str
    observed: str
    fix: str


def _junit(run_dir: Path, step: str):
    path = run_dir / "junit" / f"{step}.xml"
    if not path.exists():
        return None
    try:
        return ET.parse(path).getroot()
    except ET.ParseError:
        return None


def _split(text: str) -> tuple[str, str, str]:
    """A check's message (`what`, `  observed: ...`, `  fix: ...`) in its three parts."""
    what, _, rest = text.partition("\n  observed: ")
    observed, _, fix = rest.partition("\n  fix: ")
    return " ".join(what.split()), " ".join(observed.split()), " ".join(fix.split())


def failures(run_dir: Path) -> tuple[list[Failure], list[tuple[str, str, str]]]:
    """(failures in the order the checks ran: root causes first; [(step, check, reason)] not judged)."""
    failed, not_judged = [], []
    for step in STEP_ORDER:
        root = _junit(run_dir, step)
        if root is None:
            continue
        for case in root.iter("testcase"):
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            skipped = case.find("skipped")
            if problem is not None:
                text = (problem.text or "").strip()
                text = text if "\n  observed: " in text else (problem.get("message") or text)
                what, observed, fix = _split(text)
                failed.append(Failure(step, case.get("name") or "", what, observed, fix or "see the JUnit file"))
            elif skipped is not None:
                not_judged.append((step, case.get("name") or "", " ".join((skipped.get("message") or "").split())))
    return failed, not_judged


def _facts(run_dir: Path, step: str) -> dict[str, str]:
    root = _junit(run_dir, step)
    return {} if root is None else {p.get("name") or "": p.get("value") or "" for p in root.iter("property")}


def volume_rows(run_dir: Path) -> list[dict]:
    """One row per pod volume the backup checks judged, joined with what the restore checks recorded."""
    backed, restored = _facts(run_dir, "backup"), _facts(run_dir, "restore")
    rows: dict[str, dict] = {}
    for key, value in backed.items():
        if key.startswith("test_volume_backed_up[") and "]." in key:
            ident, fact = key[len("test_volume_backed_up["):].split("].", 1)
            rows.setdefault(ident, {"id": ident})[fact] = value
    for row in rows.values():
        namespace_pod, _, volume = row["id"].rpartition(":")
        row["pod"], row["volume"] = namespace_pod.split("/", 1)[-1], volume
        row["restored"] = restored.get(f"test_volume_restored[{row['pod']}:{volume}].bytes_restored")
        row["content"] = restored.get(f"test_volume_content_identical[{row['pod']}:{volume}].content")
    merged = _one_row_per_claim(sorted(rows.values(), key=lambda r: r["id"]))
    for row in merged:
        row["parity"] = _parity(row)
    return merged


def _one_row_per_claim(rows: list[dict]) -> list[dict]:
    """A PVC shared by replicas is backed up and restored once (by PVC, not by pod): one row naming its pods."""
    by_claim: dict[tuple, dict] = {}
    for row in rows:
        key = (row["id"].split("/", 1)[0], row.get("pvc"), row["volume"]) if row.get("pvc") else (row["id"],)
        first = by_claim.setdefault(key, row)
        if first is not row:
            first["pod"] = f"{first['pod']}, {row['pod']}"
            first["restored"] = first.get("restored") or row.get("restored")
            first["content"] = first.get("content") or row.get("content")
    return list(by_claim.values())


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _parity(row: dict) -> str:
    if row.get("excluded"):
        return f"left out on purpose ({row['excluded']})"
    if row.get("content"):  # compared file by file with its snapshot (volumes.content_parity)
        return row["content"]
    if row.get("empty_volume") == "true":
        return "empty volume (nothing to carry)"
    backed, restored = _int(row.get("bytes")), _int(row.get("restored"))
    if backed is None or restored is None:
        return "not restored yet" if backed is not None else "-"
    if backed == restored == 0:
        return "empty volume (0 bytes on both sides)"
    return "same byte count" if backed == restored else f"DIFFERS ({restored - backed:+d} bytes)"


# -- the verdict, the timeline, the freeze window ------------------------------------------------------


def verdict(steps: dict, failed: list[Failure]) -> tuple[str, str]:
    """(PASSED | FAILED | INCOMPLETE, one sentence)."""
    broken = [s for s in STEP_ORDER if (steps.get(s) or {}).get("status") in ("failed", "error", "unreachable")]
    count = f"{len(failed)} check{'s' if len(failed) != 1 else ''} failed"
    if broken and not failed and steps[broken[0]].get("status") == "unreachable":
        return "FAILED", (f"a dependency was unreachable at {broken[0]}, so no check could run (the run's output "
                          "names it, one line each). Make it reachable, then run again.")
    if broken:
        return "FAILED", (f"{count if failed else 'a step stopped'}; the run stopped at {broken[0]}. Fix the first "
                          "failure below, then run again.")
    if failed:  # the steps passed, their checks were run again since (seatrial verify, pytest checks/)
        return "FAILED", f"{count}, the first in {failed[0].step}. Fix the first failure below, then verify again."
    done = [s for s in STEP_ORDER if (steps.get(s) or {}).get("status") == "passed"]
    if len(done) == len(STEP_ORDER):
        return "PASSED", (f"every step passed its checks: the target holds the source's data, proven by "
                          f"{sum((steps.get(s) or {}).get('checks_passed', 0) for s in STEP_ORDER)} checks.")
    following = next((s for s in STEP_ORDER if s not in done), STEP_ORDER[0])
    return "INCOMPLETE", f"{len(done)} of {len(STEP_ORDER)} steps passed; next: {following}."


def _began(entry: dict) -> float | None:
    ended, duration = entry.get("ended"), entry.get("duration")
    if isinstance(ended, int | float) and isinstance(duration, int | float):
        return ended - duration
    started = entry.get("started")
    return started if isinstance(started, int | float) else None


def _clock(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%H:%M:%S") if stamp else "-"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def freeze_window(steps: dict) -> Window:
    return window_of(steps)


def _rate(data: int, seconds: float | None) -> float | None:
    return data / max(seconds, 1.0) if data and seconds is not None else None


def _freeze_lines(window: Window, project: int, steps: dict) -> list[str]:
    if window.frozen_at is None:
        return ["- the source was not frozen in this run: no freeze window yet"]
    lines = [f"- source Harbor read-only from {_clock(window.frozen_at)} UTC to {_clock(window.writable_at)} UTC, "
             f"when the target accepted writes: **{_span(window.seconds)} without pushes** (the downtime to plan "
             "for)" if window.seconds is not None else f"- source Harbor read-only since {_clock(window.frozen_at)} "
             "UTC; the window is still open (the target has not been thawed)"]
    if window.seatrial_s is not None:
        lines.append(f"- seatrial's own share: **{_span(window.seatrial_s)} of the {_span(window.seconds)} "
                     f"({window.seatrial_share:.0%})** -- the golden inventory, the checks between the steps and the "
                     f"waits; Velero's backup took {_span(window.backup_s or 0)}, its restore "
                     f"{_span(window.restore_s or 0)} (each Backup's and Restore's own start to completion)")
    for which, whole in (("backup", window.backup_s), ("restore", window.restore_s)):
        data = int((steps.get(which) or {}).get("bytes") or 0)
        rate = _rate(data, whole)
        lines.append(f"- {which} throughput: {_size(data)} in {_span(whole)} = {_size(rate)}/s" if rate
                     else f"- {which} throughput: not measured (no data moved or no timestamps)")
    for one in (window.backup, window.restore):
        lines += _fit_lines(one)
    refused = window.refused(project)
    if refused:
        lines.append(f"- projection for {_size(project)}: **none** -- {refused}")
        return lines
    projected = window.projection(project)
    parts = [f"seatrial's {_span(window.seatrial_s or 0)}"]
    for one, whole in ((window.backup, window.backup_s), (window.restore, window.restore_s)):
        volumes = (f"{one.fixed_s:.1f} s once + {_size(project)} at {_size(one.together or one.throughput)}/s "
                   "together" if one.concurrent else
                   f"{len(one.moves)} x {one.fixed_s:.1f} s + {_size(project)} at {_size(one.throughput)}/s")
        parts.append(f"the {one.direction}'s {_span(besides_volumes(one, whole))} besides its volumes + {volumes}")
    factor = project / max(1, min(window.backup.moved, window.restore.moved))
    lines.append(f"- projection for {_size(project)}: freeze window about **{_span(projected)}** = "
                 + "; ".join(parts) + f" ({factor:,.0f} times the data this run moved; "
                 "`seatrial report --project-size SIZE` for another size)")
    return lines


def _fit_lines(one: Fit) -> list[str]:
    inputs = ", ".join(f"{m.volume} {_size(m.bytes)} in {m.seconds:.0f} s" for m in one.moves) or "none"
    if not one.throughput:
        return [f"- {one.direction} per volume (PodVolume{one.direction.title()}s): {inputs}"]
    how = f"; {one.note}" if one.note else " (least squares)"
    order = (f"; they moved at the same time (their intervals overlap): {_size(one.moved)} in "
             f"{_span(one.span_s)} from the first start to the last end, {_size(one.together or one.throughput)}/s "
             f"together after the fixed cost" if one.concurrent else "; one after another")
    return [f"- {one.direction} fit: {one.fixed_s:.1f} s per volume + bytes at {_size(one.throughput)}/s{how}, "
            f"from {len(one.moves)} PodVolume{one.direction.title()}s: {inputs}{order}"]


def _volume_table(rows: list[dict]) -> list[str]:
    lines = ["| pod | volume | PVC | bytes backed up | snapshot | bytes restored | data parity |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        backed, restored = _int(row.get("bytes")), _int(row.get("restored"))
        lines.append(f"| {row['pod']} | {row['volume']} | {row.get('pvc', '-')} | "
                     f"{_size(backed) if backed is not None else '-'} | {(row.get('snapshot_id') or '-')[:12]} | "
                     f"{_size(restored) if restored is not None else '-'} | {row['parity']} |")
    return lines if rows else ["- no volume was judged yet (the backup checks record them)"]


def _failure_lines(failed: list[Failure], not_judged: list[tuple[str, str, str]]) -> list[str]:
    lines = []
    for number, failure in enumerate(failed, 1):
        lines += [f"{number}. **{failure.step}: `{failure.check}`** -- {failure.what}",
                  f"   - observed: {failure.observed}", f"   - fix: {failure.fix}"]
    if not_judged:
        reasons: dict[str, int] = {}
        for _step, _check, reason in not_judged:
            reasons[reason] = reasons.get(reason, 0) + 1
        lines += ["", f"{len(not_judged)} check(s) not judged (they wait on a failure above):" if failed
                  else f"{len(not_judged)} check(s) not judged, nothing failed:"]
        lines += [f"- {count} x {reason}" for reason, count in reasons.items()]
    return lines


def build_markdown(config: Config, journal: Journal, *, live: bool = True, project: int = DEFAULT_PROJECTION,
                   now: dict[str, str] | None = None) -> str:
    """`now`: each Harbor's flag as asked already (live_states); else asked here when `live`."""
    now = now if now is not None else live_states(config) if live else {}
    data = journal.read()
    steps, names = data.get("steps", {}), data.get("names", {})
    failed, not_judged = failures(config.run_dir)
    word, sentence = verdict(steps, failed)
    lines = ["# seatrial report", "", f"**Verdict: {word}** -- {sentence}", "",
             f"- source: `{config.source.context}` namespace `{config.source.namespace}` "
             f"release `{config.source.release}`",
             f"- target: `{config.target.context}` namespace `{config.target.namespace}`",
             f"- backup: `{names.get('backup', '-')}`, restore: `{names.get('restore', '-')}`",
             f"- written: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}"]
    if failed or not_judged:
        lines += ["", "## Failures" if failed else "## Not judged", "", *_failure_lines(failed, not_judged)]
    problems = [f"- {step}: {' '.join(str(steps[step]['error']).split())}" for step in STEP_ORDER + EXTRA_STEPS
                if (steps.get(step) or {}).get("error")]
    if problems:
        lines += ["", "## Errors", "", *problems]
    lines += ["", "## Volumes", "", *_volume_table(volume_rows(config.run_dir)),
              "", "## Freeze window", "", *_freeze_lines(freeze_window(steps), project, steps),
              "", "## Steps", "", *_step_rows(steps)]
    backup, restore = steps.get("backup", {}), steps.get("restore", {})
    lines += ["", "## Backup and restore", ""]
    lines.append(_stats("backup", backup, "items backed up") if backup.get("backup") else "- backup: not made")
    lines.append(_stats("restore", restore, "items restored") if restore.get("restore") else "- restore: not made")
    lines += ["", "## Inventory", "", *_inventory_lines(config, journal),
              "", "## Harbor left", "", *_harbor_lines(config, journal, now), "", "## Checks", ""]
    for step in STEP_ORDER:
        rows = _checks(config.run_dir, step)
        if not rows:
            continue
        lines += [f"### {step}", "", "| check | outcome | message |", "|---|---|---|"]
        lines += [f"| `{name}` | {outcome} | {message.replace('|', '/')} |" for name, outcome, message in rows]
        lines.append("")
    return redact("\n".join(lines) + "\n")


# -- the page -------------------------------------------------------------------------------------------

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em 3em}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d8dbe0}
.verdict{padding:1em 1.3em;border-radius:8px;color:#fff;margin:.8em 0 1em}
.verdict b{font-size:1.6em;display:block;letter-spacing:.04em}
.PASSED{background:#1f7a3d}.FAILED{background:#b3261e}.INCOMPLETE{background:#9a6700}
.meta{color:#4a5261;font-size:.92em}.meta code{background:#e8eaee;padding:0 .3em;border-radius:3px}
.failure{background:#fff;border-left:5px solid #b3261e;padding:.6em 1em;margin:.6em 0;border-radius:4px}
.failure .check{font-family:ui-monospace,monospace;font-size:.85em;color:#6b7280}
.failure .what{font-weight:600;margin:.2em 0}.failure .fix{background:#eef6ee;padding:.3em .5em;border-radius:3px}
.failure .fix code,.failure .observed{font-family:ui-monospace,monospace;font-size:.88em}
table{border-collapse:collapse;background:#fff;width:100%;font-size:.92em}
td,th{border:1px solid #d8dbe0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eceef2}tr.failed td{background:#fde8e6}tr.skipped td,tr.not-judged td{background:#fff6d6}
td.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b3261e;font-weight:600}.ok{color:#1f7a3d}
.bar{position:relative;height:14px;background:#eceef2;border-radius:3px;min-width:240px}
.bar span{position:absolute;top:0;bottom:0;border-radius:3px;background:#3867d6}
.bar span.failed,.bar span.error{background:#b3261e}.bar span.freeze{background:#9aa5b8}
.big{font-size:1.25em;font-weight:600}details{margin:.4em 0}summary{cursor:pointer}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _code(text: str) -> str:
    """Markdown-style `code` and **bold** in a line of the report, escaped."""
    parts = _e(text).split("`")
    coded = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(coded.split("**")))


def _timeline_html(steps: dict, window: Window) -> str:
    entries = [(step, steps.get(step) or {}) for step in STEP_ORDER + EXTRA_STEPS]
    began = [b for _, entry in entries if (b := _began(entry)) is not None]
    if not began:
        return "<p>no step has run yet</p>"
    start = min(began)
    end = max([e for _, entry in entries if isinstance(e := entry.get("ended"), int | float)] + [start + 1])
    total = max(end - start, 1.0)
    rows = ["<table><tr><th>step</th><th>started (UTC)</th><th>duration</th><th>outcome</th><th>checks</th>"
            "<th>timeline</th></tr>"]
    if window.frozen_at:
        left = (window.frozen_at - start) / total * 100
        width = ((window.writable_at or end) - window.frozen_at) / total * 100
        rows.append(f"<tr><td><i>freeze window</i></td><td>{_clock(window.frozen_at)}</td><td class='num'>"
                    f"{_span(window.seconds) if window.seconds is not None else 'open'}</td><td>source read-only"
                    f"</td><td></td><td><div class='bar'><span class='freeze' style='left:{left:.2f}%;width:"
                    f"{max(width, 0.5):.2f}%'></span></div></td></tr>")
    for step, entry in entries:
        if not entry:
            if step in STEP_ORDER:
                rows.append(f"<tr><td>{_e(step)}</td><td>-</td><td>-</td><td>not run</td><td></td><td></td></tr>")
            continue
        status, b = entry.get("status", "-"), _began(entry)
        duration = entry.get("duration") or 0
        bar = "" if b is None else (f"<div class='bar'><span class='{_e(status)}' style='left:"
                                    f"{(b - start) / total * 100:.2f}%;width:{max(duration / total * 100, 0.5):.2f}%'>"
                                    "</span></div>")
        css = " class='failed'" if status in ("failed", "error", "unreachable") else ""
        checks = f"{entry.get('checks_passed', 0)} passed, {len(entry.get('checks_failed') or [])} failed"
        rows.append(f"<tr{css}><td>{_e(step)}</td><td>{_clock(b)}</td><td class='num'>{duration:.1f} s</td>"
                    f"<td>{_e(status)}</td><td>{checks}</td><td>{bar}</td></tr>")
    return "".join(rows) + "</table>"


def _volumes_html(rows: list[dict]) -> str:
    if not rows:
        return "<p>no volume was judged yet (the backup checks record them)</p>"
    out = ["<table id='volumes'><tr><th>pod</th><th>volume</th><th>PVC</th><th>bytes backed up</th><th>snapshot</th>"
           "<th>bytes restored</th><th>data parity</th></tr>"]
    for row in rows:
        backed, restored = _int(row.get("bytes")), _int(row.get("restored"))
        parity = row["parity"]
        css = "ok" if parity == "same byte count" or parity.startswith("identical") else \
            ("bad" if parity.startswith("DIFFERS") else "")
        out.append(f"<tr><td>{_e(row['pod'])}</td><td>{_e(row['volume'])}</td><td>{_e(row.get('pvc', '-'))}</td>"
                   f"<td class='num'>{_size(backed) if backed is not None else '-'}</td>"
                   f"<td><code>{_e((row.get('snapshot_id') or '-')[:12])}</code></td>"
                   f"<td class='num'>{_size(restored) if restored is not None else '-'}</td>"
                   f"<td class='{css}'>{_e(parity)}</td></tr>")
    return "".join(out) + "</table>"


def build_html(config: Config, journal: Journal, *, live: bool = True, project: int = DEFAULT_PROJECTION,
               now: dict[str, str] | None = None) -> str:
    now = now if now is not None else live_states(config) if live else {}
    data = journal.read()
    steps, names = data.get("steps", {}), data.get("names", {})
    failed, not_judged = failures(config.run_dir)
    word, sentence = verdict(steps, failed)
    window = freeze_window(steps)
    body = [f"<h1>seatrial report</h1><div class='verdict {word}' id='verdict'><b>{word}</b>{_e(sentence)}</div>",
            f"<p class='meta'>source <code>{_e(config.source.context)}/{_e(config.source.namespace)}</code> "
            f"(release <code>{_e(config.source.release)}</code>) &rarr; target <code>{_e(config.target.context)}/"
            f"{_e(config.target.namespace)}</code> &middot; backup <code>{_e(names.get('backup', '-'))}</code> "
            f"&middot; restore <code>{_e(names.get('restore', '-'))}</code> &middot; written "
            f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}</p>"]
    if failed or not_judged:
        body.append(f"<h2>Failures ({len(failed)})</h2><div id='failures'>" if failed
                    else "<h2>Not judged</h2><div id='failures'>")
        for failure in failed:
            body.append(f"<div class='failure'><div class='check'>{_e(failure.step)} &middot; {_e(failure.check)}"
                        f"</div><div class='what'>{_e(failure.what)}</div><div>observed: <span class='observed'>"
                        f"{_e(failure.observed)}</span></div><div class='fix'>fix: {_code(failure.fix)}</div></div>")
        if not_judged:
            reasons: dict[str, int] = {}
            for _step, _check, reason in not_judged:
                reasons[reason] = reasons.get(reason, 0) + 1
            why = "waiting on a failure above" if failed else "nothing failed"
            body.append(f"<p>{len(not_judged)} check(s) not judged, {why}:</p><ul>"
                        + "".join(f"<li>{count} &times; {_e(reason)}</li>" for reason, count in reasons.items())
                        + "</ul>")
        body.append("</div>")
    errors = [(step, " ".join(str(steps[step]["error"]).split())) for step in STEP_ORDER + EXTRA_STEPS
              if (steps.get(step) or {}).get("error")]
    if errors:
        body.append("<h2>Errors</h2>" + "".join(f"<div class='failure'><div class='check'>{_e(step)}</div>"
                                                f"<div>{_e(text)}</div></div>" for step, text in errors))
    body.append("<h2>Volumes</h2>" + _volumes_html(volume_rows(config.run_dir)))
    freeze = _freeze_lines(window, project, steps)
    body.append("<h2>Freeze window</h2><div id='freeze'>" + "".join(
        f"<p{' class=big' if i == 0 else ''}>{_code(line[2:])}</p>" for i, line in enumerate(freeze)) + "</div>")
    body.append("<h2>Steps</h2>" + _timeline_html(steps, window))
    backup, restore = steps.get("backup", {}), steps.get("restore", {})
    body.append("<h2>Backup and restore</h2>" + "".join(f"<p>{_e(line[2:]).replace('`', '')}</p>" for line in (
        _stats("backup", backup, "items backed up") if backup.get("backup") else "- backup: not made",
        _stats("restore", restore, "items restored") if restore.get("restore") else "- restore: not made")))
    body.append("<h2>Inventory</h2><ul>" + "".join(
        f"<li>{_e(line.strip()[2:])}</li>" for line in _inventory_lines(config, journal)) + "</ul>")
    body.append("<h2>Harbor left</h2><ul>" + "".join(
        f"<li>{_e(line[2:])}</li>" for line in _harbor_lines(config, journal, now)) + "</ul>")
    body.append("<h2>Checks</h2>")
    for step in STEP_ORDER:
        rows = _checks(config.run_dir, step)
        if not rows:
            continue
        bad = sum(1 for _, outcome, _ in rows if outcome != "passed")
        body.append(f"<details{' open' if bad else ''}><summary>{_e(step)}: {len(rows) - bad} passed"
                    f"{f', {bad} not passed' if bad else ''}</summary><table><tr><th>check</th><th>outcome</th>"
                    "<th>message</th></tr>")
        body += [f"<tr class='{_e(outcome.replace(' ', '-'))}'><td><code>{_e(name)}</code></td><td>{_e(outcome)}</td>"
                 f"<td>{_e(message)}</td></tr>" for name, outcome, message in rows]
        body.append("</table></details>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>seatrial report: {word}</title>"
            f"<meta name='viewport' content='width=device-width'><style>{STYLE}</style></head><body><main>"
            + "".join(body) + "</main></body></html>\n")


def write_report(config: Config, journal: Journal, *, live: bool = True,
                 project: int = DEFAULT_PROJECTION) -> tuple[Path, Path]:
    """Write both files; `live=False` leaves out asking each Harbor for its read-only flag now (a run that stopped
    asks nothing more of its dependencies); `project` is the data size (bytes) the freeze window is projected for."""
    now = live_states(config) if live else {}
    markdown = build_markdown(config, journal, project=project, now=now)
    page_text = build_html(config, journal, project=project, now=now)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    md, page = config.run_dir / "report.md", config.run_dir / "report.html"
    md.write_text(markdown)
    page.write_text(redact(page_text))
    return md, page
