"""The process runner's pure parts: which images it runs, how a kubelet expands `$(VAR)`, where a hostPath lands,
and the container launcher's refusal to mount on the host. The runner itself runs in tests/test_real_env.py and
every real rehearsal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from seatrial.fixtures.real.images import ImageStore, repository, runnable
from seatrial.fixtures.real.pod_files import expand, host_path
from seatrial.fixtures.real.podrunner import owned


@pytest.mark.parametrize("image, name", [
    ("velero/velero:v1.16.2", "velero/velero"),
    ("docker.io/velero/velero:v1.18.1", "velero/velero"),
    ("velero/velero@sha256:abc", "velero/velero"),
    ("localhost:5000/velero/velero-plugin-for-aws:v1.12.2", "velero/velero-plugin-for-aws"),
    ("docker.io/bitnamilegacy/kubectl:1.33", "bitnamilegacy/kubectl"),
    ("busybox", "busybox"),
])
def test_an_image_reference_names_its_repository(image, name):
    assert repository(image) == name


def test_only_pods_with_one_of_veleros_images_are_the_runners():
    velero = {"spec": {"containers": [{"name": "c", "image": "velero/velero:v1.16.2"}]}}
    restored = {"spec": {"containers": [{"name": "db", "image": "goharbor/harbor-db:v2.14.0"}],
                         "initContainers": [{"name": "restore-wait", "image": "velero/velero:v1.16.2"}]}}
    hook = {"spec": {"containers": [{"name": "velero", "image": "velero/velero:v1.16.2"}],
                     "initContainers": [{"name": "kubectl", "image": "docker.io/bitnamilegacy/kubectl:1.33"}]}}
    harbor = {"spec": {"containers": [{"name": "core", "image": "goharbor/harbor-core:v2.14.0"}]}}
    kubectl_alone = {"spec": {"containers": [{"name": "k", "image": "bitnami/kubectl:1.33"}]}}
    assert [owned(p) for p in (velero, restored, hook, harbor, kubectl_alone)] == [True, True, True, False, False]
    assert not runnable("bitnami/kubectl:1.33")  # run only inside a pod that has a Velero image


def test_the_image_store_puts_this_machines_build_where_the_image_has_its_files(tmp_path):
    store = ImageStore(tmp_path / "velero-build", tmp_path / "plugin" / "velero-plugin-for-aws")
    velero = store.image("velero/velero:v1.18.1")
    assert velero.entrypoint == ["/velero"] and velero.files["/velero"] == tmp_path / "velero-build" / "velero"
    plugin = store.image("velero/velero-plugin-for-aws:v1.12.2")
    assert plugin.entrypoint == ["cp", "/plugins/velero-plugin-for-aws", "/target/."]
    assert store.image("goharbor/harbor-core:v2.14.0") is None


def test_the_kubelets_variable_expansion():
    env = {"A": "1", "NS": "velero"}
    assert expand("$(A)-$(NS)", env) == "1-velero"
    assert expand("$(MISSING)", env) == "$(MISSING)"  # left as written, as the kubelet does
    assert expand("$$(A)", env) == "$(A)"  # escaped


def test_a_host_path_stays_inside_the_clusters_directory(tmp_path):
    assert host_path(tmp_path, "/var/lib/kubelet/pods") == tmp_path / "pods"
    assert host_path(tmp_path, "/var/lib/kubelet/plugins") == tmp_path / "plugins"
    assert host_path(tmp_path, "/etc/ssl") == tmp_path / "host" / "etc" / "ssl"
    assert host_path(tmp_path, "/var/lib/kubelet/../../../etc") == tmp_path / "host" / "etc"


def test_the_launcher_refuses_to_mount_in_the_hosts_mount_namespace(tmp_path):
    """A bind mount on the host would outlive the container, and removing its root would remove what it shows."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"root": str(tmp_path / "root"), "host_mount_namespace": os.readlink(
        "/proc/self/ns/mnt"), "mounts": [{"source": "/usr", "target": "/usr"}], "argv": ["true"]}))
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.real.container", str(spec)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 125 and "refusing to mount in the host's mount namespace" in done.stderr
    assert not (tmp_path / "root" / "usr").exists()


def test_kwoks_stages_leave_exactly_the_runners_pods_alone():
    """stages.yaml's image selector and `runnable` must agree: a pod both run would get two kubelets, a pod
    neither runs would hang Pending."""
    import re
    from importlib import resources

    stages = resources.files("seatrial.fixtures.real").joinpath("stages.yaml").read_text()
    patterns = set(re.findall(r'test\("([^"]+)"\)', stages))
    assert len(patterns) == 1, patterns  # the same selector in pod-ready and pod-complete
    selector = re.compile(patterns.pop())
    for image in ("velero/velero:v1.16.2", "docker.io/velero/velero:v1.18.1", "velero/velero@sha256:ab",
                  "velero/velero-plugin-for-aws:v1.12.2", "velero/velero-restore-helper:v1.16.2", "busybox",
                  "goharbor/harbor-core:v2.14.0", "bitnamilegacy/kubectl:1.33", "someone/velero/velero-ui:1"):
        assert bool(selector.search(image)) == runnable(image), image
