"""preflight: both clusters, the bucket and Harbor are ready for the move, before anything changes."""

from __future__ import annotations

import base64
import hashlib

from seatrial.checks.context import CheckContext
from seatrial.checks.facts import VELERO_V1, pod_by_name, pod_volumes, pods, pvc_by_name, pvcs, pvs_by_name
from seatrial.checks.verdict import establishes, expect, fail, live

SIDES = ("source", "target")


def _velero(ctx: CheckContext, side: str, api_version: str, kind: str) -> list[dict]:
    return ctx.objects(side, api_version, kind, ctx.config.velero.namespace)


def _named(objects: list[dict], name: str) -> dict | None:
    return next((o for o in objects if o["metadata"]["name"] == name), None)


def _server(ctx: CheckContext, side: str) -> dict:
    """The Velero server's Deployment, found by name, by what it runs or by its labels
    (seatrial.runbook.clients.velero)."""
    __tracebackhide__ = True
    from seatrial.runbook.clients.velero import velero_server

    ns = ctx.config.velero.namespace
    deployments = _velero(ctx, side, "apps/v1", "Deployment")
    deployment = velero_server(deployments)
    if deployment is None:
        fail(f"{side}: no Velero server in namespace {ns} (no Deployment velero, none running `/velero server` or "
             "labelled component=velero / app.kubernetes.io/name=velero)",
             f"Deployments: {sorted(d['metadata']['name'] for d in deployments) or 'none'}",
             f"install Velero on the {side} cluster (velero install ... --use-node-agent, or the Helm chart), or "
             "set velero.namespace to where it runs")
    return deployment


@live("side", lambda ctx: SIDES)
def test_velero_server_ready(ctx: CheckContext, side: str, record_fact):
    ns = ctx.config.velero.namespace
    deployment = _server(ctx, side)
    name = deployment["metadata"]["name"]
    record_fact("deployment", name)
    ready = (deployment.get("status") or {}).get("readyReplicas") or 0
    expect(ready >= 1, f"{side}: Deployment {ns}/{name} (the Velero server) has no ready replica",
           f"readyReplicas={ready}",
           f"kubectl --context {ctx.cluster(side).context} -n {ns} describe deployment {name}")


@live("side", lambda ctx: SIDES)
def test_uploader_supported_by_the_server(ctx: CheckContext, side: str, record_fact):
    """Velero v1.17+ backs up with kopia only (ValidateUploaderType); each PodVolumeBackup records the uploader the
    server used (--uploader-type), which is what the checks follow, so the configuration must say the same."""
    from seatrial.runbook.clients.velero import RESTIC_LAST_BACKUP_VERSION, server_uploader, server_version

    deployment = _server(ctx, side)
    version, uploader = server_version(deployment), server_uploader(deployment)
    shown = "v" + ".".join(map(str, version)) if version else "unknown (image tag is not a version)"
    record_fact("velero_version", shown)
    record_fact("uploader", uploader)
    configured = ctx.config.velero.uploader
    if side == "source":
        expect(not (configured == "restic" and version and version[:2] > RESTIC_LAST_BACKUP_VERSION),
               f"source: Velero {shown} cannot back up with restic (v1.17 and later accept only kopia), but "
               "velero.uploader is restic", f"image {_image(deployment)}, --uploader-type={uploader}",
               "set velero.uploader: kopia (and install Velero with --uploader-type=kopia)")
        expect(uploader == configured,
               f"source: the Velero server uploads with {uploader}, the configuration says {configured}",
               f"Deployment {deployment['metadata']['name']}: --uploader-type={uploader} ({shown})",
               f"set velero.uploader: {uploader} in seatrial.yaml (or reinstall Velero with "
               f"--uploader-type={configured})")
    else:
        expect(not (configured == "restic" and version and version[:2] >= (1, 19)),
               f"target: Velero {shown} cannot restore restic backups (removed after v1.18)",
               f"image {_image(deployment)}", "restore with a Velero v1.16-v1.18 on the target")


