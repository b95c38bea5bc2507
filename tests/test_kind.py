"""The kind path against stand-ins for `kind` and `docker` (this machine has neither).

Everything but the two programs is real: pytest-kind's KindCluster, the kind configs, an empty sandbox API
server per stand-in cluster with kind's local-path StorageClass, moto S3 for the S3 container (two
addresses), the kubeconfig merge, the StorageClass fix, image archives, teardown and logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config

from seatrial.fixtures.kind import environment as kind_environment
from seatrial.fixtures.kind.environment import KindEnvironment, UpFailed
from seatrial.fixtures.kind.installer_seam import InstallRequest
from seatrial.fixtures.kind.tools import MissingTool, find_tools
from seatrial.fixtures.kind.versions import KIND_VERSION, RESTIC_VELERO_CHART, choose
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.errors import BadInput, SeatrialError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class RecordingInstaller:
    def __init__(self):
        self.requests: list[InstallRequest] = []

    def __call__(self, request: InstallRequest) -> bool:
        self.requests.append(request)
        return True


def up(root: Path, *, installer=None, **versions) -> KindEnvironment:
    versions.setdefault("uploader", "restic")  # what the stand-ins run (kopia cannot run here)
    environment = KindEnvironment(root, choose(**versions), installer=installer or RecordingInstaller(),
                                  out=lambda line: None)
    return environment.up()


def s3(endpoint: str, environment: KindEnvironment):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=environment.access_key.reveal(),
                        aws_secret_access_key=environment.secret_key.reveal(),
                        config=Config(s3={"addressing_style": "path"}))


def test_up_makes_two_clusters_the_bucket_and_the_files_and_down_removes_them(kind_standins, tmp_path):
    installer = RecordingInstaller()
    environment = up(tmp_path / "env", installer=installer)
    assert kind_standins.running() == ["clusters/seatrial-source", "clusters/seatrial-target",
                                       "containers/seatrial-s3"]
    kubeconfig = yaml.safe_load(environment.kubeconfig.read_text())
    assert [c["name"] for c in kubeconfig["contexts"]] == ["source", "target"]
    assert oct(environment.kubeconfig.stat().st_mode & 0o777) == "0o600"
    for context in ("source", "target"):
        with Cluster(environment.kubeconfig, context) as cluster:
            assert cluster.get("v1", "Node", f"seatrial-{context}-control-plane")
    config = yaml.safe_load(environment.config_path.read_text())
    assert config["source"]["context"] == "source" and config["target"]["context"] == "target"
    assert config["velero"]["uploader"] == "restic"
    assert config["harbor"]["source_url"] != config["harbor"]["target_url"]
    assert [r.harbor_urls for r in installer.requests] == [{"source": config["harbor"]["source_url"],
                                                             "target": config["harbor"]["target_url"]}]
    state = json.loads((environment.root / "kind.json").read_text())
    assert state["ready"] and state["clusters"] == ["seatrial-source", "seatrial-target"]

    status = subprocess.run([sys.executable, "-m", "seatrial.fixtures.kind", "status", "--dir", str(environment.root)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert "seatrial-source" in status.stdout and "running" in status.stdout
    # the recording installer installed no Harbor: status reads Harbor's health and says so
    assert status.returncode == 1 and "harbor source" in status.stdout and "NOT healthy" in status.stdout, \
        status.stdout + status.stderr

    removed = KindEnvironment(environment.root).down()
    assert removed == ["cluster seatrial-source", "cluster seatrial-target", "container seatrial-s3"]
    assert kind_standins.running() == []
    assert not (environment.root / "kind.json").exists()
    assert "kind delete cluster --name=seatrial-source" in kind_standins.commands("kind")


def test_the_bucket_has_two_addresses_kept_apart(kind_standins, tmp_path):
    """Velero's pods get the in-network address, seatrial the loopback one; both reach one bucket."""
    installer = RecordingInstaller()
    environment = up(tmp_path / "env", installer=installer)
    bucket = installer.requests[0].bucket
    config = yaml.safe_load(environment.config_path.read_text())
    assert bucket.loopback.startswith("http://127.0.0.1:")
    # by name on the kind network: Docker's DNS answers it, and an IP can change when Docker restarts
    assert bucket.in_network == "http://seatrial-s3:9000"
    assert config["storage"]["endpoint"] == bucket.loopback
    assert bucket.in_network not in environment.config_path.read_text()
    s3(bucket.loopback, environment).put_object(Bucket=bucket.bucket, Key="probe", Body=b"one bucket")
    address = subprocess.run(["docker", "inspect", "--format", '{{(index .NetworkSettings.Networks "kind").IPAddress}}',
                              "seatrial-s3"], capture_output=True, text=True, check=True).stdout.strip()
    body = s3(f"http://{address}:9000", environment).get_object(Bucket=bucket.bucket, Key="probe")["Body"].read()
    assert body == b"one bucket"
    # the keys reach docker in its environment (-e NAME): never on a command line, in a file, nor in seatrial.yaml
    for text in (environment.config_path.read_text(), "\n".join(kind_standins.commands())):
        assert environment.secret_key.reveal() not in text and environment.access_key.reveal() not in text
    assert not list(environment.root.glob("*.env"))
    credentials = environment.root / "credentials-velero"
    assert environment.secret_key.reveal() in credentials.read_text()
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"


