"""load_config: seatrial.yaml -> a validated, frozen Config, or exactly one ConfigError naming the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seatrial.runbook.config.clusters import ClusterSections
from seatrial.runbook.config.harbor import HarborSection
from seatrial.runbook.config.keys import TOP_LEVEL, check_keys
from seatrial.runbook.config.model import ClusterConfig, Config
from seatrial.runbook.config.reading import ValueReader
from seatrial.runbook.config.upgrade import UpgradeSection
from seatrial.runbook.config.volumes import VolumeSections
from seatrial.runbook.config.yaml_file import read_yaml
from seatrial.runbook.errors import ConfigError
from seatrial.runbook.identity import SAME_CLUSTER_FIX, kubeconfig_server, normalized_server, same_namespace_refusal


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    check_contexts: bool = True,
) -> Config:
    """Read and validate seatrial.yaml. Raises ConfigError (one, for the first problem found).

    `check_contexts=False` skips reading the kubeconfigs (for environments that create them later).
    """
    env = os.environ if environ is None else environ
    config_path = Path(os.path.expanduser(str(path))).absolute()
    raw = read_yaml(config_path)
    loader = _Loader(config_path.parent, env)
    return loader.build(raw, config_path, check_contexts)


class _Loader(ValueReader, ClusterSections, HarborSection, VolumeSections, UpgradeSection):
    def build(self, raw: dict[str, Any], config_path: Path, check_contexts: bool) -> Config:
        check_keys(raw, TOP_LEVEL, "", {"password": "use harbor.password_env or harbor.password_file"})
        source = self.cluster(raw, "source", check_contexts)
        target = self.cluster(raw, "target", check_contexts)
        if (source.kubeconfig, source.context, source.namespace) == (
            target.kubeconfig,
            target.context,
            target.namespace,
        ):
            raise ConfigError(
                "target.context",
                f"source and target are the same context {source.context!r} and namespace {source.namespace!r}",
                fix="point target at the new cluster (or another namespace); a restore must not land on the source",
            )
        if check_contexts and source.namespace == target.namespace:
            _refuse_same_server(source, target)
        storage = self.storage(raw)
        velero = self.velero(raw, source, target)
        harbor = self.harbor(raw)
        volumes = self.volumes(raw)
        fixup = self.fixup(raw)
        upgrade = self.upgrade(raw)
        run_dir = self.path(raw, "run_dir", "", "./run", must_exist=False)
        assert run_dir is not None
        _check_writable_dir(run_dir)
        return Config(
            source=source,
            target=target,
            storage=storage,
            velero=velero,
            harbor=harbor,
            volumes=volumes,
            fixup=fixup,
            run_dir=run_dir,
            path=config_path,
            upgrade=upgrade,
        )


def _check_writable_dir(run_dir: Path) -> None:
    """run_dir is (or can be made as) a directory this user may write; checked without creating anything."""
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise ConfigError("run_dir", f"{run_dir} cannot be a directory: {existing} is a file",
                          fix="point run_dir at a directory (or a path that can be made one)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("run_dir", f"{run_dir} is not writable: {existing} does not allow this user to write",
                          fix=f"point run_dir at a writable directory, or make it writable (chmod u+w {existing})")


def _refuse_same_server(source: ClusterConfig, target: ClusterConfig) -> None:
    """Two context names for one API server are one cluster (run time also compares kube-system UIDs)."""
    servers = [kubeconfig_server(c.kubeconfig, c.context) for c in (source, target)]  # type: ignore[arg-type]
    if servers[0] and servers[1] and normalized_server(servers[0]) == normalized_server(servers[1]):
        raise ConfigError("target.context", same_namespace_refusal(source.context, target.context, target.namespace,
                                                                   f"same API server {servers[0]}"),
                          fix=SAME_CLUSTER_FIX)