def _image(deployment: dict) -> str:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return containers[0].get("image", "?") if containers else "?"


@live("side", lambda ctx: SIDES)
def test_node_agent_ready(ctx: CheckContext, side: str):
    ns = ctx.config.velero.namespace
    agent = _named(_velero(ctx, side, "apps/v1", "DaemonSet"), "node-agent")
    if agent is None:
        fail(f"{side}: no DaemonSet node-agent in namespace {ns}: file-system backup cannot run", "absent",
             "reinstall Velero with --use-node-agent")
    status = agent.get("status") or {}
    desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    expect(desired > 0 and ready == desired,
           f"{side}: node-agent is not ready on every node (a pod on a node without it makes the backup "
           "PartiallyFailed)", f"numberReady={ready} desiredNumberScheduled={desired}",
           f"kubectl --context {ctx.cluster(side).context} -n {ns} get pods -l name=node-agent -o wide")


def _nodes_with_volumes(ctx: CheckContext) -> list[str]:
    return sorted({p["spec"]["nodeName"] for p in pods(ctx, "source") if (p.get("spec") or {}).get("nodeName")
                   and any(v.get("persistentVolumeClaim") for v in p["spec"].get("volumes") or [])})


@live("node", _nodes_with_volumes, allow_empty=True, empty="node running a pod with a PVC")
def test_node_agent_on_the_nodes_of_the_volumes(ctx: CheckContext, node: str):
    """Velero backs up a pod's volumes through the node-agent on the pod's node (nodeagent.IsRunningInNode): a
    DaemonSet kept off a node (nodeSelector, taints) is "ready" everywhere it runs, and the backup still fails."""
    from seatrial.runbook.clients.velero import NODE_AGENT_POD_LABEL

    key, value = NODE_AGENT_POD_LABEL
    all_agents = [p for p in ctx.objects("source", "v1", "Pod", ctx.config.velero.namespace)
                  if (p["metadata"].get("labels") or {}).get(key) == value]
    agents = [p for p in all_agents if (p.get("spec") or {}).get("nodeName") == node
              and (p.get("status") or {}).get("phase") == "Running"]
    if not agents:
        here = sorted(p["metadata"]["name"] for p in pods(ctx, "source")
                      if (p.get("spec") or {}).get("nodeName") == node
                      and any(v.get("persistentVolumeClaim") for v in p["spec"].get("volumes") or []))
        running_on = sorted({(p.get("spec") or {}).get("nodeName") for p in all_agents})
        fail(f"source: no running node-agent on node {node}, where {', '.join(here)} keep volumes to back up: the "
             "backup would end PartiallyFailed without their data",
             f"node-agent pods run on: {running_on or 'no node'}",
             f"let the node-agent DaemonSet run on {node} (its nodeSelector, affinity and tolerations of the node's "
             f"taints): kubectl --context {ctx.cluster('source').context} -n {ctx.config.velero.namespace} get "
             "daemonset node-agent -o yaml")


def _location(ctx: CheckContext, side: str) -> dict | None:
    return _named(_velero(ctx, side, VELERO_V1, "BackupStorageLocation"), ctx.config.velero.storage_location)


@live("side", lambda ctx: SIDES)
def test_storage_location_available(ctx: CheckContext, side: str, record_fact):
    name = ctx.config.velero.storage_location
    location = _location(ctx, side)
    if location is None:
        fail(f"{side}: BackupStorageLocation {name} does not exist", "absent",
             f"create it on {side} with the same bucket and prefix (velero backup-location create {name} ...)")
    access = (location.get("spec") or {}).get("accessMode") or "ReadWrite"
    record_fact("access_mode", access)
    if side == "target" and access != "ReadOnly":  # a warning: Velero's migration guide, not a requirement
        record_fact("warning", f"target BackupStorageLocation {name} is {access}: Velero's migration guide asks for "
                               "ReadOnly on the restoring cluster, so that its GC and deletions cannot remove the "
                               f"source's backups (velero backup-location set {name} --access-mode ReadOnly)")
    phase = (location.get("status") or {}).get("phase")
    message = (location.get("status") or {}).get("message", "")
    expect(phase == "Available", f"{side}: BackupStorageLocation {name} is not Available",
           f"phase={phase!r} {message}".strip(),
           "check the bucket, the credentials secret and that nothing else lives under the prefix")