def _harbor_volume(environment: KindEnvironment) -> dict:
    """A PVC and a pod using it in the source's Harbor namespace, as a chart would make them; its PV."""
    with Cluster(environment.kubeconfig, "source") as cluster:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
        cluster.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "database-data", "namespace": "harbor"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        claim = {"name": "data", "persistentVolumeClaim": {"claimName": "database-data"}}
        cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "database-0", "namespace": "harbor"},
                        "spec": {"containers": [{"name": "db", "image": "goharbor/harbor-db:v2.15.1"}],
                                 "volumes": [claim]}})
        deadline = time.monotonic() + 60
        while True:
            pvc = cluster.get("v1", "PersistentVolumeClaim", "database-data", "harbor")
            pod = cluster.get("v1", "Pod", "database-0", "harbor")
            if pvc.get("status", {}).get("phase") == "Bound" and pod.get("status", {}).get("phase") == "Running":
                return cluster.get("v1", "PersistentVolume", pvc["spec"]["volumeName"])
            assert time.monotonic() < deadline, f"not Bound/Running: pvc {pvc.get('status')} pod {pod.get('status')}"
            time.sleep(0.05)


def _preflight_volume_check(environment: KindEnvironment, config: pytest.Config) -> None:
    for marker in ("seatrial_needs(keys)", "seatrial_establishes(key)"):  # checks/conftest.py registers them there
        config.addinivalue_line("markers", f"{marker}: registered for importing a check module from tests/")
    from seatrial.checks.context import CheckContext
    from seatrial.checks.facts import pod_volumes
    from seatrial.checks.test_preflight import test_volume_can_be_file_system_backed_up as check
    from seatrial.runbook.config import load_config

    ctx = CheckContext(load_config(environment.config_path))
    volumes = pod_volumes(ctx, "source")
    assert [v.pvc for v in volumes] == ["database-data"]
    check(ctx, volumes[0])


def test_without_the_storage_class_fix_pvs_are_hostpath_and_preflight_refuses_them(kind_standins, tmp_path,
                                                                                   monkeypatch, pytestconfig):
    """kind's local-path makes hostPath PVs, which Velero skips silently; `up` annotates the class first."""
    fix = kind_environment.use_local_volumes
    monkeypatch.setattr(kind_environment, "use_local_volumes", lambda kubeconfig, context: None)
    unfixed = up(tmp_path / "unfixed")
    pv = _harbor_volume(unfixed)
    assert "hostPath" in pv["spec"] and "local" not in pv["spec"]
    with pytest.raises(BaseException, match="hostPath PV") as refused:
        _preflight_volume_check(unfixed, pytestconfig)
    assert "volumeType local" in str(refused.value)
    unfixed.down()
    monkeypatch.setattr(kind_environment, "use_local_volumes", fix)

    fixed = up(tmp_path / "fixed")
    pv = _harbor_volume(fixed)
    assert "local" in pv["spec"] and "hostPath" not in pv["spec"]
    _preflight_volume_check(fixed, pytestconfig)  # passes
    with pytest.raises(SeatrialError, match="PVCs exist before the local-volume StorageClass"):
        kind_environment.use_local_volumes(fixed.kubeconfig, "source")  # only PVs made after it are local
    fixed.down()


