"""The checks' framework, run as the runner runs it: `python -m pytest checks/... --seatrial-config X`.

Unreachable dependencies fail fast with exit 3 and one line each; a missing or bad configuration is a usage
error naming the key; modules run in step order whatever order they are given in; checks parametrized from
live objects get readable ids. Reachable dependencies are the real test API server (`kube_api`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.runbook.clients.kube import Cluster

REPO = Path(__file__).resolve().parent.parent
CHECKS = REPO / "seatrial" / "checks"
HARBOR_PASSWORD = "framework-test-harbor-password-7781"
S3_SECRET = "framework-test-s3-secret-7781"


def run_checks(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-o", "addopts=",
               "--rootdir", str(REPO)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False)


@pytest.fixture
def closed_ports() -> Iterator[list[int]]:
    """Loopback ports bound but not listening: a connection to them is refused at once."""
    sockets = []
    for _ in range(5):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    yield [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()


def write_config(root: Path, kubeconfig: Path, *, endpoint: str, source_url: str, target_url: str,
                 **overrides) -> Path:
    (root / "credentials-velero").write_text(
        f"[default]\naws_access_key_id = framework-test-access\naws_secret_access_key = {S3_SECRET}\n")
    (root / "harbor-password").write_text(HARBOR_PASSWORD + "\n")
    data = {
        "source": {"kubeconfig": str(kubeconfig), "context": "source", "namespace": "harbor", "release": "my-harbor"},
        "target": {"kubeconfig": str(kubeconfig), "context": "target", "namespace": "harbor", "release": "my-harbor"},
        "storage": {"endpoint": endpoint, "bucket": "velero", "prefix": "framework", "region": "us-east-1",
                    "path_style": True, "credentials_file": "./credentials-velero"},
        "velero": {"namespace": "velero", "uploader": "restic"},
        "harbor": {"source_url": source_url, "target_url": target_url, "username": "admin",
                   "password_file": "./harbor-password"},
        "run_dir": "./run",
    }
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        data[section][key] = value
    path = root / "seatrial.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- fail fast


def test_unreachable_dependencies_fail_fast_with_one_line_each(tmp_path: Path, closed_ports: list[int]) -> None:
    kube, s3, old, new, other = (f"http://127.0.0.1:{port}" for port in closed_ports)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": kube, "target": other})
    config = write_config(tmp_path, kubeconfig, endpoint=s3, source_url=old, target_url=new)

    started = time.monotonic()
    done = run_checks(str(CHECKS), f"--seatrial-config={config}")
    elapsed = time.monotonic() - started

    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert elapsed < 20, f"took {elapsed:.1f}s to say the dependencies are unreachable"
    lines = [line for line in output.splitlines() if line.startswith("  ") and ": " in line]
    named = {line.strip().split(":")[0] for line in lines}
    assert named == {"source", "target", "bucket", "source_harbor", "target_harbor"}, output
    assert len(lines) == 5, output
    assert "5 dependencies unreachable" in output
    for port in closed_ports:
        assert f"127.0.0.1:{port}" in output  # each line says where it tried
    assert "Traceback" not in output and "ERROR " not in output and "error" not in done.stdout.lower().split(
        "dependencies unreachable")[0]
    assert HARBOR_PASSWORD not in output and S3_SECRET not in output


def test_only_the_selected_modules_dependencies_are_probed(tmp_path: Path, closed_ports: list[int]) -> None:
    kube, s3, old, new, other = (f"http://127.0.0.1:{port}" for port in closed_ports)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": kube, "target": other})
    config = write_config(tmp_path, kubeconfig, endpoint=s3, source_url=old, target_url=new)

    done = run_checks(str(CHECKS / "test_thaw_target.py"), f"--seatrial-config={config}")

    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "1 dependency unreachable" in output
    assert "target_harbor:" in output and "bucket:" not in output and "source:" not in output


# ----------------------------------------------------------------------------- usage errors


def test_without_a_configuration_the_usage_error_says_how_to_give_one(tmp_path: Path) -> None:
    done = run_checks(str(CHECKS / "test_fixup.py"), cwd=tmp_path)
    assert done.returncode == 4
    assert "--seatrial-config PATH or set SEATRIAL_CONFIG" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_configuration_file_is_named(tmp_path: Path) -> None:
    done = run_checks(str(CHECKS / "test_fixup.py"), f"--seatrial-config={tmp_path / 'absent.yaml'}")
    assert done.returncode == 4
    assert "absent.yaml" in done.stderr and "not found" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(("override", "key"), [
    ({"storage__bucket": "velero/harbor"}, "storage.bucket"),
    ({"velero__uploader": "tar"}, "velero.uploader"),
    ({"source__context": "nowhere"}, "source.context"),
    ({"harbor__source_url": "not a url"}, "harbor.source_url"),
])
def test_an_invalid_configuration_is_a_usage_error_naming_the_key(tmp_path: Path, override: dict, key: str) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": "http://127.0.0.1:1",
                                                            "target": "http://127.0.0.1:4"})
    config = write_config(tmp_path, kubeconfig, endpoint="http://127.0.0.1:1", source_url="http://127.0.0.1:2",
                          target_url="http://127.0.0.1:3", **override)
    done = run_checks(str(CHECKS), f"--seatrial-config={config}")
    assert done.returncode == 4, done.stdout + done.stderr
    assert key in done.stderr and "fix:" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_configuration_can_come_from_the_environment(tmp_path: Path, closed_ports: list[int]) -> None:
    kube, s3, old, new, other = (f"http://127.0.0.1:{port}" for port in closed_ports)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": kube, "target": other})
    config = write_config(tmp_path, kubeconfig, endpoint=s3, source_url=old, target_url=new)
    command = [sys.executable, "-m", "pytest", str(CHECKS / "test_fixup.py"), "-p", "no:cacheprovider",
               "-o", "addopts=", "--rootdir", str(REPO)]
    env = {"PATH": "/usr/bin:/bin", "SEATRIAL_CONFIG": str(config), "HOME": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=60, check=False)
    assert done.returncode == 3, done.stdout + done.stderr  # it read the file: the target is unreachable
    assert "target:" in done.stdout + done.stderr


# ----------------------------------------------------------------------------- order, ids, header, JUnit


def _pod(name: str, owner_kind: str, owner: str, volumes: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "harbor",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner,
                                          "uid": f"uid-{owner}", "controller": True}]},
        "spec": {"containers": [{"name": "main", "image": "goharbor/example:v2"}],
                 "volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim}}
                             for volume, claim in volumes.items()]},
    }


@pytest.fixture
def live_config(tmp_path: Path, kube_api, closed_ports: list[int]) -> Path:
    """Source and target are two contexts of the real test API server; a namespace with two pods."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": kube_api.url, "target": kube_api.url})
    with Cluster(kubeconfig, "source") as cluster:
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
        cluster.create(_pod("my-harbor-database-0", "StatefulSet", "my-harbor-database",
                            {"database-data": "database-data-my-harbor-database-0"}))
        cluster.create(_pod("my-harbor-registry-5d9c7b-x2x8q", "ReplicaSet", "my-harbor-registry-5d9c7b",
                            {"registry-data": "my-harbor-registry"}))
    s3, old, new = (f"http://127.0.0.1:{port}" for port in closed_ports[:3])
    return write_config(tmp_path, kubeconfig, endpoint=s3, source_url=old, target_url=new,
                        target__namespace="harbor-new")


