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


def _throughput(entry: dict) -> str:
    start, end = _seconds(entry.get("started")), _seconds(entry.get("completed"))
    data = entry.get("bytes") or 0
    if start is None or end is None or end <= start:
        return f"{data} bytes"
    return f"{data} bytes in {end - start:.0f} s ({data / (end - start) / 1e6:.2f} MB/s)"


def _inventory_count(path: Path) -> str:
    if not path.exists():
        return "not taken"
    data = json.loads(path.read_text())
    from runbook.inventory import Inventory

    records = Inventory.from_json(data).artifact_records()
    return f"{len(records)} artifacts, {sum(r.get('size') or 0 for r in records)} bytes"


def build_markdown(config: Config, journal: Journal) -> str:
    data = journal.read()
    steps, names = data.get("steps", {}), data.get("names", {})
    lines = ["# seatrial report", "",
             f"- source: `{config.source.context}` namespace `{config.source.namespace}` "
             f"release `{config.source.release}`",
             f"- target: `{config.target.context}` namespace `{config.target.namespace}`",
             f"- backup: `{names.get('backup', '-')}`, restore: `{names.get('restore', '-')}`",
             f"- written: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}", "",
             "## Steps", "", "| step | outcome | duration | checks passed | checks failed |", "|---|---|---|---|---|"]
    for step in STEP_ORDER + EXTRA_STEPS:
        entry = steps.get(step)
        if not entry:
            continue
        lines.append(f"| {step} | {entry.get('status')} | {entry.get('duration', 0):.1f} s | "
                     f"{entry.get('checks_passed', 0)} | {len(entry.get('checks_failed', []))} |")
    backup, restore = steps.get("backup", {}), steps.get("restore", {})
    lines += ["", "## Backup and restore", ""]
    if backup:
        lines.append(f"- backup `{backup.get('backup')}`: phase {backup.get('phase')}, items {backup.get('items')}/"
                     f"{backup.get('total_items')}, {backup.get('volumes')} volumes, {_throughput(backup)}")
    if restore:
        lines.append(f"- restore `{restore.get('restore')}`: phase {restore.get('phase')}, warnings "
                     f"{restore.get('warnings')}, errors {restore.get('errors')}")
    lines += ["", "## Inventory", "",
              f"- golden (source, at freeze): {_inventory_count(journal.inventory_path)}",
              f"- target (at verify-harbor): {_inventory_count(config.run_dir / 'target-inventory.json')}",
              "", "## Harbor left", ""]
    freeze = steps.get("freeze", {})
    source_state = "not frozen" if not freeze.get("frozen_at") else (
        "writable (thawed after a failed backup)" if freeze.get("thawed_at") else "read-only (frozen for the move)")
    target_state = "writable" if steps.get("thaw-target", {}).get("status") == "passed" else "not thawed"
    lines += [f"- source Harbor {config.harbor.source_url}: {source_state}",
              f"- target Harbor {config.harbor.target_url}: {target_state}", "", "## Checks", ""]
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
        elif line.startswith("- "):
            out.append(f"<p>{html.escape(line[2:]).replace('`', '')}</p>")
    if in_table:
        out.append("</table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px}tr.failed{background:#fdd}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>seatrial report</title><style>{style}</style>" \
           f"</head><body>{''.join(out)}</body></html>\n"


def write_report(config: Config, journal: Journal) -> tuple[Path, Path]:
    markdown = build_markdown(config, journal)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    md, page = config.run_dir / "report.md", config.run_dir / "report.html"
    md.write_text(markdown)
    page.write_text(redact(_html(markdown)))
    return md, page
