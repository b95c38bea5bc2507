"""Whether a source volume is empty, as a fact about the volume: a PodVolumeBackup that carried 0 bytes (or took no
snapshot) is right only for a volume shown empty. A node-agent that reads the wrong directory (a mount-path
mismatch) reports exactly that, Completed with 0 bytes, for a volume full of data.

Two witnesses, either one enough to show data:
- the kubelet's volume stats (`/api/v1/nodes/{node}/proxy/stats/summary`: the pod's `volume[]` entry with
  `pvcRef` and `usedBytes`), read once per node;
- for Harbor, what the application says must be there: its registry volume holds at least the largest artifact
  of the golden inventory (every blob of an artifact is a file there), its database volume is never empty for a
  Harbor that answered (the golden inventory was read from it).
Shown empty only by the kubelet; with neither witness the volume's content is unknown: not judged, never green.
"""

from __future__ import annotations

from dataclasses import dataclass

from seatrial.checks.context import CheckContext
from seatrial.checks.facts import PodVolume, pods
from seatrial.runbook.errors import SeatrialError

# What a filesystem without any file content reports used: its directories (root, lost+found: 4-16 KiB each on
# ext4) and, on a fresh ext4 as Rook RBD formats it, some metadata blocks. A database or a registry with a single
# image is far above it.
EMPTY_VOLUME_MAX_USED_BYTES = 1024 * 1024
HARBOR_DATABASE_VOLUME = "database-data"  # the chart's database StatefulSet's volume (claim template) name
HARBOR_REGISTRY_VOLUME = "registry-data"


@dataclass(frozen=True)
class Emptiness:
    """`verdict`: "empty", "holds data" or "unknown"; `evidence`: what showed it (or why nothing could)."""

    verdict: str
    evidence: str
    floor: int = 0  # bytes the volume holds at least (0: not known)


@dataclass(frozen=True)
class KubeletUsage:
    used_bytes: int
    inodes_used: int | None
    node: str

    def __str__(self) -> str:
        inodes = f", inodesUsed {self.inodes_used}" if self.inodes_used is not None else ""
        return f"the kubelet of node {self.node} reports usedBytes {self.used_bytes}{inodes}"


def kubelet_usage(ctx: CheckContext, side: str) -> tuple[dict[str, KubeletUsage], dict[str, str]]:
    """({PVC name: its usage}, {node: why its kubelet stats could not be read}) for the namespace's pods' nodes,
    one stats read per node (built once)."""
    def build() -> tuple[dict[str, KubeletUsage], dict[str, str]]:
        namespace = ctx.namespace(side)
        nodes = sorted({(p.get("spec") or {}).get("nodeName") for p in pods(ctx, side)} - {None, ""})
        usage: dict[str, KubeletUsage] = {}
        unread: dict[str, str] = {}
        for node in nodes:
            try:
                summary = ctx.cluster(side).kubelet_stats(node)
            except SeatrialError as exc:
                unread[node] = " ".join(exc.message.split())[:300]
                continue
            for pod in summary.get("pods") or []:
                for volume in pod.get("volume") or []:
                    ref = volume.get("pvcRef") or {}
                    used = volume.get("usedBytes")
                    if ref.get("namespace") == namespace and ref.get("name") and isinstance(used, int):
                        inodes = volume.get("inodesUsed")
                        usage[ref["name"]] = KubeletUsage(used, inodes if isinstance(inodes, int) else None, node)
        return usage, unread

    return ctx.memo(("kubelet-usage", side), build)


