"""seatrial.runbook.migration.inventory on the Harbor twin: taken by listing pages, compared by digest."""

from __future__ import annotations

import os

from seatrial.runbook.migration.inventory import Artifact, Inventory, Project, diff, take_inventory


def _seed(twin) -> dict[str, object]:
    client = twin.client()
    for project in ("alpha", "beta"):
        client.create_project(project)
    pushed = {}
    with twin.registry_client() as registry:
        for repo, tag in (("alpha/web", "v1"), ("alpha/web", "v2"), ("alpha/tools/cli", "1.0"), ("beta/db", "15")):
            pushed[(repo, tag)] = registry.push_image(repo, tag, [os.urandom(1024), os.urandom(512)])
    return pushed


def test_inventory_holds_every_artifact_with_digest_size_and_tags(harbor_twin):
    pushed = _seed(harbor_twin)
    inventory = take_inventory(harbor_twin.client())
    records = {(r["repository"], r["digest"]): r for r in inventory.artifact_records()}
    assert len(records) == len(pushed)
    for (repo, tag), artifact in pushed.items():
        record = records[(repo, artifact.digest)]
        assert (record["size"], record["tags"]) == (artifact.size, [tag])
    assert set(inventory.projects) == {"library", "alpha", "beta"}
    again = Inventory.from_json(inventory.to_json_text())
    assert again.artifact_records() == inventory.artifact_records()
    assert diff(inventory, again) == []
    only = take_inventory(harbor_twin.client(), projects=["beta"])
    assert set(only.projects) == {"beta"}


def test_diff_finds_a_deleted_artifact_a_moved_tag_and_a_missing_project(harbor_twin):
    pushed = _seed(harbor_twin)
    client = harbor_twin.client()
    golden = take_inventory(client)
    deleted = pushed[("alpha/web", "v1")]
    client.delete_artifact("alpha", "web", deleted.digest)
    with harbor_twin.registry_client() as registry:
        registry.push_image("alpha/tools/cli", "1.0", [os.urandom(64)])  # moves tag 1.0 to a new artifact
    client.delete_repository("beta", "db")
    client.delete_project("beta")
    observed = take_inventory(client)
    found = {(d.kind, d.repository or d.project, d.digest) for d in diff(golden, observed)}
    assert found == {
        ("missing artifact", "alpha/web", deleted.digest),
        ("tags differ", "alpha/tools/cli", pushed[("alpha/tools/cli", "1.0")].digest),
        ("missing project", "beta", ""),
    }
    assert all(str(d) for d in diff(golden, observed))


def test_inventory_lists_one_page_per_repository(harbor_twin):
    """No GET per artifact: one page of projects, one of repositories per project, one of artifacts per repo."""
    _seed(harbor_twin)
    client = harbor_twin.client()
    harbor_twin.app.request_log.clear()
    take_inventory(client)
    api_gets = [(path, query) for method, path, query in harbor_twin.app.request_log if method == "GET"]
    artifact_pages = [p for p, _ in api_gets if p.endswith("/artifacts")]
    assert len(api_gets) == 1 + 3 + 3 and len(artifact_pages) == 3
    assert all("page_size=100" in q for _, q in api_gets)
    assert not [p for p, _ in api_gets if "/artifacts/" in p]


def test_diff_reports_size_mismatch_and_missing_repository():
    def inventory(repos: dict[str, dict[str, Artifact]]) -> Inventory:
        return Inventory("https://harbor.example", "now", {"p": Project("p", False, repos)})

    digest = "sha256:" + "a" * 64
    golden = inventory({"p/a": {digest: Artifact(digest, 100, ("v1",))}, "p/b": {}})
    observed = inventory({"p/a": {digest: Artifact(digest, 99, ("v1",))}})
    assert [(d.kind, d.repository, d.expected, d.observed) for d in diff(golden, observed)] == [
        ("size mismatch", "p/a", 100, 99), ("missing repository", "p/b", None, None)]
