"""The migration's steps, in order. Each step module has the same shape:

- `plan(ctx) -> list[str]`: what it will do and which objects and calls it will touch;
- `apply(ctx) -> dict`: do it, idempotently; returns what it recorded (names created, inventory);
- its checks live in `checks/test_<step>.py` (dashes become underscores) and gate the next step.
"""

STEP_ORDER: tuple[str, ...] = (
    "preflight",
    "freeze",
    "annotate",
    "backup",
    "restore",
    "fixup",
    "thaw-target",
    "verify-harbor",
    "upgrade",  # does nothing without an `upgrade:` section
)

# Not part of `run`: destructive, run on request with confirmation.
EXTRA_STEPS: tuple[str, ...] = ("reset-target",)


def check_module(step: str) -> str:
    """The checks module paired with a step: the pairing needs no registry."""
    return f"test_{step.replace('-', '_')}.py"
