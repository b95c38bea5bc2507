"""The fault matrix: a fault-injecting proxy (fixtures/faultproxy.py) in front of each dependency of a migrated
sandbox -- the source API, the target API, S3, the target Harbor's API and its registry -- times each fault
(down, 5xx, 429, 401/403, malformed), through the real CLI.

Each cell asserts: the exit code (3 for a dependency fault; 0 when a 429 was ridden out by the retries),
a message naming the dependency and what came back, never "corrupt" nor "internal error", nothing
destructive (source and target PVCs unchanged, the source still read-only); after a dependency's cells, a green
run of the same command. The cells share one sandbox, migrated once through the proxies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.faultproxy import FaultProxy
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.kube import Cluster

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "harbor"
FAST_FAULTS = {"SEATRIAL_RETRY_ATTEMPTS": "3", "SEATRIAL_RETRY_BASE_S": "0.05", "SEATRIAL_DEPENDENCY_GRACE_S": "3"}


@dataclass
class Dependency:
    proxy: str  # which proxy
    paths: tuple[str, ...]  # the requests that get the fault
    command: tuple[str, ...]  # a command that needs this dependency
    named: tuple[str, ...]  # one of these names the dependency in the message


DEPENDENCIES = {
    "source-api": Dependency("source", ("/",), ("verify", "annotate"), ("'source'", "source")),
    "target-api": Dependency("target", ("/",), ("verify", "fixup"), ("'target'", "target")),
    "s3": Dependency("s3", ("/",), ("verify", "restore"), ("object store", "bucket")),
    "harbor-api": Dependency("harbor", ("/api/",), ("step", "thaw-target"), ("Harbor",)),
    "registry": Dependency("harbor", ("/v2/", "/service/"), ("verify", "verify-harbor"), ("registry", "/v2/")),
}
FAULT_WORDS = {"down": ("reach", "Connection", "connection", "aborted", "RemoteDisconnected"),
               "5xx": ("503",), "401": ("401", "Unauthorized", "wrong username or password"),
               "403": ("403", "Forbidden", "forbidden"),
               "malformed": ("not JSON", "not a manifest", "not S3", "could not be parsed", "text/html", "<html>",
                             "not its protocol")}


class Matrix:
    def __init__(self, sandbox: Sandbox, root: Path):
        self.sandbox = sandbox
        self.proxies = {
            "source": FaultProxy(sandbox.source.url).start(),
            "target": FaultProxy(sandbox.target.url).start(),
            "s3": FaultProxy(sandbox.s3_endpoint).start(),
            "harbor": FaultProxy(sandbox.target_harbor_url).start(),
            "source-harbor": FaultProxy(sandbox.source_harbor_url).start(),
        }
        kubeconfig = write_kubeconfig(root / "kubeconfig", {"source": self.proxies["source"].url,
                                                             "target": self.proxies["target"].url})
        data = yaml.safe_load(sandbox.config_path.read_text())
        for side in ("source", "target"):
            data[side]["kubeconfig"] = str(kubeconfig)
        data["storage"]["endpoint"] = self.proxies["s3"].url
        data["harbor"]["target_url"] = self.proxies["harbor"].url
        data["harbor"]["source_url"] = self.proxies["source-harbor"].url
        data["run_dir"] = str(root / "run")
        self.config = root / "seatrial.yaml"
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(self.config), *args], cwd=ROOT,
                              env={**os.environ, **FAST_FAULTS}, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=600, check=False)

    def state(self) -> tuple:
        """What a destructive action would change: the PVCs on both sides and the source's freeze."""
        claims = []
        for context in ("source", "target"):
            with Cluster(self.sandbox.kubeconfig, context) as cluster:
                claims.append(sorted((p["metadata"]["name"], p["metadata"]["uid"])
                                     for p in cluster.list("v1", "PersistentVolumeClaim", NAMESPACE)))
        with HarborClient(self.sandbox.source_harbor_url, "admin", self.sandbox.admin_password) as harbor:
            frozen = harbor.read_only()
        return (*claims, frozen)

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    for tool in ("docker-registry", "restic", "kubectl"):
        require_tool(tool)
    root = tmp_path_factory.mktemp("fault-matrix")
    sandbox = Sandbox(root / "sandbox").start()
    matrix = Matrix(sandbox, root)
    try:
        done = matrix.cli("run", "--yes")  # the whole migration, through the (healthy) proxies
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        matrix.before = matrix.state()
        assert matrix.before[0] and matrix.before[1] and matrix.before[2] is True, matrix.before
        yield matrix
    finally:
        matrix.stop()
        sandbox.stop()


