"""Bad input is one clear line naming the key or argument (exit 2), never "internal error" (70), and
nothing changes; plus `--version`, `status -o json` and `status`'s exit code. No cluster is needed: the
workspace's kubeconfig points at closed ports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_config import HARBOR_PASSWORD_ENV, Workspace

from seatrial.runbook import cli
from seatrial.runbook.log import reset_logging
from seatrial.runbook.migration.journal import Journal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write(workspace.text)
    monkeypatch.setenv("HARBOR_PASSWORD", HARBOR_PASSWORD_ENV)
    monkeypatch.setenv("REPO_PASSWORD", workspace.environ["REPO_PASSWORD"])
    monkeypatch.delenv("SEATRIAL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield workspace
    reset_logging()


def _error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("seatrial: ")]
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err, err
    return lines[0]


def _run_dir(workspace: Workspace) -> Path:
    return workspace.load().run_dir


@pytest.mark.parametrize("where", ["a file", "read-only"])
def test_an_unwritable_run_dir_is_refused_naming_the_key(workspace: Workspace, tmp_path: Path, capsys, where):
    data = workspace.data()
    argv = ["status"]
    if where == "a file":
        (tmp_path / "taken").write_text("a file, not a directory\n")
        data["run_dir"] = str(tmp_path / "taken" / "run")
    elif os.geteuid() == 0:
        # root passes every permission bit (CI runs as root), so the configuration cannot see it; sysfs refuses a
        # new directory even to root, and run must write its journal before it touches anything
        data["run_dir"] = "/sys/seatrial-run"
        argv = ["run", "--yes"]
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        data["run_dir"] = str(locked / "run")
    workspace.write(data)
    assert cli.main(argv) == 2
    line = _error(capsys)
    assert line.startswith("seatrial: error: run_dir: "), line


@pytest.mark.parametrize(("text", "phrase"), [
    ("{not json", "is not valid JSON"),
    ("[]", "the top level is a list"),
    ('{"steps": [], "names": {}}', '"steps" is a list'),
    ('{"steps": {"backup": "passed"}, "names": {}}', 'steps["backup"] is a str'),
    ('{"steps": {"backup": {"status": "passed", "ended": "yesterday"}}, "names": {}}', "not a time"),
    ('{"steps": {}, "names": {"backup": 42}}', 'names["backup"] is 42'),
])
def test_a_hand_edited_journal_is_bad_input_not_an_internal_error(workspace: Workspace, capsys, text, phrase):
    run_dir = _run_dir(workspace)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "journal.json").write_text(text)
    for argv in (["status"], ["run"], ["report"]):
        assert cli.main(argv) == 2, argv
        line = _error(capsys)
        assert "journal" in line and phrase in line, line
    assert (run_dir / "journal.json").read_text() == text, "a bad journal was changed"


def test_from_after_until_runs_nothing_and_says_so(workspace: Workspace, capsys):
    assert cli.main(["run", "--from", "restore", "--until", "preflight"]) == 2
    line = _error(capsys)
    assert "--from restore comes after --until preflight" in line, line
    assert not Journal(_run_dir(workspace)).path.exists()


def test_config_is_accepted_after_the_command(workspace: Workspace, tmp_path: Path, capsys, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # no ./seatrial.yaml here: only -c can find it
    assert cli.main(["status", "-c", str(workspace.path)]) == 0
    assert "run directory:" in capsys.readouterr().out
    assert cli.main(["-c", str(workspace.path), "status"]) == 0


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("seatrial ")


def test_status_exits_1_when_a_step_failed_and_speaks_json(workspace: Workspace, capsys):
    journal = Journal(_run_dir(workspace))
    journal.start("preflight")
    journal.finish("preflight", "passed")
    assert cli.main(["status"]) == 0
    capsys.readouterr()
    journal.start("freeze")
    journal.finish("freeze", "failed", checks_failed=["seatrial.checks.test_freeze::test_source_read_only"])
    assert cli.main(["status"]) == 1
    assert "failed: freeze" in capsys.readouterr().out
    assert cli.main(["status", "-o", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["failed_steps"] == ["freeze"] and document["steps"]["preflight"]["status"] == "passed"
    assert document["run_dir"] == str(_run_dir(workspace))


def test_a_second_full_backup_needs_confirmation(workspace: Workspace, capsys):
    journal = Journal(_run_dir(workspace))
    journal.record_name("backup", "seatrial-harbor-1")
    journal.start("backup")
    journal.finish("backup", "passed")
    for argv in (["step", "backup"], ["run", "--from", "backup"]):
        assert cli.main(argv) == 2, argv  # no terminal, no --yes: the answer is no
        line = _error(capsys)
        assert "Backup seatrial-harbor-1 already passed; no second backup was taken" in line, line
        assert journal.step("backup")["status"] == "passed"


def test_a_directory_given_as_the_configuration_is_named_as_one(workspace: Workspace, tmp_path: Path, capsys):
    assert cli.main(["-c", str(tmp_path), "status"]) == 2
    line = _error(capsys)
    assert f"{tmp_path} is a directory, not a configuration file" in line and "not found" not in line, line


@pytest.mark.parametrize("argv", [["step", "upgrade"], ["run", "--from", "upgrade"]])
def test_an_upgrade_asked_for_without_an_upgrade_section_is_bad_input(workspace: Workspace, capsys, argv):
    data = workspace.data()
    del data["upgrade"]
    workspace.write(data)
    assert cli.main(argv) == 2
    line = _error(capsys)
    assert "has no `upgrade:` section" in line, line
    assert not Journal(_run_dir(workspace)).path.exists(), "a refused command wrote the journal"


def test_an_unknown_accept_removed_component_stops_the_upgrade_step_before_anything(workspace: Workspace, capsys):
    run_dir = _run_dir(workspace)
    data = workspace.data()
    data["upgrade"]["accept_removed"] = ["nosuchthing"]
    workspace.write(data)
    assert cli.main(["step", "upgrade", "--yes"]) == 2
    line = _error(capsys)
    assert "upgrade.accept_removed: nosuchthing: not a component" in line, line
    assert not Journal(run_dir).path.exists()


def test_bad_input_inside_a_step_is_one_line_without_a_resume_hint(workspace: Workspace, capsys, monkeypatch):
    """A values file that stops being YAML after the configuration was read (edited during the run): the step
    refuses it before reading the cluster, as one line; a resume cannot fix it, so none is offered."""
    values = workspace.root / "values.yaml"
    values.write_text("updateStrategy: {type: Recreate}\n")
    data = workspace.data()
    data["upgrade"] = {"chart": str(ROOT / "seatrial" / "charts" / "harbor-1.18.4.tgz"),
                       "values": [str(values)]}
    workspace.write(data)
    loaded = cli.load_config

    def load_then_break_the_values(path):
        config = loaded(path)
        values.write_text("updateStrategy:\n\ttype: Recreate\n")
        return config

    run_dir = _run_dir(workspace)
    monkeypatch.setattr(cli, "load_config", load_then_break_the_values)
    assert cli.main(["step", "upgrade"]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("seatrial: ")]
    assert len(errors) == 1 and "not valid YAML at line 2" in errors[0], captured.err
    assert "resume with" not in captured.out + captured.err, captured.out
    assert Journal(run_dir).step("upgrade")["status"] == "error"


def test_the_upgrade_step_refuses_a_chart_that_is_not_harbors_before_reading_the_cluster(workspace: Workspace,
                                                                                         capsys):
    run_dir = _run_dir(workspace)
    data = workspace.data()
    data["upgrade"] = {"chart": str(ROOT / "seatrial" / "charts" / "velero-12.1.0.tgz")}
    workspace.write(data)
    assert cli.main(["step", "upgrade"]) == 2  # the workspace's clusters are closed ports: never asked
    line = _error(capsys)
    assert "is chart 'velero', not Harbor's chart" in line and "upgrade.chart" in line, line
    assert Journal(run_dir).step("upgrade")["status"] == "error"
