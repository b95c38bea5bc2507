"""seatrial.runbook.clients.helm offline: the real Helm engine (helm-python-sdk) loading and rendering the vendored
real charts,
charts pulled from a chart repository over HTTP and from an OCI registry (the real docker-registry), and
release records read from their Secret."""

from __future__ import annotations

import base64
import gzip
import http.server
import json
import shutil
import threading
from pathlib import Path

import helm_python
import pytest
import yaml

from seatrial.fixtures.registry.process import start_registry
from seatrial.fixtures.registry.token import TokenIssuer
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients import helm, kube
from seatrial.runbook.errors import BadInput, NotFound, Unreachable
from seatrial.runbook.secrets import MASK

CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"


def kinds_named(objects: list[dict], kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects if o["kind"] == kind)


@pytest.fixture(scope="module")
def harbor_164():
    return helm.load_chart(CHARTS / "harbor-1.6.4.tgz")


# -- render: the names the upgrade trap hangs on --------------------------------------------------
def test_harbor_1_6_4_names_everything_release_dash_harbor(harbor_164):
    objects = harbor_164.render({}, release="my-harbor", namespace="harbor")
    assert (harbor_164.name, harbor_164.version, harbor_164.app_version) == ("harbor", "1.6.4", "2.2.4")
    assert kinds_named(objects, "PersistentVolumeClaim") == [
        "my-harbor-harbor-chartmuseum", "my-harbor-harbor-jobservice", "my-harbor-harbor-registry"]
    assert kinds_named(objects, "StatefulSet") == [
        "my-harbor-harbor-database", "my-harbor-harbor-redis", "my-harbor-harbor-trivy"]
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "ClusterRole"} <= {"harbor", None}


def test_harbor_1_7_5_renames_every_pvc_with_the_same_values():
    chart = helm.load_chart(CHARTS / "harbor-1.7.5.tgz")
    objects = chart.render({}, release="my-harbor", namespace="harbor")
    assert kinds_named(objects, "PersistentVolumeClaim") == [
        "my-harbor-chartmuseum", "my-harbor-jobservice", "my-harbor-registry"]
    database = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "my-harbor-database")
    assert [t["metadata"]["name"] for t in database["spec"]["volumeClaimTemplates"]] == ["database-data"]
    kept = chart.render({"fullnameOverride": "my-harbor-harbor"}, release="my-harbor", namespace="harbor")
    assert kinds_named(kept, "PersistentVolumeClaim") == [
        "my-harbor-harbor-chartmuseum", "my-harbor-harbor-jobservice", "my-harbor-harbor-registry"]


def test_harbor_1_18_4_renders_although_a_template_leaves_a_tab_after_a_value():
    chart = helm.load_chart(CHARTS / "harbor-1.18.4.tgz")
    files = chart.render_files({}, release="my-harbor", namespace="harbor")
    database_text = files["harbor/templates/database/database-ss.yaml"]
    assert "apiVersion: v1\t" in database_text  # the case itself: strict YAML scanners refuse it
    with pytest.raises(yaml.YAMLError):
        list(yaml.load_all(database_text, Loader=yaml.SafeLoader))  # noqa: S506 - the pure-Python safe loader
    objects = chart.render({}, release="my-harbor", namespace="harbor")
    database = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "my-harbor-database")
    template = database["spec"]["volumeClaimTemplates"][0]
    assert (template["apiVersion"], template["kind"]) == ("v1", "PersistentVolumeClaim")
    assert kinds_named(objects, "PersistentVolumeClaim") == ["my-harbor-jobservice", "my-harbor-registry"]


def test_notes_are_rendered_but_are_not_manifests(harbor_164):
    files = harbor_164.render_files({}, release="my-harbor", namespace="harbor")
    assert "Please wait for several minutes" in files["harbor/templates/NOTES.txt"]
    objects = harbor_164.render({}, release="my-harbor", namespace="harbor")
    assert objects and all(o.get("apiVersion") and o.get("kind") and o["metadata"].get("name") for o in objects)


def test_velero_chart_renders_its_deployment_and_node_agent():
    chart = helm.load_chart(CHARTS / "velero-10.1.3.tgz")
    objects = chart.render({"deployNodeAgent": True}, release="velero", namespace="velero")
    assert kinds_named(objects, "Deployment") == ["velero"]
    assert kinds_named(objects, "DaemonSet") == ["node-agent"]


def test_a_chart_directory_loads_too(tmp_path):
    helm_python.expand(tmp_path, CHARTS / "velero-10.1.3.tgz")
    chart = helm.load_chart(tmp_path / "velero")
    assert (chart.name, chart.version) == ("velero", "10.1.3")


