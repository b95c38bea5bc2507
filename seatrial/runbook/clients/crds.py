"""The vendored Velero CRDs (seatrial.runbook/velero_crds/*.yaml): their schemas and validation against them.

Validation follows what a real API server does with a structural schema: type, enum, required and
pattern errors are reported per field ("spec.ttl", message); `format` is not enforced; unknown fields
are found by `prune`, which drops them as the server does (the caller decides whether that is an error).
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    import jsonschema

CRD_DIR = resources.files("seatrial.runbook.clients") / "velero_crds"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOP_LEVEL = ("apiVersion", "kind", "metadata")


@functools.cache
def _crds() -> tuple[dict, ...]:
    crds = []
    for path in sorted((entry for entry in CRD_DIR.iterdir() if entry.name.endswith(".yaml")), key=lambda e: e.name):
        with path.open("rb") as stream:
            crds.append(yaml.load(stream, Loader=_Loader))  # noqa: S506 - C/Safe loader only
    return tuple(crds)


def crd_objects() -> list[dict]:
    """The CustomResourceDefinition objects themselves (deep copies)."""
    return [copy.deepcopy(crd) for crd in _crds()]


def storage_version(crd: dict) -> dict:
    """The `versions[]` entry that is served and stored."""
    versions = crd["spec"]["versions"]
    return next((v for v in versions if v.get("storage") and v.get("served", True)), versions[0])


@functools.cache
def _by_kind() -> dict[str, dict]:
    return {crd["spec"]["names"]["kind"]: crd for crd in _crds()}


def kinds() -> list[str]:
    return sorted(_by_kind())


def schema_for(kind: str) -> dict:
    """openAPIV3Schema of the storage version of `kind` (e.g. "Backup")."""
    try:
        crd = _by_kind()[kind]
    except KeyError:
        raise KeyError(f"no vendored Velero CRD for kind {kind!r}; known kinds: {', '.join(kinds())}") from None
    return copy.deepcopy(storage_version(crd)["schema"]["openAPIV3Schema"])


def printer_columns(kind: str) -> list[dict]:
    """additionalPrinterColumns of the storage version of `kind` ([] when it declares none)."""
    return copy.deepcopy(storage_version(_by_kind()[kind]).get("additionalPrinterColumns", []))


def _to_json_schema(schema: dict) -> dict:
    """OpenAPI v3 `nullable: true` becomes a JSON-schema type that admits null."""
    out = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if out.get("x-kubernetes-int-or-string") and "type" not in out:
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


@functools.cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    import jsonschema  # 30 ms with attrs and referencing: only writers validate, not the checks' processes

    return jsonschema.Draft7Validator(_to_json_schema(schema_for(kind)))


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: jsonschema.ValidationError, path: str) -> tuple[str, str]:
    value = error.instance
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return (f"{path}.{missing}" if path else missing), "Required value"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = wanted[0] if isinstance(wanted, list) else wanted
        found = _json_type(value)
        return path, f'Invalid value: "{found}": {path} in body must be of type {wanted}: "{found}"'
    if error.validator == "enum":
        allowed = ", ".join(f'"{v}"' for v in error.validator_value if v is not None)
        return path, f'Unsupported value: "{value}": supported values: {allowed}'
    return path, f"Invalid value: {value!r}: {error.message}"


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def validate(obj: dict) -> list[tuple[str, str]]:
    """[(field path, message)] for `obj` against its kind's CRD schema; [] when valid."""
    kind = obj.get("kind", "")
    if kind not in _by_kind():
        return [("kind", f'Unsupported value: "{kind}": not a Velero kind ({", ".join(kinds())})')]
    causes = []
    for error in sorted(_validator(kind).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        causes.append(_message(error, _path(error.absolute_path)))
    return causes


def prune(obj: dict, schema: dict | None = None) -> list[str]:
    """Drop fields the schema does not declare (in place); return their paths, e.g. ["spec.foo"]."""
    if schema is None:
        schema = schema_for(obj.get("kind", ""))
    pruned: list[str] = []
    _prune(obj, schema, "", pruned, top=True)
    return pruned


def _prune(value, schema: dict, path: str, pruned: list[str], top: bool = False) -> None:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            child = f"{path}.{key}" if path else key
            if top and key in _TOP_LEVEL:
                continue
            if properties is not None and key in properties:
                _prune(value[key], properties[key], child, pruned)
            elif isinstance(extra, dict):
                _prune(value[key], extra, child, pruned)
            elif properties is not None or extra is False or schema.get("type") == "object" and extra is None:
                del value[key]
                pruned.append(child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{index}]", pruned)
