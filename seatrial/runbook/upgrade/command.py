"""The `seatrial upgrade-plan` command: arguments -> both sides -> the guard -> checks, files, exit code."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from seatrial.runbook.config import DNS1123_LABEL
from seatrial.runbook.errors import BadInput
from seatrial.runbook.upgrade.guard import Side
from seatrial.runbook.upgrade.harbor_chart import refuse_other_charts, refuse_unknown_components


def add_parser(commands) -> None:
    plan = commands.add_parser(
        "upgrade-plan", help="judge a chart upgrade before it happens (offline in CI with --from-chart)",
        description="Compare what is deployed with what the new chart would deploy (the real Helm engine) and "
                    "say, before anything changes, whether the upgrade keeps the data. Exit 0 safe (warnings "
                    "printed), 1 a finding that loses data or fails the upgrade, 2 bad input.")
    plan.add_argument("--chart", required=True, metavar="REF",
                      help="the new chart: a directory, a .tgz, a chart name with --repo, or oci://HOST/PATH")
    plan.add_argument("--version", metavar="V",
                      help="chart version (repository or oci:// charts; a bare chart name without --repo: "
                           "the chart seatrial ships)")
    plan.add_argument("--repo", metavar="URL", help="chart repository URL for a chart name")
    plan.add_argument("--values", "-f", action="append", default=[], metavar="FILE", help="values file (repeat)")
    plan.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="(repeat)")
    plan.add_argument("--release", required=True, metavar="NAME", help="the release name")
    plan.add_argument("--namespace", "-n", required=True, metavar="NS", help="the release's namespace")
    plan.add_argument("--from-chart", metavar="REF", help="offline: the deployed chart (no cluster read)")
    plan.add_argument("--from-version", metavar="V", help="version of --from-chart (repository or oci://)")
    plan.add_argument("--from-repo", metavar="URL", help="chart repository URL for --from-chart")
    plan.add_argument("--from-values", action="append", default=[], metavar="FILE",
                      help="offline: the deployed values file (repeat)")
    plan.add_argument("--from-set", action="append", default=[], metavar="KEY=VALUE", help="(repeat)")
    plan.add_argument("--accept-removed", action="append", default=[], metavar="COMPONENT",
                      help="acknowledge that a component's data PVC is no longer served by the new chart")
    policy = plan.add_mutually_exclusive_group()
    for flag, name, what in (("--reuse-values", "reuse", "the deployed values under the given ones, and the deployed "
                              "chart's values.yaml in place of the new chart's"),
                             ("--reset-values", "reset", "the given values only"),
                             ("--reset-then-reuse-values", "reset-then-reuse", "the deployed values under the given "
                              "ones, the new chart's values.yaml underneath")):
        policy.add_argument(flag, dest="values_policy", action="store_const", const=name,
                            help=f"as helm upgrade {flag}: {what}")
    plan.set_defaults(values_policy="default")  # helm's own rule: no values given, the deployed ones
    plan.add_argument("--force", action="store_true", help="replace semantics: always refused (the check says why)")
    plan.add_argument("--out", default="upgrade-plan", metavar="DIR",
                      help="where plan.json, junit.xml, report.md and fix-values.yaml go (default: ./upgrade-plan)")


@dataclass
class Deployed:
    side: Side
    config: dict  # the deployed revision's values (the user's, not the chart's)
    chart_values: dict  # the deployed chart's values.yaml


def deployed_side(args: argparse.Namespace, config_path: str) -> Deployed:
    from seatrial.runbook.upgrade import planner

    if args.from_chart:
        chart = _from_ref(args).load()
        refuse_other_charts(chart.name, f"--from-chart {args.from_chart}")
        values = planner.user_values(args.from_values, args.from_set, "--from-values")
        side = planner.chart_side(chart, values, release=args.release, namespace=args.namespace, upgrade=False)
        return Deployed(side, values, chart.values)
    if args.from_values or args.from_set or args.from_version or args.from_repo:
        raise BadInput("--from-values/--from-set/--from-version/--from-repo need --from-chart",
                       fix="add --from-chart REF (offline), or drop them to read the live release (-c seatrial.yaml)")
    from seatrial.runbook.clients import helm
    from seatrial.runbook.clients.kube import Cluster
    from seatrial.runbook.config import load_config
    from seatrial.runbook.errors import NotFound
    from seatrial.runbook.upgrade.immutable import parse_kubernetes_version

    config = load_config(config_path)
    cluster = Cluster(config.target.kubeconfig, config.target.context, name="target")
    try:
        stored = helm.read_release(cluster, args.release, args.namespace)
    except NotFound as exc:  # a release name or namespace that is not there is an argument to fix
        raise BadInput(exc.message, fix=exc.fix) from None
    refuse_other_charts(str(stored.chart_metadata.get("name", "")),
                        f"release {args.release} ({args.namespace}, revision {stored.revision})")
    kubernetes = parse_kubernetes_version(cluster.ping())
    return Deployed(planner.release_side(stored, kubernetes), stored.config, stored.chart_values)


def check_arguments(args: argparse.Namespace) -> None:
    """Every argument is checked before anything is read or written: one line naming it, exit 2."""
    if not helm_python_release_name_ok(args.release):
        raise BadInput(f"--release {args.release!r} is not a Helm release name",
                       fix="lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, "
                           "at most 53 characters (as helm requires), e.g. --release my-harbor")
    if len(args.namespace) > 63 or not DNS1123_LABEL.match(args.namespace):
        raise BadInput(f"--namespace {args.namespace!r} is not a Kubernetes namespace name",
                       fix="lower-case letters, digits and '-', starting and ending with a letter or digit, at "
                           "most 63 characters, e.g. --namespace harbor")
    refuse_unknown_components(args.accept_removed, "--accept-removed")
    out = Path(args.out)
    blocking = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise BadInput(f"--out {args.out}: {blocking} is a file, not a directory",
                       fix="give --out a directory (it is made if missing) for plan.json, junit.xml, report.md "
                           "and fix-values.yaml")


def helm_python_release_name_ok(name: str) -> bool:
    import helm_python

    try:
        helm_python.validate_release_name(name)
    except helm_python.HelmError:
        return False
    return True


def _from_ref(args: argparse.Namespace):
    from seatrial.runbook.upgrade import planner

    if not args.from_chart:
        return None
    return planner.ChartRef(args.from_chart, args.from_version, args.from_repo, args.from_values, args.from_set)


def upgrade_plan_command(args: argparse.Namespace, config_path: str) -> int:
    from seatrial.runbook.clients.helm_upgrade_values import upgrade_values
    from seatrial.runbook.upgrade import planner  # the Helm engine loads only for this command

    check_arguments(args)
    new = planner.ChartRef(args.chart, args.version, args.repo, args.values, args.sets)
    for option, ref in (("--chart", new), ("--from-chart", _from_ref(args))):
        shipped = ref.shipped() if ref else None
        if shipped is not None:
            print(f"{option} {ref.ref} {ref.version}: the chart seatrial ships ({shipped.name}), offline")
    given = new.values()
    new_chart = new.load()
    refuse_other_charts(new_chart.name, f"--chart {args.chart}")
    deployed = deployed_side(args, config_path)
    values = upgrade_values(args.values_policy, given, deployed.config, deployed.chart_values)
    plan = planner.make_plan(deployed.side, new_chart, values, release=args.release, namespace=args.namespace,
                             force=args.force, accept_removed=frozenset(args.accept_removed))
    out = Path(args.out)
    try:
        files = planner.write_outputs(plan, out)
    except OSError as exc:  # a read-only place, a full disk: the argument names where
        raise BadInput(f"--out {args.out}: cannot write the plan there ({exc.strerror or type(exc).__name__})",
                       fix="give --out a directory this user can write") from None
    code, output = planner.run_checks(files["plan"], out / planner.JUNIT_FILE)
    for line in planner.summary(plan, files):
        print(line)
    print(f"junit: {out / planner.JUNIT_FILE}")
    if code not in (0, 1) or code != plan.exit_code:  # the checks could not run as planned: say why
        print(output[-2000:])
        return code if code in (2, 3) else 1
    return plan.exit_code
