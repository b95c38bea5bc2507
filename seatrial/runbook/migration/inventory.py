"""What a Harbor holds: projects -> repositories -> artifacts (digest, size, tags), and how two differ.

Taken through the API with one call per page per list (projects, each project's repositories, each
repository's artifacts with tags and accessories); never one GET per artifact. The lists are read by a bounded
pool of workers (`LISTING_WORKERS`): a Harbor of 10,000 repositories answers 10,000 artifact listings, and one
at a time the freeze window would wait on every round trip. Compared by digest. Written to its file as it is
serialized, one repository per line, never as one whole text beside the objects (100,000 artifacts).
Accessories (cosign/notation signatures, SBOMs: manifests with an OCI `subject`) are left out of Harbor's
default listing; they are inventoried as artifacts of their subject's repository with `subject` set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seatrial.runbook.errors import NotFound

FORMAT_VERSION = 1
LISTING_WORKERS = 4  # listings in flight at once: enough to hide the round trip, few enough for a small Harbor


class HarborLister(Protocol):
    url: str

    def projects(self) -> list[dict[str, Any]]: ...
    def project(self, name: str) -> dict[str, Any] | None: ...
    def repositories(self, project: str) -> list[dict[str, Any]]: ...
    def artifacts(self, project: str, repo: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Artifact:
    digest: str
    size: int
    tags: tuple[str, ...]
    media_type: str = ""
    subject: str = ""  # an accessory's subject digest; "" for an ordinary artifact


@dataclass
class Project:
    name: str
    public: bool
    repositories: dict[str, dict[str, Artifact]] = field(default_factory=dict)  # full repo name -> digest -> artifact


@dataclass
class Inventory:
    harbor_url: str
    taken_at: str
    projects: dict[str, Project] = field(default_factory=dict)

    def artifact_records(self) -> list[dict[str, Any]]:
        """One flat record per artifact: project, repository (with the project), digest, size, tags;
        sorted by repository and digest."""
        return sorted([
            {"project": project.name, "repository": repo, "digest": a.digest, "size": a.size, "tags": list(a.tags),
             "media_type": a.media_type, "subject": a.subject}
            for project in self.projects.values()
            for repo, artifacts in project.repositories.items()
            for a in artifacts.values()
        ], key=lambda r: (r["repository"], r["digest"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION, "harbor_url": self.harbor_url, "taken_at": self.taken_at,
            "projects": {
                p.name: {"public": p.public, "repositories": {
                    repo: [_artifact_json(a) for a in artifacts.values()]
                    for repo, artifacts in p.repositories.items()}}
                for p in self.projects.values()
            },
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        """The same document as `to_json`, written as it is serialized (one repository per line) to a temporary
        file that then replaces `path`: a crash leaves the previous file, never half of one."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with temporary.open("w") as out:
            out.write(f'{{"format": {FORMAT_VERSION}, "harbor_url": {json.dumps(self.harbor_url)}, '
                      f'"taken_at": {json.dumps(self.taken_at)}, "projects": {{')
            for p_index, project in enumerate(self.projects.values()):
                out.write(f'{"," if p_index else ""}\n{json.dumps(project.name)}: '
                          f'{{"public": {json.dumps(project.public)}, "repositories": {{')
                for r_index, (repo, artifacts) in enumerate(project.repositories.items()):
                    out.write(f'{"," if r_index else ""}\n {json.dumps(repo)}: '
                              f'{json.dumps([_artifact_json(a) for a in artifacts.values()])}')
                out.write("}}")
            out.write("\n}}\n")
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: Path) -> Inventory:
        with Path(path).open() as stream:
            return cls.from_json(json.load(stream))

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Inventory:
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ValueError(f"not a seatrial inventory (format {FORMAT_VERSION})")
        inventory = cls(data.get("harbor_url", ""), data.get("taken_at", ""))
        for name, project in data["projects"].items():
            entry = Project(name, bool(project.get("public")))
            for repo, artifacts in project.get("repositories", {}).items():
                entry.repositories[repo] = {
                    a["digest"]: Artifact(a["digest"], int(a["size"]), tuple(a.get("tags") or ()),
                                          sys.intern(a.get("media_type", "")), a.get("subject", ""))
                    for a in artifacts}
            inventory.projects[name] = entry
        return inventory


