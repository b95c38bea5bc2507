"""The upgrade step's work, apart from the step's shape (seatrial.runbook/steps/upgrade.py): the guard on the live
release, what is recorded before (PVC objects, inventory), the upgrade through the engine (three-way merge,
never replace), and the wait for every rollout that names a stuck one and can roll back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seatrial.runbook.clients import helm
from seatrial.runbook.clients.helm_upgrade_values import UpgradeValues, upgrade_values
from seatrial.runbook.errors import CheckFailed, WaitTimeout
from seatrial.runbook.upgrade import planner
from seatrial.runbook.upgrade.guard import Plan
from seatrial.runbook.upgrade.harbor_chart import refuse_other_charts
from seatrial.runbook.upgrade.immutable import parse_kubernetes_version
from seatrial.runbook.upgrade.objects import name_of, of_kind
from seatrial.runbook.upgrade.rollout import KINDS, RolloutState, observe
from seatrial.runbook.upgrade.rollouts import strategy_key
from seatrial.runbook.wait import wait_until

RECORD_FILE = "upgrade.json"
INVENTORY_FILE = "upgrade-inventory.json"
PLAN_DIR = "upgrade-plan"
STUCK_AFTER_S = 120.0  # a pod waiting this long for a volume another pod holds is a stuck rollout


class RolloutStuck(CheckFailed):
    guide = "a-rollout-is-stuck-on-a-readwriteonce-volume"


@dataclass
class Guarded:
    plan: Plan
    chart: helm.Chart
    values: UpgradeValues  # what is passed to the engine (`given`, `policy`) and what it deploys (`for_render`)
    stored: helm.StoredRelease
    files: dict[str, Path]


def values_policy(upgrade) -> str:
    """The `upgrade:` section's values policy: `reuse_values: true` is helm's --reset-then-reuse-values; without
    it, helm's own rule (no values given: the deployed ones)."""
    return "reset-then-reuse" if upgrade.reuse_values else "default"


def guard(cluster, upgrade, *, release: str, namespace: str, run_dir: Path, say: Callable[[str], None]) -> Guarded:
    """The plan of `seatrial upgrade-plan` on the live release, rendered with the values the engine will deploy;
    its checks' JUnit beside the steps'. The local inputs are read before the cluster: bad input is told first."""
    given = planner.user_values([str(p) for p in upgrade.values], list(upgrade.set), "upgrade.values")
    chart = planner.ChartRef(upgrade.chart, upgrade.version, upgrade.repo).load()
    refuse_other_charts(chart.name, f"upgrade.chart {upgrade.chart}")
    stored = helm.read_release(cluster, release, namespace)
    # the deployed values (secrets among them) stay out of seatrial.yaml and its files
    values = upgrade_values(values_policy(upgrade), given, stored.config, stored.chart_values)
    kubernetes = parse_kubernetes_version(cluster.ping())
    plan = planner.make_plan(planner.release_side(stored, kubernetes), chart, values, release=release,
                             namespace=namespace, accept_removed=frozenset(upgrade.accept_removed))
    files = planner.write_outputs(plan, run_dir / PLAN_DIR)
    junit = run_dir / "junit" / "upgrade-plan.xml"
    junit.parent.mkdir(parents=True, exist_ok=True)
    planner.run_checks(files["plan"], junit)
    for line in planner.summary(plan, files):
        say(f"  {line}")
    return Guarded(plan, chart, values, stored, files)


def pvc_objects(cluster, namespace: str) -> dict[str, dict]:
    return {name_of(p): {"uid": p["metadata"].get("uid"), "volumeName": (p.get("spec") or {}).get("volumeName"),
                         "phase": (p.get("status") or {}).get("phase")}
            for p in cluster.list("v1", "PersistentVolumeClaim", namespace)}


def record(run_dir: Path, data: dict) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RECORD_FILE
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


def read_record(run_dir: Path) -> dict | None:
    path = run_dir / RECORD_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def workloads(manifests: list[dict]) -> list[tuple[str, str]]:
    return [(o["kind"], name_of(o)) for o in of_kind(manifests, *KINDS)]


def wait_for_rollouts(cluster, namespace: str, targets: list[tuple[str, str]], *, timeout: float,
                      strategy: str | None, say: Callable[[str], None], stuck_after: float = STUCK_AFTER_S
                      ) -> RolloutState:
    first_seen: dict[str, float] = {}

    def probe() -> RolloutState:
        state = observe(cluster, namespace, targets, strategy)
        now = time.monotonic()
        for stuck in state.stuck:
            since = first_seen.setdefault(f"{stuck.pod}/{stuck.pvc}", now)
            if now - since >= stuck_after:
                raise RolloutStuck(f"rollout of {stuck.workload} is stuck: pod {stuck.pod} cannot start: {stuck.cause}",
                                   fix=stuck.fix)
        return state

    try:
        return wait_until(probe, timeout=timeout, interval=2.0, what="the rollouts of the upgrade",
                          progress=lambda state: f"  {state.describe()}" if state is not None else "  ...",
                          on_progress=say)
    except WaitTimeout as exc:
        state = observe(cluster, namespace, targets, strategy)
        if state.stuck:
            stuck = state.stuck[0]
            raise RolloutStuck(f"rollout of {stuck.workload} is stuck: pod {stuck.pod} cannot start: {stuck.cause}",
                               fix=stuck.fix) from None
        raise WaitTimeout(f"the upgrade's rollouts did not finish in {timeout:.0f}s: {state.describe()}",
                          fix="kubectl -n " + namespace + " describe pod <the pods named>; then run the step again"
                          ) from exc


def upgrade_and_wait(engine: helm.Helm, guarded: Guarded, cluster, *, release: str, namespace: str,
                     timeout: float, rollback_on_failure: bool, say: Callable[[str], None],
                     stuck_after: float = STUCK_AFTER_S) -> dict:
    """helm upgrade (a patch, never --force), then every rollout; on failure roll back when asked."""
    chart = guarded.chart
    say(f"  helm upgrade {release} -> {chart.name}-{chart.version} (three-way merge; never replace)")
    done = engine.upgrade(chart, release, guarded.values.given, wait=False, timeout_s=int(timeout),
                          policy=guarded.values.policy)
    rendered = chart.render(guarded.values.for_render(chart.values), release=release, namespace=namespace,
                            is_upgrade=True)
    try:
        wait_for_rollouts(cluster, namespace, workloads(rendered), timeout=timeout,
                          strategy=strategy_key(chart.values), say=say, stuck_after=stuck_after)
    except (RolloutStuck, WaitTimeout) as exc:
        if rollback_on_failure:
            say(f"  rolling release {release} back to revision {guarded.stored.revision} (--rollback-on-failure)")
            engine.rollback(release, guarded.stored.revision)
            exc.message += f" (rolled back to revision {guarded.stored.revision})"
        raise
    return done if isinstance(done, dict) else {}
