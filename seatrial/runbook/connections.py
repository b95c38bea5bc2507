"""The clients a migration talks to, made from the configuration on first use.

Mixed into the steps' context and the checks' context, so both build them the same way.
"""

from __future__ import annotations

from functools import cached_property

from seatrial.runbook.config import Config


class Clients:
    config: Config

    @cached_property
    def source(self):
        from seatrial.runbook.clients.kube import Cluster

        return Cluster(self.config.source.kubeconfig, self.config.source.context, name="source")

    @cached_property
    def target(self):
        from seatrial.runbook.clients.kube import Cluster

        return Cluster(self.config.target.kubeconfig, self.config.target.context, name="target")

    def cluster(self, side: str):
        return self.source if side == "source" else self.target

    @cached_property
    def bucket(self):
        from seatrial.runbook.clients.s3 import s3_client
        from seatrial.runbook.clients.velero_layout import BackupStore

        storage = self.config.storage
        client = s3_client(storage.endpoint, region=storage.region, access_key=storage.access_key,
                           secret_key=storage.secret_key, path_style=storage.path_style, verify=storage.verify)
        return BackupStore(client, storage.bucket, storage.prefix)

    def harbor_url(self, side: str) -> str:
        return self.config.harbor.source_url if side == "source" else self.config.harbor.target_url

    def harbor(self, side: str):
        from seatrial.runbook.clients.harbor import HarborClient

        harbor = self.config.harbor
        return HarborClient(self.harbor_url(side), harbor.username, harbor.password, verify=harbor.verify)

    def registry(self, side: str):
        from seatrial.runbook.clients.registry import RegistryClient

        harbor = self.config.harbor
        return RegistryClient(self.harbor_url(side), harbor.username, harbor.password, verify=harbor.verify)
