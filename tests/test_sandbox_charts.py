"""The sandbox's releases are the real charts installed by the real Helm engine, and its twins start from
what the charts created; so a chart upgrade keeps or loses Harbor's data exactly as it would for real.
No seatrial step runs here: the upgrades are plain `helm upgrade`s with the same values, and each verdict is
proven by pulling every seeded artifact by digest."""

from __future__ import annotations

import stat

import pytest
import requests

from seatrial.fixtures.installer import Bucket, velero_values, vendored_chart
from seatrial.fixtures.kubeapi.store import Store
from seatrial.fixtures.kubeapi.types import register_standard_types
from seatrial.fixtures.sandbox.__main__ import main as sandbox_main
from seatrial.fixtures.sandbox.environment import NAMESPACE, RELEASE, Sandbox
from seatrial.fixtures.sandbox.velero_server import VeleroNotStartable, find_velero_deployment, read_velero_pod
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.helm import Helm, load_chart
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.clients.registry import RegistryClient
from seatrial.runbook.errors import SeatrialError
from seatrial.runbook.secrets import Secret
from tests.waiting import wait_for

UPGRADE_TIMEOUT_S = 120.0


def release_status(sandbox: Sandbox, context: str, namespace: str, release: str) -> str:
    with Helm(sandbox.kubeconfig, context, namespace=namespace) as helm:
        return helm.status(release)["status"]


def test_velero_and_harbor_are_releases_of_the_real_charts(sandbox: Sandbox):
    for context in ("source", "target"):
        assert release_status(sandbox, context, "velero", "velero") == "deployed"
        assert sandbox.velero_servers[context].running, sandbox.velero_servers[context].not_started_reason
    assert release_status(sandbox, "source", NAMESPACE, RELEASE) == "deployed"
    with Cluster(sandbox.kubeconfig, "target") as target, Cluster(sandbox.kubeconfig, "source") as source:
        assert target.get("velero.io/v1", "BackupStorageLocation", "default", "velero")["spec"]["accessMode"] == \
            "ReadOnly"  # Velero's migration guide: the target never writes into the source's backups
        assert source.get("velero.io/v1", "BackupStorageLocation", "default", "velero")["spec"]["accessMode"] == \
            "ReadWrite"
        deployment = source.get("apps/v1", "Deployment", "velero", "velero")
        assert deployment["metadata"]["labels"]["helm.sh/chart"] == "velero-10.1.3"
        core = source.get("apps/v1", "Deployment", f"{RELEASE}-core", NAMESPACE)
        image = core["spec"]["template"]["spec"]["containers"][0]["image"]
    app_version = image.rsplit(":", 1)[1]
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as client:
        assert client.systeminfo()["harbor_version"].startswith(app_version + "-")  # from the core image's tag




def upgrade_harbor(sandbox: Sandbox, version: str) -> str:
    """`helm upgrade` of the source Harbor to a vendored chart with the release's own values; waits until the
    twin runs on the new pods (the core and database images of the new chart). Returns the new app version."""
    chart = load_chart(vendored_chart("harbor", version))
    app_version = chart.app_version
    try:
        with Helm(sandbox.kubeconfig, "source", namespace=NAMESPACE) as helm:
            helm.upgrade(chart, RELEASE, helm.get_values(RELEASE))
    finally:
        chart.close()
    lifecycle = sandbox.lifecycles["source"]

    def upgraded() -> bool:
        attached = lifecycle.attached
        if attached is None or (attached.version, attached.database_version) != (app_version, app_version):
            return False
        try:
            return requests.get(f"{sandbox.source_harbor_url}/api/v2.0/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_for(f"the source Harbor to run {app_version} (attached: {lifecycle.attached})", upgraded,
             timeout=UPGRADE_TIMEOUT_S)
    return app_version


def pulled_by_digest(sandbox: Sandbox) -> dict[str, str]:
    """digest -> "ok" or the error, for every seeded artifact, pulled and verified through the registry."""
    results = {}
    with RegistryClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as registry:
        for artifact in sandbox.pushed:
            try:
                verified = registry.verify_artifact(artifact.full_repository, artifact.digest)
                results[artifact.digest] = "ok" if verified.digest == artifact.digest else f"got {verified.digest}"
            except SeatrialError as exc:
                results[artifact.digest] = type(exc).__name__
    return results


def claims(sandbox: Sandbox) -> dict[str, str]:
    return {c["metadata"]["name"]: c["metadata"]["uid"]
            for c in sandbox.source.store.list("v1", "PersistentVolumeClaim", NAMESPACE)}


@pytest.mark.timeout(600)
def test_upgrade_by_one_minor_keeps_every_artifact(fresh_sandbox):
    sandbox = fresh_sandbox(projects=1, repositories=2, artifacts=2, harbor_chart_version="1.12.6")
    before = claims(sandbox)
    assert set(pulled_by_digest(sandbox).values()) == {"ok"}
    upgrade_harbor(sandbox, "1.13.5")  # Harbor 2.8 -> 2.9: PostgreSQL 13 -> 14, the entrypoint's own upgrade
    assert sandbox.lifecycles["source"].last_start == "upgraded from pg13"
    assert claims(sandbox) == before  # the same PVC objects
    results = pulled_by_digest(sandbox)
    assert set(results.values()) == {"ok"} and len(results) == len(sandbox.pushed) == 5, results  # 4 + multi-arch


