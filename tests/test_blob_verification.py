"""verify-harbor's pool: many artifacts pulled and digest-verified blob by blob by a bounded number of workers
(each with its own client), every outcome kept in order and equal to what a lone pull of the artifact gives,
a shared blob read once, a corrupt blob failing exactly the artifacts that name it. Against the real
registry (docker-registry with Harbor's token flow)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from seatrial.fixtures.counting_proxy import CountingProxy
from seatrial.runbook.clients.blob_verification import verify_artifacts
from seatrial.runbook.clients.registry import OCI_INDEX, OCI_MANIFEST, RegistryClient, VerifiedArtifact
from seatrial.runbook.errors import DigestMismatch, NotFound

IN_FLIGHT_WAIT_S = 60


def flip_first_byte(path: Path) -> None:
    with path.open("r+b") as data:
        first = data.read(1)
        data.seek(0)
        data.write(bytes([first[0] ^ 0xFF]))


def test_a_bounded_pool_verifies_every_artifact_and_names_the_corrupt_one(registry):
    pusher = registry.client()
    pushed = [pusher.push_image(f"library/app-{index}", "v1", [os.urandom(2048 + index), os.urandom(4096)])
              for index in range(9)]
    victim = pushed[4].blobs[2]
    flip_first_byte(registry.blob_data_path(victim.digest))

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


class _InFlight:
    """Counts the blobs being read at once; the first read waits (bounded) until a second one starts,
    so a pool that reads one blob at a time shows up as a maximum of 1, whatever the machine's speed."""

    def __init__(self):
        self.now = self.most = 0
        self.first_taken = False
        self.second_started = threading.Event()
        self._lock = threading.Lock()

    def client(self, registry) -> RegistryClient:
        flight = self

        class Counted(RegistryClient):
            def verify_blob(self, repo, digest, size=None):
                with flight._lock:
                    flight.now += 1
                    flight.most = max(flight.most, flight.now)
                    if flight.now >= 2:
                        flight.second_started.set()
                    first, flight.first_taken = not flight.first_taken, True
                try:
                    if first:
                        flight.second_started.wait(IN_FLIGHT_WAIT_S)
                    return super().verify_blob(repo, digest, size)
                finally:
                    with flight._lock:
                        flight.now -= 1

        return Counted(registry.url, registry.username, registry.password)


def test_one_artifact_with_many_layers_has_its_blobs_read_by_several_workers(registry):
    pushed = registry.client().push_image("library/big", "v1", [os.urandom(50_000 + i) for i in range(5)])
    flight = _InFlight()

    outcomes = verify_artifacts(lambda: flight.client(registry), [("library/big", pushed.digest)], workers=2)

    assert flight.most == 2, (f"at most {flight.most} blob(s) of one 6-blob artifact were read at once with 2 "
                              "workers: the pool is not over blobs")
    verified = outcomes[("library/big", pushed.digest)]
    assert isinstance(verified, VerifiedArtifact)
    assert (verified.blobs_verified, verified.manifests_verified, verified.size) == (6, 1, pushed.size)


def test_a_blob_shared_by_artifacts_and_repositories_is_read_once(registry):
    pusher = registry.client()
    base = os.urandom(100_000)
    first = pusher.push_image("library/shared", "v1", [base, os.urandom(1000)])
    second = pusher.push_image("library/shared", "v2", [base, os.urandom(2000)])
    elsewhere = pusher.push_image("other/shared", "v1", [base])
    base_digest = first.blobs[1].digest
    wanted = [("library/shared", first.digest), ("library/shared", second.digest), ("other/shared", elsewhere.digest)]

    with CountingProxy(registry.url) as proxy:
        outcomes = verify_artifacts(lambda: RegistryClient(proxy.endpoint, registry.username, registry.password),
                                    wanted, workers=3)
        counts = dict(proxy.counts)

    assert [o.size for o in outcomes.values()] == [first.size, second.size, elsewhere.size], outcomes
    reads = {path: n for (method, path), n in counts.items() if method == "GET" and path.endswith(base_digest)}
    assert reads == {f"/v2/library/shared/blobs/{base_digest}": 1}, counts
    # the other repository's own link to the bytes is still proven
    assert counts.get(("HEAD", f"/v2/other/shared/blobs/{base_digest}")) == 1, counts


def test_a_corrupt_shared_blob_fails_exactly_the_artifacts_that_name_it_with_the_first_bad_blob(registry):
    pusher = registry.client()
    shared, alone = os.urandom(30_000), [os.urandom(10_000), os.urandom(20_000)]
    naming = pusher.push_image("library/app", "a", [os.urandom(1000), shared])
    apart = pusher.push_image("library/app", "b", [os.urandom(2000)])
    also = pusher.push_image("library/app", "c", [shared])
    twice_bad = pusher.push_image("library/app", "d", alone)  # config, then two layers, both corrupted below
    shared_digest = naming.blobs[2].digest
    for digest in (shared_digest, twice_bad.blobs[1].digest, twice_bad.blobs[2].digest):
        flip_first_byte(registry.blob_data_path(digest))
    wanted = [("library/app", p.digest) for p in (naming, apart, also, twice_bad)]

    outcomes = verify_artifacts(registry.client, wanted, workers=4)

    for artifact in (naming, also):
        failed = outcomes[("library/app", artifact.digest)]
        assert isinstance(failed, DigestMismatch) and shared_digest in failed.message, failed
    assert outcomes[("library/app", apart.digest)] == registry.client().verify_artifact("library/app", apart.digest)
    first_bad = outcomes[("library/app", twice_bad.digest)]
    # the error a lone pull gives: the first corrupt blob in the manifest's order, whichever was read first
    assert isinstance(first_bad, DigestMismatch) and twice_bad.blobs[1].digest in first_bad.message, first_bad


def test_a_repository_without_its_link_to_verified_bytes_is_not_found(registry):
    pusher = registry.client()
    base = os.urandom(40_000)
    linked = pusher.push_image("library/one", "v1", [base])
    unlinked = pusher.push_image("library/two", "v1", [base])
    digest = linked.blobs[1].digest
    link = (registry.storage_dir / "docker/registry/v2/repositories/library/two/_layers" /
            digest.replace(":", "/") / "link")
    link.unlink()

    outcomes = verify_artifacts(registry.client, [("library/one", linked.digest), ("library/two", unlinked.digest)],
                                workers=2)

    assert isinstance(outcomes[("library/one", linked.digest)], VerifiedArtifact)
    missing = outcomes[("library/two", unlinked.digest)]
    assert isinstance(missing, NotFound) and digest in missing.message and "library/two" in missing.message, missing


def test_an_index_and_a_child_named_on_its_own_count_as_a_lone_pull_does(registry):
    client = registry.client()
    amd64 = client.push_image("library/multi", "amd64", [os.urandom(1000)])
    arm64 = client.push_image("library/multi", "arm64", [os.urandom(2000), os.urandom(3000)])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.size - sum(b.size for b in child.blobs)}
        for child in (amd64, arm64)]}).encode()
    index_digest = client.push_manifest("library/multi", "latest", index, OCI_INDEX)
    wanted = [("library/multi", index_digest), ("library/multi", arm64.digest)]

    outcomes = verify_artifacts(registry.client, wanted, workers=4)

    assert outcomes == {artifact: client.verify_artifact(*artifact) for artifact in wanted}
    verified = outcomes[wanted[0]]
    assert (verified.manifests_verified, verified.blobs_verified) == (3, 5)
    assert verified.size == len(index) + amd64.size + arm64.size
