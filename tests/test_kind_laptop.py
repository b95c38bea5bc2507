"""Issue 21: a first real kind run on a laptop either succeeds or stops within seconds, before anything is made,
with one line that says what to change. The stand-ins answer as the real programs do on such laptops
(standins/hub.py: Docker's version, image store and platform, Docker Hub's pull limit and amd64-only Harbor
images, kind's version, snap's private /tmp)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seatrial.fixtures.kind import preflight
from seatrial.fixtures.kind.daemon import DockerDaemon
from seatrial.fixtures.kind.environment import KindEnvironment, UpFailed
from seatrial.fixtures.kind.versions import choose
from seatrial.runbook.errors import BadInput, Unreachable

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Harbor v2.15.3 is the first release expected with arm64 images (goharbor/harbor#22491): the stand-in registry
# has both platforms for it, so an arm64 daemon can run this chart
ARM64_HARBOR_CHART = "1.19.3"


def environment(root: Path, lines: list[str] | None = None, **versions) -> KindEnvironment:
    versions.setdefault("uploader", "restic")  # what the stand-ins run
    return KindEnvironment(root, choose(**versions), installer=lambda request: True,
                           out=(lines.append if lines is not None else lambda line: None))


def made_anything(standins) -> list[str]:
    """Calls that make something: clusters, containers, pulls, archives."""
    makers = ("kind create", "kind load", "docker run", "docker pull", "docker image save")
    return [c for c in standins.commands() if c.startswith(makers)]


def refused_before_making_anything(standins, root: Path, expected: type = BadInput, **versions) -> str:
    with pytest.raises(expected) as refused:
        environment(root, **versions).up()
    assert not isinstance(refused.value, UpFailed), refused.value.render()
    assert made_anything(standins) == []
    assert standins.running() == []
    assert not (root / "kind.json").exists()
    text = refused.value.render()
    assert "\n" not in text, text  # one line
    return text


def daemon(**changes) -> DockerDaemon:
    facts = {"server_version": "28.2.2", "client_version": "28.2.2", "os": "linux", "arch": "amd64",
             "containerd_store": False, "mem_total": 16 << 30, "ncpu": 4, "operating_system": "Ubuntu 24.04.1 LTS"}
    return DockerDaemon(**{**facts, **changes})


# -- 2 and 14: the platform is the daemon's; Harbor v2.15.1 has no arm64 ----------------------------------
def test_on_an_arm64_daemon_harbor_2_15_1_is_refused_before_any_cluster(kind_standins, tmp_path):
    kind_standins.set("DOCKER_ARCH", "arm64")  # Apple silicon: this Python may well say x86_64 (Rosetta)
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "goharbor/" in text and "v2.15.1" in text and "linux/amd64" in text and "linux/arm64" in text
    assert "x86_64 (amd64) machine" in text and "--harbor-chart" in text
    assert any(c.startswith("docker manifest inspect --verbose goharbor/") for c in kind_standins.commands())


def test_images_are_pulled_and_saved_for_the_daemons_platform_not_pythons(kind_standins, tmp_path):
    kind_standins.set("DOCKER_ARCH", "arm64")  # this host is amd64: Python's platform module would say so
    env = environment(tmp_path / "env", harbor_chart=ARM64_HARBOR_CHART).up()
    try:
        pulls = [c for c in kind_standins.commands("docker") if c.startswith("docker pull")]
        saves = [c for c in kind_standins.commands("docker") if c.startswith("docker image save")]
        assert pulls and all("--platform=linux/arm64" in c for c in pulls)
        assert saves and all("--platform=linux/arm64" in c for c in saves)
    finally:
        env.down()


# -- 5: kind older than the node image's release -----------------------------------------------------------
def test_a_kind_older_than_the_node_images_release_is_refused_up_front(kind_standins, tmp_path):
    kind_standins.set("KIND_VERSION", "v0.32.0")
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "kind v0.32.0 is older than v0.33.0" in text and "kind-linux-" in text


def test_without_the_check_the_stand_in_kind_fails_as_the_real_one_does_after_the_clusters(kind_standins, tmp_path,
                                                                                          monkeypatch):
    """What the check saves: kind v0.32 loading into a v0.33 node image fails only in the images phase."""
    kind_standins.set("KIND_VERSION", "v0.32.0")
    monkeypatch.setattr(preflight, "check_kind_version", lambda tools, versions: None)
    with pytest.raises(UpFailed, match="unknown containerd config version") as failed:
        environment(tmp_path / "env").up()
    assert failed.value.phase == "images"


# -- 6: Docker Hub's pull limit ----------------------------------------------------------------------------
def test_an_anonymous_fresh_run_needing_more_than_ten_docker_hub_pulls_is_refused(kind_standins, tmp_path):
    kind_standins.log_out()
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "Docker Hub" in text and "docker login" in text and "toomanyrequests" in text


def test_a_registry_mirror_takes_docker_hubs_pulls_so_no_login_is_needed(kind_standins, tmp_path):
    kind_standins.log_out()
    kind_standins.set("DOCKER_MIRROR", "https://mirror.example.internal")  # daemon.json registry-mirrors
    env = environment(tmp_path / "env").up()
    env.down()
    assert not (kind_standins.state / "docker-hub-pulls.jsonl").exists()


def test_toomanyrequests_during_the_pulls_says_docker_login_and_is_a_dependency_fault(kind_standins, tmp_path):
    """Anonymous, with most images on the host already (the budget check passes), but this hour's pulls were
    spent elsewhere: Docker Hub answers toomanyrequests, which is named as such (exit 3), not a bare failure."""
    from seatrial.fixtures.kind.standins import hub

    kind_standins.log_out()
    versions = choose(uploader="restic")
    for image in versions.all_images()[:-3]:
        hub.hold(image, hub.daemon_platform())
    ledger = kind_standins.state / "docker-hub-pulls.jsonl"
    ledger.write_text("".join(json.dumps({"time": time.time(), "image": "elsewhere"}) + "\n" for _ in range(9)))
    with pytest.raises(UpFailed) as failed:
        environment(tmp_path / "env").up()
    assert failed.value.exit_code == 3
    assert "toomanyrequests" in failed.value.render() and "docker login" in failed.value.render()
    assert kind_standins.running() == []


# -- 7 and 15: inotify limits, memory and CPUs -------------------------------------------------------------
def test_low_inotify_limits_of_a_local_linux_daemon_are_refused_with_the_sysctl(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    (tmp_path / "max_user_instances").write_text("128\n")  # the Linux default
    (tmp_path / "max_user_watches").write_text("524288\n")
    with pytest.raises(BadInput) as refused:
        preflight.check_inotify(daemon(), tmp_path)
    assert "fs.inotify.max_user_instances is 128 (needs 512)" in refused.value.render()
    assert "sudo sysctl fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288" in refused.value.render()
    preflight.check_inotify(daemon(operating_system="Docker Desktop"), tmp_path)  # its VM has its own kernel
    (tmp_path / "max_user_instances").write_text("512\n")
    preflight.check_inotify(daemon(), tmp_path)


def test_a_docker_with_too_little_memory_is_refused_up_front(kind_standins, tmp_path):
    kind_standins.set("DOCKER_MEMORY", str(2 << 30))  # Docker Desktop's old default
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "Docker has 2.0 GiB of memory" in text and "Settings > Resources" in text


# -- 10: the containerd image store ------------------------------------------------------------------------
def test_the_containerd_image_store_on_a_docker_before_28_is_refused_up_front(kind_standins, tmp_path):
    kind_standins.set("DOCKER_STORE", "containerd")
    kind_standins.set("DOCKER_VERSION", "27.4.0")  # Docker Desktop 4.37
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "containerd image store" in text and "Engine >= 28" in text and "kind#3795" in text


def test_a_classic_store_docker_before_28_saves_without_platform_and_kind_loads_it(kind_standins, tmp_path):
    kind_standins.set("DOCKER_VERSION", "27.4.0")  # the stand-in refuses `save --platform` there, as Docker 27 does
    env = environment(tmp_path / "env").up()
    try:
        saves = [c for c in kind_standins.commands("docker") if c.startswith("docker image save")]
        assert saves and not any("--platform" in c for c in saves)
    finally:
        env.down()


def test_on_the_containerd_store_a_save_without_platform_is_what_kind_cannot_load(kind_standins, tmp_path):
    """The stand-in kind refuses what the real one does (kind#3795), so the --platform save is what passes."""
    from seatrial.fixtures.kind import images

    kind_standins.set("DOCKER_STORE", "containerd")
    env = environment(tmp_path / "env").up()
    try:
        saves = [c for c in kind_standins.commands("docker") if c.startswith("docker image save")]
        assert saves and all("--platform=linux/" in c for c in saves)
        old = DockerDaemon(**{**env.daemon.__dict__, "server_version": "27.4.0", "client_version": "27.4.0"})
        with pytest.raises(Exception, match="content digest .* not found"):
            images.pull_and_load(env.tools, old, ["velero/velero:v1.16.2"], ["seatrial-source"], tmp_path / "img",
                                 out=lambda line: None)
    finally:
        env.down()


# -- 8: Docker from snap -----------------------------------------------------------------------------------
def snap_docker(tmp_path: Path, standins) -> Path:
    """/snap/bin/docker as on Ubuntu: a symlink to `snap`, which runs what it was called as."""
    usr_bin, snap_bin = tmp_path / "usr-bin", tmp_path / "snap-bin"
    usr_bin.mkdir()
    snap_bin.mkdir()
    snap = usr_bin / "snap"
    snap.write_text(f'#!/bin/sh\ncase "$(basename "$0")" in\n  docker) exec "{standins.bin / "docker"}" "$@";;\n'
                    '  *) echo "error: unknown command \\"$1\\", see \'snap help\'." >&2; exit 64;;\nesac\n')
    snap.chmod(0o755)
    (snap_bin / "docker").symlink_to(snap)
    return snap_bin


def test_docker_from_snap_is_called_by_its_own_name_and_its_private_tmp_hides_nothing(kind_standins, tmp_path):
    from seatrial.fixtures.kind.tools import find_tools

    snap_bin = snap_docker(tmp_path, kind_standins)
    kind_standins.monkeypatch.setenv("PATH", f"{snap_bin}{os.pathsep}{os.environ['PATH']}")
    private = tmp_path / "snap-private-tmp"
    private.mkdir()
    kind_standins.set("PRIVATE_TMP", str(private))  # a strictly confined snap sees its own /tmp
    assert find_tools().docker == snap_bin / "docker"  # not /usr/bin/snap
    root = tmp_path / "env"
    assert str(root).startswith("/tmp/")  # where mkdtemp and pytest put it, and the snap would not look
    env = environment(root).up()
    try:
        assert env.state["ready"]
        assert list(private.rglob("*")) == []  # nothing was handed over through /tmp
    finally:
        env.down()


# -- 9: the Helm engine ------------------------------------------------------------------------------------
def test_a_helm_engine_that_does_not_load_is_refused_before_any_cluster(kind_standins, tmp_path, monkeypatch):
    class HelmLibraryError(Exception):  # what helm_python's _native.py raises: not an ImportError
        pass

    def no_library():
        raise HelmLibraryError("libhelm not found for darwin/amd64")

    monkeypatch.setattr(preflight, "_import_helm", no_library)
    monkeypatch.setattr(preflight.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(preflight.platform, "machine", lambda: "x86_64")
    text = refused_before_making_anything(kind_standins, tmp_path / "env")
    assert "HelmLibraryError" in text and "no wheel for Intel Macs" in text and "HELM_PYTHON_BUILD=1" in text


# -- 11: a container left by an earlier --keep; --keep without --dir ---------------------------------------
def test_a_left_s3_container_is_refused_before_any_cluster(kind_standins, tmp_path):
    subprocess.run(["kind", "create", "cluster", "--name=other", f"--kubeconfig={tmp_path / 'k'}"], check=True,
                   capture_output=True)  # makes the `kind` network
    subprocess.run(["docker", "run", "--detach", "--name=seatrial-s3", "--network=kind",
                    "--publish=127.0.0.1::9000", "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "server",
                    "/data"], check=True, capture_output=True)
    with pytest.raises(BadInput, match="container seatrial-s3 already exists") as refused:
        environment(tmp_path / "env").up()
    assert "docker rm --force --volumes seatrial-s3" in refused.value.render()
    assert not any(c.startswith("kind create cluster --name=seatrial") for c in kind_standins.commands())


def test_keep_without_dir_keeps_the_directory_the_kept_environment_is_recorded_in(tmp_path, monkeypatch, capsys):
    from seatrial.fixtures import rehearse
    from seatrial.fixtures.kind import rehearse as kind_rehearse

    made = []

    def kept_green_run(root, argv, *, out=print, evidence=None):
        made.append(root)
        (root / "kind.json").write_text(json.dumps({"clusters": ["seatrial-source", "seatrial-target"],
                                                    "container": True}))
        (root / "kubeconfig").write_text("apiVersion: v1\n")
        return 0

    monkeypatch.setattr(kind_rehearse, "rehearse_in_kind", kept_green_run)
    monkeypatch.setattr(rehearse.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "temp-root"))
    assert rehearse.main(["--env", "kind", "--keep"]) == 0
    assert (made[0] / "kind.json").exists() and (made[0] / "kubeconfig").exists()
    assert f"seatrial kind down --dir {made[0]}" in capsys.readouterr().out


# -- 12: Harbor's health is in the body --------------------------------------------------------------------
@pytest.fixture
def harbor_health_server():
    """An HTTP server answering /api/v2.0/health as Harbor does: 200 either way, the verdict in the body;
    `.body` is what it answers."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Harbor(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 -- http.server's name
            data = json.dumps(server.body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Harbor)
    server.body = {"status": "unhealthy", "components": [{"name": "core", "status": "healthy"},
                                                         {"name": "database", "status": "unhealthy"}]}
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_harbor_health_reads_the_body_not_the_status_code(harbor_health_server):
    from seatrial.fixtures.installer import harbor_health

    assert harbor_health(harbor_health_server.url) == "unhealthy (database: unhealthy)"
    harbor_health_server.body = {"status": "healthy", "components": [{"name": "core", "status": "healthy"}]}
    assert harbor_health(harbor_health_server.url) == "healthy"


def test_the_installer_waits_on_an_unhealthy_harbor_answering_200(harbor_health_server, monkeypatch):
    from seatrial.fixtures.installer import wait_harbor_healthy
    from seatrial.runbook.errors import WaitTimeout
    from tests.clock import FakeClock

    monkeypatch.setattr("seatrial.runbook.wait.time", FakeClock())
    said: list[str] = []
    with pytest.raises(WaitTimeout, match=r"unhealthy \(database: unhealthy\)"):
        wait_harbor_healthy(harbor_health_server.url, timeout=5, progress=said.append)
    assert any("unhealthy" in line for line in said)


def test_status_says_not_healthy_when_harbor_says_unhealthy(kind_standins, tmp_path, capsys, harbor_health_server):
    from seatrial.fixtures.kind.__main__ import main

    root = tmp_path / "env"
    root.mkdir()
    url = harbor_health_server.url
    (root / "kind.json").write_text(json.dumps({"ready": True, "clusters": [], "container": False,
                                                "harbor": {"source": url}}))
    code = main(["status", "--dir", str(root)])
    printed = capsys.readouterr().out
    assert code == 1 and f"{url}: unhealthy" in printed and "NOT healthy" in printed


# -- 13: the S3 container's volume and the image archives --------------------------------------------------
def test_down_removes_the_s3_containers_volume_and_up_keeps_no_image_archive(kind_standins, tmp_path):
    env = environment(tmp_path / "env").up()
    assert len(kind_standins.volumes()) == 1  # MinIO's VOLUME /data: the run's backups
    assert list((env.root / "images").glob("*.tar")) == []  # loaded into both clusters, then removed
    env.down()
    assert "docker rm --force --volumes seatrial-s3" in kind_standins.commands("docker")
    assert kind_standins.volumes() == []


# -- 16: network name, kind's stderr, the Harbor host port, install hints, the plugin pin ------------------
def test_kind_experimental_docker_network_is_the_network_the_s3_container_joins(kind_standins, tmp_path):
    kind_standins.monkeypatch.setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", "seatrial-net")
    env = environment(tmp_path / "env").up()
    try:
        runs = [c for c in kind_standins.commands("docker") if c.startswith("docker run")]
        assert runs and "--network=seatrial-net" in runs[0]
        assert env.bucket.in_network == "http://seatrial-s3:9000"
    finally:
        env.down()


def test_a_harbor_port_taken_meanwhile_is_replaced_and_kinds_reason_is_shown(kind_standins, tmp_path, monkeypatch):
    from seatrial.fixtures.registry import process

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real_free_port = process.free_port
    handed = []

    def first_a_taken_one():
        handed.append(busy if len(handed) == 1 else real_free_port())  # the target's first choice was taken
        return handed[-1]

    monkeypatch.setattr(process, "free_port", first_a_taken_one)
    lines: list[str] = []
    try:
        env = environment(tmp_path / "env", lines).up()
        assert f"kind: host port {busy} was taken meanwhile; trying another" in lines
        assert env.state["harbor"]["target"] == f"http://127.0.0.1:{handed[2]}"
        env.down()
        monkeypatch.setattr(process, "free_port", lambda: busy)  # always taken: kind's own reason reaches the user
        with pytest.raises(UpFailed) as failed:
            environment(tmp_path / "again").up()
        assert f"Bind for 127.0.0.1:{busy} failed: port is already allocated" in failed.value.render()
        assert "CalledProcessError" not in failed.value.render()
    finally:
        taken.close()


@pytest.mark.parametrize(("system", "machine", "expected"), [
    ("Linux", "x86_64", "kind-linux-amd64"),
    ("Linux", "aarch64", "kind-linux-arm64"),
    ("Darwin", "arm64", "brew install kind"),
    ("Darwin", "x86_64", "brew install kind"),
])
def test_install_hints_are_for_the_platform_and_never_apt(system, machine, expected):
    from seatrial.fixtures.kind.prereqs import install_hint

    hints = {tool: install_hint(tool, system, machine) for tool in ("kind", "docker", "kubectl")}
    assert expected in hints["kind"]
    assert not any("apt-get" in hint for hint in hints.values())
    if system == "Darwin":
        assert "Docker Desktop" in hints["docker"] and hints["kubectl"] == "brew install kubectl"
    else:
        arch = "arm64" if machine == "aarch64" else "amd64"
        assert f"/bin/linux/{arch}/kubectl" in hints["kubectl"] and "not the snap" in hints["docker"]


def test_the_aws_plugin_for_velero_1_18_is_pinned_by_digest():
    from seatrial.fixtures.kind.versions import VELERO_IMAGES

    plugin = VELERO_IMAGES["12.1.0"][1]
    assert plugin == ("docker.io/velero/velero-plugin-for-aws:v1.14.2@sha256:"
                      "0751144c1c8e52d52c48717fbd13ad5a3061e612ae4d7ad744a946cd5b139d1a")
    assert plugin in choose().images()


def test_a_digest_pinned_image_is_pulled_by_digest_and_reaches_the_nodes_and_pods_by_its_tag(kind_standins, tmp_path,
                                                                                             monkeypatch):
    """A pod asking for the digest would make each node pull it again (the archive holds one platform's manifest,
    not the index the digest names); the pin is held on the host, the nodes get the tag."""
    from seatrial.fixtures.kind.installer_seam import InstallRequest
    from seatrial.fixtures.kind.versions import VELERO_IMAGES

    pinned = VELERO_IMAGES["12.1.0"][1]
    tagged = "docker.io/velero/velero-plugin-for-aws:v1.14.2"
    requests: list[InstallRequest] = []
    env = KindEnvironment(tmp_path / "env", choose(velero_chart="12.1.0", uploader="kopia"),
                          installer=requests.append, out=lambda line: None).up()
    try:
        commands = kind_standins.commands("docker")
        assert any(c.startswith("docker pull --platform=") and c.endswith(f" {pinned}") for c in commands)
        assert f"docker tag {pinned} {tagged}" in commands
        loaded = json.loads((kind_standins.state / "clusters" / "seatrial-target" / "images.json").read_text())
        assert tagged in loaded and pinned not in loaded
    finally:
        env.down()
    import seatrial.fixtures.installer as shared
    from seatrial.fixtures.kind import installer_seam

    seen = {}
    monkeypatch.setattr(shared, "install_environment", lambda inst, progress: seen.setdefault("i", inst))
    installer_seam.install(requests[0])
    assert seen["i"].aws_plugin_image == tagged  # what the Velero pod's init container names


def test_a_daemon_that_does_not_answer_is_a_dependency_fault_in_one_line(kind_standins, tmp_path):
    kind_standins.fail("docker info")
    with pytest.raises(Unreachable, match="Docker daemon does not answer") as refused:
        environment(tmp_path / "env").up()
    assert refused.value.exit_code == 3 and made_anything(kind_standins) == []


def test_the_kind_cli_prints_a_refusal_as_one_seatrial_error_line(kind_standins, tmp_path):
    kind_standins.set("DOCKER_ARCH", "arm64")
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.kind", "up", "--dir", str(tmp_path / "env")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("seatrial: error: image goharbor/"), errors
    assert "Traceback" not in done.stderr