@live("side", lambda ctx: SIDES)
def test_storage_location_points_at_the_bucket(ctx: CheckContext, side: str):
    location = _location(ctx, side)
    if location is None:
        fail(f"{side}: BackupStorageLocation {ctx.config.velero.storage_location} does not exist", "absent",
             "create it (see test_storage_location_available)")
    storage = (location.get("spec") or {}).get("objectStorage") or {}
    observed = (storage.get("bucket"), (storage.get("prefix") or "").strip("/"))
    wanted = (ctx.config.storage.bucket, ctx.config.storage.prefix.strip("/"))
    expect(observed == wanted,
           f"{side}: BackupStorageLocation {location['metadata']['name']} points at another bucket/prefix than "
           "the configuration: the other cluster will never see the backup",
           f"bucket/prefix {observed[0]}/{observed[1]} (configured: {wanted[0]}/{wanted[1]})",
           "make both clusters' BSLs use the same bucket and prefix as storage.bucket/storage.prefix")


def _password_digest(ctx: CheckContext, side: str) -> str | None:
    secret = _named(_velero(ctx, side, "v1", "Secret"), "velero-repo-credentials")
    if secret is None:
        return None
    value = base64.b64decode((secret.get("data") or {}).get("repository-password", ""))
    return hashlib.sha256(value).hexdigest()  # compared, never shown


def test_repository_password_equal(ctx: CheckContext):
    source, target = _password_digest(ctx, "source"), _password_digest(ctx, "target")
    expect(source == target,
           "the repository password (secret velero-repo-credentials) differs between source and target: the "
           "target cannot open the source's restic/kopia repository",
           f"source {'set' if source else 'absent'}, target {'set' if target else 'absent'}, values differ",
           "copy the secret from source to target before the first restore (the value is not shown here)")


def test_target_namespace_absent(ctx: CheckContext):
    ns = ctx.config.target.namespace
    existing = [n for n in ctx.objects("target", "v1", "Namespace") if n["metadata"]["name"] == ns]
    if existing and ctx.journal.name("restore") and not ctx.restore_option:
        return  # this run's restore made it (preflight re-verified after the restore step)
    expect(not existing,
           f"target: namespace {ns} already exists: Velero would skip every existing object with an "
           "'already exists' warning and not restore their volume data",
           f"namespace {ns} phase {((existing or [{}])[0].get('status') or {}).get('phase')}",
           "if an earlier restore of this run made it: `seatrial reset-target` (deletes only what seatrial's "
           "restore made, asks first); otherwise check target.context and target.namespace")


def _planned_names(ctx: CheckContext) -> list[tuple[str, str]]:
    """The names this migration will use: given as options, chosen by the preflight step, or (for a
    migration run by hand without them) what the templates render now."""
    from seatrial.runbook.config import render_name

    names = []
    for kind, template, option in (("backup", ctx.config.velero.backup_name, ctx.backup_option),
                                   ("restore", ctx.config.velero.restore_name, ctx.restore_option)):
        planned = option or ctx.journal.name(f"planned_{kind}") or ctx.journal.name(kind)
        names.append((kind, planned or render_name(template, release=ctx.config.source.release,
                                                   namespace=ctx.config.source.namespace, key=f"velero.{kind}_name")))
    return names


