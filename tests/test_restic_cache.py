"""The snapshot check's restic reads: with a cache directory of its own, a later `snapshots --tag` reads
only the snapshot files that are new in the bucket (its S3 requests do not grow with the repository's
history), and it stays read-only (--no-lock: no PUT, POST or DELETE). S3 requests are counted on their
way to the real S3 server."""

from __future__ import annotations

import uuid
from pathlib import Path

from seatrial.fixtures.counting_proxy import CountingProxy
from seatrial.fixtures.restic_fixture import restic_for
from seatrial.runbook.clients.restic import Restic
from seatrial.runbook.secrets import Secret


def _snapshot_reads(proxy: CountingProxy) -> int:
    return sum(n for (method, path), n in proxy.counts.items() if method == "GET" and "/snapshots/" in path)


def _writes(proxy: CountingProxy) -> list[tuple[str, str]]:
    return [key for key in proxy.counts if key[0] in ("PUT", "POST", "DELETE")]


def test_a_cached_snapshot_query_reads_only_new_snapshots_and_writes_nothing(s3_server, restic_binary,
                                                                            tmp_path: Path):
    bucket, password = s3_server.new_bucket("restic"), Secret("repo-" + uuid.uuid4().hex, "repository password")
    writer = restic_for(s3_server, bucket, "velero/restic/harbor", password, restic_binary)
    writer.init()
    volume = tmp_path / "volume"
    volume.mkdir()
    for index in range(6):
        (volume / "file").write_text(f"version {index}")
        writer.backup(volume, {"backup": f"b{index}", "ns": "harbor"})

    with CountingProxy(s3_server.endpoint) as proxy:
        def reader(cache_dir: Path | None) -> Restic:
            return Restic(f"s3:{proxy.endpoint}/{bucket}/velero/restic/harbor", password, env=writer.extra_env,
                          binary=restic_binary, cache_dir=cache_dir)

        cache = tmp_path / "run" / "restic-cache"
        assert [s["tags"] for s in reader(cache).snapshots({"backup": "b5"})] == [["backup=b5", "ns=harbor"]]
        assert _snapshot_reads(proxy) == 6 and not _writes(proxy)

        for index in range(6, 10):  # the repository's history grows
            (volume / "file").write_text(f"version {index}")
            writer.backup(volume, {"backup": f"b{index}", "ns": "harbor"})
        proxy.reset()
        assert len(reader(cache).snapshots({"backup": "b9"})) == 1
        assert _snapshot_reads(proxy) == 4 and not _writes(proxy)  # the four new ones only

        proxy.reset()
        assert len(reader(None).snapshots({"backup": "b9"})) == 1
        assert _snapshot_reads(proxy) == 10  # without a cache: every snapshot of the history, every time