def take_inventory(client: HarborLister, projects: list[str] | None = None, *,
                   workers: int = LISTING_WORKERS) -> Inventory:
    """The inventory of every project (or only `projects`) visible to the client's user; the repositories and
    artifacts listed `workers` lists at a time (the client must allow that many connections)."""
    inventory = Inventory(client.url, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if projects is None:
        chosen = client.projects()
    else:
        chosen = []
        for name in projects:
            found = client.project(name)
            if found is None:
                raise NotFound(f"project {name!r} does not exist on {client.url}", status=404,
                               fix="check the project names given for the inventory")
            chosen.append(found)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="inventory") as pool:
        listed = list(pool.map(lambda project: [r["name"] for r in client.repositories(project["name"])], chosen))
        wanted = [(project["name"], full) for project, names in zip(chosen, listed, strict=True) for full in names]
        artifacts = pool.map(lambda where: _artifacts_of(client, *where), wanted)
        for project in chosen:
            inventory.projects[project["name"]] = Project(
                project["name"], str((project.get("metadata") or {}).get("public", "false")).lower() == "true")
        for (name, full), found in zip(wanted, artifacts, strict=True):
            inventory.projects[name].repositories[full] = found
    return inventory


def _artifacts_of(client: HarborLister, project: str, full: str) -> dict[str, Artifact]:
    """digest -> Artifact of one repository (`full` names the project too), accessories with their subject."""
    short = full[len(project) + 1:] if full.startswith(project + "/") else full
    artifacts: dict[str, Artifact] = {}
    for a in client.artifacts(project, short):
        artifacts[a["digest"]] = Artifact(a["digest"], int(a.get("size") or 0),
                                          tuple(sorted(t["name"] for t in a.get("tags") or [])),
                                          sys.intern(a.get("manifest_media_type", "")))
        for accessory in a.get("accessories") or []:
            artifacts.setdefault(accessory["digest"], Artifact(
                accessory["digest"], int(accessory.get("size") or 0), (), "", a["digest"]))
    return artifacts


def _artifact_json(artifact: Artifact) -> dict[str, Any]:
    return {"digest": artifact.digest, "size": artifact.size, "tags": list(artifact.tags),
            "media_type": artifact.media_type, **({"subject": artifact.subject} if artifact.subject else {})}


@dataclass(frozen=True)
class Difference:
    kind: str  # missing project | missing repository | missing artifact | size mismatch | tags differ
    project: str
    repository: str = ""
    digest: str = ""
    expected: Any = None
    observed: Any = None

    def __str__(self) -> str:
        where = self.repository or self.project
        if self.digest:
            where += f"@{self.digest}"
        if self.kind in ("size mismatch", "tags differ"):
            return f"{self.kind}: {where}: expected {self.expected}, observed {self.observed}"
        return f"{self.kind}: {where}"


def diff(golden: Inventory, observed: Inventory) -> list[Difference]:
    """What the golden inventory holds that the observed one lacks or holds differently, by digest."""
    differences: list[Difference] = []
    for name, project in golden.projects.items():
        seen = observed.projects.get(name)
        if seen is None:
            differences.append(Difference("missing project", name))
            continue
        for repo, artifacts in project.repositories.items():
            seen_artifacts = seen.repositories.get(repo)
            if seen_artifacts is None:
                differences.append(Difference("missing repository", name, repo))
                continue
            for digest, artifact in artifacts.items():
                other = seen_artifacts.get(digest)
                if other is None:
                    differences.append(Difference("missing artifact", name, repo, digest, artifact.tags, None))
                    continue
                if other.size != artifact.size:
                    differences.append(Difference("size mismatch", name, repo, digest, artifact.size, other.size))
                if sorted(other.tags) != sorted(artifact.tags):
                    differences.append(Difference("tags differ", name, repo, digest, sorted(artifact.tags),
                                                  sorted(other.tags)))
    return differences
