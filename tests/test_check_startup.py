"""A step's check process starts without the libraries its checks do not read (issue 13: one process per step,
so every eager import is paid nine times a rehearsal).

Not timed: each test looks at which modules a child process has loaded, so an import put back at module level
fails here whatever the machine's load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.runbook.config import load_config
from seatrial.runbook.migration.runner import run_checks
from seatrial.runbook.migration.steps.context import StepContext

ROOT = Path(__file__).resolve().parents[1]
CHECK_MODULES = sorted(path.stem for path in (ROOT / "seatrial" / "checks").glob("test_*.py"))
# What a check process must not load before a check asks for it (cumulative import time on this machine).
HEAVY = {
    "kubernetes": "the Kubernetes client (~90 ms with pydantic)",
    "boto3": "the S3 client (~55 ms)",
    "botocore": "the S3 client's core",
    "requests": "the Harbor and registry client's HTTP library (~23 ms)",
    "jsonschema": "the Velero CRD validator (~30 ms with attrs and referencing)",
    "pydantic": "the Kubernetes client's models",
    "helm_python": "the Helm engine (a 75 MB shared library)",
    "werkzeug": "the sandbox's HTTP servers",
    "moto": "the sandbox's S3",
    "cryptography": "the sandbox's CA",
    "fixtures": "the test servers: the arrows are checks -> seatrial.runbook, fixtures -> seatrial.runbook",
}
FIX = "import it inside the function that uses it (see checks/context.py, seatrial.runbook/crds.py)"


def loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (from the project root, as the runner does)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"the child process failed:\n{done.stderr[-3000:]}"
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> dict[str, str]:
    return {name: why for name, why in HEAVY.items() if name in modules}


def test_the_check_plugins_and_modules_load_no_client_library() -> None:
    imports = "\n".join(["import seatrial.checks.conftest", "import seatrial.runbook.checking.pytest_redact",
                         "import seatrial.runbook.migration.runner",
                         *(f"import seatrial.checks.{module}" for module in CHECK_MODULES)])
    found = heavy_in(loaded_by(imports))
    assert not found, (f"importing the checks' conftest, the redaction plugin and {len(CHECK_MODULES)} check modules "
                       f"loaded {found}; fix: {FIX}")


def test_reading_velero_objects_leaves_the_schema_validator_until_a_write() -> None:
    modules = loaded_by("import seatrial.runbook.clients.velero")
    assert "jsonschema" not in modules, f"importing seatrial.runbook.clients.velero loaded jsonschema; fix: {FIX}"
    # ...and the lazy import still validates: a Backup with a wrong type is refused by field.
    modules = loaded_by("from seatrial.runbook.clients import crds\n"
                        "causes = crds.validate({'apiVersion': 'velero.io/v1', 'kind': 'Backup',\n"
                        "                        'metadata': {'name': 'b'}, 'spec': {'ttl': 5}})\n"
                        "assert causes and causes[0][0] == 'spec.ttl', causes")
    assert "jsonschema" in modules


PROBE_PLUGIN = '''
import json, os, sys

def pytest_unconfigure(config):
    plugins = [name for name, plugin in config.pluginmanager.list_name_plugin() if plugin is not None]
    with open(os.environ["SEATRIAL_MODULES_PROBE"], "w") as out:
        json.dump({"modules": sorted(sys.modules), "plugins": plugins, "inifile": str(config.inipath or ""),
                   "addopts": config.getini("addopts")}, out)
'''


@pytest.mark.slow
@pytest.mark.parametrize(("step", "reads", "not_read"), [
    ("annotate", {"kubernetes"}, {"boto3", "botocore", "jsonschema", "seatrial.runbook.clients.harbor", "helm_python",
                                  "fixtures"}),
    ("freeze", {"seatrial.runbook.clients.harbor"}, {"kubernetes", "boto3", "botocore", "jsonschema", "helm_python",
                                                     "fixtures"}),
])
# Outside `seatrial.runbook.migration.runner.run` (no warm server), run_checks starts a fresh `python -m pytest`: the
# process an
# operator starts by hand, and the one whose start-up this file guards.
def test_a_step_check_process_loads_only_what_its_checks_read(sandbox: Sandbox, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, step: str,
                                                             reads: set[str], not_read: set[str]) -> None:
    (tmp_path / "seatrial_modules_probe.py").write_text(PROBE_PLUGIN)
    record = tmp_path / "modules.json"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("SEATRIAL_MODULES_PROBE", str(record))
    config = load_config(sandbox.config_path)
    result = run_checks(StepContext(config, yes=True, out=lambda line: None), step,
                        extra=("-p", "seatrial_modules_probe"), junit_name=f"{step}.startup.xml")
    assert result.junit is not None and result.passed + len(result.failed) > 0, \
        f"the {step} checks did not run (exit {result.exit_code}):\n{result.output}"
    seen = json.loads(record.read_text())
    modules, plugins = set(seen["modules"]), set(seen["plugins"])
    assert reads <= modules, f"the {step} checks ran without {sorted(reads - modules)}: the probe saw the wrong process"
    extra = {name: HEAVY.get(name, "") for name in sorted(not_read & modules)}
    assert not extra, f"the {step} check process loaded {extra}, which its checks do not read; fix: {FIX}"
    # Two full garbage collections at exit (~40 ms) for a warning Python's own hook prints anyway: off.
    assert "unraisableexception" not in plugins, sorted(plugins)
    assert "seatrial.runbook.checking.pytest_redact" in plugins, sorted(plugins)
    # The project's own pytest settings (--durations, -ra, the suite's timeout) are the test suite's, not the
    # checks': an installed seatrial has no pyproject.toml, and a source tree must run its checks the same way.
    assert not seen["inifile"].endswith("pyproject.toml") and not seen["addopts"], (seen["inifile"], seen["addopts"])
