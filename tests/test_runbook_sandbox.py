"""The seatrial.runbook end to end on one sandbox, through the real `seatrial` CLI in a subprocess.

The tests run in file order on one module sandbox and tell one operator's story: plan; a dry run that
changes nothing; annotate removing a stale exclusion the configuration does not name; a planted
mistake after annotate (an exclusion on the registry pod, as a colleague's `helm upgrade` with
podAnnotations leaves behind) that stops `run --from backup` at backup's checks, with --keep-frozen
and without (the source thawed); the fix, a run killed during the backup and its resumption to green;
a second run that does nothing while a third is refused by the lock; reset-target without and with
confirmation, and a new restore (fixup by patch this time); the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.config import load_config
from seatrial.runbook.migration.journal import Journal
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "harbor"
EXCLUDES = "backup.velero.io/backup-volumes-excludes"
CLI_TIMEOUT_S = 600
# Velero revalidates each BackupStorageLocation periodically and writes status.lastValidationTime: for
# these, everything but the status (and so the resourceVersion) must stay the same.
STATUS_REWRITTEN_PERIODICALLY = {"BackupStorageLocation"}


# ----------------------------------------------------------------------------- plumbing


class Box:
    """The module's sandbox and what the story has seen so far."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.config = load_config(sandbox.config_path)
        self.journal = Journal(self.config.run_dir)
        self.seen: dict[str, object] = {}
        self.timings: dict[str, float] = {}

    def needs(self, chapter: str) -> None:
        """The story is one run directory: a chapter makes sense only after the one before it passed."""
        if chapter not in self.seen.get("chapters", set()):
            pytest.fail(f"not run: the story stopped before this ({chapter!r} did not pass)", pytrace=False)

    def passed(self, chapter: str) -> None:
        self.seen.setdefault("chapters", set()).add(chapter)

    def cli(self, *args: str, label: str | None = None) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(self.config.path), *args],
                              cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, check=False)
        self.timings[label or " ".join(args)] = time.monotonic() - started
        return done

    def kubectl(self, context: str, *args: str) -> str:
        done = subprocess.run([require_tool("kubectl"), f"--kubeconfig={self.sandbox.kubeconfig}",
                               f"--context={context}", f"--cache-dir={self.sandbox.root / 'kube-cache'}", *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def objects(self, context: str, namespace: str | None = None) -> dict[str, str]:
        """`kind/namespace/name -> resourceVersion` of every listable object (of one namespace, if given)."""
        kinds = self.kubectl(context, "api-resources", "--verbs=list", "-o", "name",
                             *(["--namespaced=true"] if namespace else [])).split()
        where = ["-n", namespace] if namespace else ["-A"]
        items = json.loads(self.kubectl(context, "get", ",".join(kinds), *where, "-o", "json"))["items"]
        return {f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": _version(o)
                for o in items}

    def bucket(self) -> dict[str, str]:
        client = boto3.client("s3", endpoint_url=self.sandbox.s3_endpoint, region_name="us-east-1",
                              aws_access_key_id=self.sandbox.access_key.reveal(),
                              aws_secret_access_key=self.sandbox.secret_key.reveal())
        keys: dict[str, str] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="velero"):
            keys.update({item["Key"]: item["ETag"] for item in page.get("Contents", [])})
        return keys

    def harbor(self, side: str) -> HarborClient:
        url = self.sandbox.source_harbor_url if side == "source" else self.sandbox.target_harbor_url
        return HarborClient(url, "admin", self.sandbox.admin_password)

    def registry_pod(self) -> str:
        return self.registry_pods()[0]

    def registry_pods(self) -> list[str]:
        """Both replicas: they share one RWX PVC, which Velero backs up from either."""
        pods = json.loads(self.kubectl("source", "get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
        return sorted(p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("my-harbor-registry-"))

    def report(self) -> str:
        return (self.config.run_dir / "report.md").read_text()

    def secrets(self) -> list[str]:
        return [self.sandbox.admin_password.reveal(), self.sandbox.access_key.reveal(),
                self.sandbox.secret_key.reveal()]


def _version(obj: dict) -> str:
    if obj["kind"] not in STATUS_REWRITTEN_PERIODICALLY:
        return obj["metadata"].get("resourceVersion", "")
    metadata = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return json.dumps({**obj, "metadata": metadata, "status": None}, sort_keys=True)


def out(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def assert_no_secret(box: Box, text: str, where: str) -> None:
    for value in box.secrets():
        assert value not in text, f"a secret value is in {where}"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    for tool in ("docker-registry", "restic", "kubectl"):
        require_tool(tool)
    sandbox = Sandbox(tmp_path_factory.mktemp("seatrial.runbook")).start()
    story = Box(sandbox)
    try:
        yield story
    finally:
        sandbox.stop()
        timings = ", ".join(f"{label}: {seconds:.1f}s" for label, seconds in story.timings.items())
        print(f"\nseatrial CLI timings: {timings}")


# ----------------------------------------------------------------------------- the story


def test_plan_lists_each_step_with_objects_and_calls(box: Box) -> None:
    done = box.cli("plan")
    assert done.returncode == 0, out(done)
    text = done.stdout
    steps = [line.split(". ", 1)[1] for line in text.splitlines() if line[:1].isdigit()]
    assert steps == ["preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw-target",
                     "verify-harbor", "upgrade"]
    source, target = box.sandbox.source_harbor_url, box.sandbox.target_harbor_url
    for expected in (f"GET {source}/api/v2.0/users/current",
                     f"PUT {source}/api/v2.0/configurations {{\"read_only\": true}}",
                     f"PATCH pod {NAMESPACE}/my-harbor-redis-0 on source: {EXCLUDES}=data",
                     "create Backup velero/", "includedNamespaces [harbor]", "defaultVolumesToFsBackup true",
                     "create ConfigMap velero/seatrial-fixup on target", "create Restore velero/",
                     "add /spec/loadBalancerIP=198.51.100.10", f"{target} answers, then PUT /api/v2.0/configurations",
                     "checks: seatrial/checks/test_verify_harbor.py",
                     "on request (not part of run): seatrial reset-target",
                     f"namespace {NAMESPACE} is absent on target target: nothing to delete"):
        assert expected in text, f"{expected!r} not in the plan:\n{text}"
    assert_no_secret(box, out(done), "the plan")


def test_dry_run_changes_nothing(box: Box) -> None:
    before = (box.objects("source"), box.objects("target"), box.bucket(), box.harbor("source").read_only())
    done = box.cli("run", "--dry-run")
    after = (box.objects("source"), box.objects("target"), box.bucket(), box.harbor("source").read_only())
    assert done.returncode == 0, out(done)
    assert "would: create Backup velero/" in done.stdout and "would: PUT" in done.stdout
    for name, then, now in zip(("source objects", "target objects", "bucket", "source read_only"), before, after,
                               strict=True):
        assert then == now, f"the dry run changed the {name}"
    assert not box.journal.path.exists(), "the dry run wrote a journal"


def test_annotate_removes_an_exclusion_the_configuration_does_not_name(box: Box) -> None:
    pod = box.registry_pod()
    box.kubectl("source", "-n", NAMESPACE, "annotate", "pod", pod, f"{EXCLUDES}=registry-data")
    done = box.cli("run", "--until", "annotate", label="run --until annotate")
    assert done.returncode == 0, out(done)
    assert f"pod {NAMESPACE}/{pod}: registry-data was excluded by an annotation that volumes.exclude does not " \
           "name; it will be backed up" in done.stdout, done.stdout
    live = json.loads(box.kubectl("source", "get", "pod", pod, "-n", NAMESPACE, "-o", "json"))["metadata"]
    assert EXCLUDES not in (live.get("annotations") or {})
    redis = json.loads(box.kubectl("source", "get", "pod", "my-harbor-redis-0", "-n", NAMESPACE, "-o", "json"))
    assert redis["metadata"]["annotations"][EXCLUDES] == "data"
    box.passed("annotated")


def test_planted_exclusion_stops_at_backup_checks_and_keep_frozen_keeps_the_source_read_only(box: Box) -> None:
    box.needs("annotated")
    pod = box.registry_pod()
    for replica in box.registry_pods():  # on one replica only, the other would carry the shared PVC
        box.kubectl("source", "-n", NAMESPACE, "annotate", "pod", replica, f"{EXCLUDES}=registry-data", "--overwrite")
    box.seen["registry_pods"] = box.registry_pods()

    done = box.cli("run", "--from", "backup", "--keep-frozen", label="run --from backup --keep-frozen (fails)")
    text = out(done)
    assert done.returncode == 1, text
    assert "backup: " in text and "check(s) failed" in text, text
    assert f"{NAMESPACE}/{pod}:registry-data" in text, text
    assert "fix:" in text and "then resume with: seatrial" in text, text
    assert "causes and fixes: docs/troubleshooting.md#backup-checks" in text, text
    assert "restore" not in [line.removeprefix("== ") for line in text.splitlines()], "went past backup"
    assert box.harbor("source").read_only() is True
    assert "source Harbor stays read-only (--keep-frozen)" in text
    assert "kept frozen after the failed backup: --keep-frozen" in box.report()
    box.seen["first_backup"] = box.journal.name("backup")
    box.passed("planted")


def test_failed_backup_thaws_the_source_and_the_retry_gets_a_new_name(box: Box) -> None:
    box.needs("planted")
    done = box.cli("run", "--from", "backup", label="run --from backup (fails, thaws)")
    text = out(done)
    assert done.returncode == 1, text
    second = box.journal.name("backup")
    assert second and second != box.seen["first_backup"], (second, box.seen["first_backup"])
    assert box.harbor("source").read_only() is False, "a failed backup must leave the source writable"
    assert "is writable again" in text
    assert "writable (thawed after the failed backup)" in box.report()
    box.passed("thawed")


def test_after_the_fix_a_run_killed_during_the_backup_resumes_and_finishes_green(box: Box) -> None:
    box.needs("thawed")
    for replica in box.seen["registry_pods"]:
        box.kubectl("source", "-n", NAMESPACE, "annotate", "pod", replica, f"{EXCLUDES}-")
    started = time.monotonic()
    killed = subprocess.Popen([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(box.config.path), "run"],
                              cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in killed.stdout:
            seen.append(line)
            if "created Backup velero/" in line:
                killed.kill()  # a crash while waiting for the backup
                break
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.wait()
    box.timings["run (killed during the backup)"] = time.monotonic() - started
    text = "".join(seen)
    assert "== freeze: done before, but its checks now fail; doing it again" in text, text  # thawed: frozen again
    interrupted = text.rsplit("created Backup velero/", 1)[1].split()[0]
    assert (box.config.run_dir / "seatrial.lock").exists(), "a killed run leaves its lock behind"

    done = box.cli("run", label="run (resumes green)")
    text = out(done)
    assert done.returncode == 0, text
    assert "== preflight: done before" in text and "== freeze: done before" in text
    assert "created Backup" not in text, "the interrupted backup must be waited for, not made again"
    assert box.journal.name("backup") == interrupted
    assert "== backup\n" in text and "== verify-harbor\n" in text
    assert "all steps green. report:" in text
    data = box.journal.read()
    assert all(data["steps"][step]["status"] == "passed" for step in (
        "preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw-target", "verify-harbor"))
    assert box.journal.name("backup") not in (box.seen["first_backup"],)
    assert box.harbor("target").read_only() is False
    box.seen["restore"] = box.journal.name("restore")
    assert_no_secret(box, text, "the run's output")
    box.passed("green")


def test_second_run_does_nothing_and_a_concurrent_run_is_refused(box: Box) -> None:
    box.needs("green")
    backups_before = box.kubectl("source", "get", "backups.velero.io", "-n", "velero", "-o", "name")
    lock = box.config.run_dir / "seatrial.lock"
    started = time.monotonic()
    second = subprocess.Popen([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(box.config.path), "run"],
                              cwd=ROOT,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def holder() -> str:
            assert second.poll() is None, second.communicate()
            try:
                return lock.read_text().strip()
            except FileNotFoundError:
                return "no lock file"

        wait_for("the second run to take its lock", holder, done=lambda pid: pid == str(second.pid))
        # paused while it holds the lock, so the third run meets it however fast the second finishes on its own
        os.kill(second.pid, signal.SIGSTOP)
        try:
            third = box.cli("run", label="run (refused: locked)")
        finally:
            os.kill(second.pid, signal.SIGCONT)
        stdout, stderr = second.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if second.poll() is None:
            second.kill()
    box.timings["run (second: nothing to do)"] = time.monotonic() - started
    assert third.returncode == 2, out(third)
    assert str(lock) in third.stderr and "another seatrial run holds" in third.stderr, third.stderr
    assert second.returncode == 0, stdout + stderr
    for step in ("preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw-target", "verify-harbor"):
        assert f"== {step}: done before, " in stdout and "checks still green (nothing to do)" in stdout, stdout
    assert "\n== backup\n" not in stdout
    assert box.kubectl("source", "get", "backups.velero.io", "-n", "velero", "-o", "name") == backups_before
    box.passed("second")


def test_reset_target_without_yes_deletes_nothing(box: Box) -> None:
    box.needs("green")
    before = box.objects("target", NAMESPACE)
    assert before, "the target namespace should hold the restored release"
    done = box.cli("reset-target", label="reset-target (no --yes)")
    assert done.returncode == 2, out(done)
    assert "not confirmed" in done.stderr and "--yes" in done.stderr, done.stderr
    assert "PVCs whose data is lost:" in done.stdout and "my-harbor-registry" in done.stdout, done.stdout
    assert box.objects("target", NAMESPACE) == before
    box.passed("kept")


def test_reset_target_with_yes_then_run_restores_under_a_new_name_and_fixup_patches(box: Box) -> None:
    box.needs("kept")
    done = box.cli("reset-target", "--yes", label="reset-target --yes")
    assert done.returncode == 0, out(done)
    namespaces = box.kubectl("target", "get", "namespaces", "-o", "name").split()
    assert f"namespace/{NAMESPACE}" not in namespaces
    # this time the static address is fixed by patching after the restore (fixup.mode: patch)
    settings = yaml.safe_load(box.config.path.read_text())
    settings["fixup"]["mode"] = "patch"
    box.config.path.write_text(yaml.safe_dump(settings, sort_keys=False))
    done = box.cli("run", label="run (after reset-target, fixup by patch)")
    assert done.returncode == 0, out(done)
    restore = box.journal.name("restore")
    assert restore and restore != box.seen["restore"], (restore, box.seen["restore"])
    assert box.kubectl("target", "get", "restores.velero.io", restore, "-n", "velero", "-o", "name").strip()
    assert "== backup: done before" in done.stdout and "\n== restore\n" in done.stdout
    assert f"patched Service {NAMESPACE}/my-harbor" in done.stdout
    service = json.loads(box.kubectl("target", "get", "service", "my-harbor", "-n", NAMESPACE, "-o", "json"))
    assert service["spec"]["loadBalancerIP"] == "198.51.100.10"
    box.passed("reset")


def test_report_holds_steps_checks_statistics_inventories_and_harbor_states_and_no_secret(box: Box) -> None:
    box.needs("reset")
    done = box.cli("report")
    assert done.returncode == 0, out(done)
    report = box.report()
    for step in ("preflight", "freeze", "annotate", "backup", "restore", "fixup", "thaw-target", "verify-harbor"):
        assert f"| {step} | passed | " in report, report
        assert f"### {step}" in report, f"no checks listed for {step}"
    assert "| failed |" not in report
    backup_line = next(line for line in report.splitlines() if line.startswith("- backup `"))
    assert "phase Completed" in backup_line and "items backed up" in backup_line and "/s)" in backup_line
    restore_line = next(line for line in report.splitlines() if line.startswith("- restore `"))
    assert "phase Completed" in restore_line and "items restored" in restore_line and "/s)" in restore_line
    assert "- parity by digest: identical" in report
    assert "source Harbor" in report and "read-only (frozen for the move); now: read-only" in report
    assert "writable (thawed); now: writable" in report
    html = (box.config.run_dir / "report.html").read_text()
    assert "<table>" in html and "verify-harbor" in html
    for path in box.config.run_dir.rglob("*"):
        if path.is_file():
            assert_no_secret(box, path.read_text(errors="replace"), str(path))
    assert os.stat(box.config.run_dir / "journal.json").st_size > 0
    box.passed("report")
