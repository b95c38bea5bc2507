"""Which worker group a test file belongs to when the tests run in parallel (`make test`: pytest-xdist,
`-n 3 --dist loadfile`). A worker takes whole groups: one test file is one group, so a module's shared environment
(a sandbox, a wheel, a kind set-up) is built once, not once per worker; the real environment's tier is ONE group, so
its clusters (1.1 GiB each, and the programs they run) never run twice at once."""

from __future__ import annotations

REAL_TIER = ("test_real_", "test_contract_real")
REAL_GROUP = "real-environment"


def group_of(file_name: str) -> str:
    return REAL_GROUP if file_name.startswith(REAL_TIER) else file_name

# Started first, longest first (test time on one worker, 2026-12-08): xdist's own order is by the number of tests, which
# left the few-test, long files (the wheel, the rehearsals) to the end, one worker finishing alone.
LONGEST_FIRST = (REAL_GROUP, "test_fault_matrix.py", "test_rehearsal.py", "test_kind_laptop.py", "test_kind.py",
                 "test_wheel.py", "test_kind_rehearsal.py", "test_checks_sandbox.py", "test_runbook_sandbox.py",
                 "test_volume_judgement.py", "test_upgrade_guard.py", "test_observed_freeze.py", "test_upgrade_step.py",
                 "test_upgrade_plan_cli.py", "test_restic.py")


def start_rank(group: str) -> int:
    """Where a group starts: the known long ones in LONGEST_FIRST's order, then every other one."""
    return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
