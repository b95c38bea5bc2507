"""A resumed backup or restore step adopts the Backup or Restore the stopped attempt made (waits for it, or judges it
when it has finished) instead of making a second one; a new one only when the old one failed, when the backup's
checks judged it, when the freeze it was taken under was broken since, or when the operator asks (--new-backup,
--new-restore). Against the real test API server; the journal is the one a faulted attempt leaves."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_config import Workspace

from seatrial.fixtures.kubeapi.fixture import KubeApi
from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.runbook.clients.velero import API_VERSION
from seatrial.runbook.errors import BadInput
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.migration.steps import backup, restore
from seatrial.runbook.migration.steps.context import StepContext

VNS, NS, TARGET_NS, OLD = "velero", "harbor", "harbor-moved", "seatrial-my-harbor-20261207-100000"


def _context(kube_api: KubeApi, tmp_path: Path, lines: list[str], **options) -> StepContext:
    workspace = Workspace(tmp_path)
    data = workspace.data()
    kubeconfig = write_kubeconfig(tmp_path / "adopt-kubeconfig", {"onprem-old": kube_api.url,
                                                                  "onprem-new": kube_api.url})
    for side in ("source", "target"):
        data[side]["kubeconfig"] = str(kubeconfig)
    data["target"]["namespace"] = TARGET_NS  # one API server plays both clusters: another namespace
    data["run_dir"] = str(tmp_path / "run")
    data["velero"]["timeout_seconds"] = 5  # a wait for a Backup nothing finishes ends, and fails the test
    workspace.write(data)
    return StepContext(workspace.load(), yes=True, out=lines.append, **options)


def _velero_object(kube_api: KubeApi, kind: str, name: str, phase: str | None, **spec) -> None:
    store = kube_api.store
    for namespace in (VNS,):
        if not any(n["metadata"]["name"] == namespace for n in store.list("v1", "Namespace")):
            store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    store.create({"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": VNS},
                  "spec": spec, "status": {"phase": phase} if phase else {}})


def _count(kube_api: KubeApi, kind: str) -> int:
    return len(kube_api.store.list(API_VERSION, kind, VNS))


def _faulted_backup_attempt(journal: Journal, *, made_at: float, frozen_at: float, outcome: str = "error") -> None:
    """The journal a backup attempt leaves that created OLD and then stopped in its wait (a 503 spell: exit 3)."""
    journal.finish("freeze", "passed", frozen_at=frozen_at)
    journal.record_name("planned_backup", OLD)
    journal.start("backup")
    journal.note("backup", clock_offset_s=0.0, readings_of=OLD, made_at=made_at,
                 freeze_readings=[{"at": "2026-12-07T10:00:01Z", "read_only": True}])
    journal.record_name("backup", OLD)
    journal.finish("backup", outcome, error="source: Kubernetes API answered 503")
    journal.start("backup")  # the resume: run_step starts a new attempt, then applies


def test_a_resume_after_a_faulted_wait_adopts_the_completed_backup(kube_api: KubeApi, tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = _context(kube_api, tmp_path, lines)
    _velero_object(kube_api, "Backup", OLD, "Completed", includedNamespaces=[NS])
    _faulted_backup_attempt(ctx.journal, made_at=time.time() - 60, frozen_at=time.time() - 120)

    recorded = backup.apply(ctx)

    assert _count(kube_api, "Backup") == 1, "a second Backup was made:\n" + "\n".join(lines)
    assert recorded["backup"] == OLD and recorded["phase"] == "Completed", recorded
    assert any(f"adopting Backup velero/{OLD} (Completed)" in line for line in lines), lines
    assert not any("created Backup" in line for line in lines), lines
    # judged with what the attempt that made it saw, not with a reading taken after it finished
    assert recorded["freeze_readings"] == [{"at": "2026-12-07T10:00:01Z", "read_only": True}], recorded
    assert recorded["clock_offset_s"] == 0.0


def test_a_resume_waits_for_the_backup_still_running(kube_api: KubeApi, tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = _context(kube_api, tmp_path, lines)
    _velero_object(kube_api, "Backup", OLD, "InProgress", includedNamespaces=[NS])
    _faulted_backup_attempt(ctx.journal, made_at=time.time() - 60, frozen_at=time.time() - 120)

    def finish(_seconds: float) -> None:  # Velero finishes it while seatrial waits
        kube_api.store.mutate(API_VERSION, "Backup", OLD, VNS,
                              lambda obj: obj.__setitem__("status", {"phase": "Completed"}))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("seatrial.runbook.wait.time.sleep", finish)
        recorded = backup.apply(ctx)
    assert recorded["backup"] == OLD and recorded["phase"] == "Completed"
    assert _count(kube_api, "Backup") == 1, lines
    assert any(f"adopting Backup velero/{OLD} (InProgress)" in line and "waiting for it" in line for line in lines)


@pytest.mark.parametrize(("case", "why"), [
    ("failed", "PartiallyFailed"),  # a Backup that failed is never waited on again
    ("judged", "Completed"),  # its checks failed: the retry after a fix needs a new Backup
    ("thawed", "Completed"),  # the source was made writable after it: writes since are not in it
    ("asked", "--new-backup"),
])
def test_a_new_backup_only_when_the_old_one_cannot_stand(kube_api: KubeApi, tmp_path: Path, case: str,
                                                           why: str) -> None:
    lines: list[str] = []
    ctx = _context(kube_api, tmp_path, lines, new_backup=case == "asked")
    _velero_object(kube_api, "Backup", OLD, "PartiallyFailed" if case == "failed" else "Completed")
    made = time.time() - 60
    _faulted_backup_attempt(ctx.journal, made_at=made, frozen_at=made - 60,
                            outcome="failed" if case == "judged" else "error")
    if case == "thawed":
        ctx.journal.note("freeze", thawed_at=made + 30)

    chosen = backup._name(ctx)

    assert chosen.name != OLD and chosen.adopted is None, chosen
    assert ctx.journal.name("planned_backup") == chosen.name
    assert any(f"Backup {OLD} ({why}) is kept for inspection; backing up again as {chosen.name}" in line
               for line in lines), lines


def test_a_resume_adopts_the_recorded_restore_and_a_failed_one_is_not_restored_over(kube_api: KubeApi,
                                                                                   tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = _context(kube_api, tmp_path, lines)
    ctx.journal.record_name("backup", OLD)
    ctx.journal.record_name("planned_restore", "restore-1")
    ctx.journal.record_name("restore", "restore-1")
    ctx.journal.finish("restore", "error", error="target: Kubernetes API answered 503")
    ctx.journal.start("restore")
    _velero_object(kube_api, "Restore", "restore-1", "Completed", backupName=OLD)

    assert restore._names(ctx) == (OLD, "restore-1")
    assert any("adopting Restore velero/restore-1 (Completed)" in line for line in lines), lines

    kube_api.store.mutate(API_VERSION, "Restore", "restore-1", VNS,
                          lambda obj: obj.__setitem__("status", {"phase": "PartiallyFailed"}))
    kube_api.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TARGET_NS}})
    with pytest.raises(BadInput) as refused:
        restore._names(ctx)
    assert "Restore restore-1 ended PartiallyFailed and left namespace harbor-moved" in refused.value.message
    assert "reset-target" in (refused.value.fix or "")
    assert ctx.journal.name("planned_restore") == "restore-1", "nothing may change on a refusal"

    asked = _context(kube_api, tmp_path, lines, new_restore=True)
    backup_name, name = restore._names(asked)
    assert name != "restore-1" and asked.journal.name("planned_restore") == name
    assert any("Restore restore-1 (--new-restore) is kept for inspection" in line for line in lines), lines


@pytest.mark.parametrize("command", [["run"], ["step", "backup"], ["step", "restore"]])
def test_new_backup_and_new_restore_reach_the_steps(tmp_path: Path, command: list[str]) -> None:
    from seatrial.runbook.cli import build_parser
    from seatrial.runbook.commands import _context

    workspace = Workspace(tmp_path)
    workspace.write(workspace.text)
    config = workspace.load()
    asked = _context(build_parser().parse_args([*command, "--new-backup", "--new-restore"]), config)
    assert asked.new_backup and asked.new_restore
    plain = _context(build_parser().parse_args(command), config)
    assert not plain.new_backup and not plain.new_restore
