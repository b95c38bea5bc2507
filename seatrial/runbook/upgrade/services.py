"""Finding 8: a Service whose static address or type changes (clients lose the address they use;
Kubernetes refuses a changed clusterIP)."""

from __future__ import annotations

from seatrial.runbook.upgrade.findings import FAIL, Finding, ok
from seatrial.runbook.upgrade.objects import by_ref

ADDRESS_FIELDS = ("type", "clusterIP", "loadBalancerIP", "externalIPs", "externalName")


def _node_ports(spec: dict) -> dict:
    return {(p.get("name"), p.get("port")): p.get("nodePort") for p in spec.get("ports") or [] if p.get("nodePort")}


def check(old: list[dict], new: list[dict], namespace: str) -> list[Finding]:
    before_all, after_all = by_ref(old), by_ref(new)
    findings = []
    for key, before in before_all.items():
        if before.get("kind") != "Service" or key not in after_all:
            continue
        old_spec, new_spec = before.get("spec") or {}, after_all[key].get("spec") or {}
        changes = [f"{f}: {old_spec.get(f)!r} -> {new_spec.get(f)!r}" for f in ADDRESS_FIELDS
                   if (old_spec.get(f) or (f == "type" and "ClusterIP")) != (new_spec.get(f) or
                                                                             (f == "type" and "ClusterIP"))]
        old_ports, new_ports = _node_ports(old_spec), _node_ports(new_spec)
        changes += [f"nodePort of {port}: {node} -> {new_ports.get(port)!r}" for port, node in old_ports.items()
                    if new_ports.get(port) != node]
        if not changes:
            findings.append(ok("service_address_kept", key))
            continue
        refused = any(c.startswith("clusterIP") for c in changes)
        findings.append(Finding("service_address_kept", key, FAIL,
                                f"{namespace}/{key}: its " + ("clusterIP changes (Kubernetes refuses the update)"
                                                               if refused else "address or type changes: its clients "
                                                               "lose the address they use"),
                                "; ".join(changes),
                                "carry the deployed address into the new values (expose.type, loadBalancerIP, "
                                "nodePorts); for a target cluster, seatrial's fixup mappings"))
    return findings
