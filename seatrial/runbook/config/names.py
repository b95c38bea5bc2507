"""Backup and restore names rendered from their templates (`{release}-{timestamp}`...)."""

from __future__ import annotations

import re
import secrets as random_source
from datetime import UTC, datetime

from seatrial.runbook.config.model import DNS1123_LABEL, NAME_PLACEHOLDERS
from seatrial.runbook.errors import ConfigError


def render_name(
    template: str,
    *,
    release: str,
    namespace: str,
    now: datetime | None = None,
    key: str = "velero.backup_name",
) -> str:
    """Fill `{release} {namespace} {timestamp} {random}`; the result is a DNS-1123 label (<= 63, lower case).

    Raises ConfigError naming `key` for an unknown placeholder or a result that is not a valid name.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    values = {
        "release": release,
        "namespace": namespace,
        "timestamp": moment.strftime("%Y%m%d%H%M%S"),
        "random": random_source.token_hex(3),
    }
    placeholders = re.findall(r"\{([^{}]*)\}", template)
    for name in placeholders:
        if name not in values:
            raise ConfigError(
                key,
                f"unknown placeholder {{{name}}} in the name template",
                fix=f"use only {', '.join('{' + p + '}' for p in NAME_PLACEHOLDERS)}",
            )
    rendered = re.sub(r"\{([^{}]*)\}", lambda m: values[m.group(1)], template).lower()
    if "{" in rendered or "}" in rendered:
        raise ConfigError(key, "unbalanced brace in the name template", fix="write placeholders as {release}")
    if len(rendered) > 63:
        raise ConfigError(
            key,
            f"the template renders a {len(rendered)}-character name ({rendered!r}); Kubernetes allows 63",
            fix="shorten the template ({timestamp} is 14 characters, {random} 6)",
        )
    if not DNS1123_LABEL.match(rendered):
        raise ConfigError(
            key,
            f"the template renders {rendered!r}, not a valid Kubernetes name",
            fix="use only lower-case letters, digits and '-', starting and ending with a letter or digit",
        )
    return rendered
