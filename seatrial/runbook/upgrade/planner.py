"""`seatrial upgrade-plan` end to end: both sides from the Helm engine (seatrial.runbook.clients.helm), the guard,
and its
findings as pytest checks (checks/test_upgrade_plan.py) with JUnit, a report and the ready fix values.

The deployed side is the live release read from its Secret, or (offline, in CI) a chart and values
rendered here; the new side is always the new chart rendered for the same release name and namespace.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from seatrial.runbook.clients import helm
from seatrial.runbook.clients.helm_upgrade_values import UpgradeValues, exactly
from seatrial.runbook.clients.helm_values import read_values_file
from seatrial.runbook.errors import BadInput
from seatrial.runbook.secrets import redact
from seatrial.runbook.upgrade.findings import FAIL, WARN, Finding
from seatrial.runbook.upgrade.fix import merged
from seatrial.runbook.upgrade.guard import FIX_FILE, Plan, Side, analyse

PLAN_FILE, JUNIT_FILE, REPORT_FILE = "plan.json", "junit.xml", "report.md"


@dataclass
class ChartRef:
    ref: str
    version: str | None = None
    repo_url: str | None = None
    value_files: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)

    def load(self) -> helm.Chart:
        shipped = self.shipped()
        if shipped is not None:
            return helm.load_chart(shipped)
        return helm.load_chart(self.ref, version=self.version, repo_url=self.repo_url)

    def shipped(self) -> Path | None:
        """A chart name and version with no repository (`--chart harbor --version 1.19.1`): the archive seatrial
        ships (seatrial.charts). None for paths, repositories and oci://; BadInput naming --repo when seatrial
        does not ship that version."""
        if self.repo_url or not self.version or self.ref.startswith("oci://") or Path(self.ref).expanduser().exists():
            return None
        if "/" in self.ref or self.ref.endswith(".tgz"):
            return None  # a path that is not there: load_chart names it
        from seatrial.charts import chart_path, shipped_versions

        found = chart_path(self.ref, self.version)
        if found is None:
            have = ", ".join(shipped_versions(self.ref)) or "none"
            raise BadInput(f"chart {self.ref} {self.version}: seatrial does not ship it (it ships {self.ref}: {have})",
                           fix="give its repository: --repo URL (e.g. --repo https://helm.goharbor.io), a .tgz, "
                               "or one of the shipped versions")
        return found

    def values(self, option: str = "--values") -> dict:
        return user_values(self.value_files, self.sets, option)


def user_values(files: list[str], sets: list[str], option: str = "--values") -> dict:
    """The values files in order (maps merged, as Helm does), then each --set."""
    values: dict = {}
    for name in files:
        values = merged(values, read_values_file(Path(name).expanduser(), option))
    set_option = "--from-set" if option == "--from-values" else "--set"
    for expression in sets:
        values = merged(values, helm.parse_set(expression, set_option))
    return values


def chart_side(chart: helm.Chart, values: dict, *, release: str, namespace: str, upgrade: bool) -> Side:
    return _side(chart, chart.render(values, release=release, namespace=namespace, is_upgrade=upgrade), values)


def _side(chart: helm.Chart, manifests: list[dict], values: dict) -> Side:
    return Side(manifests, values, chart.values, f"{chart.name}-{chart.version}", chart.app_version,
                chart.values_schema, "\n".join(t.get("data", "") for t in chart.engine_chart.templates))


def release_side(stored: helm.StoredRelease, kubernetes: tuple[int, int] | None = None) -> Side:
    """`kubernetes`: the cluster's (major, minor), from its /version."""
    name = stored.chart_metadata.get("name", "chart")
    return Side(stored.manifests(), stored.config, stored.chart_values,
                f"{name}-{stored.chart_version} (revision {stored.revision})", stored.app_version,
                kubernetes=kubernetes)


