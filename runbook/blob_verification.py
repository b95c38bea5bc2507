"""Pull and digest-verify many artifacts with a bounded pool of workers.

Each worker has its own registry client and streams one blob at a time through its hash in constant
memory (`Registry.verify_blob`), so the pool keeps `workers` downloads in flight: a registry of many
TiB is verified at the network's speed, not one round trip at a time. The result of every artifact is
kept, failures included, in the order given; which artifacts are verified is the caller's (a
deterministic sample)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from runbook.errors import SeatrialError
from runbook.registry import RegistryClient, VerifiedArtifact

Outcome = VerifiedArtifact | SeatrialError


def verify_artifacts(make_registry: Callable[[], RegistryClient], artifacts: Iterable[tuple[str, str]],
                     workers: int) -> dict[tuple[str, str], Outcome]:
    """(repository, digest) -> the VerifiedArtifact, or the SeatrialError that pulling it raised."""
    local = threading.local()

    def verify(artifact: tuple[str, str]) -> Outcome:
        registry = getattr(local, "registry", None)
        if registry is None:
            registry = local.registry = make_registry()
        try:
            return registry.verify_artifact(*artifact)
        except SeatrialError as exc:
            return exc

    wanted = list(dict.fromkeys(artifacts))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        return dict(zip(wanted, pool.map(verify, wanted), strict=True))
