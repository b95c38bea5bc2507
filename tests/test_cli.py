"""The `seatrial` command line: parsing, the dispatch table, exit codes and one-line errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from test_config import HARBOR_PASSWORD_ENV, Workspace

from seatrial.runbook import cli
from seatrial.runbook.config import Config
from seatrial.runbook.errors import BadInput, CheckFailed, ConfigError, Unreachable
from seatrial.runbook.log import reset_logging

SEATRIAL = Path(sys.executable).parent / "seatrial"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write(workspace.text)
    monkeypatch.setenv("HARBOR_PASSWORD", HARBOR_PASSWORD_ENV)
    monkeypatch.delenv("SEATRIAL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield workspace
    reset_logging()


def run_cli(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seatrial.runbook.cli",
         *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_help_lists_the_commands_and_the_exit_codes(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("plan", "run", "step", "verify", "status", "report", "reset-target", "rehearse"):
        assert f"    {command} " in out
    for line in ("0   all green", "1   a check failed", "2   bad input", "3   a dependency"):
        assert line in out
    assert cli.main(["run", "--help"]) == 0
    assert "--keep-frozen" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["migrate"], "invalid choice: 'migrate'"),
        (["step", "backpu"], "invalid choice: 'backpu'"),
        (["run", "--from", "nowhere"], "invalid choice: 'nowhere'"),
        (["plan", "--yes"], "unrecognized arguments: --yes"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], phrase: str, capsys) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("seatrial: error: ") and phrase in err[0]


def test_missing_config_is_bad_input(workspace: Workspace, capsys) -> None:
    workspace.path.unlink()
    assert cli.main(["status"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"seatrial: error: config: configuration file not found: {workspace.path}",
        "  fix: pass -c PATH or set SEATRIAL_CONFIG; start from examples/seatrial.yaml"
        " (see docs/troubleshooting.md#configuration-errors-exit-2)",
    ]


@pytest.mark.parametrize("argv", [["plan"], ["run", "--dry-run"], ["reset-target"]])
def test_commands_on_an_unreachable_cluster_exit_3_in_one_clear_line(workspace: Workspace, argv: list[str],
                                                                      capsys) -> None:
    # The workspace's kubeconfig points at a closed port: every command that reads a cluster says so once.
    assert cli.main(["-c", str(workspace.path), *argv]) == 3
    err = capsys.readouterr().err
    assert err.startswith("seatrial: error: ") and "onprem-" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_status_and_report_need_only_the_run_directory(workspace: Workspace, capsys) -> None:
    assert cli.main(["-c", str(workspace.path), "status"]) == 0
    assert "preflight" in capsys.readouterr().out
    assert cli.main(["-c", str(workspace.path), "report"]) == 0
    assert "report.md" in capsys.readouterr().out


def test_rehearse_kind_without_kind_says_what_to_install_and_needs_no_config(tmp_path: Path, monkeypatch,
                                                                               capfd) -> None:
    monkeypatch.chdir(tmp_path)  # no seatrial.yaml here
    monkeypatch.delenv("SEATRIAL_CONFIG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no kind, no docker
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    assert cli.main(["rehearse", "--env", "kind", "--dir", str(tmp_path / "env")]) == 2
    out = capfd.readouterr().out
    assert "needs `kind` on PATH; install it:" in out and "sigs.k8s.io/kind@" in out, out


def test_the_dispatch_table_gets_parsed_args_and_the_loaded_config(workspace: Workspace, monkeypatch) -> None:
    seen: list[tuple[argparse.Namespace, Config | None]] = []

    def handler(args: argparse.Namespace, config: Config | None) -> int:
        seen.append((args, config))
        return 0

    monkeypatch.setitem(cli.COMMANDS, "run", handler)
    argv = ["run", "--from", "backup", "--until", "restore", "--dry-run", "--yes", "--keep-frozen"]
    assert cli.main(argv) == 0  # config from ./seatrial.yaml
    args, config = seen[0]
    assert (args.from_step, args.until_step, args.dry_run, args.yes, args.keep_frozen) == (
        "backup", "restore", True, True, True)
    assert config is not None and config.path == workspace.path
    assert config.harbor.password.reveal() == HARBOR_PASSWORD_ENV


def test_seatrial_config_variable_is_the_default(workspace: Workspace, tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("SEATRIAL_CONFIG", str(workspace.path))
    paths = []
    monkeypatch.setitem(cli.COMMANDS, "status", lambda args, config: paths.append(config.path) or 0)
    assert cli.main(["status"]) == 0
    assert paths == [workspace.path]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CheckFailed("2 checks failed in backup", fix="seatrial run --from backup"), 1),
        (BadInput("--from restore needs a finished backup", fix="run the backup step first"), 2),
        (ConfigError("storage.bucket", "bucket does not exist", fix="create it"), 2),
        (Unreachable("cannot reach https://127.0.0.1:1", fix="check the endpoint"), 3),
    ],
)
def test_errors_from_a_command_become_their_exit_code(workspace: Workspace, monkeypatch, capsys, error, code) -> None:
    def failing(args, config):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "verify", failing)
    assert cli.main(["verify", "backup"]) == code
    err = capsys.readouterr().err
    see = f" (see docs/troubleshooting.md#{error.guide})" if error.guide else ""
    assert err.splitlines() == [f"seatrial: error: {error.message}", f"  fix: {error.fix}{see}"]
    assert "Traceback" not in err


def test_the_console_script_runs_the_same_main(workspace: Workspace) -> None:
    if not SEATRIAL.exists():
        pytest.fail(f"{SEATRIAL} is missing: install the project with `pip install -e .` (make test does)")
    result = subprocess.run(
        [str(SEATRIAL), "-c", str(workspace.path), "plan"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **workspace.environ},
    )
    assert result.returncode == 3 and "seatrial: error:" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m_reports_a_bad_config_in_one_line(workspace: Workspace) -> None:
    workspace.write(workspace.text.replace("uploader: kopia", "uploader: velero"))
    result = run_cli("-c", str(workspace.path), "plan", cwd=workspace.root, env={"PATH": "/usr/bin:/bin",
                                                                                 **workspace.environ})
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "seatrial: error: velero.uploader: 'velero' is not an uploader Velero knows"
    assert "Traceback" not in result.stderr