# -- parsing as the API server does ---------------------------------------------------------------
def test_parse_manifests_reads_as_kubernetes_does():
    text = "# comment only\n---\napiVersion: v1\t\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n" \
           "  when: 2024-01-02T03:04:05Z\n  flag: 'yes'\n---\n---\n"
    [configmap] = helm.parse_manifests(text)
    assert configmap["apiVersion"] == "v1"
    assert configmap["data"] == {"when": "2024-01-02T03:04:05Z", "flag": "yes"}  # timestamps stay strings


def test_a_tab_used_as_indentation_is_still_refused_naming_the_template():
    with pytest.raises(BadInput) as caught:
        helm.parse_manifests("kind: ConfigMap\nmetadata:\n\tname: a\n", "mychart/templates/cm.yaml")
    assert "mychart/templates/cm.yaml is not valid YAML at line 3" in caught.value.message


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(BadInput, match="not a Kubernetes object"):
        helm.parse_manifests("- a\n- b\n", "t.yaml")


# -- errors: one line, a fix, nothing secret ------------------------------------------------------
@pytest.mark.parametrize("ref", ["harbor-9.9.9.tgz", "SOURCE.md", "."])
def test_a_bad_chart_ref_is_one_line_of_bad_input(ref):
    with pytest.raises(BadInput) as caught:
        helm.load_chart(CHARTS / ref)
    assert "\n" not in caught.value.message and "cannot be loaded" in caught.value.message
    assert caught.value.fix and "harbor-1.18.4.tgz" in caught.value.fix


def test_a_version_for_a_local_chart_is_refused():
    with pytest.raises(BadInput, match="version"):
        helm.load_chart(CHARTS / "harbor-1.18.4.tgz", version="1.18.4")


def test_values_that_break_a_template_are_bad_input_on_one_line():
    chart = helm.load_chart(CHARTS / "harbor-1.18.4.tgz")
    with pytest.raises(BadInput) as caught:
        chart.render({"expose": "clusterIP"}, release="my-harbor", namespace="harbor")
    assert "harbor-1.18.4 does not render" in caught.value.message and "\n" not in caught.value.message


def test_a_secret_value_never_shows_in_an_engine_error(tmp_path):
    chart_dir = tmp_path / "leaky"
    (chart_dir / "templates").mkdir(parents=True)
    (chart_dir / "Chart.yaml").write_text("apiVersion: v2\nname: leaky\nversion: 0.1.0\n")
    (chart_dir / "templates" / "cm.yaml").write_text('{{ fail (printf "bad admin password %s" '
                                                     '.Values.harborAdminPassword) }}\n')
    password = "Very-Secret-Pw-4711"
    with pytest.raises(BadInput) as caught:
        helm.load_chart(chart_dir).render({"harborAdminPassword": password}, release="r")
    assert "bad admin password" in str(caught.value) and password not in str(caught.value)
    assert MASK in str(caught.value)


def test_masked_hides_secret_values_but_not_the_names_of_secrets():
    values = {"harborAdminPassword": "Harbor12345", "existingSecretAdminPassword": "admin-secret",
              "core": {"secret": "0123456789abcdef", "secretName": "core-tls"}, "secretKey": "not-a-secure-key",
              "configuration": {"provider": "aws"}, "credentials": {"useSecret": True, "existingSecret": "cloud"}}
    shown = helm.masked(values)
    assert shown["harborAdminPassword"] == shown["core"]["secret"] == shown["secretKey"] == MASK
    assert shown["existingSecretAdminPassword"] == "admin-secret" and shown["core"]["secretName"] == "core-tls"
    assert shown["credentials"] == {"useSecret": True, "existingSecret": "cloud"}
    assert values["harborAdminPassword"] == "Harbor12345"  # a copy


def test_masked_and_redact_reach_a_secret_nested_below_its_key():
    """Velero's chart takes the S3 keys as credentials.secretContents.cloud (fixtures/installer.py): the
    leaf's own key names nothing, the key above it does."""
    from seatrial.runbook.secrets import redact

    ini = "[default]\naws_access_key_id=AKIANESTED4711\naws_secret_access_key=nested-secret-0815\n"
    values = {"credentials": {"useSecret": True, "existingSecret": "", "secretContents": {"cloud": ini}},
              "configuration": {"backupStorageLocation": [{"name": "default", "bucket": "velero"}]}}
    shown = helm.masked(values)
    assert shown["credentials"]["secretContents"] == {"cloud": MASK}
    assert shown["credentials"]["useSecret"] is True and shown["configuration"] == values["configuration"]
    helm.register_secret_values(values)
    printed = redact(f"helm values: {values}\n{yaml.safe_dump(values)}")
    assert "nested-secret-0815" not in printed and "AKIANESTED4711" not in printed