@pytest.mark.timeout(600)
def test_upgrade_that_renames_the_claims_leaves_harbor_empty(fresh_sandbox):
    sandbox = fresh_sandbox(projects=1, repositories=1, artifacts=2, harbor_chart_version="1.6.4")
    before = claims(sandbox)
    assert "my-harbor-harbor-registry" in before and "database-data-my-harbor-harbor-database-0" in before
    assert set(pulled_by_digest(sandbox).values()) == {"ok"}
    upgrade_harbor(sandbox, "1.7.5")  # the same values: harbor.fullname changes from my-harbor-harbor to my-harbor
    after = claims(sandbox)
    assert {"my-harbor-registry", "database-data-my-harbor-database-0"} <= set(after)  # new, empty volumes
    assert all(after[name] == uid for name, uid in before.items())  # the old data stays behind, unused
    assert sandbox.lifecycles["source"].last_start == "initdb"
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as client:
        assert client.project(sandbox.pushed[0].project) is None
    results = pulled_by_digest(sandbox)
    assert "ok" not in results.values(), results


@pytest.mark.timeout(600)
def test_upgrade_that_skips_a_postgresql_major_leaves_harbor_empty(fresh_sandbox):
    sandbox = fresh_sandbox(projects=1, repositories=1, artifacts=2, harbor_chart_version="1.12.6")
    before = claims(sandbox)
    upgrade_harbor(sandbox, "1.15.2")  # Harbor 2.8 (PostgreSQL 13) -> 2.11, whose entrypoint knows only 14 -> 15
    assert claims(sandbox) == before  # the same volumes: only the database's major is the cause
    lifecycle = sandbox.lifecycles["source"]
    assert lifecycle.last_start == "initdb"
    assert (lifecycle.attached.pgdata / "pg13").is_dir()  # the old cluster, left unused on the same volume
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as client:
        assert client.project(sandbox.pushed[0].project) is None
    results = pulled_by_digest(sandbox)
    assert "ok" not in results.values(), results


def _velero_objects(release: str, uploader: str) -> list[dict]:
    bucket = Bucket(name="velero", prefix="sandbox", region="us-east-1", in_cluster_url="http://s3.example:9000",
                    local_url="http://127.0.0.1:9000", access_key=Secret("AKIDCHARTS", "access key"),
                    secret_key=Secret("charts-secret-key-1", "secret key"))
    chart = load_chart(vendored_chart("velero", "10.1.3"))
    try:
        return chart.render(velero_values(bucket, access_mode="ReadOnly", uploader=uploader,
                                          plugin_image="velero/velero-plugin-for-aws:v1.12.2"),
                            release=release, namespace="backup")
    finally:
        chart.close()


def test_velero_twin_starts_from_the_chart_deployment_whatever_its_name(tmp_path):
    objects = _velero_objects("backup", "restic")
    store = register_standard_types(Store("unit"))
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "backup"}})
    for obj in objects:
        if obj["kind"] in ("Deployment", "DaemonSet", "Secret"):
            store.create(obj)
    deployment = find_velero_deployment(store)
    assert deployment["metadata"]["name"] == "backup-velero"  # the chart's fullname rule, not "velero"
    found = read_velero_pod(store, deployment, tmp_path)
    assert found["namespace"] == "backup" and found["access_key"].reveal() == "AKIDCHARTS"
    assert found["secret_key"].reveal() == "charts-secret-key-1"
    assert stat.S_IMODE((tmp_path / "credentials" / "cloud").stat().st_mode) == 0o600
    bsl = next(o for o in objects if o["kind"] == "BackupStorageLocation")
    assert bsl["spec"]["accessMode"] == "ReadOnly" and bsl["spec"]["config"]["publicUrl"] == "http://127.0.0.1:9000"
    kopia = next(o for o in _velero_objects("backup", "kopia") if o["kind"] == "Deployment")
    store.replace({**kopia, "metadata": {**kopia["metadata"],
                                         "resourceVersion": deployment["metadata"]["resourceVersion"]}})
    with pytest.raises(VeleroNotStartable, match="kopia cannot run here"):
        read_velero_pod(store, find_velero_deployment(store), tmp_path)


@pytest.mark.parametrize("arguments, message", [
    (["--harbor-chart-version", "9.9.9"], "--harbor-chart-version 9.9.9: no vendored harbor chart 9.9.9"),
    (["--velero-chart-version", "1.0.0"], "--velero-chart-version 1.0.0: no vendored velero chart"),
    (["--values", "LIST"], "holds a list, not a mapping"),
    (["--values", "MISSING"], "cannot read it"),
])
def test_sandbox_up_refuses_bad_chart_options_before_starting(tmp_path, capsys, arguments, message):
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    arguments = [{"LIST": str(listing), "MISSING": str(tmp_path / "nope.yaml")}.get(a, a) for a in arguments]
    assert sandbox_main(["up", "--dir", str(tmp_path / "sb"), *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sb").exists()  # nothing was started or written
