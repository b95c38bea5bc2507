"""`seatrial upgrade-plan` as CI runs it: no cluster, the vendored charts, the real engine; exit codes, one
JUnit test case per object, the ready fix values file, and bad input as one line (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / "seatrial" / "charts"


def upgrade_plan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "seatrial.runbook.cli", "upgrade-plan", "--release", "my-harbor", "-n", "harbor",
               "--out", str(tmp_path / "out"), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=240, check=False)


def cases(junit: Path) -> dict[str, str]:
    """test id -> 'passed' | 'failed' | 'skipped'"""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        state = "failed" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None \
            else "passed"
        found[case.get("name")] = state
    return found


def test_seed_story_offline_fails_naming_each_volume_then_the_printed_fix_passes(tmp_path):
    done = upgrade_plan(tmp_path, "--chart", str(CHARTS / "harbor-1.7.5.tgz"),
                        "--from-chart", str(CHARTS / "harbor-1.6.4.tgz"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED data_volume_kept[PersistentVolumeClaim/my-harbor-harbor-registry]" in done.stdout
    assert "database-data-my-harbor-harbor-database-0 -> database-data-my-harbor-database-0" in done.stdout
    out = tmp_path / "out"
    junit = cases(out / "junit.xml")
    assert junit["test_data_volume_kept[PersistentVolumeClaim/data-my-harbor-harbor-redis-0]"] == "failed"
    assert junit["test_postgres_major_reachable[StatefulSet/my-harbor-database (harbor-db)]"] == "passed"
    assert junit["test_no_replace[helm upgrade my-harbor]"] == "passed"
    fix = out / "fix-values.yaml"
    assert yaml.safe_load(fix.read_text()) == {"fullnameOverride": "my-harbor-harbor"}
    assert "# " in fix.read_text().splitlines()[0] and (out / "report.md").read_text().count("NOT SAFE") == 1

    again = upgrade_plan(tmp_path, "--chart", str(CHARTS / "harbor-1.7.5.tgz"), "--values", str(fix),
                         "--from-chart", str(CHARTS / "harbor-1.6.4.tgz"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert fix.exists()  # it was one of this plan's inputs: never deleted
    assert json.loads((out / "plan.json").read_text())["fix_file"] is None  # this plan computed no fix
    assert "failed" not in cases(out / "junit.xml").values()
    assert "WARNING rollout_cannot_hang[Deployment/my-harbor-harbor-registry]" in again.stdout


def test_values_files_and_sets_are_merged_in_order(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("updateStrategy:\n  type: RollingUpdate\nchartmuseum:\n  enabled: true\n")
    done = upgrade_plan(tmp_path, "--chart", str(CHARTS / "harbor-1.19.1.tgz"), "--values", str(values),
                        "--set", "updateStrategy.type=Recreate", "--from-chart", str(CHARTS / "harbor-1.18.4.tgz"),
                        "--from-set", "updateStrategy.type=Recreate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED values_key_read[chartmuseum.enabled]" in done.stdout
    assert "WARNING" not in done.stdout  # --set Recreate won over the file


def test_force_is_refused_by_the_plan(tmp_path):
    done = upgrade_plan(tmp_path, "--chart", str(CHARTS / "harbor-1.19.1.tgz"), "--force",
                        "--from-chart", str(CHARTS / "harbor-1.18.4.tgz"))
    assert done.returncode == 1 and "FAILED no_replace[helm upgrade my-harbor]" in done.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    chart = str(CHARTS / "harbor-1.19.1.tgz")
    missing = upgrade_plan(tmp_path, "--chart", chart, "--values", "nope.yaml", "--from-chart", chart)
    assert missing.returncode == 2 and "--values nope.yaml: cannot be read" in missing.stderr
    assert "Traceback" not in missing.stderr
    orphan = upgrade_plan(tmp_path, "--chart", chart, "--from-values", "x.yaml")
    assert orphan.returncode == 2 and "need --from-chart" in orphan.stderr
    bad_chart = upgrade_plan(tmp_path, "--chart", str(tmp_path / "no-chart.tgz"), "--from-chart", chart)
    assert bad_chart.returncode == 2 and "cannot be loaded" in bad_chart.stderr
    bad_set = upgrade_plan(tmp_path, "--chart", chart, "--set", "novalue", "--from-chart", chart)
    assert bad_set.returncode == 2 and "--set 'novalue'" in bad_set.stderr
    no_release = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", "upgrade-plan", "--chart", chart],
                                capture_output=True, text=True, cwd=tmp_path, check=False)
    assert no_release.returncode == 2 and "--release" in no_release.stderr
    assert not (tmp_path / "out" / "junit.xml").exists()  # nothing was judged on bad input


def test_the_plan_checks_skip_in_a_migration_session_without_a_plan(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "seatrial" / "checks" / "test_upgrade_plan.py"),
                           "-q",
                           "-p", "no:cacheprovider", f"--confcutdir={ROOT / 'seatrial' / 'checks'}", "-rs"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 skipped" in done.stdout and "no upgrade plan given" in done.stdout


def test_secret_values_never_reach_the_outputs(tmp_path):
    planted = "Planted-Upgrade-Secret-42"
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"harborAdminPassword": planted, "secretKey": "Planted-SecretKey-0042",
                                      "chartmuseum": {"enabled": True}}))
    done = upgrade_plan(tmp_path, "--chart", str(CHARTS / "harbor-1.19.1.tgz"), "--values", str(values),
                        "--from-chart", str(CHARTS / "harbor-1.18.4.tgz"), "--from-values", str(values))
    assert done.returncode == 1  # chartmuseum.enabled is not read by 1.19.1
    outputs = [done.stdout, done.stderr] + [p.read_text() for p in (tmp_path / "out").iterdir()]
    assert not any(planted in text or "Planted-SecretKey-0042" in text for text in outputs)


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("seatrial: ")]
    assert done.returncode == 2 and len(lines) == 1, done.stdout + done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "says"), [
    (["--set", "a[=1"], "--set 'a[=1' cannot be parsed: the key 'a[' has a malformed list index"),
    (["--accept-removed", "nosuchthing"], "--accept-removed nosuchthing: not a component of Harbor's chart"),
    (["--namespace", "Harbor_NS"], "--namespace 'Harbor_NS' is not a Kubernetes namespace name"),
    (["--release", "My_Harbor"], "--release 'My_Harbor' is not a Helm release name"),
    (["--out", "a-file"], "a-file is a file, not a directory"),
    (["--out", "a-file/plan"], "a-file is a file, not a directory"),
    (["--out", "/sys/seatrial-plan"], "--out /sys/seatrial-plan: cannot write the plan there"),  # even root cannot
])
def test_bad_arguments_are_refused_before_anything(tmp_path, args, says):
    (tmp_path / "a-file").write_text("not a directory\n")
    chart = str(CHARTS / "harbor-1.18.4.tgz")
    done = upgrade_plan(tmp_path, "--chart", chart, "--from-chart", chart, *args)
    assert says in _one_error_line(done)
    assert not (tmp_path / "out").exists() and (tmp_path / "a-file").read_text() == "not a directory\n"


@pytest.mark.parametrize("side", ["--chart", "--from-chart"])
def test_a_chart_that_is_not_harbors_is_refused_not_judged(tmp_path, side):
    charts = {"--chart": str(CHARTS / "harbor-1.18.4.tgz"), "--from-chart": str(CHARTS / "harbor-1.18.4.tgz"),
              side: str(CHARTS / "velero-12.1.0.tgz")}
    done = upgrade_plan(tmp_path, *[item for pair in charts.items() for item in pair])
    line = _one_error_line(done)
    assert f"{side} {charts[side]} is chart 'velero', not Harbor's chart" in line, line
    assert "only knows Harbor's chart" in line
    assert not (tmp_path / "out").exists()


def test_a_directory_that_is_not_a_chart_is_refused_without_reading_it(tmp_path):
    (tmp_path / "not-a-chart" / "deep").mkdir(parents=True)
    (tmp_path / "not-a-chart" / "deep" / "big.bin").write_bytes(b"\0" * (6 << 20))  # the engine refuses > 5 MiB
    done = upgrade_plan(tmp_path, "--chart", str(tmp_path / "not-a-chart"),
                        "--from-chart", str(CHARTS / "harbor-1.18.4.tgz"))
    line = _one_error_line(done)
    assert "the directory has no Chart.yaml" in line and "big.bin" not in done.stderr, done.stderr


def test_a_tab_after_a_value_is_read_as_helm_reads_it(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("updateStrategy:\n  type: Recreate\t# TAB, then a comment: legal YAML\n")
    chart = str(CHARTS / "harbor-1.18.4.tgz")
    done = upgrade_plan(tmp_path, "--chart", chart, "--values", str(values), "--from-chart", chart,
                        "--from-values", str(values))
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_values_given_judges_the_deployed_values_as_helm_reuses_them(tmp_path):
    """Helm upgrades with the deployed values when given none; the guard judged the chart's defaults and
    failed a no-op upgrade with "accessModes RWX -> RWO" on the registry PVC."""
    deployed = tmp_path / "deployed.yaml"
    deployed.write_text("persistence:\n  persistentVolumeClaim:\n    registry:\n      accessMode: ReadWriteMany\n")
    chart = str(CHARTS / "harbor-1.18.4.tgz")
    same = upgrade_plan(tmp_path, "--chart", chart, "--from-chart", chart, "--from-values", str(deployed))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "FAILED" not in same.stdout
    reset = upgrade_plan(tmp_path, "--chart", chart, "--from-chart", chart, "--from-values", str(deployed),
                         "--reset-values")
    assert reset.returncode == 1, reset.stdout + reset.stderr
    assert "FAILED update_allowed[PersistentVolumeClaim/my-harbor-registry]" in reset.stdout


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_secret_values_from_values_and_set_stay_out_of_every_output_at_every_verbosity(tmp_path, verbosity):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"harborAdminPassword": "Planted-Values-Pw-0007",
                                      "trivy": {"gitHubToken": "ghp_PlantedValuesToken7"}}))
    planted = ("Planted-Values-Pw-0007", "ghp_PlantedValuesToken7", "Planted-Set-Secret-0007")
    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", *verbosity, "upgrade-plan", "--release",
                           "my-harbor", "-n", "harbor", "--out", str(tmp_path / "out"),
                           "--chart", str(CHARTS / "harbor-1.18.4.tgz"), "--values", str(values),
                           "--set", f"core.secret={planted[2]}", "--from-chart", str(CHARTS / "harbor-1.18.4.tgz"),
                           "--from-values", str(values), "--from-set", f"core.secret={planted[2]}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = [done.stdout, done.stderr] + [p.read_text() for p in (tmp_path / "out").iterdir()]
    assert not [value for value in planted if any(value in text for text in outputs)]
