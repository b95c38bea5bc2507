"""`seatrial`: the command line.

Commands (each loads and validates the configuration first, except `rehearse`):
    plan | run [--from STEP] [--until STEP] [--dry-run] [--yes] [--keep-frozen] [--rollback-on-failure]
    | step NAME [--yes] [--rollback-on-failure]
    verify NAME | status | report [--project-size SIZE] | reset-target [--yes] | upgrade-plan ...
    rehearse [--env sandbox|kind|real] [--dir D] [--volume-data SIZE] [--keep]
    sandbox|kind|real up|status|down --dir D

Exit codes:
    0   all green
    1   a check failed
    2   bad input (configuration or arguments); nothing was changed
    3   a dependency (cluster, bucket, Harbor) is unreachable
    4   the environment is not available yet (rehearse --env kind)
    70  an unexpected internal error (run with -v for the traceback)

Step names for --from/--until/step/verify come from `STEPS` below; point it at the seatrial.runbook's own
order (seatrial.runbook.migration.steps.STEP_ORDER) when wiring the commands in.

Filling in a command: the dispatch table `COMMANDS` maps a command name to a function
`handler(args: argparse.Namespace, config: Config | None) -> int`. `config` is the validated
configuration (None only for commands in `NEEDS_NO_CONFIG`). Replace the placeholder entry, e.g.

    from seatrial.runbook.commands import run_command
    COMMANDS["run"] = run_command      # in this module's table, replacing partial(not_implemented, ...)

and raise a SeatrialError subclass for any failure a person can act on: `main` prints it as one
line (plus its fix) on stderr, redacted, and exits with its `exit_code`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from seatrial.runbook.config import Config, load_config
from seatrial.runbook.errors import SeatrialError
from seatrial.runbook.log import get_logger, setup_logging
from seatrial.runbook.migration.steps import STEP_ORDER
from seatrial.runbook.secrets import redact

NOT_IMPLEMENTED = 4
INTERNAL_ERROR = 70  # EX_SOFTWARE
STEPS = STEP_ORDER
DEFAULT_CONFIG = "seatrial.yaml"

EPILOG = """\
configuration: -c PATH, else $SEATRIAL_CONFIG, else ./seatrial.yaml (see examples/seatrial.yaml)

exit codes:
  0   all green
  1   a check failed
  2   bad input (configuration or arguments); nothing was changed
  3   a dependency (cluster, bucket, Harbor) is unreachable
  4   the environment is not available yet (rehearse --env kind)
  70  unexpected internal error (-v shows the traceback)