CELLS = [(dependency, fault) for dependency in DEPENDENCIES for fault in ("down", "5xx", "429", "401", "malformed")]
CELLS += [("source-api", "403"), ("s3", "403"), ("harbor-api", "403"), ("registry", "403"), ("target-api", "403")]


@pytest.mark.parametrize(("dependency", "fault"), CELLS, ids=[f"{d}-{f}" for d, f in CELLS])
def test_fault_cell(matrix: Matrix, dependency: str, fault: str):
    spec = DEPENDENCIES[dependency]
    proxy = matrix.proxies[spec.proxy]
    proxy.set(fault, paths=spec.paths, budget=2 if fault == "429" else None)
    try:
        done = matrix.cli(*spec.command)
    finally:
        faulted = proxy.faulted
        proxy.set(None, paths=("/",))
    text = done.stdout + done.stderr
    assert faulted, f"the command never reached the faulty {dependency}:\n{text[-3000:]}"
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    assert "corrupt" not in text.lower(), f"a {fault} fault was called corruption:\n{text[-3000:]}"
    if fault == "429":
        assert done.returncode == 0, f"a short 429 spell was not ridden out by the retries:\n{text[-3000:]}"
        if spec.command[0] == "step":
            assert "answered 429, Retry-After 1; retrying" in text, text[-3000:]
    else:
        assert done.returncode == 3, f"{dependency} {fault}: exit {done.returncode}, not 3:\n{text[-3000:]}"
        assert any(word in text for word in spec.named), f"the message does not name {dependency}:\n{text[-3000:]}"
        assert any(word in text for word in FAULT_WORDS[fault]), f"the message does not say {fault}:\n{text[-3000:]}"
    assert matrix.state() == matrix.before, "a fault led to a destructive change"
    for secret in (matrix.sandbox.admin_password, matrix.sandbox.access_key, matrix.sandbox.secret_key):
        assert secret.reveal() not in text, f"a secret value is in the output of a {fault} fault"


# Once per dependency, after all of its cells (pytest keeps the file's order): what a fault could have left behind
# (a lock, a journal entry, a changed object) persists, so one green run of the same command after the last fault
# shows none of them did; each cell has already shown that nothing destructive changed.
@pytest.mark.parametrize("dependency", list(DEPENDENCIES))
def test_the_same_command_is_green_once_the_faults_are_gone(matrix: Matrix, dependency: str):
    spec = DEPENDENCIES[dependency]
    healed = matrix.cli(*spec.command)
    text = healed.stdout + healed.stderr
    assert healed.returncode == 0, f"{dependency}: not green once its faults were removed:\n{text[-3000:]}"
    assert matrix.state() == matrix.before


def test_a_5xx_spell_during_the_backup_wait_is_ridden_out(matrix: Matrix):
    """The source API fails the Backup's reads for a while (503, more times than one request's retries):
    the wait goes on, saying so, and the backup finishes green."""
    proxy = matrix.proxies["source"]

    def arm(line: str) -> None:
        if "created Backup velero/" in line:  # armed only now: the wait reads the Backup next
            proxy.set("5xx", paths=("/apis/velero.io/v1/namespaces/velero/backups/",), budget=7)

    code, text, faults = _watched(matrix, "step", "backup", "--yes", arm=arm)
    faulted = faults["source"]
    assert faulted == 7, f"the spell did not happen ({faulted} faulted requests):\n{text[-3000:]}"
    assert code == 0, text[-4000:]
    assert "answered 503; retrying in" in text, text[-3000:]
    assert "to finish: retrying, the last answer was:" in text and "503" in text, text[-3000:]
    assert "backup: " in text and "checks green" in text, text[-3000:]


