"""annotate: opt the namespace's pod volumes into file-system backup, and deliberately out (Redis).

seatrial's Backup sets defaultVolumesToFsBackup, which covers every pod volume except the opted-out
ones. Exclusions go on the live pods by pod VOLUME name (`backup.velero.io/backup-volumes-excludes`,
with the trailing s), which is what Velero reads at backup time; annotating the pod template instead
would roll the pods, and pods that are not Running are silently skipped.

The configuration's `volumes.exclude` is the one record of what is left out on purpose: an exclusion
found on a pod that the configuration does not name is removed (and said), so that no volume is left
behind by an annotation someone forgot.
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


def _current(pod: dict) -> list[str]:
    value = (pod["metadata"].get("annotations") or {}).get(EXCLUDES, "")
    return [v for v in value.split(",") if v]


def _changes(ctx: StepContext) -> list[tuple[str, list[str], list[str]]]:
    """(pod name, current exclusions, wanted exclusions) for each pod whose annotation must change."""
    changes = []
    for pod, excluded in _wanted(ctx):
        current = _current(pod)
        if sorted(current) != sorted(excluded):
            changes.append((pod["metadata"]["name"], current, sorted(excluded)))
    return changes


def plan(ctx: StepContext) -> list[str]:
    ns = ctx.config.source.namespace
    lines = [f"Backup will set defaultVolumesToFsBackup=true for namespace {ns} (every pod volume except the "
             f"excluded ones); exclusions from volumes.exclude: {list(ctx.config.volumes.exclude) or 'none'}"]
    for name, current, wanted in _changes(ctx):
        lines.append(f"PATCH pod {ns}/{name} on source: {EXCLUDES}={','.join(wanted) or '(removed)'}"
                     + (f" (now {','.join(current)})" if current else ""))
    return lines


def apply(ctx: StepContext) -> dict:
    ns = ctx.config.source.namespace
    if ctx.dry_run:
        return {}
    for name, current, wanted in _changes(ctx):
        unknown = sorted(set(current) - set(wanted))
        if unknown:
            ctx.say(f"  pod {ns}/{name}: {','.join(unknown)} was excluded by an annotation that volumes.exclude "
                    "does not name; it will be backed up (list it in volumes.exclude if leaving it out is meant)")
        # JSON merge patch: null removes the annotation
        ctx.source.patch("v1", "Pod", name, ns, {"metadata": {"annotations": {EXCLUDES: ",".join(wanted) or None}}})
        ctx.say(f"  pod {ns}/{name}: {EXCLUDES}={','.join(wanted) or '(removed)'}")
    excluded = [f"{pod['metadata']['name']}:{','.join(volumes)}" for pod, volumes in _wanted(ctx) if volumes]
    return {"mode": "default", "excluded": excluded}
