"""Local files the configuration names, read without touching a cluster."""

from __future__ import annotations

from pathlib import Path

import yaml

from seatrial.runbook.errors import ConfigError


def kube_contexts(kubeconfig: Path | None, key: str = "kubeconfig") -> list[str]:
    """Context names in a kubeconfig file, read as YAML (no network)."""
    assert kubeconfig is not None
    try:
        data = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(key, f"cannot read {kubeconfig} as a kubeconfig: {type(exc).__name__}", fix="check it with "
                          f"kubectl --kubeconfig {kubeconfig} config get-contexts") from None
    if not isinstance(data, dict):
        raise ConfigError(key, f"{kubeconfig} is not a kubeconfig (not a mapping)", fix="point it at a kubeconfig")
    contexts = data.get("contexts") or []
    return [c["name"] for c in contexts if isinstance(c, dict) and isinstance(c.get("name"), str)]