def test_a_backup_wait_faulted_for_good_resumes_on_the_same_backup(matrix: Matrix):
    """The source API fails the Backup's reads for good right after a new Backup is made: exit 3 naming the source,
    the source stays read-only (the Backup's phase cannot be read); the resume adopts THAT Backup (it ran on
    meanwhile) and judges it green: one Backup for the attempt, never a second full backup."""
    proxy = matrix.proxies["source"]
    backups = _count(matrix, "source", "Backup")

    def arm(line: str) -> None:
        if "created Backup velero/" in line:
            proxy.set("5xx", paths=("/apis/velero.io/v1/namespaces/velero/backups/",))

    code, text, faults = _watched(matrix, "step", "backup", "--yes", arm=arm)
    assert faults["source"] and code == 3, f"the backup wait faulted for good: exit {code}:\n{text[-3000:]}"
    assert "source" in text and "503" in text and "stays read-only" in text, text[-3000:]
    assert _count(matrix, "source", "Backup") == backups + 1, text[-3000:]

    resumed = matrix.cli("step", "backup", "--yes")
    text = resumed.stdout + resumed.stderr
    _clean(matrix, text)
    assert resumed.returncode == 0, text[-4000:]
    assert "adopting Backup velero/" in text and "created Backup" not in text, text[-3000:]
    assert _count(matrix, "source", "Backup") == backups + 1, "the resume made a second Backup"
    assert matrix.state() == matrix.before


# -- slow answers: a line at least every 10 s (made 0.2 s here), naming what is awaited ---------------------------
# The proxy holds one request until the line that names it is said: without that line the request would be held for
# the proxy's limit (a minute) and the test fail.
QUICK_HEARTBEAT = {"SEATRIAL_PROGRESS_EVERY_S": "0.2"}


def _released_when_said(proxy: FaultProxy, words: str):
    said: list[str] = []

    def arm(line: str) -> None:
        if words in line:
            said.append(line)
            proxy.release()
    return arm, said


def test_a_harbor_api_slow_to_answer_is_said_while_awaited(matrix: Matrix):
    proxy = matrix.proxies["harbor"]
    release, said = _released_when_said(proxy, f"still waiting for Harbor API at {proxy.url} to answer GET /api/")
    proxy.set("hold", paths=("/api/",), budget=1)
    code, text, faults = _watched(matrix, "step", "thaw-target", arm=release, env=QUICK_HEARTBEAT)
    assert faults["harbor"] == 1, text[-3000:]
    assert said, f"nothing was said while Harbor's answer was awaited:\n{text[-3000:]}"
    assert code == 0, text[-3000:]


def test_a_source_api_slow_to_answer_during_the_backup_wait_is_said_while_awaited(matrix: Matrix):
    proxy = matrix.proxies["source"]
    backups = "/apis/velero.io/v1/namespaces/velero/backups/"
    release, said = _released_when_said(
        proxy, f"still waiting for the Kubernetes API of context 'source' to answer GET {backups}")

    def arm(line: str) -> None:
        if "created Backup velero/" in line:  # the wait reads the Backup next
            proxy.set("hold", paths=(backups,), budget=1)
        release(line)

    code, text, faults = _watched(matrix, "step", "backup", "--yes", arm=arm, env=QUICK_HEARTBEAT)
    assert faults["source"] == 1, text[-3000:]
    assert said, f"nothing was said while the Backup's read was awaited:\n{text[-3000:]}"
    assert code == 0 and "checks green" in text, text[-3000:]