def make_plan(deployed: Side, new_chart: helm.Chart, new_values: dict | UpgradeValues, *, release: str,
              namespace: str, force: bool = False, accept_removed: frozenset[str] = frozenset()) -> Plan:
    """The guard over the deployed side and the new chart rendered with what Helm will deploy: `new_values` is
    the upgrade's values under a policy (helm_upgrade_values), or a dict rendered exactly as it is."""
    values = exactly(new_values) if isinstance(new_values, dict) else new_values

    def render(user: dict) -> list[dict]:
        return new_chart.render(values.for_render(new_chart.values, user), release=release, namespace=namespace,
                                is_upgrade=True)

    new = _side(new_chart, render(values.user), values.user)
    return analyse(deployed, new, render, release=release, namespace=namespace, force=force,
                   accept_removed=accept_removed)


def write_outputs(plan: Plan, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"plan": out / PLAN_FILE, "report": out / REPORT_FILE}
    files["plan"].write_text(redact(json.dumps(plan.to_dict(), indent=2)))
    fix_text = plan.fix_values()
    if fix_text:
        files["fix"] = out / FIX_FILE
        files["fix"].write_text(redact(fix_text))
    # else: an earlier plan's fix file stays (it is often among this plan's own --values); plan.json says
    # `fix_file: null` for this plan
    files["report"].write_text(redact(report(plan)))
    return files


def report(plan: Plan) -> str:
    verdict = "SAFE" if plan.exit_code == 0 else "NOT SAFE"
    lines = [f"# upgrade plan: {plan.release} ({plan.namespace}) {plan.deployed} -> {plan.new}: {verdict}", ""]
    for title, status in (("Failures (the upgrade loses data or fails)", FAIL), ("Warnings", WARN)):
        found = [f for f in plan.findings if f.status == status]
        if found:
            lines += [f"## {title}", ""] + [f"- **{f.check}** `{f.object}`: {f.what}\n  - observed: {f.observed}\n"
                                             f"  - fix: {f.fix}" for f in found] + [""]
    passed = sum(1 for f in plan.findings if f.status not in (FAIL, WARN))
    lines.append(f"{passed} checks passed, {len(plan.failures())} failed, {len(plan.warnings())} warnings.")
    if plan.fix_values():
        lines += ["", f"## Values that keep the data ({plan.fix_file})", "", "```yaml", plan.fix_values(), "```"]
    return "\n".join(lines) + "\n"


def run_checks(plan_file: Path, junit: Path) -> tuple[int, str]:
    """The findings as pytest checks (one per object), JUnit like every other step's."""
    from seatrial.runbook.checking.process import PYTEST_EXIT, check_command, checks_dir

    command = check_command(checks_dir() / "test_upgrade_plan.py", junit, "seatrial-upgrade-plan",
                            f"--seatrial-upgrade-plan={plan_file}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return PYTEST_EXIT.get(done.returncode, 1), redact(done.stdout + done.stderr)


def summary(plan: Plan, files: dict[str, Path]) -> list[str]:
    lines = [f"upgrade-plan: release {plan.release} ({plan.namespace}): {plan.deployed} -> {plan.new}"]
    for finding in plan.findings:
        if finding.status in (FAIL, WARN):
            lines += _finding_lines(finding)
    passed = sum(1 for f in plan.findings if f.status not in (FAIL, WARN))
    lines.append(f"{passed} passed, {len(plan.failures())} failed, {len(plan.warnings())} warnings")
    if "fix" in files:
        state = "verified by rendering again" if plan.fix and plan.fix.verified else "NOT verified"
        lines.append(f"values that keep the data ({state}): {files['fix']}")
        lines += ["  " + line for line in (plan.fix_values() or "").splitlines()]
    lines.append(f"report: {files['report']}   plan: {files['plan']}")
    return lines


def _finding_lines(finding: Finding) -> list[str]:
    label = "FAILED" if finding.status == FAIL else "WARNING"
    return [f"{label} {finding.check}[{finding.object}]", f"    {finding.what}",
            f"    observed: {finding.observed}", f"    fix: {finding.fix}"]
