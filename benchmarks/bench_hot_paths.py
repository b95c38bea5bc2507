"""Benchmark seatrial's two hot paths on real servers (run by hand, not in the test suite):

1. streaming a Velero backup tarball out of S3 and indexing every item (checks/test_backup);
2. listing many objects of one kind through the Kubernetes client with limit/continue pages.

    .venv/bin/python benchmarks/bench_hot_paths.py [--items 20000] [--item-bytes 2048] [--objects 5000]

Prints wall time, throughput, LIST requests made, and Python heap peak (tracemalloc). The S3 server
runs in a child process so its own memory does not count against the reader.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from seatrial.fixtures.kubeapi.kubeconfig import write_kubeconfig
from seatrial.fixtures.kubeapi.server import ApiServer
from seatrial.fixtures.kubeapi.store import Store
from seatrial.fixtures.kubeapi.types import register_standard_types
from seatrial.fixtures.s3server import MotoProcess
from seatrial.runbook.clients.kube import Cluster
from seatrial.runbook.clients.s3 import s3_client
from seatrial.runbook.clients.velero_layout import BackupStore, Layout, write_backup
from seatrial.runbook.secrets import Secret


def bench_tarball(items: int, item_bytes: int) -> None:
    key, secret = Secret("bench-" + uuid.uuid4().hex), Secret("bench-" + uuid.uuid4().hex)
    server = MotoProcess()
    try:
        client = s3_client(server.endpoint, region="us-east-1", access_key=key, secret_key=secret)
        client.create_bucket(Bucket="bench")

        def objects():
            for index in range(items):  # distinct random data per item: gzip cannot collapse it
                yield (f"resources/configmaps/namespaces/harbor/cm-{index}.json",
                       {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{index}",
                        "namespace": "harbor"}, "data": {"blob": os.urandom(item_bytes // 2).hex()}})

        layout = Layout("bench")
        started = time.perf_counter()
        write_backup(client, "bench", layout, "b1", metadata={"metadata": {"name": "b1"}}, items=objects(),
                     pod_volume_backups=None, volume_info=None, results={}, resource_list={}, logs="")
        written = time.perf_counter() - started
        size = client.head_object(Bucket="bench", Key=layout.backup_tarball("b1"))["ContentLength"]
        store = BackupStore(client, "bench", "bench")
        tracemalloc.start()
        started = time.perf_counter()
        count = sum(1 for _ in store.tarball_items("b1"))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tarball: {items} items x2 (plain + preferred version), {size / 2**20:.1f} MiB gzip, "
              f"written in {written:.1f} s")
        print(f"tarball index: {count} members in {elapsed:.2f} s ({size / 2**20 / elapsed:.1f} MiB/s), "
              f"heap peak {peak / 2**20:.2f} MiB ({peak / size:.1%} of the tarball)")
    finally:
        server.stop()


def bench_listing(objects: int) -> None:
    store = register_standard_types(Store("bench"))
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "harbor"}})
    for index in range(objects):
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"cm-{index:05}", "namespace": "harbor"}, "data": {"k": "v" * 200}})
    with ApiServer(store) as server, TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", {"bench": server.url})
        cluster = Cluster(kubeconfig, "bench")
        before = len(server.requests)
        started = time.perf_counter()
        listed = cluster.list("v1", "ConfigMap", "harbor")
        elapsed = time.perf_counter() - started
        lists = [r for r in server.requests[before:] if "configmaps" in r[1]]
        print(f"list: {len(listed)} ConfigMaps in {len(lists)} LIST requests (limit 500) in {elapsed:.2f} s "
              f"({len(listed) / elapsed:.0f} objects/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--item-bytes", type=int, default=2048)
    parser.add_argument("--objects", type=int, default=5000)
    args = parser.parse_args()
    bench_tarball(args.items, args.item_bytes)
    bench_listing(args.objects)


if __name__ == "__main__":
    main()