# -- damaged answers: a fault of the dependency (exit 3) naming what came back, never a verdict ---------------------

def _backups_path(matrix: Matrix) -> str:
    storage = yaml.safe_load(matrix.config.read_text())["storage"]
    return f"/{storage['bucket']}/{storage['prefix'].strip('/')}/backups/"


def test_an_object_store_cutting_answers_short_is_a_dependency_fault(matrix: Matrix):
    """S3 answers 200 with the whole Content-Length announced and half the body: the backup's checks exit 3 naming the
    object store and the bytes that came, not a collection failure nor "damaged"; in the backup step the source stays
    read-only (the Backup is not judged yet); healed, the same checks are green."""
    code, text, faulted = _faulted_run(matrix, "s3", "truncated", "verify", "backup", paths=(_backups_path(matrix),),
                                       methods=("GET",))
    assert faulted, text[-3000:]
    assert code == 3, f"a body cut short: exit {code}, not 3:\n{text[-3000:]}"
    assert "the object store answered 200, but the body broke off after" in text, text[-3000:]
    assert "collection failure" not in text and "damaged" not in text, text[-3000:]

    def arm(line: str) -> None:
        if "phase Completed" in line:  # the Backup is made and finished: its checks read the bucket next
            matrix.proxies["s3"].set("truncated", paths=(_backups_path(matrix),), methods=("GET",))

    code, text, faults = _watched(matrix, "step", "backup", "--yes", arm=arm)
    assert faults["s3"] and code == 3, f"exit {code}:\n{text[-3000:]}"
    assert "broke off after" in text and "stays read-only" in text and "writable again" not in text, text[-3000:]
    assert matrix.state() == matrix.before, "the source was thawed although the Backup was not judged"

    healed = matrix.cli("verify", "backup")
    assert healed.returncode == 0, (healed.stdout + healed.stderr)[-3000:]


def test_an_object_store_cutting_restics_answers_short_is_a_dependency_fault(matrix: Matrix):
    """The same cut answers on the restic repository's objects: restic says "Is there a repository at the following
    location?" (or retries, then gives up); the backup's checks exit 3 naming the object store, never "no restic
    repository" nor a failed repository check (restic's own retries make this about half a minute)."""
    storage = yaml.safe_load(matrix.config.read_text())["storage"]
    restic = f"/{storage['bucket']}/{storage['prefix'].strip('/')}/restic/"
    code, text, faulted = _faulted_run(matrix, "s3", "truncated", "verify", "backup", paths=(restic,), methods=("GET",))
    assert faulted, text[-3000:]
    assert code == 3, f"restic's reads cut short: exit {code}, not 3:\n{text[-3000:]}"
    assert "the object store failed restic's reads" in text and "no restic repository" not in text, text[-3000:]


def test_a_registry_failing_only_the_canary_uploads_is_a_dependency_fault(matrix: Matrix):
    """The target registry answers 503 to the canary's blob uploads only (every pull works): the canary check is
    not judged and the checks exit 3, not a failed canary (exit 1)."""
    canary = yaml.safe_load(matrix.config.read_text())["harbor"]["canary_project"]
    code, text, faulted = _faulted_run(matrix, "harbor", "5xx", "verify", "verify-harbor",
                                       paths=(f"/v2/{canary}/canary/blobs/uploads/",))
    assert faulted, text[-3000:]
    assert code == 3, f"503 on the canary's uploads: exit {code}, not 3:\n{text[-3000:]}"
    assert "test_canary_push_and_pull not judged: a dependency failed" in text and "503" in text, text[-3000:]


# -- faults met in the middle of a step that changes things ------------------------------------------------------
# These run after the cells above (same sandbox); the restore cell, last, replaces the target's restored namespace
# and so re-takes `matrix.before`.

