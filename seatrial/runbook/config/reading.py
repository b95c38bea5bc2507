"""The loader's reading of one value: types, environment variables, paths, URLs, TLS settings."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from seatrial.runbook.config.keys import INLINE_SECRETS, REQUIRED_SECTIONS, SECTIONS, check_keys, dotted_key
from seatrial.runbook.config.yaml_file import kind_of
from seatrial.runbook.errors import ConfigError


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class ValueReader:
    def __init__(self, base: Path, env: Mapping[str, str]):
        self.base = base
        self.env = env

    # ---- typed getters: each raises a ConfigError naming the dotted key

    def section(self, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
        if name not in raw or raw[name] is None:
            if name in REQUIRED_SECTIONS:
                raise ConfigError(name, "missing required section", fix=f"add a `{name}:` section (see examples/)")
            return {}
        value = raw[name]
        if not isinstance(value, dict):
            raise ConfigError(name, f"expected a mapping, got a {kind_of(value)}",
                              fix=f"write `{name}:` with keys below")
        check_keys(value, SECTIONS[name], name, INLINE_SECRETS.get(name))
        return value

    def get(self, data: Mapping[str, Any], key: str, where: str, kind: type | tuple, default: Any = ...) -> Any:
        dotted = dotted_key(where, key)
        if key not in data or data[key] is None:
            if default is ...:
                raise ConfigError(dotted, "missing required key", fix=f"set {dotted} (see examples/seatrial.yaml)")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; a number key must not accept `true`.
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = {(int,): "whole number", (int, float): "number"}.get(kinds) or kind_of(kinds[0]())
            if kinds == (bool,):
                fix = f"write {dotted}: true or {dotted}: false (no quotes)"
            else:
                fix = f"write {dotted} as a {expected}"
            raise ConfigError(dotted, f"expected a {expected}, got a {kind_of(value)}", fix=fix)
        return value

    def text(self, data, key, where, default: Any = ...) -> str:
        value = self.get(data, key, where, str, default)
        if value is not default and isinstance(value, str) and not value.strip():
            dotted = dotted_key(where, key)
            raise ConfigError(dotted, "must not be empty", fix=f"set {dotted} to a value")
        return value

    def expand(self, value: str, dotted: str) -> str:
        def variable(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            if name not in self.env:
                raise ConfigError(dotted, f"${name} is not set in the environment", fix=f"export {name}=...")
            return self.env[name]

        value = re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, value)
        if value == "~" or value.startswith("~/"):
            home = self.env.get("HOME") or str(Path.home())
            value = home + value[1:]
        return value

    def path(self, data, key, where, default: Any = ..., must_exist: bool = True, what: str = "file") -> Path | None:
        value = self.text(data, key, where, default)
        if value is None:
            return None
        dotted = dotted_key(where, key)
        resolved = Path(self.expand(value, dotted))
        if not resolved.is_absolute():
            resolved = self.base / resolved
        if must_exist and resolved.is_dir():
            raise ConfigError(dotted, f"{resolved} is a directory, not a {what}",
                              fix=f"point {dotted} at the {what} itself")
        if must_exist and not resolved.is_file():
            relative = "" if Path(value).is_absolute() else f" (relative to {self.base})"
            fix = f"create it or point {dotted} at an existing {what}"
            raise ConfigError(dotted, f"{what} not found: {resolved}{relative}", fix=fix)
        return resolved

    def url(self, data, key, where) -> str:
        dotted = f"{where}.{key}"
        value = self.text(data, key, where)
        parts = urlsplit(value)
        if parts.username or parts.password:
            raise ConfigError(dotted, "the URL must not carry credentials", fix="remove user:password@ from the URL")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                dotted,
                f"malformed URL {value!r}: it needs the scheme http:// or https:// and a host",
                fix=f"write {dotted} like https://host.example:9000",
            )
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError(dotted, f"malformed URL {value!r}: bad port", fix="use a port number 1-65535") from None
        return value.rstrip("/")

    def tls(self, data, where: str, urls: Mapping[str, str]) -> tuple[Path | None, bool]:
        ca_bundle = self.path(data, "ca_bundle", where, None, what="CA bundle")
        insecure = self.get(data, "insecure", where, bool, False)
        if ca_bundle and insecure:
            raise ConfigError(
                f"{where}.insecure",
                "insecure: true turns verification off, so ca_bundle would be ignored",
                fix=f"keep {where}.ca_bundle and set {where}.insecure: false (or drop ca_bundle)",
            )
        if ca_bundle:
            for url_key, url in urls.items():
                if url.startswith("http://"):
                    raise ConfigError(
                        f"{where}.ca_bundle",
                        f"a CA bundle is for TLS, but {where}.{url_key} uses http://",
                        fix=f"use https:// in {where}.{url_key} or remove {where}.ca_bundle",
                    )
        return ca_bundle, insecure

    # ---- sections
