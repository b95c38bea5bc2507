"""verify-harbor's pool: many artifacts pulled and digest-verified by a bounded number of workers (each with
its own client), every outcome kept in order, a corrupt blob named without stopping the others. Against the
real registry (docker-registry with Harbor's token flow)."""

from __future__ import annotations

import os
import threading

from runbook.blob_verification import verify_artifacts
from runbook.errors import DigestMismatch
from runbook.registry import VerifiedArtifact


def test_a_bounded_pool_verifies_every_artifact_and_names_the_corrupt_one(registry):
    pusher = registry.client()
    pushed = [pusher.push_image(f"library/app-{index}", "v1", [os.urandom(2048 + index), os.urandom(4096)])
              for index in range(9)]
    victim = pushed[4].blobs[2]
    with registry.blob_data_path(victim.digest).open("r+b") as data:
        first = data.read(1)
        data.seek(0)
        data.write(bytes([first[0] ^ 0xFF]))

    made, lock = [], threading.Lock()

    def make_registry():
        with lock:
            made.append(threading.current_thread().name)
        return registry.client()

    wanted = [(f"library/app-{index}", p.digest) for index, p in enumerate(pushed)]
    outcomes = verify_artifacts(make_registry, wanted, workers=3)

    assert list(outcomes) == wanted  # in the order given
    assert 1 <= len(made) <= 3 and len(set(made)) == len(made)  # one client per worker, never more workers
    corrupt = outcomes[wanted[4]]
    assert isinstance(corrupt, DigestMismatch) and victim.digest in corrupt.message
    intact = [outcome for key, outcome in outcomes.items() if key != wanted[4]]
    assert all(isinstance(o, VerifiedArtifact) and o.blobs_verified == 3 for o in intact)
    assert [o.size for o in intact] == [p.size for i, p in enumerate(pushed) if i != 4]