@pytest.mark.parametrize(("phase", "fault"), [
    ("source cluster", "kind create cluster --name=seatrial-source"),
    ("s3 container", "docker run"),
    ("target cluster", "kind create cluster --name=seatrial-target"),
    ("images", "docker pull"),
    ("storage class", None),
    ("installer", None),
])
def test_a_failed_up_removes_what_it_made_and_says_where_the_logs_are(kind_standins, tmp_path, monkeypatch,
                                                                      phase, fault):
    def broken(*args, **kwargs):
        raise SeatrialError(f"{phase} broke on purpose")

    if phase == "storage class":
        monkeypatch.setattr(kind_environment, "use_local_volumes", broken)
    kind_standins.fail(fault)
    root = tmp_path / "env"
    with pytest.raises(UpFailed) as failed:
        up(root, installer=broken if phase == "installer" else None)
    assert failed.value.phase == phase
    assert f"logs: {root / 'logs'}" in failed.value.render()
    assert kind_standins.running() == []
    kind_standins.fail(None)
    assert subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout == ""
    state = json.loads((root / "kind.json").read_text())
    assert state["clusters"] == [] and state["container"] is False and state["failed"]["phase"] == phase
    made_source = phase != "source cluster"
    assert (root / "logs" / "seatrial-source").is_dir() == made_source
    if made_source:
        assert any(f"kind export logs {root / 'logs' / 'seatrial-source'}" in c for c in kind_standins.commands())
    if phase not in ("source cluster", "s3 container"):
        assert (root / "logs" / "seatrial-s3.log").exists()


def test_keep_keeps_a_failed_up_for_inspection_and_down_removes_it(kind_standins, tmp_path):
    root = tmp_path / "env"
    kind_standins.fail("kind create cluster --name=seatrial-target")
    environment = KindEnvironment(root, choose(uploader="restic"), keep=True, installer=RecordingInstaller(),
                                  out=lambda line: None)
    with pytest.raises(UpFailed, match="kept for inspection"):
        environment.up()
    kind_standins.fail(None)
    assert "clusters/seatrial-source" in kind_standins.running()
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.kind", "down", "--dir", str(root)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cluster seatrial-source" in done.stdout and "container seatrial-s3" in done.stdout
    assert kind_standins.running() == []


def test_no_download_is_attempted_and_pytest_kind_gets_absolute_paths(kind_standins, tmp_path, monkeypatch):
    import pytest_kind.cluster

    def no_download(*args, **kwargs):
        raise AssertionError(f"pytest-kind tried to download: {args}")

    monkeypatch.setattr(pytest_kind.cluster.requests, "get", no_download)
    monkeypatch.chdir(tmp_path)
    environment = up(tmp_path / "env")
    tools = find_tools()
    assert tools.kind.is_absolute() and tools.kind.parent == kind_standins.bin.resolve()
    creates = [c for c in kind_standins.calls("kind") if c["argv"][:2] == ["create", "cluster"]]
    assert len(creates) == 2
    assert not (tmp_path / ".pytest-kind").exists()  # pytest-kind's scratch directory is not left behind
    assert not list(tmp_path.rglob("kind-v0.17.0*")) and not list(tmp_path.rglob("kubectl-v1.25.3*"))
    environment.down()


def test_recorded_commands_are_ones_the_real_programs_accept(kind_standins, tmp_path):
    """Each recorded call is checked against kind v0.33 / Docker CLI syntax as kind-facts.md gives it."""
    from tests.kind_syntax import check_docker, check_kind

    environment = up(tmp_path / "env")
    environment.down()
    calls = kind_standins.calls()
    assert {c["program"] for c in calls} == {"kind", "docker"}
    problems = [problem for call in calls
                for problem in (check_kind if call["program"] == "kind" else check_docker)(call["argv"])]
    assert problems == []
    commands = kind_standins.commands()
    assert not any("load docker-image" in c for c in commands)  # fails on the containerd image store
    kind_loads = [c for c in commands if c.startswith("kind load image-archive")]
    pulls = [c for c in commands if c.startswith("docker pull")]
    assert len(kind_loads) == 2 * len(pulls) == 2 * len(environment.versions.images())  # pulled once, loaded twice