@live("planned", _planned_names, ids=lambda p: f"{p[0]}:{p[1]}")
def test_name_unused(ctx: CheckContext, planned: tuple[str, str]):
    kind, name = planned
    if ctx.journal.name(kind) == name:
        return  # this run created it already (preflight re-verified after its step): the name is ours
    clash = []
    cr_kind = "Backup" if kind == "backup" else "Restore"
    for side in SIDES:
        if _named(_velero(ctx, side, VELERO_V1, cr_kind), name) is not None:
            clash.append(f"{cr_kind} {name} exists on {side}")
    if kind == "backup" and ctx.bucket.has_backup(name):
        clash.append(f"backups/{name}/velero-backup.json exists in the bucket")
    if kind == "restore" and name in ctx.bucket.list_restores():
        clash.append(f"restores/{name}/ exists in the bucket")
    expect(not clash, f"the {kind} name {name} is already used (Velero fails a backup whose name is in the bucket)",
           "; ".join(clash), f"use a template with {{timestamp}} or {{random}} in velero.{kind}_name")


DEFAULT_CLASS = "(default)"
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def _storage_classes(ctx: CheckContext) -> list[str]:
    return sorted({(p.get("spec") or {}).get("storageClassName") or DEFAULT_CLASS for p in pvcs(ctx, "source")})


@live("storage_class", _storage_classes, allow_empty=True, empty="PVC")
def test_storage_class_on_target(ctx: CheckContext, storage_class: str):
    mapping = ctx.config.volumes.storage_class_mapping
    wanted = mapping.get("" if storage_class == DEFAULT_CLASS else storage_class, storage_class)
    classes = ctx.objects("target", "storage.k8s.io/v1", "StorageClass")
    target_classes = {sc["metadata"]["name"] for sc in classes}
    if wanted == DEFAULT_CLASS:
        defaults = [sc for sc in classes if any((sc["metadata"].get("annotations") or {}).get(a) == "true"
                                                for a in DEFAULT_CLASS_ANNOTATIONS)]
        expect(bool(defaults), "source PVCs without a storageClassName need a default StorageClass on target; "
               "there is none: restored PVCs stay Pending", f"target StorageClasses: {sorted(target_classes)}",
               "mark one default (storageclass.kubernetes.io/is-default-class: \"true\") or map \"\" in "
               "volumes.storage_class_mapping")
        return
    expect(wanted in target_classes,
           f"StorageClass {wanted!r} (used by source PVCs) does not exist on target: restored PVCs stay Pending",
           f"target StorageClasses: {sorted(target_classes)}",
           f"create it on target, or map it: volumes.storage_class_mapping: {{{storage_class}: <target class>}}")


@live("volume", lambda ctx: pod_volumes(ctx, "source"), allow_empty=True, empty="PVC-backed pod volume")
def test_volume_can_be_file_system_backed_up(ctx: CheckContext, volume):
    pod = pod_by_name(ctx, "source")[volume.pod]
    phase = (pod.get("status") or {}).get("phase")
    expect(phase == "Running", f"pod {volume.namespace}/{volume.pod} is not Running: Velero silently skips "
           f"every volume of it (the backup still says Completed)", f"phase={phase}",
           f"get the pod Running before the backup: kubectl -n {volume.namespace} describe pod {volume.pod}")
    claim = pvc_by_name(ctx, "source").get(volume.pvc)
    expect(claim is not None and (claim.get("status") or {}).get("phase") == "Bound",
           f"PVC {volume.namespace}/{volume.pvc} of {volume} is not Bound", (claim or {}).get("status"),
           f"kubectl -n {volume.namespace} describe pvc {volume.pvc}")
    pv = pvs_by_name(ctx, "source").get(claim["spec"].get("volumeName", ""))
    expect(pv is None or "hostPath" not in (pv.get("spec") or {}),
           f"{volume}: PVC {volume.pvc} is bound to a hostPath PV; Velero's file-system backup skips hostPath "
           "volumes with only a warning, and no snapshot can cross clusters", f"PV {pv and pv['metadata']['name']}",
           "move the data to a local or network PV (local-path: volumeType local) before the migration")