def _junit_cases(path: Path) -> list[tuple[str, str]]:
    return [(case.get("classname"), case.get("name")) for case in ET.parse(path).getroot().iter("testcase")]


def test_modules_run_in_step_order_with_readable_ids(tmp_path: Path, live_config: Path) -> None:
    junit = tmp_path / "junit.xml"
    # given out of order on purpose: fixup is a later step than annotate
    done = run_checks(str(CHECKS / "test_fixup.py"), str(CHECKS / "test_annotate.py"),
                      f"--seatrial-config={live_config}", f"--junitxml={junit}", "-v")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    cases = _junit_cases(junit)
    assert cases == [
        ("seatrial.checks.test_annotate", "test_volume_covered[harbor/my-harbor-database-0:database-data]"),
        ("seatrial.checks.test_annotate", "test_volume_covered[harbor/my-harbor-registry-5d9c7b-x2x8q:registry-data]"),
        ("seatrial.checks.test_fixup", "test_service_has_target_address[none]"),
    ], output
    assert output.index("test_annotate.py::") < output.index("test_fixup.py::")


def test_report_header_and_junit_properties_name_source_and_target(tmp_path: Path, live_config: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = run_checks(str(CHECKS / "test_annotate.py"), f"--seatrial-config={live_config}",
                      f"--junitxml={junit}", "--seatrial-backup=bk-1", "--seatrial-restore=rs-1")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "seatrial: source source/harbor (kubeconfig) -> target target/harbor-new (kubeconfig)" in output
    assert "seatrial: backup bk-1, restore rs-1" in output
    properties = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert properties["seatrial.backup"] == "bk-1" and properties["seatrial.restore"] == "rs-1"
    assert properties["seatrial.source"] == "source/harbor (kubeconfig)"
    assert HARBOR_PASSWORD not in junit.read_text()


def test_a_failing_check_says_what_observed_and_fix_without_a_traceback(tmp_path: Path, live_config: Path,
                                                                       kube_api) -> None:
    with Cluster(kube_api.kubeconfig, kube_api.context) as cluster:
        # the classic trap: the opt-in annotation names the PVC, not the pod volume
        cluster.patch("v1", "Pod", "my-harbor-database-0", "harbor", {"metadata": {"annotations": {
            "backup.velero.io/backup-volumes": "database-data-my-harbor-database-0"}}})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "journal.json").write_text(
        '{"steps": {"annotate": {"status": "passed", "mode": "opt-in"}}, "names": {}}')
    junit = tmp_path / "junit.xml"
    done = run_checks(str(CHECKS / "test_annotate.py"), f"--seatrial-config={live_config}",
                      f"--junitxml={junit}")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    failure = next(case.find("failure") for case in ET.parse(junit).getroot().iter("testcase")
                   if case.find("failure") is not None)
    text = failure.get("message") + failure.text
    assert "harbor/my-harbor-database-0:database-data" in text and "the pod VOLUME name 'database-data'" in text
    assert "observed:" in text and "fix:" in text
    assert "kubectl -n harbor patch statefulset my-harbor-database" in text
    assert "Traceback" not in output and "checks/facts.py" not in output and "verdict.py" not in output


