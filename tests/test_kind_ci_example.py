"""examples/ci/github-actions-kind-rehearsal.yml: valid YAML, pinned versions (the ones seatrial.fixtures.kind
pins), `make rehearse ENV=kind`, and the report and JUnit files kept."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from seatrial.fixtures.kind import versions

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "ci" / "github-actions-kind-rehearsal.yml"


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return load()["jobs"]["rehearse"]["steps"]


def test_it_is_a_workflow_whose_actions_are_pinned_to_versions():
    workflow = load()
    assert workflow["name"] and workflow[True if True in workflow else "on"]  # PyYAML reads `on:` as True
    for step in steps():
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]
    kind_action = next(s for s in steps() if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind_action["uses"] == "helm/kind-action@v1.14.0"
    assert kind_action["with"]["install_only"] is True and kind_action["with"]["version"] == "${{ env.KIND_VERSION }}"


def test_the_pinned_versions_are_the_ones_fixtures_kind_pins():
    env = load()["env"]
    assert env["KIND_VERSION"] == versions.KIND_VERSION
    assert env["KUBECTL_VERSION"] == versions.KUBECTL_VERSION
    assert env["NODE_IMAGE"] == versions.NODE_IMAGE and re.search(r"@sha256:[0-9a-f]{64}$", env["NODE_IMAGE"])
    assert env["S3_IMAGE"] == versions.S3_IMAGE and not env["S3_IMAGE"].endswith(":latest")
    assert env["VELERO_CHART"] == versions.VELERO_CHART and env["HARBOR_CHART"] == versions.HARBOR_CHART


def test_it_runs_make_rehearse_env_kind_and_keeps_report_junit_and_logs():
    run = next(s["run"] for s in steps() if "make rehearse" in s.get("run", ""))
    assert "make rehearse ENV=kind" in run
    for option in ("--node-image $NODE_IMAGE", "--s3-image $S3_IMAGE", "--velero-chart $VELERO_CHART",
                   "--harbor-chart $HARBOR_CHART"):
        assert option in run
    uploads = [s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact@")]
    kept = "\n".join(str(s["with"]["path"]) for s in uploads)
    assert "run/report." in kept and "run/junit/" in kept and "/logs/" in kept
    assert uploads[0]["if"] == "always()"


def test_it_logs_in_to_docker_hub_when_the_secrets_are_there_and_installs_no_sandbox_tools():
    """About 11 Docker Hub pulls a fresh run against 10 an hour anonymously (kind-facts.md section 7)."""
    login = next(s for s in steps() if s.get("uses", "").startswith("docker/login-action@"))
    assert login["if"] == "env.DOCKERHUB_USERNAME != ''"
    assert load()["env"]["DOCKERHUB_USERNAME"] == "${{ secrets.DOCKERHUB_USERNAME }}"
    assert login["with"]["password"] == "${{ secrets.DOCKERHUB_TOKEN }}"
    make_step = next(i for i, s in enumerate(steps()) if "make rehearse" in s.get("run", ""))
    assert steps().index(login) < make_step
    runs = "\n".join(s.get("run", "") for s in steps())
    assert "restic" not in runs and "docker-registry" not in runs and "chromium" not in runs  # not on the kind path