def _clean(matrix: Matrix, text: str) -> None:
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    assert "corrupt" not in text.lower(), f"a dependency fault was called corruption:\n{text[-3000:]}"
    for secret in (matrix.sandbox.admin_password, matrix.sandbox.access_key, matrix.sandbox.secret_key):
        assert secret.reveal() not in text, "a secret value is in the output of a fault"


def _faulted_run(matrix: Matrix, proxy: str, fault: str, *args: str, paths: tuple[str, ...], budget: int | None = None,
                 methods: tuple[str, ...] | None = None) -> tuple[int, str, int]:
    """`seatrial <args>` with the fault on; (exit code, output, faulted requests); the fault is healed after."""
    chosen = matrix.proxies[proxy]
    chosen.set(fault, paths=paths, budget=budget, methods=methods)
    try:
        done = matrix.cli(*args)
    finally:
        faulted = chosen.faulted
        chosen.set(None, paths=("/",))
    text = done.stdout + done.stderr
    _clean(matrix, text)
    return done.returncode, text, faulted


def _count(matrix: Matrix, context: str, kind: str) -> int:
    with Cluster(matrix.sandbox.kubeconfig, context) as cluster:
        return len(cluster.list("velero.io/v1", kind, "velero"))


def test_a_source_api_fault_on_a_pod_patch_during_annotate(matrix: Matrix):
    """annotate PATCHes a source pod whose exclusion changed: a 503 spell is ridden out (said), a 503 that persists
    exits 3 naming the source, nothing else on the source changes, and the resume is green."""
    from seatrial.runbook.migration.steps.annotate import EXCLUDES

    with Cluster(matrix.sandbox.kubeconfig, "source") as cluster:
        pod = next(p for p in cluster.list("v1", "Pod", NAMESPACE)
                   if any(v.get("persistentVolumeClaim") for v in p["spec"].get("volumes") or []))
        name = pod["metadata"]["name"]

        def plant() -> None:  # a stray exclusion that annotate must remove: one PATCH
            cluster.patch("v1", "Pod", name, NAMESPACE, {"metadata": {"annotations": {EXCLUDES: "stray-volume"}}})

        def annotation() -> str | None:
            return (cluster.get("v1", "Pod", name, NAMESPACE)["metadata"].get("annotations") or {}).get(EXCLUDES)

        backups = _count(matrix, "source", "Backup")
        pods = f"/api/v1/namespaces/{NAMESPACE}/pods/"
        plant()
        code, text, faulted = _faulted_run(matrix, "source", "5xx", "step", "annotate", paths=(pods,), budget=2,
                                           methods=("PATCH",))
        assert faulted == 2 and code == 0, f"exit {code}, {faulted} faulted PATCHes:\n{text[-3000:]}"
        assert "answered 503; retrying in" in text, text[-3000:]
        assert annotation() != "stray-volume", "the PATCH was not made after the spell"

        plant()
        code, text, faulted = _faulted_run(matrix, "source", "5xx", "step", "annotate", paths=(pods,),
                                           methods=("PATCH",))
        assert faulted >= 2, text[-3000:]
        assert code == 3, f"a persistent 503 on a pod PATCH: exit {code}, not 3:\n{text[-3000:]}"
        assert "source" in text and "503" in text, text[-3000:]
        assert annotation() == "stray-volume", "the pod changed although every PATCH was refused"
        assert matrix.state() == matrix.before and _count(matrix, "source", "Backup") == backups

        healed = matrix.cli("step", "annotate")
        assert healed.returncode == 0, (healed.stdout + healed.stderr)[-3000:]
        assert annotation() != "stray-volume"