def test_the_versions_are_passed_through(kind_standins, tmp_path):
    node_image = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
    installer = RecordingInstaller()
    environment = up(tmp_path / "env", installer=installer, node_image=node_image, s3_image="example.org/s3:1",
                     velero_chart="10.1.3", harbor_chart="1.18.4")
    commands = kind_standins.commands()
    assert sum(f"--image={node_image}" in c for c in commands) == 2
    assert any(c.startswith("docker run") and c.split()[-3] == "example.org/s3:1" for c in commands)
    assert any("docker pull --platform=linux/" in c and "goharbor/harbor-core:v2.14.4" in c for c in commands)
    assert any("velero/velero:v1.16.2" in c for c in commands)
    request = installer.requests[0]
    assert (request.versions.velero_chart, request.versions.harbor_chart, request.versions.uploader) == \
        ("10.1.3", "1.18.4", "restic")
    with Cluster(environment.kubeconfig, "target") as cluster:
        node = cluster.get("v1", "Node", "seatrial-target-control-plane")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.8"
    environment.down()


def test_version_choices_refuse_what_cannot_run():
    assert choose().uploader == "kopia" and choose().velero_chart == "12.1.0"
    assert choose(uploader="restic").velero_chart == RESTIC_VELERO_CHART
    assert choose(velero_chart="10.1.3").uploader == "restic"
    with pytest.raises(BadInput, match="refuses to start with restic"):
        choose(velero_chart="12.1.0", uploader="restic")
    with pytest.raises(BadInput, match="--velero-chart 9.9.9"):
        choose(velero_chart="9.9.9")


def test_up_refuses_clusters_it_did_not_make(kind_standins, tmp_path):
    subprocess.run(["kind", "create", "cluster", "--name=seatrial-source",
                    f"--kubeconfig={tmp_path / 'other.kubeconfig'}"], check=True, capture_output=True)
    with pytest.raises(BadInput, match="seatrial-source already exist"):
        up(tmp_path / "env")
    assert "clusters/seatrial-source" in kind_standins.running()  # not ours: left alone
    assert not any(c.startswith("kind delete") for c in kind_standins.commands())


def _without_kind_path(tmp_path: Path) -> str:
    """PATH with python and kubectl but no kind or docker."""
    keep = tmp_path / "bin"
    keep.mkdir()
    for tool in ("kubectl",):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            os.symlink(found, keep / tool)
    return f"{keep}{os.pathsep}/usr/bin/nonexistent"


@pytest.mark.parametrize("command", [["-m", "seatrial.fixtures.kind", "up"], ["-m", "seatrial.fixtures.rehearse",
                                                                              "--env", "kind"]])
def test_without_kind_one_line_says_what_to_install(tmp_path, command):
    env = {**os.environ, "PATH": _without_kind_path(tmp_path)}
    args = [*command, "--dir", str(tmp_path / "env")]
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"go install sigs.k8s.io/kind@{KIND_VERSION}" in lines[0] and "`kind`" in lines[0]
    assert not (tmp_path / "env" / "kind.json").exists()


def test_missing_tool_names_the_install_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingTool, match="kind.*go install sigs.k8s.io/kind@"):
        find_tools()


def test_the_installer_seam_passes_kind_values(monkeypatch, tmp_path):
    from seatrial.fixtures.kind import installer_seam
    from seatrial.fixtures.kind.s3container import Bucket
    from seatrial.runbook.secrets import Secret

    request = InstallRequest(
        kubeconfig=tmp_path / "kubeconfig", contexts=("source", "target"),
        bucket=Bucket("http://172.18.0.4:9000", "http://127.0.0.1:40001", "velero", "kind", "us-east-1",
                      Secret("SEAMTESTACCESSKEY", "a"), Secret("seam-test-secret-key", "s")),
        versions=choose(velero_chart="10.1.3"), namespace="harbor", release="my-harbor", velero_namespace="velero",
        harbor_urls={"source": "http://127.0.0.1:40002", "target": "http://127.0.0.1:40003"}, harbor_node_port=30002,
        admin_password=Secret("Kd1seam-test-password", "p"), storage_class="standard", root=tmp_path)
    values = installer_seam.harbor_values(request)
    assert values["externalURL"] == "http://127.0.0.1:40002"
    assert values["expose"]["type"] == "nodePort" and values["expose"]["nodePort"]["ports"]["http"]["nodePort"] == 30002
    assert installer_seam.velero_values(request.versions) == {"kubectl": {"image": {"tag": "1.33"}}}
    assert installer_seam.velero_values(choose()) == {}
    monkeypatch.setitem(sys.modules, "seatrial.fixtures.installer", None)  # as in a checkout without it
    with pytest.raises(installer_seam.InstallerMissing, match="fixtures/installer.py"):
        installer_seam.install(request)
