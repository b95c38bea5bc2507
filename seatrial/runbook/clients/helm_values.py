"""Helm values as Helm reads them, without the engine's release operations: values files, `--set` expressions,
which keys hold secrets, and the values an upgrade really deploys (Helm's reuse/reset rules).

Kept apart from seatrial.runbook.clients.helm so that loading seatrial.yaml can validate the `upgrade:` section
(values files, --set syntax) without loading the chart engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import yaml

from seatrial.runbook.clients.kubeyaml import KubernetesYamlLoader
from seatrial.runbook.errors import BadInput
from seatrial.runbook.secrets import MASK, redact, register

# Value keys whose values are secrets in the charts seatrial handles (harborAdminPassword, secretKey,
# database.internal.password, credentials.secretContents, registry.credentials.htpasswdString, tls keys...).
SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|htpasswd|private|(^|[a-z])key$", re.IGNORECASE)
# ...but these name where a secret lives (existingSecret, secretName, useSecret), not the secret itself.
SECRET_REFERENCE_KEY = re.compile(r"^existing|[Nn]ame$|[Rr]ef$|^use[A-Z]|[a-z]Secret$")


def names_a_secret(key: str) -> bool:
    """Whether a values key holds a secret value (harborAdminPassword, core.secret, secretKey), not the
    name of a Secret that holds one (existingSecret, secretName)."""
    return bool(SECRET_KEY.search(key)) and not SECRET_REFERENCE_KEY.search(key)


# --------------------------------------------------------------------------- values files

def read_values_file(path: Path, option: str) -> dict:
    """A values file as Helm reads it (sigs.k8s.io/yaml: a TAB after a value is legal, a TAB indent is not).
    Anything else is BadInput naming `option` and the file: never its content, which may hold secrets."""
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise BadInput(f"{option} {path}: is a directory, not a values file",
                       fix="give the path of a YAML values file") from None
    except OSError as exc:
        raise BadInput(f"{option} {path}: cannot be read ({exc.strerror or type(exc).__name__})",
                       fix="give the path of an existing values file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{option} {path}: is not UTF-8 text", fix="save the values file as UTF-8 YAML") from None
    try:
        loaded = yaml.load(text, Loader=KubernetesYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        tab = " (a TAB indents the line; YAML indents with spaces)" if mark and _tab_indented(text, mark.line) \
            else ""
        raise BadInput(f"{option} {path}: not valid YAML{where}: {problem}{tab}",
                       fix="correct the file there (helm reads it the same way)") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise BadInput(f"{option} {path}: holds a {type(loaded).__name__}, not a map of values",
                       fix="a values file is a YAML mapping, as the chart's values.yaml")
    register_secret_values(loaded)
    return loaded


def _tab_indented(text: str, line: int) -> bool:
    lines = text.splitlines()
    return 0 <= line < len(lines) and "\t" in lines[line][: len(lines[line]) - len(lines[line].lstrip())]


# --------------------------------------------------------------------------- --set expressions

def set_items(expression: str) -> Iterator[tuple[str, str | None]]:
    """The `KEY=VALUE` items of one --set expression as Helm splits them: at commas outside `{...}`, `\\,`
    escaped; (key, None) for an item without `=`."""
    item, depth, escaped = "", 0, False
    for char in expression + ",":
        if escaped:
            item, escaped = item + char, False
        elif char == "\\":
            item, escaped = item + char, True
        elif char == "{":
            item, depth = item + char, depth + 1
        elif char == "}":
            item, depth = item + char, max(depth - 1, 0)
        elif char == "," and depth == 0:
            key, sep, value = item.partition("=")
            yield key, value if sep else None
            item = ""
        else:
            item += char


def _last_key(key: str) -> str:
    """`a.b[0].harborAdminPassword` -> `harborAdminPassword`."""
    return re.sub(r"\[[^\]]*\]", "", key).rsplit(".", 1)[-1]


def masked_set(expression: str) -> str:
    """A --set expression fit to show a person: the value of every item whose key names a secret (or sits
    under one: `credentials.secretContents.cloud`) is the mask. Such values are also registered, so that any
    text that still carries them is scrubbed by seatrial.runbook.secrets.redact."""
    shown = []
    for key, value in set_items(expression):
        if value is None:
            shown.append(key)
            continue
        path = [part for part in re.sub(r"\[[^\]]*\]", "", key).split(".") if part]
        if any(names_a_secret(part) for part in path) and not SECRET_REFERENCE_KEY.search(_last_key(key)):
            if value:
                register(value)
            shown.append(f"{key}={MASK}")
        else:
            shown.append(f"{key}={value}")
    return ",".join(shown)


def _set_refusal(expression: str) -> str | None:
    """Why Helm would not set what the expression says (it reads some mistakes as nothing at all)."""
    for key, value in set_items(expression):
        if value is None:
            return f"{key!r} has no '=': not KEY=VALUE"
        if not key.strip():
            return "an item has no key before '='"
        if key.count("[") != key.count("]") or re.search(r"\[(?!\d+\])", key):
            return f"the key {key!r} has a malformed list index (write key[0], a whole number in brackets)"
        if re.search(r"(^|\.)\.|\.$|^\.", key):
            return f"the key {key!r} has an empty part between dots"
    return None


def parse_set(expression: str, option: str = "--set") -> dict:
    """One `--set KEY=VALUE` expression as Helm parses it (`a.b=1,c={x,y}`). A malformed one, or one Helm would
    read as setting nothing, is BadInput; the message shows secret values masked."""
    shown = masked_set(expression)
    refusal = _set_refusal(expression)
    if refusal is None:
        try:
            values = helm_python.parse_set_string(expression)
        except helm_python.HelmError as error:
            refusal = redact(" ".join(str(error).split()))
        else:
            if values:
                register_secret_values(values)
                return values
            refusal = "it sets no value"
    raise BadInput(f"{option} {shown!r} cannot be parsed: {refusal}",
                   fix=f"write KEY=VALUE as helm does, e.g. {option} persistence.persistentVolumeClaim.registry."
                       "size=10Gi (lists: key[0]=x or key={x,y})")


# --------------------------------------------------------------------------- secrets in values

def _holds_secret(key: str, within_secret: bool) -> bool:
    """Whether the value under `key` is secret: its key names a secret, or it sits inside one that does
    (credentials.secretContents.cloud holds the S3 keys) and does not itself name a Secret (existingSecret)."""
    return names_a_secret(key) or (within_secret and not SECRET_REFERENCE_KEY.search(key))


def masked(values: Any, _within_secret: bool = False) -> Any:
    """A copy of `values` fit to show a person: every string under a key that names a secret, at any depth
    below it, is the mask."""
    if isinstance(values, dict):
        return {k: masked(v, _holds_secret(str(k), _within_secret)) for k, v in values.items()}
    if isinstance(values, list):
        return [masked(v, _within_secret) for v in values]
    if _within_secret and isinstance(values, str) and values:
        return MASK
    return values


def register_secret_values(values: Any) -> None:
    """Register every string under a key that names a secret (at any depth below it), so
    seatrial.runbook.secrets.redact scrubs it. A multi-line one (an INI file, a PEM key) also line by line: YAML and
    JSON print it indented or escaped, never whole."""
    for value in _secret_strings(values):
        register(value)
        for line in value.splitlines() if "\n" in value else ():
            register(line.strip())


def _secret_strings(values: Any, within_secret: bool = False) -> Iterator[str]:
    if isinstance(values, dict):
        for k, v in values.items():
            yield from _secret_strings(v, _holds_secret(str(k), within_secret))
    elif isinstance(values, list):
        for v in values:
            yield from _secret_strings(v, within_secret)
    elif within_secret and isinstance(values, str):
        yield values