@establishes("source-harbor-login")
@live("side", lambda ctx: ("source",))
def test_harbor_credentials_authenticate(ctx: CheckContext, side: str):
    # /users/current answers 401 to wrong credentials; list endpoints would silently fall back to anonymous.
    # Only the source: the target's Harbor is brought by the restore (its checks are in verify-harbor).
    from seatrial.runbook.errors import Unauthorized

    url = ctx.config.harbor.source_url if side == "source" else ctx.config.harbor.target_url
    try:
        user = ctx.harbor(side).verify_credentials()
    except Unauthorized as exc:
        fail(f"{side} Harbor {url}: the credentials of user {ctx.config.harbor.username!r} do not authenticate",
             exc.message, "fix harbor.username and the password in harbor.password_env / harbor.password_file")
    expect(user.get("username") == ctx.config.harbor.username,
           f"{side} Harbor {url}: /users/current names another user than the configured one",
           f"username={user.get('username')!r}", "fix harbor.username")


def _static_load_balancers(ctx: CheckContext) -> list[dict]:
    return [s for s in ctx.objects("source", "v1", "Service", ctx.config.source.namespace)
            if (s.get("spec") or {}).get("type") == "LoadBalancer" and (s.get("spec") or {}).get("loadBalancerIP")]


@live("service", _static_load_balancers, ids=lambda s: f"{s['metadata']['namespace']}/{s['metadata']['name']}",
      allow_empty=True, empty="LoadBalancer Service with a static IP")
def test_static_load_balancer_ip_has_a_fixup(ctx: CheckContext, service):
    name, ns = service["metadata"]["name"], service["metadata"]["namespace"]
    ip = service["spec"]["loadBalancerIP"]
    wanted = ctx.config.fixup.services.get(name)
    expect(wanted is not None and bool(wanted.load_balancer_ip),
           f"source Service {ns}/{name} has the static loadBalancerIP {ip}: restored as is, it asks the target's "
           "load balancer for the source's address (taken, or outside its pool)",
           f"loadBalancerIP={ip}; fixup.services has {sorted(ctx.config.fixup.services) or 'nothing'}",
           f"add fixup.services.{name}.loadBalancerIP: <a target address> to the configuration (before the restore)")


@live("side", lambda ctx: SIDES)
def test_repository_password_opens_the_kopia_repository(ctx: CheckContext, side: str, record_fact):
    """Before the restore: each side's repository password opens the source namespace's kopia repository, when
    there is one (kopia level 1,
                  seatrial.runbook.clients.kopia): a wrong target password otherwise shows only as failed restores."""
    from seatrial.checks.repository import RepositoryPasswordUnknown, kopia_format
    from seatrial.runbook.clients.kopia import WrongPassword
    from seatrial.runbook.errors import NotFound

    ns = ctx.config.source.namespace
    try:
        fmt = kopia_format(ctx, ns, side)
    except NotFound:
        record_fact("kopia", f"no kopia repository for namespace {ns} in the bucket yet")
        return
    except RepositoryPasswordUnknown as exc:
        fail(f"{side}: the kopia repository of namespace {ns} exists but {side}'s repository password is unknown: "
             + ("the backup could not write to it" if side == "source" else "the restore could not read it"),
             exc.message, exc.fix or "")
    except WrongPassword as exc:
        fail(f"{side}: the repository password does not open the kopia repository of namespace {ns}: "
             + ("the backup could not write to it" if side == "source" else "the restore could not read it"),
             str(exc), exc.fix or "")
    record_fact("kopia", f"the {side} password opens {ctx.bucket.layout.kopia_repo(ns)}kopia.repository "
                         f"({fmt.encryption}, kopia {fmt.build_version or '?'})")
