"""Finding 4: values keys the new chart does not read (Helm ignores them silently).

A key is read when the chart's values.yaml has it, when values.yaml leaves that place free-form (an empty
map, a list, a scalar the user expands), when values.schema.json declares it, or when a template names
`.Values.<key>` outright.
"""

from __future__ import annotations

from seatrial.runbook.upgrade.findings import FAIL, Finding, ok

MISSING = object()


def leaf_keys(values: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    for key, value in values.items():
        path = prefix + (str(key),)
        if isinstance(value, dict) and value:
            keys.extend(leaf_keys(value, path))
        else:
            keys.append(path)
    return keys


def _schema_declares(schema: dict | None, path: tuple[str, ...]) -> bool:
    node = schema
    for key in path:
        if not isinstance(node, dict):
            return False
        properties = node.get("properties") or {}
        if key in properties:
            node = properties[key]
        elif node.get("additionalProperties") not in (None, False):
            return True
        else:
            return False
    return True


def unread_at(defaults: dict, path: tuple[str, ...]) -> int | None:
    """The depth at which `path` leaves what values.yaml defines, or None when the chart reads it."""
    node: object = defaults
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or not node:
            return None  # free-form below here (an empty map, a list, a scalar the user expands)
        if key not in node:
            return depth
        node = node[key]
    return None


def replacement(defaults: dict, path: tuple[str, ...], depth: int) -> list[str]:
    """Keys of the new values.yaml under the deepest common parent that end like the ignored key."""
    if depth == 0:
        return []
    parent: object = defaults
    for key in path[:depth]:
        parent = parent[key]  # type: ignore[index]
    if not isinstance(parent, dict):
        return []
    tail = path[-1]
    below = [path[:depth] + k for k in leaf_keys(parent)] + [path[:depth] + k for k in _inner_keys(parent)]
    return sorted({".".join(k) for k in below if k[-1] == tail})


def _inner_keys(values: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            keys.append(prefix + (str(key),))
            keys.extend(_inner_keys(value, prefix + (str(key),)))
    return keys


def check(user_values: dict, defaults: dict, *, schema: dict | None = None, templates: str = "",
          chart: str = "the new chart") -> list[Finding]:
    findings = []
    for path in leaf_keys(user_values):
        key = ".".join(path)
        depth = unread_at(defaults, path)
        if depth is None or _schema_declares(schema, path) or f".Values.{key}" in templates:
            findings.append(ok("values_key_read", key))
            continue
        instead = replacement(defaults, path, depth)
        fix = (f"use {' or '.join(instead)} (where {chart}'s values.yaml has it)" if instead
               else f"remove it, or find what replaced {'.'.join(path[:depth + 1])} in {chart}'s values.yaml")
        findings.append(Finding("values_key_read", key, FAIL,
                                f"values key {key} is not read by {chart}: Helm ignores it silently",
                                f"{chart}'s values.yaml has no {'.'.join(path[:depth + 1])}", fix))
    return findings
