"""fixup: values that cannot travel (a static loadBalancerIP) carry the target's addresses."""

from __future__ import annotations

from seatrial.checks.context import CheckContext
from seatrial.checks.verdict import expect, live

ADDRESS_ANNOTATIONS = frozenset({"metallb.universe.tf/loadBalancerIPs", "metallb.io/loadBalancerIPs",
                                 "io.cilium/lb-ipam-ips", "lbipam.cilium.io/ips"})


def _load_balancers(ctx: CheckContext) -> list[dict]:
    return [s for s in ctx.objects("target", "v1", "Service", ctx.config.target.namespace)
            if (s.get("spec") or {}).get("type") == "LoadBalancer"]


@live("service", _load_balancers, ids=lambda s: f"{s['metadata']['namespace']}/{s['metadata']['name']}",
      allow_empty=True, empty="LoadBalancer Service")
def test_service_has_target_address(ctx: CheckContext, service):
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    ip = service["spec"].get("loadBalancerIP")
    source = next((s for s in ctx.objects("source", "v1", "Service", ctx.config.source.namespace)
                   if s["metadata"]["name"] == name), {})
    wanted = ctx.config.fixup.services.get(name)
    if wanted is not None and wanted.load_balancer_ip:
        expect(ip == wanted.load_balancer_ip, f"Service {ns}/{name} does not carry the configured target address",
               f"loadBalancerIP={ip!r} (configured {wanted.load_balancer_ip})", "run the fixup step")
        for key, value in (wanted.annotations or {}).items():
            got = (service["metadata"].get("annotations") or {}).get(key)
            expect(got == value, f"Service {ns}/{name}: annotation {key} is not the configured one",
                   f"{key}={got!r}", "run the fixup step")
    else:
        source_ip = (source.get("spec") or {}).get("loadBalancerIP")
        expect(not ip or ip != source_ip,
               f"Service {ns}/{name} still has the source's static loadBalancerIP, which does not fit the target",
               f"loadBalancerIP={ip}", f"add fixup.services.{name}.loadBalancerIP: <target address> and run fixup")
    # MetalLB and Cilium take a static address from an annotation too; it travels unchanged with the Service
    configured = set((wanted.annotations or {}) if wanted is not None else {})
    for key in ADDRESS_ANNOTATIONS - configured:
        value = (service["metadata"].get("annotations") or {}).get(key)
        expect(not value or value != (source.get("metadata", {}).get("annotations") or {}).get(key),
               f"Service {ns}/{name} still carries the source's address in annotation {key}, which does not fit "
               "the target", f"{key}={value}",
               f"add fixup.services.{name}.annotations: {{{key}: <target address>}} and run fixup")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    expect(bool(ingress), f"Service {ns}/{name} got no load-balancer address on the target",
           f"status.loadBalancer={service.get('status', {}).get('loadBalancer')}",
           "the address is outside the target's load-balancer pool: fix fixup.services in the configuration")
