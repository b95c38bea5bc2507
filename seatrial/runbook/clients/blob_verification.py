"""Pull and digest-verify many artifacts with a bounded pool of workers, blob by blob.

First every artifact's manifests are pulled (an index's children too), `workers` at a time. Then every
distinct blob they name is streamed through its hash once, `workers` at a time, whichever artifacts it
belongs to: an artifact with many layers keeps every worker busy, and a layer shared by many artifacts
is read once. Each worker has its own registry client and holds one chunk at a time
(`Registry.verify_blob`), so memory stays constant per worker and a registry of many TiB is verified at
the network's speed, not one round trip at a time. The workers share one cache of tokens (one per repository).

A blob's bytes live once in the registry's storage, but each repository has its own link to them: the
bytes are read through the first repository that names the blob, and every other repository is asked
with a HEAD whether it links the blob too.

The outcome of every artifact is what pulling it alone would give (`RegistryClient.verify_artifact`):
its VerifiedArtifact, or the first error met in the order manifests and blobs are read there; in the
order given. Which artifacts are verified is the caller's (a deterministic sample)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from seatrial.runbook.clients.registry import PulledManifest, RegistryClient, TokenCache, VerifiedArtifact
from seatrial.runbook.errors import NotFound, SeatrialError

Outcome = VerifiedArtifact | SeatrialError
BlobKey = tuple[str, int]  # (digest, size): two manifests that disagree on a blob's size get two reads


@dataclass
class _Plan:
    """One artifact's manifests, pulled; the blobs they name in the order a lone pull reads them."""

    repo: str
    digest: str = ""
    media_type: str = ""
    manifest_bytes: int = 0
    manifests: int = 0
    blobs: list[BlobKey] = field(default_factory=list)  # (digest, size): what is kept of a manifest
    failure: SeatrialError | None = None  # the manifest pull that failed, after `blobs`


def verify_artifacts(make_registry: Callable[[], RegistryClient], artifacts: Iterable[tuple[str, str]],
                     workers: int) -> dict[tuple[str, str], Outcome]:
    """(repository, digest) -> the VerifiedArtifact, or the SeatrialError that pulling it raised."""
    local = threading.local()
    tokens = TokenCache()  # one token per repository for the whole pool, not one per worker and phase

    def registry() -> RegistryClient:
        client = getattr(local, "registry", None)
        if client is None:
            client = local.registry = make_registry()
            client.share_tokens(tokens)
        return client

    wanted = list(dict.fromkeys(artifacts))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        plans = list(pool.map(lambda artifact: _pull_manifests(registry(), *artifact), wanted))
        repos_of: dict[BlobKey, dict[str, None]] = {}
        for plan in plans:
            for blob in plan.blobs:
                repos_of.setdefault(blob, {})[plan.repo] = None
        read = pool.map(lambda item: _verify_blob_once(registry(), *item[0], list(item[1])), repos_of.items())
        results = dict(zip(repos_of, read, strict=True))
    return {artifact: _outcome(plan, results) for artifact, plan in zip(wanted, plans, strict=True)}


def _pull_manifests(registry: RegistryClient, repo: str, reference: str) -> _Plan:
    plan = _Plan(repo)
    try:
        root = registry.pull_manifest(repo, reference)
        plan.digest, plan.media_type = root.digest, root.media_type
        _walk(registry, root, plan)
    except SeatrialError as exc:
        plan.failure = exc
    return plan


def _walk(registry: RegistryClient, manifest: PulledManifest, plan: _Plan) -> None:
    """Depth first, as `verify_artifact` reads an index: each child's manifest, then its blobs."""
    plan.manifest_bytes += len(manifest.body)
    plan.manifests += 1
    plan.blobs.extend((blob.digest, blob.size) for blob in manifest.blobs)
    for child in manifest.children:
        _walk(registry, registry.pull_manifest(plan.repo, child.digest), plan)


def _verify_blob_once(registry: RegistryClient, digest: str, size: int,
                      repos: list[str]) -> dict[str, int | SeatrialError]:
    """repository -> the blob's byte count, or the error that reading (or, after a read elsewhere,
    finding) it there raised."""
    results: dict[str, int | SeatrialError] = {}
    read: int | SeatrialError | None = None  # the bytes' verdict, once they have been read through a repository
    for repo in repos:
        if read is None:
            try:
                read = results[repo] = registry.verify_blob(repo, digest, size)
            except NotFound as exc:  # this repository does not link the blob: read it through the next one
                results[repo] = exc
            except SeatrialError as exc:
                read = results[repo] = exc
        elif isinstance(read, SeatrialError):
            results[repo] = read
        else:
            results[repo] = _linked(registry, repo, digest, read)
    return results


def _linked(registry: RegistryClient, repo: str, digest: str, read: int) -> int | SeatrialError:
    try:
        if registry.blob_exists(repo, digest):
            return read
    except SeatrialError as exc:
        return exc
    return NotFound(
        f"blob {digest} in {repo} on {registry.base_url}: not found (HEAD answered 404), although its bytes are in "
        "the registry's storage (verified through another repository)",
        status=404, fix="the repository's link to the blob is missing: restore the registry volume again "
                        "(PodVolumeRestore), then re-verify")


def _outcome(plan: _Plan, results: dict[BlobKey, dict[str, int | SeatrialError]]) -> Outcome:
    size = plan.manifest_bytes
    for blob in plan.blobs:
        read = results[blob][plan.repo]
        if isinstance(read, SeatrialError):
            return read
        size += read
    if plan.failure is not None:
        return plan.failure
    return VerifiedArtifact(plan.digest, plan.media_type, size, len(plan.blobs), plan.manifests)
