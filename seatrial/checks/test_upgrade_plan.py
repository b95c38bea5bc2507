"""upgrade-plan: the guard's findings, one test per object (`seatrial upgrade-plan` writes the plan; these
checks read it with --seatrial-upgrade-plan PLAN.json, so they need no cluster and no configuration).

A warning (a rollout that can hang) passes with a pytest warning; a failure prints what, observed, fix.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from seatrial.checks.verdict import fail
from seatrial.runbook.upgrade.findings import CHECKS, FAIL, WARN, Finding


class UpgradeWarning(UserWarning):
    pass


def _findings(config) -> list[Finding]:
    path = config.getoption("seatrial_upgrade_plan")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--seatrial-upgrade-plan {path}: cannot be read ({type(exc).__name__}); "
                                "run `seatrial upgrade-plan` again") from None
    return [Finding.from_dict(item) for item in data.get("findings", [])]


def pytest_generate_tests(metafunc):
    if "finding" not in metafunc.fixturenames:
        return
    check = metafunc.function.__name__.removeprefix("test_")
    if not metafunc.config.getoption("seatrial_upgrade_plan"):  # `pytest checks/` for a migration: not asked for
        metafunc.parametrize("finding", [pytest.param(None, marks=pytest.mark.skip(
            reason="no upgrade plan given (seatrial upgrade-plan, or --seatrial-upgrade-plan PLAN.json)"))],
            ids=["no-plan"])
        return
    mine = [f for f in _findings(metafunc.config) if f.check == check]
    if not mine:  # nothing of this kind in either render: the check passes on `none`
        mine = [Finding(check, "none", "ok", "nothing of this kind in the renders")]
    metafunc.parametrize("finding", mine, ids=[f.object for f in mine])


def judge(finding: Finding) -> None:
    __tracebackhide__ = True
    if finding.status == FAIL:
        fail(finding.what, finding.observed, finding.fix)
    if finding.status == WARN:
        warnings.warn(UpgradeWarning(f"{finding.what}\n  observed: {finding.observed}\n  fix: {finding.fix}"),
                      stacklevel=2)


def test_data_volume_kept(finding: Finding):
    judge(finding)


def test_update_allowed(finding: Finding):
    judge(finding)


def test_postgres_major_reachable(finding: Finding):
    judge(finding)


def test_values_key_read(finding: Finding):
    judge(finding)


def test_data_volume_still_served(finding: Finding):
    judge(finding)


def test_rollout_cannot_hang(finding: Finding):
    judge(finding)


def test_no_replace(finding: Finding):
    judge(finding)


def test_service_address_kept(finding: Finding):
    judge(finding)


assert {name.removeprefix("test_") for name in dir() if name.startswith("test_")} == set(CHECKS)
