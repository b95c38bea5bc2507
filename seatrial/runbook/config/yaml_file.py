"""Reading seatrial.yaml: YAML with duplicate keys refused, named by their dotted path and lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seatrial.runbook.errors import ConfigError


def read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError("config", f"{path} is a directory, not a configuration file",
                          fix=f"pass -c {path / 'seatrial.yaml'} (the file itself), or set SEATRIAL_CONFIG to it")
    if not path.is_file():
        raise ConfigError(
            "config",
            f"configuration file not found: {path}",
            fix="pass -c PATH or set SEATRIAL_CONFIG; start from examples/seatrial.yaml",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "config", f"cannot read {path}: {type(exc).__name__}", fix="check its permissions and save it as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(
            exc.key, f"given twice (lines {exc.first} and {exc.second})", fix="keep one of them"
        ) from None
    except yaml.MarkedYAMLError as exc:
        # The problem and its position only: the offending line may hold a secret.
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        started = ""
        if exc.context and exc.context_mark and (not mark or exc.context_mark.line != mark.line):
            started = f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise ConfigError(
            "config",
            f"{path} is not valid YAML at {where}: {exc.problem or exc.context}{started}",
            fix="fix the YAML syntax there (indentation, quotes, ':' after keys)",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"{path} is not valid YAML: {type(exc).__name__}", fix="fix the YAML") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "config", f"{path} must hold a mapping of sections, found a {kind_of(data)}",
            fix="see examples/seatrial.yaml"
        )
    return data


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, second: int):
        self.key, self.first, self.second = key, first, second


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise _DuplicateKey(self._dotted_path(node, key), seen[key], line)
            if isinstance(key, str):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def _dotted_path(self, node, key: str) -> str:
        path = [key]
        parent = self._parents.get(id(node))
        while parent is not None:
            path.append(parent[1])
            parent = self._parents.get(id(parent[0]))
        return ".".join(reversed(path))

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        if not hasattr(self, "_parents"):
            self._parents: dict[int, tuple[Any, str]] = {}
        if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.ScalarNode):
            self._parents[id(node)] = (parent, index.value)
        return node


def kind_of(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "decimal number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
