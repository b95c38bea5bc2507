"""examples/ci: the GitHub Actions workflow and the GitLab CI job are valid YAML of their formats, run
`seatrial upgrade-plan` with arguments seatrial's own parser accepts, then the rehearsal, and keep the JUnit
files and reports as artifacts."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seatrial.runbook.cli import build_parser

CI = Path(__file__).resolve().parent.parent / "examples" / "ci"
GITHUB, GITLAB = CI / "github-actions-chart-upgrade.yml", CI / "gitlab-ci-chart-upgrade.yml"


def seatrial_commands(scripts: list[str]) -> list[list[str]]:
    """Every `seatrial ...` command line of the scripts, split as the shell would (variables left as words)."""
    commands = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(" #")[0].split(" || ")[0])
            if words[:1] == ["seatrial"]:
                commands.append(words[1:])
    return commands


def assert_parses(command: list[str]) -> None:
    args = build_parser().parse_args(command)  # raises on an unknown option or a missing required one
    assert args.command


def test_github_workflow_plans_then_rehearses_and_keeps_artifacts():
    workflow = yaml.safe_load(GITHUB.read_text())
    triggers = workflow.get("on") or workflow.get(True)  # YAML 1.1 reads a bare `on` as true
    assert "deploy/harbor/chart-version" in triggers["pull_request"]["paths"]
    plan, rehearsal = workflow["jobs"]["upgrade-plan"], workflow["jobs"]["rehearsal"]
    assert rehearsal["needs"] == "upgrade-plan"
    runs = [step.get("run", "") for step in plan["steps"]]
    commands = seatrial_commands(runs)
    assert [c[0] for c in commands] == ["upgrade-plan"]
    for command in commands:
        assert_parses(command)
    assert "--from-chart" in commands[0] and "--out" in commands[0]
    uploads = [s for s in plan["steps"] + rehearsal["steps"] if str(s.get("uses", "")).startswith(
        "actions/upload-artifact")]
    assert all(s["if"] == "always()" for s in uploads)
    paths = " ".join(s["with"]["path"] for s in uploads)
    assert "artifacts/upgrade-plan/" in paths and "junit/*.xml" in paths and "report.html" in paths
    rehearse = seatrial_commands([step.get("run", "") for step in rehearsal["steps"]])
    assert ["-c", "sandbox/seatrial.yaml", "run", "--yes"] in rehearse
    for command in rehearse:
        assert_parses(command)


def test_gitlab_job_plans_then_rehearses_with_junit_reports():
    pipeline = yaml.safe_load(GITLAB.read_text())
    assert pipeline["stages"] == ["plan", "rehearse"]
    plan, rehearsal = pipeline["upgrade-plan"], pipeline["rehearsal"]
    assert plan["stage"] == "plan" and rehearsal["needs"] == ["upgrade-plan"]
    commands = seatrial_commands(plan["script"])
    assert [c[0] for c in commands] == ["upgrade-plan"]
    for command in commands + seatrial_commands(rehearsal["script"] + rehearsal["after_script"]):
        assert_parses(command)
    assert plan["artifacts"]["reports"]["junit"] == "artifacts/upgrade-plan/junit.xml"
    assert plan["artifacts"]["when"] == rehearsal["artifacts"]["when"] == "always"
    assert rehearsal["artifacts"]["reports"]["junit"].endswith("junit/*.xml")
    rule = pipeline[".harbor-chart-change"]["rules"][0]
    assert "deploy/harbor/values.yaml" in rule["changes"]


def sandbox_commands(path: Path) -> list[list[str]]:
    data = yaml.safe_load(path.read_text())
    scripts = [s.get("run", "") for s in data["jobs"]["rehearsal"]["steps"]] if "jobs" in data \
        else data["rehearsal"]["script"] + data["rehearsal"]["after_script"]
    found = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(" || ")[0])
            if words[:2] == ["seatrial", "sandbox"]:
                found.append(words[2:])
    return found


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_their_sandbox_commands_are_accepted_by_the_sandbox(path):
    commands = sandbox_commands(path)
    assert [c[0] for c in commands] == ["up", "down"]
    for command in commands:
        done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.sandbox", *command, "--help"],
                              capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent.parent, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        for option in (word for word in command if word.startswith("--")):
            assert option in done.stdout, (option, command)


def _upgrade_snippet(path: Path) -> str:
    """The inline Python that writes the `upgrade:` section into the sandbox's seatrial.yaml."""
    data = yaml.safe_load(path.read_text())
    scripts = [s.get("run", "") for s in data["jobs"]["rehearsal"]["steps"]] if "jobs" in data \
        else data["rehearsal"]["script"]
    script = next(s for s in scripts if "data[\"upgrade\"]" in s)
    return script.split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_the_upgrade_section_they_write_is_a_valid_configuration(path, tmp_path):
    import textwrap

    from tests.test_config import Workspace

    workspace = Workspace(tmp_path)
    (tmp_path / "sandbox").mkdir()
    data = workspace.data()
    del data["upgrade"]
    (tmp_path / "sandbox" / "seatrial.yaml").write_text(yaml.safe_dump(data).replace("./kubeconfig", "../kubeconfig")
                                                        .replace("./credentials-velero", "../credentials-velero"))
    (tmp_path / "deploy" / "harbor").mkdir(parents=True)
    (tmp_path / "deploy" / "harbor" / "chart-version").write_text("1.19.1\n")
    (tmp_path / "deploy" / "harbor" / "values.yaml").write_text("updateStrategy: {type: Recreate}\n")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_upgrade_snippet(path))], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    from seatrial.runbook.config import load_config

    upgrade = load_config(tmp_path / "sandbox" / "seatrial.yaml", environ=workspace.environ).upgrade
    assert upgrade.chart == "harbor" and upgrade.version == "1.19.1"
    assert upgrade.values == (tmp_path / "deploy" / "harbor" / "values.yaml",)
    assert upgrade.reuse_values  # the sandbox's own values (address, admin password) stay under the change
