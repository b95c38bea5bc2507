"""The `upgrade` section, read at load like the rest: values files as Helm reads them, `--set`
syntax, a chart, known components."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from seatrial.runbook.config.model import MAX_UPGRADE_TIMEOUT, UpgradeConfig
from seatrial.runbook.config.yaml_file import kind_of
from seatrial.runbook.errors import BadInput, ConfigError


class UpgradeSection:
    @staticmethod
    def shipped_chart(name: str, version: str) -> Path:
        """`chart: harbor` with `version: 1.19.1` and no repo: the chart seatrial ships, offline."""
        from seatrial.charts import chart_path, shipped_versions

        found = chart_path(name, version)
        if found is None:
            have = ", ".join(shipped_versions(name)) or "none"
            raise ConfigError("upgrade.version", f"seatrial does not ship chart {name} {version} (it ships {have})",
                              fix="give upgrade.repo (the chart repository, e.g. https://helm.goharbor.io), a .tgz "
                                  "path, or a version seatrial ships")
        return found

    def upgrade(self, raw) -> UpgradeConfig:
        if isinstance(raw.get("upgrade"), dict) and {"force", "force_replace", "replace"} & set(raw["upgrade"]):
            # the guard's check `no_replace` quotes the seed's failure in full
            raise ConfigError("upgrade.force", "replace semantics are refused: --force replaces each object with "
                              "the manifest instead of patching it, and a restored PVC then fails ('spec is immutable "
                              "after creation except resources.requests for bound claims'), as does the database "
                              "StatefulSet",
                              fix="remove it: seatrial upgrades with helm's three-way merge patch, which leaves a "
                                  "restored PVC's volumeName alone")
        if raw.get("upgrade") is None:  # absent, or `upgrade:` with every key commented out
            return UpgradeConfig()
        data = self.section(raw, "upgrade")
        chart = self.text(data, "chart", "upgrade")
        version = self.get(data, "version", "upgrade", (str, int, float), None)
        version = None if version is None else str(version)  # `version: 1.19.1` is text, `version: 2` a number
        repo = self.url(data, "repo", "upgrade") if data.get("repo") is not None else None
        if chart.startswith("oci://") and not re.fullmatch(r"oci://[^/\s]+/\S+", chart):
            raise ConfigError("upgrade.chart", f"{chart!r} is not an OCI chart reference",
                              fix="write oci://HOST/PATH/CHART, e.g. oci://registry.example/charts/harbor")
        remote = repo is not None or chart.startswith("oci://")
        if not remote and version is not None and "/" not in chart and not chart.endswith(".tgz") \
                and not (self.base / chart).exists():
            chart, version = str(self.shipped_chart(chart, version)), None
        elif not remote:
            resolved = Path(self.expand(chart, "upgrade.chart"))
            resolved = resolved if resolved.is_absolute() else self.base / resolved
            if not resolved.exists():
                raise ConfigError("upgrade.chart", f"chart not found: {resolved}",
                                  fix="point upgrade.chart at a chart directory or .tgz, or give a chart name with "
                                      "upgrade.repo, or an oci:// reference")
            if version is not None:
                raise ConfigError("upgrade.version", "a version is given for a local chart",
                                  fix="drop upgrade.version, or give upgrade.repo (chart repository) or oci://")
            chart = str(resolved)
        values_raw = self.get(data, "values", "upgrade", list, [])
        values = []
        for index, item in enumerate(values_raw):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"upgrade.values[{index}]", "expected the path of a values file",
                                  fix="e.g. values: [./harbor-values.yaml]")
            path = self.path({f"values[{index}]": item}, f"values[{index}]", "upgrade", what="values file")
            assert path is not None
            _check_values_file(path, f"upgrade.values[{index}]")
            values.append(path)
        sets = self.get(data, "set", "upgrade", list, [])
        for index, item in enumerate(sets):
            _check_set(item, f"upgrade.set[{index}]")
        accepted = self.get(data, "accept_removed", "upgrade", list, [])
        _check_components(accepted)
        timeout = self.get(data, "timeout_seconds", "upgrade", int, 900)
        if not 0 < timeout <= MAX_UPGRADE_TIMEOUT:
            raise ConfigError("upgrade.timeout_seconds", f"must be positive and at most {MAX_UPGRADE_TIMEOUT} "
                              "(a day)", fix="e.g. timeout_seconds: 900 (rollouts wait this long)")
        return UpgradeConfig(chart=chart, version=version, repo=repo, values=tuple(values), set=tuple(sets),
                             accept_removed=tuple(accepted),
                             reuse_values=self.get(data, "reuse_values", "upgrade", bool, False),
                             rollback_on_failure=self.get(data, "rollback_on_failure", "upgrade", bool, False),
                             timeout_seconds=timeout)


def _check_values_file(path: Path, key: str) -> None:
    """Read as Helm will read it at upgrade time, so that a broken file stops the run before anything changes."""
    from seatrial.runbook.clients.helm_values import read_values_file

    try:
        read_values_file(path, "values file")
    except BadInput as exc:
        raise ConfigError(key, exc.message, fix=exc.fix or "correct the values file") from None


def _check_set(item: Any, key: str) -> None:
    from seatrial.runbook.clients.helm_values import parse_set

    if not isinstance(item, str):
        raise ConfigError(key, f"expected a KEY=VALUE text, found a {kind_of(item)}",
                          fix='e.g. set: ["updateStrategy.type=Recreate"] (quote it)')
    try:
        parse_set(item, "set")
    except BadInput as exc:
        raise ConfigError(key, exc.message, fix=exc.fix or 'e.g. set: ["updateStrategy.type=Recreate"]') from None


def _check_components(accepted: list) -> None:
    from seatrial.charts.harbor import DATA_COMPONENTS, unknown_components

    if not all(isinstance(item, str) and item for item in accepted):
        raise ConfigError("upgrade.accept_removed", "expected component names",
                          fix=f"e.g. accept_removed: [chartmuseum] (one of {', '.join(DATA_COMPONENTS)})")
    unknown = unknown_components(accepted)
    if unknown:
        raise ConfigError("upgrade.accept_removed", f"{', '.join(unknown)}: not a component of Harbor's chart with "
                          "a data volume", fix=f"name one of {', '.join(DATA_COMPONENTS)}, or remove it")
