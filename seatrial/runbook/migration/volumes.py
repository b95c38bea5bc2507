"""Which pod volumes a migration deliberately leaves out (configuration `volumes.exclude`)."""

from __future__ import annotations


def excluded_here(entries: tuple[str, ...] | list[str], pod_name: str, volume: str) -> bool:
    """An entry is `volume` (any pod) or `<pod name prefix>:<volume>` (e.g. `my-harbor-redis:data`:
    Redis and Trivy both call their volume `data`, and only Redis should be left out)."""
    for entry in entries:
        prefix, _, name = entry.rpartition(":")
        if name == volume and (not prefix or pod_name.startswith(prefix)):
            return True
    return False