def test_a_harbor_fault_when_freeze_sets_read_only(matrix: Matrix):
    """freeze's PUT of read_only to the source Harbor: a 503 spell is ridden out (said) and the source ends
    read-only; a 503 that persists exits 3 naming Harbor and the run stops there (no Backup is taken from a
    writable source); the resume freezes it."""
    url, password = matrix.sandbox.source_harbor_url, matrix.sandbox.admin_password
    configurations = ("/api/v2.0/configurations",)

    def frozen() -> bool:
        with HarborClient(url, "admin", password) as harbor:
            return harbor.read_only()

    def thaw() -> None:
        with HarborClient(url, "admin", password) as harbor:
            harbor.set_read_only(False)

    backups = _count(matrix, "source", "Backup")
    thaw()
    code, text, faulted = _faulted_run(matrix, "source-harbor", "5xx", "step", "freeze", paths=configurations,
                                       budget=2, methods=("PUT",))
    assert faulted == 2 and code == 0, f"exit {code}, {faulted} faulted PUTs:\n{text[-3000:]}"
    assert "Harbor" in text and "answered 503; retrying in" in text, text[-3000:]
    assert frozen(), "the source is writable after freeze passed"

    thaw()
    code, text, faulted = _faulted_run(matrix, "source-harbor", "5xx", "run", "--from", "freeze", "--yes",
                                       paths=configurations, methods=("PUT",))
    assert faulted >= 2, text[-3000:]
    assert code == 3, f"a persistent 503 on the freeze: exit {code}, not 3:\n{text[-3000:]}"
    assert "Harbor" in text and "503" in text, text[-3000:]
    assert "== backup" not in text and _count(matrix, "source", "Backup") == backups, \
        f"the run went on to the backup with the source writable:\n{text[-3000:]}"
    assert not frozen()

    healed = matrix.cli("step", "freeze")
    assert healed.returncode == 0, (healed.stdout + healed.stderr)[-3000:]
    assert matrix.state() == matrix.before


def _watched(matrix: Matrix, *args: str, arm, env: dict[str, str] | None = None) -> tuple[int, str, dict[str, int]]:
    """Run `seatrial <args>`, calling `arm(line)` on each output line (to set a fault at the right moment);
    (exit code, output, faulted requests per proxy). Every fault is healed after."""
    command = [sys.executable, "-m", "seatrial.runbook.cli", "-c", str(matrix.config), *args]
    seen: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, env={**os.environ, **FAST_FAULTS, **(env or {})}, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line)
            arm(line)
        code = child.wait(timeout=600)
    faulted = {name: proxy.faulted for name, proxy in matrix.proxies.items()}
    for proxy in matrix.proxies.values():
        proxy.set(None, paths=("/",))
    text = "".join(seen)
    _clean(matrix, text)
    return code, text, faulted


def test_faults_during_the_restore(matrix: Matrix):
    """A fresh restore (after reset-target) meets: S3 down while waiting for the backup to sync (exit 3, no Restore
    made); then the target API failing the Restore's reads for good right after the Restore is made (the wait rides
    it out for the grace, then exit 3, one Restore); the resume, through a short 503 spell, finds THAT Restore (no
    second one) and finishes green. The source is never touched."""
    reset = matrix.cli("reset-target", "--yes")
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-3000:]
    restores = _count(matrix, "target", "Restore")
    backups = _count(matrix, "source", "Backup")
    source_before = matrix.before[0]

    code, text, faulted = _faulted_run(matrix, "s3", "down", "step", "restore", "--yes", paths=("/",))
    assert faulted and code == 3, f"S3 down before the restore: exit {code}:\n{text[-3000:]}"
    assert any(word in text for word in ("object store", "bucket")), text[-3000:]
    assert _count(matrix, "target", "Restore") == restores, f"a Restore was made without the bucket:\n{text[-3000:]}"

    target = matrix.proxies["target"]
    restore_reads = ("/apis/velero.io/v1/namespaces/velero/restores/",)

    def arm_for_good(line: str) -> None:
        if "created Restore velero/" in line:
            target.set("5xx", paths=restore_reads, methods=("GET",))

    code, text, _ = _watched(matrix, "step", "restore", "--yes", arm=arm_for_good)
    assert code == 3, f"the target API failing for good during the restore wait: exit {code}:\n{text[-3000:]}"
    assert "target" in text and "503" in text and "retrying, the last answer was:" in text, text[-3000:]
    assert _count(matrix, "target", "Restore") == restores + 1, text[-3000:]

    target.set("5xx", paths=restore_reads, budget=2, methods=("GET",))  # within one request's retries
    code, text, _ = _watched(matrix, "step", "restore", "--yes", arm=lambda _line: None)
    assert code == 0, f"the resume did not ride out a 503 spell:\n{text[-4000:]}"
    assert "answered 503; retrying in" in text and "created Restore" not in text, text[-3000:]
    assert _count(matrix, "target", "Restore") == restores + 1, "the resume made a second Restore"
    assert _count(matrix, "source", "Backup") == backups, "a Backup was made during the restore"

    matrix.before = matrix.state()  # the target's claims are the new restore's now
    assert matrix.before[0] == source_before, "the source's claims changed during the restore"
    assert matrix.before[1] and matrix.before[2] is True, matrix.before