"""

Handler = Callable[[argparse.Namespace, Config | None], int]
# command -> (the program in seatrial.fixtures that does it, what it does)
ENVIRONMENT_COMMANDS = {
    "rehearse": ("seatrial.fixtures.rehearse", "run the whole migration on a throwaway environment "
                 "[--env sandbox|kind|real] [--dir D]"),
    "sandbox": ("seatrial.fixtures.sandbox", "the local sandbox as a background service: up|status|down --dir D"),
    "kind": ("seatrial.fixtures.kind", "two kind clusters and an S3 container (needs Docker): up|status|down --dir D"),
    "real": ("seatrial.fixtures.real", "the real Kubernetes control plane and kwok as local processes (binaries from "
             "`make real-binaries`): up|status|down --dir D"),
}
log = get_logger("cli")


def not_implemented(command: str, issue: int, args: argparse.Namespace, config: Config | None) -> int:
    print(f"seatrial {command}: not implemented yet (issue {issue})", file=sys.stderr)
    return NOT_IMPLEMENTED


def _commands() -> dict[str, Handler]:
    from seatrial.runbook import commands

    return {
        "plan": commands.plan_command,
        "run": commands.run_command,
        "step": commands.step_command,
        "verify": commands.verify_command,
        "status": commands.status_command,
        "report": commands.report_command,
        "reset-target": commands.reset_target_command,
        **{name: commands.environment_command for name in ENVIRONMENT_COMMANDS},
        "upgrade-plan": _upgrade_plan,
    }


def _upgrade_plan(args: argparse.Namespace, config: Config | None) -> int:
    from seatrial.runbook.upgrade.command import upgrade_plan_command

    return upgrade_plan_command(args, config_path(args))  # the configuration is read only for a live release


COMMANDS: dict[str, Handler] = _commands()
NEEDS_NO_CONFIG = {"upgrade-plan", *ENVIRONMENT_COMMANDS}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as `seatrial: error: ...` and exit 2, without SystemExit leaking."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


class _UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seatrial",
        description="Rehearse and verify a Velero migration of a Helm release between Kubernetes clusters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c", "--config", metavar="PATH", help="seatrial.yaml (default: $SEATRIAL_CONFIG, ./seatrial.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output; -v shows tracebacks")
    parser.add_argument("--version", action="version", version=f"seatrial {_version()}")
    # -c is accepted after the command too (`seatrial run -c x.yaml`); SUPPRESS keeps the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="seatrial.yaml (also accepted before the command)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    add_parser = commands.add_parser

    def add_command(name: str, **kwargs):
        return add_parser(name, parents=[common], **kwargs)

    commands.add_parser = add_command  # type: ignore[method-assign]

    commands.add_parser("plan", help="show the ordered steps and what each will touch; changes nothing")
    run = commands.add_parser("run", help="run the steps in order, each gated by its checks; resumes")
    run.add_argument("--from", dest="from_step", metavar="STEP", choices=STEPS, help="start at this step")
    run.add_argument("--until", dest="until_step", metavar="STEP", choices=STEPS, help="stop after this step")
    run.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    run.add_argument("--yes", action="store_true", help="confirm destructive actions without asking")
    run.add_argument("--keep-frozen", action="store_true", help="leave the source read-only if backup fails")
    step = commands.add_parser("step", help="run one step and its checks")
    step.add_argument("name", choices=STEPS, metavar="NAME", help=", ".join(STEPS))
    step.add_argument("--yes", action="store_true", help="confirm destructive actions without asking")
    for parser_ in (run, step):
        parser_.add_argument("--new-backup", action="store_true",
                             help="backup step: take a new Backup instead of adopting the one an interrupted "
                                  "attempt made")
        parser_.add_argument("--new-restore", action="store_true",
                             help="restore step: make a new Restore instead of adopting the recorded one")
        parser_.add_argument("--rollback-on-failure", action="store_true",
                             help="upgrade step: roll the release back when a rollout fails or is stuck "
                                  "(as upgrade.rollback_on_failure)")
    verify = commands.add_parser("verify", help="run one step's checks only (read-only)")
    verify.add_argument("name", choices=STEPS, metavar="NAME", help=", ".join(STEPS))
    status = commands.add_parser("status", help="show the journal of the run directory (exit 1 if a step failed)")
    status.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="json: the journal as one JSON document on stdout")
    report = commands.add_parser("report", help="write report.md and report.html in the run directory")
    report.add_argument("--project-size", metavar="SIZE", help="project the freeze window for this much data "
                        "(e.g. 2TiB) at the throughput measured in the run; default 1TiB")
    reset = commands.add_parser("reset-target", help="delete the target namespace to retry (destructive)")
    reset.add_argument("--yes", action="store_true", help="delete without asking")
    # The environments live with the fixtures; these commands hand their arguments to them (`--help` there).
    for name, (module, summary) in ENVIRONMENT_COMMANDS.items():
        passthrough = commands.add_parser(name, help=f"{summary} (`seatrial {name} --help`)", add_help=False)
        passthrough.add_argument("arguments", nargs=argparse.REMAINDER)
        passthrough.set_defaults(module=module)
    from seatrial.runbook.upgrade.command import add_parser as add_upgrade_plan

    add_upgrade_plan(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seatrial")
    except PackageNotFoundError:
        return "(not installed)"


def config_path(args: argparse.Namespace) -> str:
    return args.config or os.environ.get("SEATRIAL_CONFIG") or DEFAULT_CONFIG


def _print_error(error: SeatrialError) -> None:
    print(f"seatrial: error: {redact(error.message)}", file=sys.stderr)
    see = f"see {error.see_also()}" if error.see_also() else ""
    if error.fix:
        print(f"  fix: {redact(error.fix)}" + (f" ({see})" if see else ""), file=sys.stderr)
    elif see:
        print(f"  {see}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    verbosity = 0
    try:
        try:
            args, unknown = parser.parse_known_args(argv)
            if args.command in ENVIRONMENT_COMMANDS:  # their options are theirs: `seatrial sandbox --help`
                args.arguments = [*unknown, *args.arguments]
            elif unknown:
                parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        except _UsageError as exc:
            print(f"seatrial: error: {exc}", file=sys.stderr)
            return 2
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else 0
        verbosity = args.verbose
        setup_logging(verbosity)
        config = None
        if args.command not in NEEDS_NO_CONFIG:
            config = load_config(config_path(args))
            log.debug("configuration %s loaded: %s", config.path, config.describe())
        return COMMANDS[args.command](args, config)
    except SeatrialError as error:
        _print_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("seatrial: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one redacted line, never a raw traceback
        first_line = (str(exc).splitlines() or [""])[0]
        hint = "" if verbosity else " (run with -v for the traceback)"
        print(f"seatrial: internal error: {type(exc).__name__}: {redact(first_line)}{hint}", file=sys.stderr)
        if verbosity:
            print(redact("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
