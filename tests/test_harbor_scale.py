"""The Harbor twin at scale (seatrial/fixtures/harbor/scale.py) and what seatrial does against it: one listing
page per list, a bounded pool of workers, the inventory file streamed, one token per repository when sampling."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from seatrial.fixtures.harbor.scale import ScaleSpec, build_scene
from seatrial.fixtures.harbor.server import start_harbor
from seatrial.fixtures.tools import require_tool
from seatrial.runbook.clients.blob_verification import verify_artifacts
from seatrial.runbook.migration.inventory import Inventory, diff, take_inventory
from seatrial.runbook.secrets import Secret

SPEC = ScaleSpec(projects=2, repositories=6, artifacts=45)


@pytest.fixture(scope="module")
def scale_twin(tmp_path_factory):
    """A scene the tests only read: built and served once for the module."""
    require_tool("docker-registry")
    root = tmp_path_factory.mktemp("scale")
    password = Secret("Scale-" + secrets.token_urlsafe(12), "Harbor admin password")
    scene = build_scene(SPEC, database_dir=root / "database", registry_dir=root / "registry", admin_password=password)
    twin = start_harbor(database_dir=root / "database", registry_dir=root / "registry", workdir=root / "work",
                        admin_password=password)
    try:
        yield twin, scene
    finally:
        twin.stop()


def test_the_scene_holds_the_asked_inventory_with_its_mix(scale_twin):
    twin, scene = scale_twin
    records = take_inventory(twin.client()).artifact_records()
    scale = [r for r in records if r["project"].startswith("scale-")]
    assert len(scale) == SPEC.artifacts == scene.artifacts
    assert len({r["repository"] for r in scale}) == SPEC.repositories
    assert sum(len(r["tags"]) for r in scale) == scene.tags
    assert sum(1 for r in scale if r["subject"]) == scene.accessories > 0
    assert sum(1 for r in scale if r["media_type"].endswith("image.index.v1+json")) == scene.indexes > 0
    assert any(len(r["tags"]) == 2 for r in scale) and any(not r["tags"] and not r["subject"] for r in scale)
    assert any("/team/" in r["repository"] for r in scale)  # repository names with a slash


def test_every_listed_artifact_pulls_with_the_listed_size(scale_twin):
    """The registry really holds what the database lists: manifests, shared layers, links."""
    twin, _ = scale_twin
    records = [r for r in take_inventory(twin.client()).artifact_records() if r["project"].startswith("scale-")]
    outcomes = verify_artifacts(twin.registry_client, [(r["repository"], r["digest"]) for r in records], 3)
    sizes = {key: getattr(outcome, "size", outcome) for key, outcome in outcomes.items()}
    assert sizes == {(r["repository"], r["digest"]): r["size"] for r in records}


def test_the_inventory_takes_the_minimum_of_pages_whatever_the_workers(scale_twin):
    twin, _ = scale_twin
    client = twin.client()
    one = take_inventory(client, workers=1)
    twin.app.request_log.clear()
    pooled = take_inventory(client, workers=4)
    assert pooled.artifact_records() == one.artifact_records()
    assert list(pooled.projects) == list(one.projects)
    gets = [path for method, path, _ in twin.app.request_log if method == "GET"]
    # 1 page of projects, 1 of repositories per project (library and the scene's), 1 of artifacts per repository
    assert len(gets) == 1 + (1 + SPEC.projects) + SPEC.repositories


def test_the_inventory_file_is_written_as_one_json_document_line_by_line(scale_twin, tmp_path):
    twin, _ = scale_twin
    inventory = take_inventory(twin.client())
    path = tmp_path / "golden-inventory.json"
    inventory.write(path)
    text = path.read_text()
    assert json.loads(text) == inventory.to_json()
    assert len(text.splitlines()) >= SPEC.repositories  # one repository per line, not one huge line
    again = Inventory.read(path)
    assert again.artifact_records() == inventory.artifact_records() and diff(inventory, again) == []
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # no temporary file left behind


def test_sampling_fetches_one_token_per_repository_for_the_whole_pool(scale_twin):
    twin, _ = scale_twin
    records = [r for r in take_inventory(twin.client()).artifact_records() if r["project"].startswith("scale-")]
    twin.app.request_log.clear()
    verify_artifacts(twin.registry_client, [(r["repository"], r["digest"]) for r in records], 4)
    tokens = Counter(query for method, path, query in twin.app.request_log if path == "/service/token")
    challenges = [path for method, path, _ in twin.app.request_log if path.startswith("/v2/")]
    assert len(tokens) == SPEC.repositories and set(tokens.values()) == {1}, tokens
    assert challenges  # the pulls went through the twin's /v2


def test_the_scene_command_refuses_a_directory_in_use_in_one_line(tmp_path):
    (tmp_path / "something").write_text("x")
    done = subprocess.run([sys.executable, "-m", "seatrial.fixtures.harbor.scale", "build", "--dir", str(tmp_path),  # noqa: S603
                           "--artifacts", "10", "--repositories", "5", "--projects", "1"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"seatrial: error: --dir {tmp_path} is not empty: give an empty or "
                                                "new directory"]
    too_few = subprocess.run([sys.executable, "-m", "seatrial.fixtures.harbor.scale", "build", "--dir",  # noqa: S603
                              str(tmp_path / "new"), "--artifacts", "3", "--repositories", "5", "--projects", "1"],
                             capture_output=True, text=True, check=False)
    assert too_few.returncode == 2 and "--artifacts (3) must be at least --repositories (5)" in too_few.stderr
    assert not (tmp_path / "new").exists()


def test_a_scene_is_only_built_into_an_empty_twin(tmp_path):
    password = Secret("Scale-" + secrets.token_urlsafe(12), "Harbor admin password")
    with pytest.raises(ValueError, match="--artifacts"):
        build_scene(ScaleSpec(1, 2, 1), database_dir=tmp_path / "db", registry_dir=tmp_path / "r",
                    admin_password=password)
    assert not Path(tmp_path / "db").exists()


def test_a_failing_harbor_ends_the_listing_at_its_first_error(scale_twin, monkeypatch):
    """A Harbor that fails mid-listing is a dependency problem, raised once: the listings still queued are
    dropped (Executor.map cancels them when its first result raises), not each sent with its retries."""
    from seatrial.fixtures.faultproxy import FaultProxy
    from seatrial.runbook import retry
    from seatrial.runbook.clients.harbor import HarborClient
    from seatrial.runbook.errors import ApiError

    twin, _ = scale_twin
    monkeypatch.setenv("SEATRIAL_RETRY_BASE_S", "0")  # the retries' backoff is not what is tested here
    proxy = FaultProxy(twin.url).start()
    try:
        # every repository's artifact listing fails (the repository listings themselves answer)
        proxy.set("5xx", paths=("/api/v2.0/projects/scale-0001/repositories/",
                                "/api/v2.0/projects/scale-0002/repositories/"))
        client = HarborClient(proxy.url, "admin", twin.admin_password)
        with pytest.raises(ApiError) as failed:
            take_inventory(client, workers=1)
        assert failed.value.status == 503 and "scale-0001" in failed.value.message
        # the failed listing and the one the freed worker took before the error was seen, each with its attempts;
        # without the cancelling each of the 6 repositories would be tried (6 x the attempts)
        assert proxy.faulted <= 2 * retry.attempts() < SPEC.repositories * retry.attempts(), proxy.faulted
    finally:
        proxy.stop()
