"""What every check reads: the configuration, the clients, the names of the run, and the live objects.

One `CheckContext` per pytest session. Clients are made on first use; every list is fetched once per
(cluster, kind, namespace) and cached, so a session makes one LIST per kind, never one GET per object.
Checks never change a cluster; the canary push of verify-harbor is the one exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from seatrial.runbook.config import Config
from seatrial.runbook.connections import Clients
from seatrial.runbook.errors import ApiError, BadInput, SeatrialError, Unreachable
from seatrial.runbook.migration.journal import Journal

# What each check module needs to reach; probed once before collection so that an unreachable
# dependency is one clear line, not hundreds of errors.
REQUIRES: dict[str, tuple[str, ...]] = {
    "test_preflight": ("source", "target", "bucket", "source_harbor"),
    "test_freeze": ("source_harbor",),
    "test_annotate": ("source",),
    "test_backup": ("source", "bucket"),
    "test_restore": ("source", "target", "bucket"),
    "test_fixup": ("target",),
    "test_thaw_target": ("target_harbor",),
    "test_verify_harbor": ("target_harbor",),
    "test_upgrade": ("target", "target_harbor"),
}
# Check modules that read a file instead of the clusters: they need no configuration.
NEEDS_NO_CONFIG = {"test_upgrade_plan"}


@dataclass
class CheckContext(Clients):
    config: Config
    backup_option: str | None = None
    restore_option: str | None = None
    _lists: dict[tuple, list[dict]] = field(default_factory=dict)
    _memo: dict[tuple, object] = field(default_factory=dict)

    def memo(self, key: tuple, compute: Callable[[], object]):
        """Compute once per session (tarball index, repository snapshots, inventories)."""
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except SeatrialError as exc:  # a failure is remembered too: every check that needs it says why
                self._memo[key] = exc
        if isinstance(self._memo[key], SeatrialError):
            raise self._memo[key]
        return self._memo[key]

    # -- clients (seatrial.runbook.connections), with the two Harbors kept for the session ----------------------
    @cached_property
    def source_harbor(self):
        return self.harbor("source")

    @cached_property
    def target_harbor(self):
        return self.harbor("target")

    # -- the names of this run ---------------------------------------------------------------------
    @cached_property
    def journal(self) -> Journal:
        return Journal(self.config.run_dir)

    @property
    def backup_name(self) -> str | None:
        return self.backup_option or self.journal.name("backup")

    @property
    def restore_name(self) -> str | None:
        return self.restore_option or self.journal.name("restore")

    def golden_inventory(self) -> dict | None:
        path = self.journal.inventory_path
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError) as exc:
            raise BadInput(f"the golden inventory {path} cannot be read ({type(exc).__name__})",
                           fix="run the freeze step again (it rewrites the file)") from None

    # -- live objects, one LIST per kind -----------------------------------------------------------
    def objects(self, side: str, api_version: str, kind: str, namespace: str | None = None) -> list[dict]:
        key = (side, api_version, kind, namespace)
        if key not in self._lists:
            self._lists[key] = self.cluster(side).list(api_version, kind, namespace)
        return self._lists[key]

    def namespace(self, side: str) -> str:
        return self.config.source.namespace if side == "source" else self.config.target.namespace

    # -- reachability ------------------------------------------------------------------------------
    def probe(self, name: str) -> object:
        """One cheap call that proves a dependency answers (and, for the bucket, that it exists)."""
        if name in ("source", "target"):
            return self.cluster(name).ping()
        if name == "bucket":
            return self.bucket.check()
        if name in ("source_harbor", "target_harbor"):
            return getattr(self, name).health()
        raise KeyError(name)

    def unreachable(self, needed: set[str]) -> dict[str, str]:
        """Probe the needed dependencies at once (in parallel, so that N dead ones cost one timeout);
        {name: one-line reason} for those that cannot be used at all."""
        from concurrent.futures import ThreadPoolExecutor

        def attempt(name: str) -> str | None:
            try:
                self.probe(name)
            except Unreachable as exc:
                return exc.render()
            except ApiError as exc:
                # An answer is not "unreachable", unless it is a gateway with nothing behind it or a
                # refusal that would fail every check the same way.
                if exc.dependency_fault or name == "bucket":  # 401/403/429/5xx or not its protocol
                    return exc.render()
            except SeatrialError as exc:
                return exc.render()
            return None

        names = sorted(needed)
        # The clients are made here, in one thread: importing their modules inside the pool once raced
        # (`requests.utils` seen half-initialised by a second thread) and failed a clean preflight.
        # Only what is probed is imported: a step whose checks read no Harbor starts without requests.
        if any(name.endswith("_harbor") for name in names):
            import seatrial.runbook.clients.harbor  # noqa: F401

        for name in names:
            try:
                if name in ("source", "target"):
                    self.cluster(name)
                elif name == "bucket":
                    self.bucket  # noqa: B018 -- made (and its modules imported) now
            except SeatrialError:
                pass  # the probe below says why, in its line
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            reasons = dict(zip(names, pool.map(attempt, names), strict=True))
        return {name: " ".join(reason.split()) for name, reason in sorted(reasons.items()) if reason}


def describe_side(config: Config, side: str) -> str:
    cluster = config.source if side == "source" else config.target
    return f"{cluster.context}/{cluster.namespace} ({Path(cluster.kubeconfig).name})"
