"""annotate: opt the namespace's pod volumes into file-system backup, and deliberately out (Redis).

seatrial's Backup sets defaultVolumesToFsBackup, which covers every pod volume except the opted-out
ones. Exclusions go on the live pods by pod VOLUME name (`backup.velero.io/backup-volumes-excludes`,
with the trailing s), which is what Velero reads at backup time; annotating the pod template instead
would roll the pods, and pods that are not Running are silently skipped.

The configuration's `volumes.exclude` is the one record of what is left out on purpose: an exclusion
found on a pod that the configuration does not name is removed (and said), so that no volume is left
behind by an annotation someone forgot.

One LIST of the namespace's pods; only the pods whose annotation differs are patched, a bounded
number at a time (PATCH_WORKERS), so a re-run on pods already right makes no write at all.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.migration.volumes import excluded_here

EXCLUDES = "backup.velero.io/backup-volumes-excludes"
PATCH_WORKERS = 8  # concurrent PATCHes: enough to hide round trips, few enough not to load the API server


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


def _changes(wanted: list[tuple[dict, list[str]]]) -> list[tuple[str, list[str], list[str]]]:
    """(pod name, current exclusions, wanted exclusions) for each pod whose annotation must change."""
    changes = []
    for pod, excluded in wanted:
        current = _current(pod)
        if sorted(current) != sorted(excluded):
            changes.append((pod["metadata"]["name"], current, sorted(excluded)))
    return changes


def plan(ctx: StepContext) -> list[str]:
    ns = ctx.config.source.namespace
    lines = [f"Backup will set defaultVolumesToFsBackup=true for namespace {ns} (every pod volume except the "
             f"excluded ones); exclusions from volumes.exclude: {list(ctx.config.volumes.exclude) or 'none'}"]
    for name, current, wanted in _changes(_wanted(ctx)):
        lines.append(f"PATCH pod {ns}/{name} on source: {EXCLUDES}={','.join(wanted) or '(removed)'}"
                     + (f" (now {','.join(current)})" if current else ""))
    return lines


def apply(ctx: StepContext) -> dict:
    ns = ctx.config.source.namespace
    if ctx.dry_run:
        return {}
    pods = _wanted(ctx)
    changes = _changes(pods)

    def patch(change: tuple[str, list[str], list[str]]) -> None:
        name, _current_value, wanted = change  # JSON merge patch: null removes the annotation
        ctx.source.patch("v1", "Pod", name, ns, {"metadata": {"annotations": {EXCLUDES: ",".join(wanted) or None}}})

    with ThreadPoolExecutor(max_workers=PATCH_WORKERS, thread_name_prefix="annotate") as pool:
        done = pool.map(patch, changes)  # in order; the first failure is raised here
        for (name, current, wanted), _ in zip(changes, done, strict=True):
            unknown = sorted(set(current) - set(wanted))
            if unknown:
                ctx.say(f"  pod {ns}/{name}: {','.join(unknown)} was excluded by an annotation that volumes.exclude "
                        "does not name; it will be backed up (list it in volumes.exclude if leaving it out is meant)")
            ctx.say(f"  pod {ns}/{name}: {EXCLUDES}={','.join(wanted) or '(removed)'}")
    excluded = [f"{pod['metadata']['name']}:{','.join(volumes)}" for pod, volumes in pods if volumes]
    return {"mode": "default", "excluded": excluded, "patched": len(changes)}