# -- remote charts: a chart repository over HTTP, an OCI registry ---------------------------------
@pytest.fixture
def chart_repository(tmp_path):
    """A real chart repository: the archives and an index.yaml made by the engine, served over HTTP."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("harbor-1.17.4.tgz", "harbor-1.18.4.tgz"):
        shutil.copy(CHARTS / name, root / name)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm_python.repo_index_generate(root, base_url=url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()
    server.server_close()


def test_a_chart_from_a_repository_url_at_a_version(chart_repository):
    chart = helm.load_chart("harbor", repo_url=chart_repository, version="1.17.4")
    assert (chart.name, chart.version) == ("harbor", "1.17.4")
    assert "from " + chart_repository in repr(chart)
    latest = helm.load_chart("harbor", repo_url=chart_repository)
    assert latest.version == "1.18.4"


def test_a_missing_version_in_a_repository_is_bad_input(chart_repository):
    with pytest.raises(BadInput) as caught:
        helm.load_chart("harbor", repo_url=chart_repository, version="1.99.0")
    assert "1.99.0" in caught.value.message and "\n" not in caught.value.message


def test_an_unreachable_repository_is_a_dependency_problem():
    with pytest.raises(Unreachable) as caught:
        helm.load_chart("harbor", repo_url="http://127.0.0.1:1/charts", version="1.18.4")
    assert caught.value.exit_code == 3 and "127.0.0.1:1" in caught.value.message


def test_a_chart_from_an_oci_registry(tmp_path):
    require_tool("docker-registry")
    registry = start_registry(tmp_path / "storage", issuer=TokenIssuer(), realm="http://127.0.0.1:1/token",
                              workdir=tmp_path / "registry", overrides={"auth": None})
    try:
        host = registry.url.removeprefix("http://")
        helm_python.push(CHARTS / "velero-10.1.3.tgz", f"oci://{host}/charts", plain_http=True)
        chart = helm.load_chart(f"oci://{host}/charts/velero", version="10.1.3", plain_http=True)
        assert (chart.name, chart.version) == ("velero", "10.1.3")
        with pytest.raises(BadInput):
            helm.load_chart(f"oci://{host}/charts/velero", version="0.0.1", plain_http=True)
    finally:
        registry.stop()


# -- a release read straight from its Secret ------------------------------------------------------
def release_secret(release: str, namespace: str, revision: int, record: dict) -> dict:
    payload = base64.b64encode(gzip.compress(json.dumps(record).encode()))  # as Helm's secret driver encodes it
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": helm.release_secret_name(release, revision), "namespace": namespace,
                         "labels": {"owner": "helm", "name": release, "status": "deployed",
                                    "version": str(revision)}},
            "data": {"release": base64.b64encode(payload).decode()}}


def test_read_release_takes_the_highest_revision_with_one_list(kube_api, harbor_164):
    manifest = "\n---\n".join(yaml.safe_dump(o) for o in harbor_164.render({}, release="my-harbor",
                                                                           namespace="harbor"))
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    for revision in (1, 2, 10):
        kube_api.store.create(release_secret("my-harbor", "harbor", revision, {
            "name": "my-harbor", "namespace": "harbor", "version": revision, "info": {"status": "deployed"},
            "chart": {"metadata": harbor_164.metadata, "values": {"persistence": {"enabled": True}}},
            "config": {"harborAdminPassword": "Admin-Pw-0042"}, "manifest": manifest}))
    with kube.Cluster(kube_api.kubeconfig, kube_api.context) as cluster:
        stored = helm.read_release(cluster, "my-harbor", "harbor")
        assert (stored.revision, stored.status, stored.chart_version, stored.app_version) == (10, "deployed",
                                                                                               "1.6.4", "2.2.4")
        assert stored.config == {"harborAdminPassword": "Admin-Pw-0042"}
        assert "Admin-Pw-0042" not in repr(stored)
        assert kinds_named(stored.manifests(), "PersistentVolumeClaim")[0] == "my-harbor-harbor-chartmuseum"
        assert helm.read_release(cluster, "my-harbor", "harbor", revision=2).revision == 2
        with pytest.raises(NotFound, match="no revision 3"):
            helm.read_release(cluster, "my-harbor", "harbor", revision=3)
        with pytest.raises(NotFound, match="no Helm release 'other'"):
            helm.read_release(cluster, "other", "harbor")
    secret_lists = [p for m, p in kube_api.server.requests if m == "GET" and "/secrets" in p]
    assert len([p for p in secret_lists if "labelSelector" in p]) == 2


def test_a_secret_that_is_not_a_release_record_is_bad_input():
    broken = release_secret("r", "ns", 1, {})
    broken["data"]["release"] = base64.b64encode(b"not base64 of gzip").decode()
    with pytest.raises(BadInput, match="not a Helm release record"):
        helm.decode_release_secret(broken)
