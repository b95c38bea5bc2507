"""Backup and restore names: rendered from the configured templates, never one this run used before.

Velero refuses a backup whose name is already in the bucket, and a retried backup or a restore after
reset-target must not collide with the attempt it replaces; the journal remembers every name used.
"""

from __future__ import annotations

import time

from seatrial.runbook.config import render_name
from seatrial.runbook.errors import BadInput
from seatrial.runbook.migration.steps.context import StepContext

ATTEMPTS = 3  # {timestamp} has one-second resolution: a retry within the same second renders the same name


def new_name(ctx: StepContext, kind: str) -> str:
    """A fresh name for `kind` ("backup" or "restore") from `velero.<kind>_name`."""
    template = ctx.config.velero.backup_name if kind == "backup" else ctx.config.velero.restore_name
    used = ctx.journal.used_names()
    for attempt in range(ATTEMPTS):
        name = render_name(template, release=ctx.config.source.release, namespace=ctx.config.source.namespace,
                           key=f"velero.{kind}_name")
        if name not in used:
            return name
        if attempt + 1 < ATTEMPTS:
            time.sleep(1.0)
    raise BadInput(f"velero.{kind}_name {template!r} renders {name!r} again, a name this run already used",
                   fix=f"put {{timestamp}} or {{random}} in velero.{kind}_name")