def harbor_floor(ctx: CheckContext, volume: PodVolume) -> tuple[int, str] | None:
    """(bytes the volume holds at least, why) from what the source Harbor says, for its database and registry
    volumes; None for any other volume or when Harbor's inventory is not known."""
    release = ctx.config.source.release
    if (volume.owner, volume.volume) not in ((f"StatefulSet/{release}-database", HARBOR_DATABASE_VOLUME),
                                             (f"Deployment/{release}-registry", HARBOR_REGISTRY_VOLUME)):
        return None
    try:
        golden = ctx.golden_inventory()
    except SeatrialError:
        golden = None
    if golden is None:
        return None
    if volume.volume == HARBOR_DATABASE_VOLUME:
        return 1, (f"Harbor {golden.get('harbor_url', '')} answered at the freeze (its golden inventory holds "
                   f"{len(golden.get('projects') or {})} project(s)): its PostgreSQL database is never empty")
    from seatrial.runbook.migration.inventory import Inventory

    records = Inventory.from_json(golden).artifact_records()
    sizes = [r.get("size") or 0 for r in records]
    if not sizes or max(sizes) <= 0:
        return None
    return max(sizes), (f"the golden inventory holds {len(records)} artifact(s), the largest of {max(sizes)} bytes: "
                        "its blobs are files on the registry volume")


def source_volume_emptiness(ctx: CheckContext, volume: PodVolume) -> Emptiness:
    floor = harbor_floor(ctx, volume)
    usage, unread = kubelet_usage(ctx, "source")
    seen = usage.get(volume.pvc)
    if floor is not None:
        return Emptiness("holds data", floor[1] + (f"; {seen}" if seen else ""), floor=floor[0])
    if seen is not None:
        verdict = "holds data" if seen.used_bytes > EMPTY_VOLUME_MAX_USED_BYTES else "empty"
        return Emptiness(verdict, f"{seen} for PVC {volume.pvc} (an empty filesystem uses at most "
                                  f"{EMPTY_VOLUME_MAX_USED_BYTES} bytes)")
    node = next((p.get("spec", {}).get("nodeName") for p in pods(ctx, "source")
                 if p["metadata"]["name"] == volume.pod), None)
    why = unread.get(node) or (f"the kubelet of node {node} lists no stats for PVC {volume.pvc}" if node
                               else f"pod {volume.pod} runs on no node")
    return Emptiness("unknown", f"the source volume's usage is unknown: {why}")


def how_to_judge(ctx: CheckContext) -> str:
    source = ctx.config.source.context
    return (f"let the user of context {source!r} read the kubelet's stats (kubectl --context {source} auth can-i get "
            f"nodes --subresource=proxy; kubectl --context {source} get --raw /api/v1/nodes/NODE/proxy/stats/summary "
            "must answer), or look into the volume (kubectl exec ... du -s) and list it in volumes.exclude if it is "
            "really empty")


def shown_empty(ctx: CheckContext, volume: PodVolume, claim: str) -> str:
    """The evidence that the source volume is empty, for a check whose object (`claim`) says it carried nothing;
    fails when the volume holds data, skips as not judged when nothing shows its content."""
    __tracebackhide__ = True
    import pytest

    from seatrial.checks.verdict import fail

    shown = source_volume_emptiness(ctx, volume)
    if shown.verdict == "holds data":
        # the kubelet alone counts what a filesystem uses for itself too (a fresh XFS's log is tens of MiB)
        unless = "" if shown.floor else (f"; if `kubectl exec` shows the volume holds no file, list "
                                         f"'{volume.owner.split('/', 1)[1]}:{volume.volume}' in volumes.exclude")
        fail(f"{volume}: {claim}, but the source volume holds data -- the target would get an EMPTY volume",
             f"{claim}; {shown.evidence}", wrong_directory_fix(ctx) + unless)
    if shown.verdict == "unknown":
        pytest.skip(f"not judged: {shown.evidence}; {claim}, which is right only for an empty volume. To judge it: "
                    f"{how_to_judge(ctx)}")
    return shown.evidence


def wrong_directory_fix(ctx: CheckContext) -> str:
    return (f"the node-agent read another directory than the pod's volume (a mount-path mismatch): check its "
            f"host-pods mount against the kubelet's root dir (kubectl -n {ctx.config.velero.namespace} get ds "
            "node-agent -o yaml; the default is /var/lib/kubelet/pods), fix it and back up again")
