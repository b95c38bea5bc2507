"""fixup: values that cannot travel between clusters (a Service's static loadBalancerIP, its annotations).

Two ways, by `fixup.mode`: `resource-modifier` gives the restore a Velero resource-modifier ConfigMap
so the Services are created right; `patch` patches them on the target after the restore.
"""

from __future__ import annotations

import json

from seatrial.runbook.config import Config
from seatrial.runbook.migration.steps.context import StepContext

MODIFIER_CONFIGMAP = "seatrial-fixup"


def modifier_rules(cfg: Config) -> list[dict]:
    """Velero resource-modifier rules. The address is a JSON-patch `add` (`replace` fails when the path is absent).
    Annotations are a merge patch (Velero 1.13+): a JSON-patch `add` to /metadata/annotations/<key> fails on a
    Service without the map, and Velero then does not restore that Service; a merge patch creates the map, keeps
    the annotations already there, and its values stay strings (no addQuotes)."""
    rules = []
    for name, fix in sorted(cfg.fixup.services.items()):
        conditions = {"groupResource": "services", "resourceNameRegex": f"^{name}$",
                      "namespaces": [cfg.source.namespace]}
        if fix.load_balancer_ip:
            rules.append({"conditions": conditions, "patches": [
                {"operation": "add", "path": "/spec/loadBalancerIP", "value": fix.load_balancer_ip}]})
        if fix.annotations:
            annotations = {key: str(value) for key, value in sorted(fix.annotations.items())}
            rules.append({"conditions": dict(conditions), "mergePatches": [
                {"patchData": json.dumps({"metadata": {"annotations": annotations}})}]})
    return rules


def _describe(rule: dict) -> str:
    if "patches" in rule:
        return ", ".join(f"{p['operation']} {p['path']}={p['value']}" for p in rule["patches"])
    return ", ".join(f"merge {p['patchData']}" for p in rule["mergePatches"])


def _patches(cfg: Config) -> dict[str, dict]:
    result = {}
    for name, fix in cfg.fixup.services.items():
        body: dict = {}
        if fix.load_balancer_ip:
            body["spec"] = {"loadBalancerIP": fix.load_balancer_ip}
        if fix.annotations:
            body["metadata"] = {"annotations": dict(fix.annotations)}
        if body:
            result[name] = body
    return result


def plan(ctx: StepContext) -> list[str]:
    cfg = ctx.config
    if cfg.fixup.mode == "resource-modifier":
        rules = [f"{rule['conditions']['resourceNameRegex']}: " + _describe(rule) for rule in modifier_rules(cfg)]
        return [f"nothing to patch: the restore applies the resource modifiers of ConfigMap {MODIFIER_CONFIGMAP} "
                f"(Services {'; '.join(rules) or 'none'})"]
    return [f"patch Service {cfg.target.namespace}/{name} on target: {body}" for name, body in _patches(cfg).items()]


def apply(ctx: StepContext) -> dict:
    cfg = ctx.config
    if cfg.fixup.mode == "resource-modifier" or ctx.dry_run:
        return {"mode": cfg.fixup.mode}
    patched = []
    for name, body in _patches(cfg).items():
        ctx.target.patch("v1", "Service", name, cfg.target.namespace, body)
        patched.append(name)
        ctx.say(f"  patched Service {cfg.target.namespace}/{name}")
    return {"mode": "patch", "patched": patched}
