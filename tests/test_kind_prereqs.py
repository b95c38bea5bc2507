"""The Makefile's part of issue 21: Python >= 3.11 is checked before the venv is made (Ubuntu 22.04's python3 is
3.10, macOS's 3.9), a venv an older Python left is named, and `make ... ENV=kind` asks only for what the kind
path uses (kind, docker, kubectl), never apt for restic, docker-registry or chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from seatrial.fixtures.kind import prereqs, versions
from seatrial.fixtures.kind.fixture import STANDINS_BIN

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def old_python(directory: Path, version: str = "3.10.12") -> Path:
    """An interpreter that is this one told it is `version` (as Ubuntu 22.04's python3), so prereqs.py runs on
    it as it would there; `-m venv` and `-c` answer as that Python would."""
    major, minor, micro = (int(part) for part in version.split("."))
    fake = directory / "python3"
    fake.write_text(f"""#!{sys.executable}
import runpy, sys
sys.version_info = ({major}, {minor}, {micro}, "final", 0)
if sys.argv[1:3] == ["-m", "venv"]:
    import os
    os.makedirs(os.path.join(sys.argv[3], "bin"))
    sys.exit(0)
if sys.argv[1:2] == ["-c"]:
    print("{major}.{minor}")
    sys.exit(0)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
""")
    fake.chmod(0o755)
    return fake


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    return subprocess.run([shutil.which("make"), "--no-print-directory", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=120)


def test_make_venv_refuses_an_old_python_in_one_line_and_makes_nothing(tmp_path):
    venv = tmp_path / "venv"
    done = make("venv", f"PYTHON={old_python(tmp_path)}", f"VENV={venv}")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("seatrial: error:")]
    assert len(errors) == 1 and "seatrial needs Python >= 3.11" in errors[0] and "is 3.10.12" in errors[0]
    assert "PYTHON=python3.12" in errors[0]
    assert not venv.exists()


def test_a_venv_an_older_python_made_is_named_with_the_command_that_removes_it(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(old_python(tmp_path))
    done = subprocess.run([sys.executable, str(Path(prereqs.__file__)), "python", str(venv)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"seatrial: error: {venv} was made by Python 3.10 and cannot run seatrial; " \
                                  f"remove it: rm -rf {venv}"


def test_a_failed_pip_install_removes_the_venv_so_the_next_make_starts_clean(tmp_path):
    venv = tmp_path / "venv"
    plan = make("-n", "venv", f"VENV={venv}").stdout
    pip_line = next(line for line in plan.splitlines() if "pip install -q" in line and " -e " in line)
    assert f"|| {{ rm -rf {venv};" in pip_line and "exit 1" in pip_line


def test_make_system_deps_for_kind_asks_only_for_kind_docker_and_kubectl(tmp_path):
    kubectl = tmp_path / "bin"
    kubectl.mkdir()
    (kubectl / "kubectl").symlink_to(shutil.which("kubectl"))
    (kubectl / "python3").symlink_to(Path(sys.executable).resolve())  # the host's python3, not a shim
    # restic, docker-registry and chromium are on neither PATH: the kind path does not use them
    done = make("system-deps", "ENV=kind", path=f"{STANDINS_BIN}{os.pathsep}{kubectl}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "apt-get" not in done.stdout + done.stderr

    done = make("system-deps", "ENV=kind", path=str(kubectl))  # no kind, no docker
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("make")]
    assert len(errors) == 1 and errors[0].startswith("seatrial: error: the kind path needs `kind` on PATH")
    assert "apt-get" not in errors[0] and f"sigs.k8s.io/kind@{versions.KIND_VERSION}" in errors[0]


def test_prereqs_runs_on_the_python_an_old_host_has(tmp_path):
    """Run by the system python3 before any venv: standard library only, syntax Python 3.9 reads."""
    import ast

    tree = ast.parse(Path(prereqs.__file__).read_text(), feature_version=(3, 9))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_the_versions_prereqs_names_are_the_ones_the_kind_path_pins():
    assert prereqs.KIND_VERSION == versions.KIND_VERSION
    assert prereqs.KUBECTL_VERSION == versions.KUBECTL_VERSION
