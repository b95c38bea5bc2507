"""The seatrial.runbook's own parts that need no cluster: the run lock, unique names, the report's redaction."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_config import HARBOR_PASSWORD_ENV, SECRET_KEY, Workspace

from seatrial.runbook.errors import BadInput
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.migration.report import write_report
from seatrial.runbook.migration.steps.context import StepContext
from seatrial.runbook.migration.steps.names import new_name


@pytest.fixture
def config(tmp_path: Path):
    workspace = Workspace(tmp_path)
    data = workspace.data()
    data["run_dir"] = str(tmp_path / "run")
    workspace.write(data)
    return workspace, workspace.load()


@contextmanager
def lock_held_by_another_process(run_dir: Path) -> Iterator[subprocess.Popen]:
    """A process holding the run lock until the block ends (not for a fixed time a loaded machine could outlast)."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom pathlib import Path\n"
                               "from seatrial.runbook.migration.journal import Journal\n"
                               "with Journal(Path(sys.argv[1])).lock():\n    print('held', flush=True)\n"
                               "    sys.stdin.read()\n", str(run_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_a_second_holder_of_the_run_lock_is_refused_naming_the_lock(tmp_path: Path) -> None:
    with lock_held_by_another_process(tmp_path) as holder:
        with pytest.raises(BadInput) as refused, Journal(tmp_path).lock():
            pass
        assert str(tmp_path / "seatrial.lock") in refused.value.message
        assert f"pid {holder.pid}" in refused.value.message
        assert (tmp_path / "seatrial.lock").exists(), "the refused run must not remove the holder's lock"


def test_a_lock_left_by_a_dead_run_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    (tmp_path / "seatrial.lock").write_text(dead.stdout.strip())
    with Journal(tmp_path).lock():
        assert (tmp_path / "seatrial.lock").read_text() != dead.stdout.strip()
    assert not (tmp_path / "seatrial.lock").exists()


def test_a_live_lock_is_refused_even_before_its_holder_wrote_its_pid(tmp_path: Path) -> None:
    """A run that looks between another run's taking of the lock and its pid write reads no pid: that must not pass
    for a dead owner (two runs at once). Simulated by emptying the live holder's lock file."""
    with lock_held_by_another_process(tmp_path):
        (tmp_path / "seatrial.lock").write_text("")
        with pytest.raises(BadInput) as refused, Journal(tmp_path).lock():
            pass
        assert "another seatrial run holds" in refused.value.message and "pid unknown" in refused.value.message
    with Journal(tmp_path).lock():  # the kernel freed the killed holder's lock
        assert (tmp_path / "seatrial.lock").read_text() == str(os.getpid())


def test_concurrent_runs_never_hold_the_lock_together(tmp_path: Path) -> None:
    """Eight processes take and release the lock as fast as they can; each marks its time inside with an exclusive
    file: a second one inside at the same time cannot create it."""
    code = ("import os, sys, time\nfrom pathlib import Path\nfrom seatrial.runbook.errors import BadInput\n"
            "from seatrial.runbook.migration.journal import Journal\n"
            "root = Path(sys.argv[1]); inside = 0; end = time.monotonic() + 2\n"
            "while time.monotonic() < end:\n"
            "    try:\n"
            "        with Journal(root).lock():\n"
            "            fd = os.open(root / 'inside', os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
            "            os.close(fd); inside += 1; os.unlink(root / 'inside')\n"
            "    except BadInput:\n"
            "        pass\n"
            "print(inside)\n")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-2000:] for _, err in results]
    assert sum(int(out) for out, _ in results) > 0


def test_new_name_never_repeats_a_name_this_run_used(config) -> None:
    _, cfg = config
    ctx = StepContext(cfg, out=lambda line: None)
    first = new_name(ctx, "backup")
    ctx.journal.record_name("backup", first)
    started = time.monotonic()
    second = new_name(ctx, "backup")
    assert second != first and second.startswith("seatrial-my-harbor-")
    assert time.monotonic() - started < 3


def test_a_template_without_timestamp_or_random_cannot_retry(config) -> None:
    workspace, _ = config
    data = workspace.data()
    data["run_dir"] = str(workspace.root / "run")
    data["velero"]["backup_name"] = "harbor-move"
    workspace.write(data)
    ctx = StepContext(workspace.load(), out=lambda line: None)
    ctx.journal.record_name("backup", "harbor-move")
    with pytest.raises(BadInput) as error:
        new_name(ctx, "backup")
    assert "velero.backup_name" in error.value.message and "{timestamp}" in error.value.fix


def test_report_masks_secrets_and_says_how_each_harbor_was_left(config) -> None:
    _, cfg = config
    journal = Journal(cfg.run_dir)
    journal.start("preflight")
    journal.finish("preflight", "passed", duration=1.5, checks_passed=3, checks_failed=[])
    journal.start("backup")
    # a secret that slipped into an error message must not reach the report
    journal.finish("backup", "failed", duration=2.0, checks_passed=1, checks_failed=["x"], backup="b-1",
                   phase="PartiallyFailed", items=3, total_items=4, volumes=1, bytes=2048,
                   started="2026-01-01T00:00:00Z", completed="2026-01-01T00:00:02Z",
                   error=f"denied for {SECRET_KEY} / {HARBOR_PASSWORD_ENV}")
    journal.set_harbor_state("source", "writable (thawed after the failed backup)")
    markdown, page = write_report(cfg, journal, live=False)  # loading the configuration registered the secrets
    assert "| preflight | passed | 1.5 s | 3 | 0 |" in markdown.read_text()
    assert "items backed up 3/4, 1 volumes, 2.0 KiB in 2 s (1.0 KiB/s)" in markdown.read_text()
    assert "source Harbor https://harbor-old.example.internal: writable (thawed after the failed backup)" \
        in markdown.read_text()
    assert "target Harbor https://harbor-new.example.internal: not restored" in markdown.read_text()
    assert "- backup: denied for *** / ***" in markdown.read_text()
    for value in (SECRET_KEY, HARBOR_PASSWORD_ENV):
        assert value not in markdown.read_text() and value not in page.read_text()


def test_run_against_unreachable_clusters_exits_3_in_plain_lines_and_releases_the_lock(config) -> None:
    workspace, _ = config
    data = workspace.data()
    data["run_dir"] = str(workspace.root / "run")
    data["storage"]["endpoint"] = "http://127.0.0.1:9"  # discard port: nothing answers
    data["harbor"]["source_url"] = "http://127.0.0.1:9"
    workspace.write(data)
    environ = {**workspace.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "-c", str(workspace.path), "run"],
                          cwd=Path(__file__).resolve().parent.parent, env=environ,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "dependencies unreachable; no check was run" in output and "https://127.0.0.1:1" in output, output
    assert "Traceback" not in output and "_pytest.outcomes.Exit" not in output, output
    assert not (workspace.root / "run" / "seatrial.lock").exists()
    assert Journal(workspace.root / "run").step("preflight")["status"] == "unreachable"
