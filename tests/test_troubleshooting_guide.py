"""Every fix seatrial prints for a known kind of failure points at its section of docs/troubleshooting.md, and that
section exists: the CLI's error lines, a failed step, a step's failed checks."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from test_cli import workspace  # noqa: F401 -- the fixture: a seatrial.yaml on an unreachable cluster
from test_config import Workspace
from test_docs_commands import anchors_of

import seatrial.runbook
from seatrial.runbook import cli
from seatrial.runbook.errors import TROUBLESHOOTING, SeatrialError
from seatrial.runbook.migration.journal import RunLock
from seatrial.runbook.migration.runner import CheckResult, checks_guide
from seatrial.runbook.migration.steps import STEP_ORDER

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / TROUBLESHOOTING


def _error_classes() -> list[type[SeatrialError]]:
    for module in pkgutil.walk_packages(seatrial.runbook.__path__, "seatrial.runbook."):
        importlib.import_module(module.name)
    found, todo = [], [SeatrialError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_error_guide_names_a_heading(cls: type[SeatrialError]):
    if cls.guide:
        assert cls.guide in anchors_of(GUIDE), f"{cls.__name__}.guide = {cls.guide!r}: no such heading in {GUIDE.name}"


def test_the_common_failures_have_their_sections():
    named = {cls.__name__: cls.guide for cls in _error_classes()}
    for name in ("ConfigError", "BadInput", "Unreachable", "ProtocolError", "Unauthorized", "Forbidden",
                 "ReadOnlyRefused", "WaitTimeout", "RolloutStuck", "RunLocked", "DigestMismatch"):
        assert named.get(name), f"{name} has no section in {GUIDE.name}"


@pytest.mark.parametrize("step", STEP_ORDER)
def test_each_steps_failed_checks_point_at_their_section(step: str):
    failed = checks_guide(step, CheckResult(step=step, exit_code=1))
    assert failed == f"{TROUBLESHOOTING}#{step}-checks"
    assert failed.split("#")[1] in anchors_of(GUIDE)
    unreachable = checks_guide(step, CheckResult(step=step, exit_code=3))
    assert unreachable.split("#")[1] in anchors_of(GUIDE) and "dependency" in unreachable


def test_a_5xx_left_after_the_retries_points_at_dependency_faults():
    from seatrial.runbook.errors import ApiError, Unauthorized

    assert ApiError("Harbor answered 503", status=503).guide == "a-dependency-is-unreachable-or-failing-exit-3"
    assert ApiError("no such tag", status=404).guide == ""
    assert Unauthorized("401", status=401).guide == "credentials-refused-401-403"


def test_the_cli_prints_where_the_guide_explains_the_error(workspace: Workspace, capsys):  # noqa: F811
    # A real run lock, held as another run holds it; the command stops before touching anything.
    with RunLock(workspace.root / "run" / "seatrial.lock"):
        assert cli.main(["-c", str(workspace.path), "reset-target", "--yes"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("seatrial: error: another seatrial run holds "), err
    assert err[1].endswith(f"(see {TROUBLESHOOTING}#another-run-holds-the-run-lock)"), err
    assert len(err) == 2


def test_an_error_without_a_fix_still_points_at_its_section(capsys, monkeypatch):
    from seatrial.runbook.errors import WaitTimeout

    def waits(args, config):
        raise WaitTimeout("gave up after 1s waiting for Backup b")

    monkeypatch.setitem(cli.COMMANDS, "upgrade-plan", waits)
    assert cli.main(["upgrade-plan", "--chart", "c", "--release", "r", "--namespace", "n"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "seatrial: error: gave up after 1s waiting for Backup b", f"  see {TROUBLESHOOTING}#a-wait-gave-up"]
