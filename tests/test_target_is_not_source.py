"""Never touch the source: two context names for the source's API server are one cluster, through the real
CLI against a sandbox. After every refusal the source namespace and its PVCs are still there.

- same server URL in the kubeconfig: refused at configuration time (exit 2, one line naming both contexts
  and the namespace), by `plan`, `run` and `reset-target --yes` alike;
- another URL for the same server (localhost vs 127.0.0.1): the configuration cannot tell, the kube-system
  UID can: `reset-target --yes` and `step preflight` refuse (exit 2), `plan` lists no deletion;
- a target namespace that seatrial's restore did not make (no journal restore, or PVCs without the
  journal's `velero.io/restore-name`) is refused by `reset-target --yes` and left alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.harbor import HarborClient
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.migration.journal import Journal

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "harbor"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    for tool in ("docker-registry", "restic"):
        require_tool(tool)
    box = Sandbox(tmp_path_factory.mktemp("same-cluster")).start()
    try:
        yield box
    finally:
        box.stop()


def _config_with(sandbox: Sandbox, root: Path, servers: dict[str, str], *, source: str, target: str) -> Path:
    """The sandbox's seatrial.yaml with its own kubeconfig (context name -> server URL) and run directory."""
    root.mkdir(parents=True, exist_ok=True)
    kubeconfig = write_kubeconfig(root / "kubeconfig", servers)
    data = yaml.safe_load(sandbox.config_path.read_text())
    data["source"].update(kubeconfig=str(kubeconfig), context=source)
    data["target"].update(kubeconfig=str(kubeconfig), context=target)
    data["run_dir"] = str(root / "run")
    path = root / "seatrial.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(config), *args], cwd=ROOT,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)


def _source_pvcs(sandbox: Sandbox) -> list[str]:
    with Cluster(sandbox.kubeconfig, "source") as source:
        assert source.get_or_none("v1", "Namespace", NAMESPACE) is not None, "the SOURCE namespace was deleted"
        return sorted(p["metadata"]["name"] for p in source.list("v1", "PersistentVolumeClaim", NAMESPACE))


def _error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("seatrial: error:")]


def test_two_context_names_for_one_server_are_refused_at_configuration_time(sandbox: Sandbox, tmp_path: Path):
    before = _source_pvcs(sandbox)
    assert len(before) >= 4, before
    url = sandbox.source.url
    config = _config_with(sandbox, tmp_path, {"prod-old": url, "prod-new": url + "/"}, source="prod-old",
                          target="prod-new")
    for args in (("plan",), ("run", "--yes"), ("reset-target", "--yes"), ("step", "restore", "--yes")):
        done = _cli(config, *args)
        assert done.returncode == 2, f"{args}: {done.stdout}{done.stderr}"
        lines = _error_lines(done)
        assert len(lines) == 1, done.stderr
        assert "'prod-old'" in lines[0] and "'prod-new'" in lines[0] and f"namespace {NAMESPACE!r}" in lines[0], \
            lines[0]
        assert "same API server" in lines[0] and "target.context" in lines[0], lines[0]
        assert "DELETE" not in done.stdout
    assert _source_pvcs(sandbox) == before


def test_another_url_for_the_source_server_is_told_by_the_kube_system_uid(sandbox: Sandbox, tmp_path: Path):
    before = _source_pvcs(sandbox)
    url = sandbox.source.url
    alias = url.replace("127.0.0.1", "localhost")
    assert alias != url
    config = _config_with(sandbox, tmp_path, {"prod-old": url, "prod-new": alias}, source="prod-old",
                          target="prod-new")
    # the journal even records a restore whose label the source's objects do not carry: the UID refuses first
    journal = Journal(tmp_path / "run")
    journal.record_name("restore", "seatrial-my-harbor-restore")

    plan = _cli(config, "plan")
    assert plan.returncode == 0, plan.stderr
    assert f"DELETE namespace {NAMESPACE}" not in plan.stdout, plan.stdout
    assert "REFUSE: source context 'prod-old' and target context 'prod-new' are the same cluster (same kube-system " \
           "namespace UID" in plan.stdout, plan.stdout

    for args in (("reset-target", "--yes"), ("step", "preflight")):
        done = _cli(config, *args)
        text = done.stdout + done.stderr
        assert done.returncode == 2, f"{args}: {text}"
        assert "kube-system namespace UID" in text and "'prod-old'" in text and "'prod-new'" in text, text
        assert "deleted namespace" not in text
        # bad input: one line, and no resume offered (a resume cannot fix a configuration)
        assert len(_error_lines(done)) == 1 and "resume with" not in text, text
    run = _cli(config, "run", "--yes")
    assert run.returncode == 2 and len(_error_lines(run)) == 1, run.stdout + run.stderr
    assert "kube-system namespace UID" in _error_lines(run)[0] and "resume with" not in run.stdout + run.stderr
    assert _source_pvcs(sandbox) == before