def test_a_lost_answer_to_the_restore_create_makes_no_second_restore(matrix: Matrix):
    """The target API makes the Restore but its answer is lost (the connection drops): exit 3 naming the target;
    the resume finds the Restore by the name the journal planned and waits on it, never creating a second one."""
    reset = matrix.cli("reset-target", "--yes")
    assert reset.returncode == 0, (reset.stdout + reset.stderr)[-3000:]
    restores = _count(matrix, "target", "Restore")
    source_before = matrix.before[0]

    code, text, faulted = _faulted_run(matrix, "target", "lost", "step", "restore", "--yes",
                                       paths=("/apis/velero.io/v1/namespaces/velero/restores",), budget=1,
                                       methods=("POST",))
    assert faulted == 1 and code == 3, f"a lost answer to the Restore's create: exit {code}:\n{text[-3000:]}"
    assert "target" in text, text[-3000:]
    assert _count(matrix, "target", "Restore") == restores + 1, "the Restore was not made (the fault did not bite)"

    resumed = matrix.cli("step", "restore", "--yes")
    text = resumed.stdout + resumed.stderr
    _clean(matrix, text)
    assert resumed.returncode == 0, text[-4000:]
    assert "created Restore" not in text, f"the resume created another Restore:\n{text[-3000:]}"
    assert _count(matrix, "target", "Restore") == restores + 1, "the resume made a second Restore"

    matrix.before = matrix.state()
    assert matrix.before[0] == source_before, "the source's claims changed during the restore"


def test_a_lost_answer_to_the_backup_create_keeps_the_source_frozen(matrix: Matrix):
    """The source API makes the Backup but its answer is lost: exit 3, and the source is NOT thawed while that
    Backup (known to the journal only by its planned name) runs; the resume finds it (no second Backup)."""
    backups = _count(matrix, "source", "Backup")
    code, text, faulted = _faulted_run(matrix, "source", "lost", "step", "backup", "--yes",
                                       paths=("/apis/velero.io/v1/namespaces/velero/backups",), budget=1,
                                       methods=("POST",))
    assert faulted == 1 and code == 3, f"a lost answer to the Backup's create: exit {code}:\n{text[-3000:]}"
    assert _count(matrix, "source", "Backup") == backups + 1, "the Backup was not made (the fault did not bite)"
    assert "stays read-only" in text and "writable again" not in text, \
        f"the source was thawed while the Backup may be running:\n{text[-3000:]}"
    assert matrix.state() == matrix.before

    resumed = matrix.cli("step", "backup", "--yes")
    text = resumed.stdout + resumed.stderr
    _clean(matrix, text)
    assert resumed.returncode == 0, text[-4000:]
    assert "created Backup" not in text, f"the resume created another Backup:\n{text[-3000:]}"
    assert _count(matrix, "source", "Backup") == backups + 1, "the resume made a second Backup"
    assert matrix.state() == matrix.before
