"""A pip user's seatrial: the wheel built from this tree, installed into a fresh virtual environment that already
holds PyPI's `fixtures` (a package whose top-level name seatrial once took), runs the CI examples' commands from an
empty directory elsewhere: upgrade-plan on the charts seatrial ships (offline), sandbox up, run, report, down.

One environment for the module (building and installing takes a minute); each test only reads it or works in a
directory of its own."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / "examples" / "ci" / "github-actions-chart-upgrade.yml"
TOP_LEVEL_ALLOWED = {"seatrial"}
EXAMPLE_VARIABLES = {"RELEASE": "my-harbor", "NAMESPACE": "harbor", "FROM_VERSION": "1.18.4", "TO_VERSION": "1.19.1"}

pytestmark = pytest.mark.slow


def _run(command: list[str], *, cwd: Path, env: dict | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,  # noqa: S603
                          check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("seatrial-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel: Path) -> Path:
    """A fresh venv with PyPI's `fixtures` first, then the wheel with its sandbox extra."""
    where = tmp_path_factory.mktemp("venv") / "v"
    assert _run([sys.executable, "-m", "venv", str(where)], cwd=where.parent).returncode == 0
    # --no-compile: byte-compiling every dependency's files was half of this set-up's CPU (90 s -> 42 s); Python
    # compiles what the commands import when they import it
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
    for spec in ("fixtures", f"{wheel}[sandbox]"):
        done = _run([*pip, spec], cwd=where.parent, timeout=900)
        assert done.returncode == 0, f"pip install {spec}:\n{done.stderr[-3000:]}"
    return where


def _env(venv: Path) -> dict:
    """The venv's programs first, no PYTHONPATH: nothing of this clone is importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_has_one_top_level_name_and_its_data(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == TOP_LEVEL_ALLOWED, top
    for needed in ("seatrial/charts/harbor-1.19.1.tgz", "seatrial/charts/velero-10.1.3.tgz",
                   "seatrial/runbook/clients/velero_crds/velero.io_backups.yaml",
                   "seatrial/fixtures/data/kopia/kopia.repository", "seatrial/fixtures/kind/standins/bin/kind",
                   "seatrial/checks/conftest.py"):
        assert needed in names, needed
    assert not [name for name in names if name.startswith("tests/")]


def test_pypi_fixtures_still_works_beside_seatrial(venv: Path, tmp_path: Path):
    probe = "import fixtures; assert hasattr(fixtures, 'Fixture'), fixtures.__file__; import seatrial.fixtures"
    done = _run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, env=_env(venv))
    assert done.returncode == 0, done.stderr


def example_commands() -> list[str]:
    """The `seatrial ...` lines of the chart-upgrade workflow, in order, with the workflow's variables filled in
    and chart repositories dropped: offline, the charts seatrial ships."""
    workflow = yaml.safe_load(GITHUB.read_text())
    scripts = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    commands = []
    for script in scripts:
        for line in script.replace("\\\n", " ").replace(">\n", " ").splitlines():
            line = line.strip()
            if not line.startswith("seatrial "):
                continue
            words = shlex.split(line)
            for option in ("--repo", "--from-repo"):
                while option in words:
                    index = words.index(option)
                    del words[index:index + 2]
            commands.append(" ".join(words))
    return commands


def _fill(command: str) -> list[str]:
    for name, value in EXAMPLE_VARIABLES.items():
        command = command.replace(f"${name}", value)
    return shlex.split(command)


def test_the_example_commands_run_from_an_empty_directory(venv: Path, tmp_path: Path):
    commands = example_commands()
    assert [c.split()[1] for c in commands][:2] == ["upgrade-plan", "sandbox"], commands
    work = tmp_path / "elsewhere"
    (work / "deploy" / "harbor").mkdir(parents=True)
    (work / "deploy" / "harbor" / "values.yaml").write_text("{}\n")
    (work / "deployed-values.yaml").write_text("{}\n")
    env = _env(venv)
    version = _run(["seatrial", "--version"], cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.startswith("seatrial "), version.stderr
    try:
        for command in commands:
            done = _run(_fill(command), cwd=work, env=env, timeout=900)
            shown = f"$ {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            assert done.returncode == 0, shown
            if " upgrade-plan " in f" {command} ":
                assert "the chart seatrial ships (harbor-1.19.1.tgz), offline" in done.stdout, shown
                assert (work / "artifacts" / "upgrade-plan" / "junit.xml").is_file()
            if command.endswith("run --yes"):
                assert "all steps green" in done.stdout, shown
    finally:
        _run(["seatrial", "sandbox", "down", "--dir", "sandbox"], cwd=work, env=env)
    assert list(work.glob("sandbox/**/report.html")), "the report the workflow keeps as an artifact"
    status = _run(["seatrial", "sandbox", "status", "--dir", "sandbox"], cwd=work, env=env)
    assert "not running" in (status.stdout + status.stderr).lower() or status.returncode != 0, status.stdout