def _target_namespace_with_a_pvc(sandbox: Sandbox, labels: dict[str, str]) -> None:
    with Cluster(sandbox.kubeconfig, "target") as target:
        if target.get_or_none("v1", "Namespace", NAMESPACE) is None:
            target.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        target.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": f"someone-elses-{len(labels)}", "namespace": NAMESPACE, "labels": labels},
                       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})


def test_reset_target_refuses_a_namespace_that_seatrials_restore_did_not_make(sandbox: Sandbox, tmp_path: Path):
    config = _config_with(sandbox, tmp_path, {"source": sandbox.source.url, "target": sandbox.target.url},
                          source="source", target="target")
    _target_namespace_with_a_pvc(sandbox, {})

    done = _cli(config, "reset-target", "--yes")  # no restore in the journal
    assert done.returncode == 2, done.stdout + done.stderr
    assert "records no restore" in done.stderr and "nothing was deleted" in done.stderr, done.stderr

    journal = Journal(tmp_path / "run")
    journal.record_name("restore", "seatrial-ours")
    _target_namespace_with_a_pvc(sandbox, {"velero.io/restore-name": "seatrial-ours"})
    done = _cli(config, "reset-target", "--yes")  # one PVC is ours, one is not
    assert done.returncode == 2, done.stdout + done.stderr
    assert "someone-elses-0 (no velero.io/restore-name)" in done.stderr, done.stderr
    plan = _cli(config, "plan")
    assert f"DELETE namespace {NAMESPACE}" not in plan.stdout and "REFUSE:" in plan.stdout, plan.stdout

    with Cluster(sandbox.kubeconfig, "target") as target:
        assert target.get_or_none("v1", "Namespace", NAMESPACE) is not None, "a refused reset deleted the namespace"
        claims = {p["metadata"]["name"] for p in target.list("v1", "PersistentVolumeClaim", NAMESPACE)}
        assert claims == {"someone-elses-0", "someone-elses-1"}
        target.delete("v1", "PersistentVolumeClaim", "someone-elses-0", NAMESPACE)

    done = _cli(config, "reset-target", "--yes")  # now every PVC carries the journal's restore name
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DELETE namespace harbor on target target" in done.stdout, done.stdout
    assert json.loads(Journal(tmp_path / "run").path.read_text())["names"].get("restore") is None
    with Cluster(sandbox.kubeconfig, "target") as target:
        assert target.get_or_none("v1", "Namespace", NAMESPACE) is None
    assert len(_source_pvcs(sandbox)) >= 4


def test_a_backup_step_that_gives_up_keeps_the_source_frozen_while_its_backup_runs(sandbox: Sandbox, tmp_path: Path):
    """The wait times out (velero.timeout_seconds: 1) while Velero's Backup is still InProgress: thawing then
    would let writes in during the backup, so the source stays read-only, and the run says why."""
    config = _config_with(sandbox, tmp_path, {"source": sandbox.source.url, "target": sandbox.target.url},
                          source="source", target="target")
    data = yaml.safe_load(config.read_text())
    data["velero"]["timeout_seconds"] = 1
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    done = _cli(config, "run", "--until", "annotate")
    assert done.returncode == 0, done.stdout + done.stderr

    done = _cli(config, "step", "backup")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "gave up after 1s waiting for Backup" in text, text
    assert "source Harbor stays read-only: Backup seatrial-" in text and "is still running (phase" in text, text
    assert "is writable again" not in text
    with HarborClient(sandbox.source_harbor_url, "admin", sandbox.admin_password) as harbor:
        assert harbor.read_only() is True, "the source was thawed while its Backup was still running"
    journal = json.loads(Journal(tmp_path / "run").path.read_text())
    assert "kept frozen" in journal["harbor"]["source"]["state"], journal["harbor"]
