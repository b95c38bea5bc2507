"""annotate: opt the namespace's pod volumes into file-system backup, and deliberately out (Redis).

seatrial's Backup sets defaultVolumesToFsBackup, which covers every pod volume except the opted-out
ones. Exclusions go on the live pods by pod VOLUME name (`backup.velero.io/backup-volumes-excludes`,
with the trailing s), which is what Velero reads at backup time; annotating the pod template instead
would roll the pods, and pods that are not Running are silently skipped.
"""

from __future__ import annotations

from runbook.steps.context import StepContext
from runbook.volumes import excluded_here

EXCLUDES = "backup.velero.io/backup-volumes-excludes"


def _wanted(ctx: StepContext) -> list[tuple[dict, list[str]]]:
    ns = ctx.config.source.namespace
    result = []
    for pod in ctx.source.list("v1", "Pod", ns):
        volumes = [v["name"] for v in pod.get("spec", {}).get("volumes") or [] if v.get("persistentVolumeClaim")]
        excluded = [v for v in volumes if excluded_here(ctx.config.volumes.exclude, pod["metadata"]["name"], v)]
        result.append((pod, excluded))
    return result


def plan(ctx: StepContext) -> list[str]:
    lines = [f"Backup will set defaultVolumesToFsBackup=true for namespace {ctx.config.source.namespace}"]
    for pod, excluded in _wanted(ctx):
        if excluded:
            lines.append(f"annotate pod {pod['metadata']['name']} {EXCLUDES}={','.join(excluded)}")
    return lines


def apply(ctx: StepContext) -> dict:
    ns = ctx.config.source.namespace
    annotated = []
    for pod, excluded in _wanted(ctx):
        if not excluded:
            continue
        name = pod["metadata"]["name"]
        current = (pod["metadata"].get("annotations") or {}).get(EXCLUDES, "")
        value = ",".join(sorted(set(filter(None, current.split(","))) | set(excluded)))
        if value != current and not ctx.dry_run:
            ctx.source.patch("v1", "Pod", name, ns, {"metadata": {"annotations": {EXCLUDES: value}}})
        annotated.append(f"{name}:{value}")
        ctx.say(f"  pod {ns}/{name}: {EXCLUDES}={value}")
    return {"mode": "default", "excluded": annotated}