# ----------------------------------------------------------------------------- reachable, but not usable


@pytest.fixture
def bucket_config(tmp_path: Path, kube_api, s3_server, closed_ports: list[int]) -> tuple[Path, str]:
    """Clusters on the real test API server, the bucket on moto (a fresh bucket), Harbor unreachable."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": kube_api.url, "target": kube_api.url})
    bucket = s3_server.new_bucket("checks")
    config = write_config(tmp_path, kubeconfig, endpoint=s3_server.endpoint, source_url="http://127.0.0.1:1",
                          target_url="http://127.0.0.1:2", target__namespace="harbor-new", storage__bucket=bucket)
    (tmp_path / "credentials-velero").write_text(  # the moto server's keys
        f"[default]\naws_access_key_id = {s3_server.access_key.reveal()}\n"
        f"aws_secret_access_key = {s3_server.secret_key.reveal()}\n")
    return config, bucket


def test_a_missing_bucket_is_one_line_naming_it(tmp_path: Path, bucket_config: tuple[Path, str]) -> None:
    config, bucket = bucket_config
    text = config.read_text().replace(f"bucket: {bucket}", "bucket: no-such-bucket-here")
    config.write_text(text)
    done = run_checks(str(CHECKS / "test_backup.py"), f"--seatrial-config={config}")
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "1 dependency unreachable" in output
    line = next(line for line in output.splitlines() if line.startswith("  bucket: "))
    assert "no-such-bucket-here" in line and "fix:" in line
    assert not any(line.startswith("  source: ") for line in output.splitlines())  # the cluster answered


def test_an_unknown_backup_is_one_root_cause_and_the_rest_not_judged(tmp_path: Path,
                                                                     bucket_config: tuple[Path, str]) -> None:
    config, _ = bucket_config
    junit = tmp_path / "junit.xml"
    done = run_checks(str(CHECKS / "test_backup.py"), f"--seatrial-config={config}", f"--junitxml={junit}")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    failed = [case for case in cases if case.find("failure") is not None or case.find("error") is not None]
    assert [case.get("name") for case in failed] == ["test_backup_completed"], output
    assert cases[0].get("name") == "test_backup_completed"  # the root cause comes first
    message = failed[0].find("failure").get("message")
    assert "the backup to check is unknown" in message and "--seatrial-backup NAME" in message
    assert "observed:" in message and "fix:" in message and "Traceback" not in failed[0].find("failure").text
    others = [case for case in cases if case is not failed[0]]
    assert len(others) >= 8
    for case in others:  # never a silent skip: each names the cause it waits on
        skipped = case.find("skipped")
        assert skipped is not None, case.get("name")
        assert skipped.get("message").startswith("not judged: the backup to check is unknown"), case.get("name")


def test_live_objects_are_listed_once_per_kind(tmp_path: Path, live_config: Path) -> None:
    from seatrial.checks.context import CheckContext
    from seatrial.checks.facts import pod_volumes, pods, pvcs
    from seatrial.runbook.config import load_config

    ctx = CheckContext(load_config(live_config))
    for _ in range(3):
        assert len(pod_volumes(ctx, "source")) == 2
        pods(ctx, "source")
        pvcs(ctx, "source")
    lists = {path: count for (method, path), count in ctx.source.request_counts.items() if method == "GET"}
    assert lists == {"/api/v1/namespaces/harbor/pods": 1, "/api/v1/namespaces/harbor/persistentvolumeclaims": 1,
                     "/apis/apps/v1/namespaces/harbor/deployments": 1}, lists


def test_a_configured_share_of_artifacts_is_pulled_the_same_on_every_run(tmp_path: Path) -> None:
    import hashlib

    from seatrial.checks.context import CheckContext
    from seatrial.checks.golden import golden_artifacts, sampled_artifacts
    from seatrial.runbook.config import load_config
    from seatrial.runbook.migration.inventory import Artifact, Inventory, Project

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"source": "http://127.0.0.1:1",
                                                            "target": "http://127.0.0.1:4"})
    config = write_config(tmp_path, kubeconfig, endpoint="http://127.0.0.1:1", source_url="http://127.0.0.1:2",
                          target_url="http://127.0.0.1:3", harbor__verify_fraction=0.25)
    digests = [f"sha256:{hashlib.sha256(str(i).encode()).hexdigest()}" for i in range(400)]
    golden = Inventory("http://127.0.0.1:2", "2026-01-01T00:00:00Z", {"p": Project("p", False, {
        "p/r": {d: Artifact(d, 100, (f"t{i}",)) for i, d in enumerate(digests)}})})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "golden-inventory.json").write_text(golden.to_json_text())

    first = [a["digest"] for a in sampled_artifacts(CheckContext(load_config(config)))]
    again = [a["digest"] for a in sampled_artifacts(CheckContext(load_config(config)))]
    assert first == again  # the same artifacts on every run
    assert 60 <= len(first) <= 140, len(first)  # about a quarter of 400
    ctx = CheckContext(load_config(config))
    assert len(golden_artifacts(ctx)) == 400
    assert golden_artifacts(ctx) is golden_artifacts(ctx)  # built once: every failing check asks for the count


@pytest.mark.parametrize("backup", [["--seatrial-backup=bk-1"], []], ids=["backup-known", "backup-unknown"])
def test_an_unknown_restore_is_one_root_cause_and_the_rest_not_judged(tmp_path: Path, kube_api,
                                                                      bucket_config: tuple[Path, str], backup) -> None:
    """`pytest checks/test_restore.py --seatrial-restore no-such-restore` on a target the restore never reached:
    the missing Restore is said once, first; the target's PVCs and pods are not judged against it (nor is the
    backup, known or not, a second cause)."""
    config, _ = bucket_config
    with Cluster(kube_api.kubeconfig, kube_api.context) as cluster:
        for namespace in ("velero", "harbor"):
            cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        cluster.create({"apiVersion": "velero.io/v1", "kind": "Backup",
                        "metadata": {"name": "bk-1", "namespace": "velero"}, "spec": {}})
        for name in ("my-harbor-registry", "database-data-my-harbor-database-0"):
            cluster.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                            "metadata": {"name": name, "namespace": "harbor"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    junit = tmp_path / "junit.xml"
    done = run_checks(str(CHECKS / "test_restore.py"), f"--seatrial-config={config}", f"--junitxml={junit}",
                      *backup, "--seatrial-restore=no-such-restore")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    failed = [case for case in cases if case.find("failure") is not None or case.find("error") is not None]
    assert [case.get("name") for case in failed] == ["test_restore_completed"], output
    assert cases[0].get("name") == "test_restore_completed"
    message = failed[0].find("failure").get("message")
    assert "target: Restore no-such-restore does not exist in namespace velero" in message, message
    assert "--seatrial-restore NAME" in message
    others = [case for case in cases if case is not failed[0]]
    assert {case.get("name").split("[")[0] for case in others} >= {"test_pvc_restored_and_bound",
                                                                   "test_no_extra_pvcs_on_target", "test_pod_ready"}
    for case in others:
        skipped = case.find("skipped")
        assert skipped is not None, case.get("name")
        assert skipped.get("message").startswith("not judged: target: Restore no-such-restore"), case.get("name")
