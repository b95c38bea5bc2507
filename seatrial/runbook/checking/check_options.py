"""The checks' command-line options (`--seatrial-config`, ...), registered by checks/conftest.py and by the
project's root plugin (seatrial.fixtures.checks_plugin), whichever pytest loads first; the second call adds nothing."""

from __future__ import annotations


def add_options(parser) -> None:
    group = parser.getgroup("seatrial")
    if "seatrial_config" in {opt.dest for opt in group.options}:
        return
    group.addoption("--seatrial-config", dest="seatrial_config", metavar="PATH",
                    help="the migration's seatrial.yaml (or set SEATRIAL_CONFIG)")
    group.addoption("--seatrial-backup", dest="seatrial_backup", metavar="NAME",
                    help="the Velero backup to check (default: the one the run journal recorded)")
    group.addoption("--seatrial-restore", dest="seatrial_restore", metavar="NAME",
                    help="the Velero restore to check (default: the one the run journal recorded)")
    group.addoption("--seatrial-upgrade-plan", dest="seatrial_upgrade_plan", metavar="PLAN",
                    help="the plan.json of `seatrial upgrade-plan`, for seatrial/checks/test_upgrade_plan.py")
