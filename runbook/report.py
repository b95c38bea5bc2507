"""The run report: `report.md` and `report.html` in the run directory, from the journal and the JUnit
files the checks wrote. Every line passes through `redact`: no secret reaches the report."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from runbook.config import Config
from runbook.journal import Journal
from runbook.secrets import redact
from runbook.steps import EXTRA_STEPS, STEP_ORDER

LIVE_PROBE_TIMEOUT_S = 5.0


def _checks(run_dir: Path, step: str) -> list[tuple[str, str, str]]:
    path = run_dir / "junit" / f"{step}.xml"
    if not path.exists():
        return []
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcome = "failed" if problem is not None else ("skipped" if case.find("skipped") is not None else "passed")
        message = (problem.get("message") or "").splitlines()[0] if problem is not None else ""
        rows.append((case.get("name") or "", outcome, message))
    return rows


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
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
    from runbook.inventory import Inventory

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
        from runbook.inventory import diff

        differences = diff(golden, target)
        lines.append(f"- parity by digest: {'identical' if not differences else f'{len(differences)} differences'}")
        lines += [f"  - {difference}" for difference in differences[:20]]
    return lines


def _live_read_only(config: Config, side: str) -> str:
    """What the Harbor says now, when it answers (the journal says what the run did)."""
    from runbook.errors import SeatrialError
    from runbook.harbor import HarborClient

    url = config.harbor.source_url if side == "source" else config.harbor.target_url
    try:
        with HarborClient(url, config.harbor.username, config.harbor.password, verify=config.harbor.verify,
                          timeout=LIVE_PROBE_TIMEOUT_S) as client:
            return "read-only" if client.read_only() else "writable"
    except SeatrialError as exc:
        return f"not answering ({exc.message.splitlines()[0][:120]})"


def _harbor_lines(config: Config, journal: Journal, live: bool) -> list[str]:
    lines = []
    for side, url in (("source", config.harbor.source_url), ("target", config.harbor.target_url)):
        state = journal.harbor_state(side) or ("untouched" if side == "source" else "not restored")
        now = f"; now: {_live_read_only(config, side)}" if live else ""
        lines.append(f"- {side} Harbor {url}: {state}{now}")
    return lines


def _step_rows(steps: dict) -> list[str]:
    rows = ["| step | outcome | duration | checks passed | checks failed | re-verified |", "|---|---|---|---|---|---|"]
    for step in STEP_ORDER + EXTRA_STEPS:
        entry = steps.get(step)
        if not entry and step in EXTRA_STEPS:
            continue
        if not entry:
            rows.append(f"| {step} | not run | - | - | - | - |")
            continue
        reverified = datetime.fromtimestamp(entry["reverified"], UTC).strftime("%H:%M:%S") \
            if entry.get("reverified") else "-"
        rows.append(f"| {step} | {entry.get('status')} | {entry.get('duration', 0):.1f} s | "
                    f"{entry.get('checks_passed', 0)} | {len(entry.get('checks_failed', []))} | {reverified} |")
    return rows


def build_markdown(config: Config, journal: Journal, *, live: bool = True) -> str:
    data = journal.read()
    steps, names = data.get("steps", {}), data.get("names", {})
    lines = ["# seatrial report", "",
             f"- source: `{config.source.context}` namespace `{config.source.namespace}` "
             f"release `{config.source.release}`",
             f"- target: `{config.target.context}` namespace `{config.target.namespace}`",
             f"- backup: `{names.get('backup', '-')}`, restore: `{names.get('restore', '-')}`",
             f"- written: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}", "",
             "## Steps", "", *_step_rows(steps)]
    problems = [f"- {step}: {' '.join(str(steps[step]['error']).split())}" for step in STEP_ORDER + EXTRA_STEPS
                if (steps.get(step) or {}).get("error")]
    if problems:
        lines += ["", "## Errors", "", *problems]
    backup, restore = steps.get("backup", {}), steps.get("restore", {})
    lines += ["", "## Backup and restore", ""]
    lines.append(_stats("backup", backup, "items backed up") if backup.get("backup") else "- backup: not made")
    lines.append(_stats("restore", restore, "items restored") if restore.get("restore") else "- restore: not made")
    lines += ["", "## Inventory", "", *_inventory_lines(config, journal),
              "", "## Harbor left", "", *_harbor_lines(config, journal, live), "", "## Checks", ""]
    for step in STEP_ORDER:
        rows = _checks(config.run_dir, step)
        if not rows:
            continue
        lines += [f"### {step}", "", "| check | outcome | message |", "|---|---|---|"]
        lines += [f"| `{name}` | {outcome} | {message.replace('|', '/')} |" for name, outcome, message in rows]
        lines.append("")
    return redact("\n".join(lines) + "\n")


def _html(markdown: str) -> str:
    """A plain rendering of the markdown report (tables, headings, lists) with no dependency."""
    out, in_table = [], False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip().strip("`")) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
                continue
            css = ' class="failed"' if "failed" in cells else ""
            out.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.lstrip().startswith("- "):
            out.append(f"<p>{html.escape(line.lstrip()[2:]).replace('`', '')}</p>")
    if in_table:
        out.append("</table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px}tr.failed{background:#fdd}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>seatrial report</title><style>{style}</style>" \
           f"</head><body>{''.join(out)}</body></html>\n"


def write_report(config: Config, journal: Journal, *, live: bool = True) -> tuple[Path, Path]:
    """Write both files; `live=False` leaves out asking each Harbor for its read-only flag now."""
    markdown = build_markdown(config, journal, live=live)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    md, page = config.run_dir / "report.md", config.run_dir / "report.html"
    md.write_text(markdown)
    page.write_text(redact(_html(markdown)))
    return md, page
