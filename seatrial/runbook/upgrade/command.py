"""The `seatrial upgrade-plan` command: arguments -> both sides -> the guard -> checks, files, exit code."""

from __future__ import annotations

import argparse
from pathlib import Path

from seatrial.runbook.errors import BadInput


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
    plan.add_argument("--force", action="store_true", help="replace semantics: always refused (the check says why)")
    plan.add_argument("--out", default="upgrade-plan", metavar="DIR",
                      help="where plan.json, junit.xml, report.md and fix-values.yaml go (default: ./upgrade-plan)")


def deployed_side(args: argparse.Namespace, config_path: str):
    from seatrial.runbook.upgrade import planner

    if args.from_chart:
        chart = _from_ref(args).load()
        values = planner.user_values(args.from_values, args.from_set, "--from-values")
        return planner.chart_side(chart, values, release=args.release, namespace=args.namespace, upgrade=False)
    if args.from_values or args.from_set or args.from_version or args.from_repo:
        raise BadInput("--from-values/--from-set/--from-version/--from-repo need --from-chart",
                       fix="add --from-chart REF (offline), or drop them to read the live release (-c seatrial.yaml)")
    from seatrial.runbook.clients import helm
    from seatrial.runbook.clients.kube import Cluster
    from seatrial.runbook.config import load_config
    from seatrial.runbook.errors import NotFound

    config = load_config(config_path)
    cluster = Cluster(config.target.kubeconfig, config.target.context, name="target")
    try:
        return planner.release_side(helm.read_release(cluster, args.release, args.namespace))
    except NotFound as exc:  # a release name or namespace that is not there is an argument to fix
        raise BadInput(exc.message, fix=exc.fix) from None


def _from_ref(args: argparse.Namespace):
    from seatrial.runbook.upgrade import planner

    if not args.from_chart:
        return None
    return planner.ChartRef(args.from_chart, args.from_version, args.from_repo, args.from_values, args.from_set)


def upgrade_plan_command(args: argparse.Namespace, config_path: str) -> int:
    from seatrial.runbook.upgrade import planner  # the Helm engine loads only for this command

    new = planner.ChartRef(args.chart, args.version, args.repo, args.values, args.sets)
    for option, ref in (("--chart", new), ("--from-chart", _from_ref(args))):
        shipped = ref.shipped() if ref else None
        if shipped is not None:
            print(f"{option} {ref.ref} {ref.version}: the chart seatrial ships ({shipped.name}), offline")
    new_values = new.values()
    deployed = deployed_side(args, config_path)
    plan = planner.make_plan(deployed, new.load(), new_values, release=args.release, namespace=args.namespace,
                             force=args.force, accept_removed=frozenset(args.accept_removed))
    out = Path(args.out)
    files = planner.write_outputs(plan, out)
    code, output = planner.run_checks(files["plan"], out / planner.JUNIT_FILE)
    for line in planner.summary(plan, files):
        print(line)
    print(f"junit: {out / planner.JUNIT_FILE}")
    if code not in (0, 1) or code != plan.exit_code:  # the checks could not run as planned: say why
        print(output[-2000:])
        return code if code in (2, 3) else 1
    return plan.exit_code
