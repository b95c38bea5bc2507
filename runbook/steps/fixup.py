"""fixup: values that cannot travel between clusters (a Service's static loadBalancerIP, its annotations).

Two ways, by `fixup.mode`: `resource-modifier` gives the restore a Velero resource-modifier ConfigMap
so the Services are created right; `patch` patches them on the target after the restore.
"""

from __future__ import annotations

import json
import re

from runbook.config import Config
from runbook.steps.context import StepContext

MODIFIER_CONFIGMAP = "seatrial-fixup"


def modifier_rules(cfg: Config) -> list[dict]:
    """Velero resource-modifier rules; `add` because `replace` fails when the path is absent."""
    rules = []
    for name, fix in sorted(cfg.fixup.services.items()):
        patches = []
        if fix.load_balancer_ip:
            patches.append({"operation": "add", "path": "/spec/loadBalancerIP", "value": fix.load_balancer_ip})
        for key, value in sorted((fix.annotations or {}).items()):
            patches.append({"operation": "add", "path": "/metadata/annotations/" + key.replace("~", "~0").replace(
                "/", "~1"), "value": _as_string(value)})
        if patches:
            rules.append({"conditions": {"groupResource": "services", "resourceNameRegex": f"^{name}$",
                                         "namespaces": [cfg.source.namespace]}, "patches": patches})
    return rules


_UNQUOTED_BY_VELERO = re.compile(r"^(true|false|null|-?\d+(\.\d+)?([eE][-+]?\d+)?)$|^[{\[]", re.IGNORECASE)


def _as_string(value: object) -> str:
    """An annotation value as Velero's resource modifier keeps it a string: addQuotes passes `true`, `null`,
    numbers and `{`/`[` values through as JSON (json_patch.go), so an annotation `"true"` would become a boolean and
    the Service would be refused; since v1.14 a value in double quotes is the string inside them."""
    text = str(value)
    return json.dumps(text) if _UNQUOTED_BY_VELERO.match(text) else text


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
        rules = [f"{rule['conditions']['resourceNameRegex']}: " + ", ".join(
            f"{p['operation']} {p['path']}={p['value']}" for p in rule["patches"]) for rule in modifier_rules(cfg)]
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
