"""The house, read from its imports: clients, configuration, migration and upgrade are separate rooms, and every
import points down (base <- clients <- config <- checking <- upgrade <- migration <- cli). checks and fixtures
import the runbook, never the other way; nothing imports the project's tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "seatrial"

# Lowest first; a module may import its own layer and the ones below it, never one above.
RUNBOOK_LAYERS = (
    ("base", ("errors", "secrets", "log", "retry", "wait", "identity", "heartbeat", "inflight")),
    ("clients", ("clients",)),
    ("config", ("config",)),
    ("checking", ("checking", "connections")),
    ("upgrade", ("upgrade",)),
    ("migration", ("migration",)),
    ("cli", ("cli", "commands")),
)
LAYER_OF = {prefix: index for index, (_, prefixes) in enumerate(RUNBOOK_LAYERS) for prefix in prefixes}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (a lazy import inside a function counts)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def room(module: str) -> str:
    parts = module.split(".")
    if parts[:2] != ["seatrial", "runbook"]:
        return parts[1] if len(parts) > 1 and parts[0] == "seatrial" else parts[0]
    return parts[2] if len(parts) > 2 else "runbook"


def layer(module: str) -> int | None:
    return LAYER_OF.get(room(module))


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_runbook_module_has_a_layer():
    rooms = {room(module_name(path)) for path in SOURCES if module_name(path).startswith("seatrial.runbook.")}
    assert rooms <= set(LAYER_OF), f"modules of no layer: {sorted(rooms - set(LAYER_OF))}: add them to RUNBOOK_LAYERS"


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_point_down(path: Path):
    here = module_name(path)
    wrong = []
    for line, target in imports(path):
        if not target.startswith("seatrial") and target.split(".")[0] in ("runbook", "checks", "fixtures", "tests"):
            wrong.append(f"line {line}: {target} (a top-level name seatrial no longer has)")
        elif target.startswith("tests"):
            wrong.append(f"line {line}: {target} (the project's tests)")
        elif here.startswith("seatrial.runbook") and target.startswith(("seatrial.checks", "seatrial.fixtures")):
            wrong.append(f"line {line}: {target} (the runbook imports neither checks nor fixtures)")
        elif here.startswith("seatrial.checks") and target.startswith("seatrial.fixtures"):
            wrong.append(f"line {line}: {target} (checks -> runbook only)")
        elif here.startswith("seatrial.charts") and target.startswith("seatrial.") and target != "seatrial.charts":
            wrong.append(f"line {line}: {target} (the shipped charts are a leaf)")
        elif here.startswith("seatrial.runbook.") and target.startswith("seatrial.runbook."):
            mine, theirs = layer(here), layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                wrong.append(f"line {line}: {target} ({RUNBOOK_LAYERS[theirs][0]}) from {RUNBOOK_LAYERS[mine][0]}: "
                             "an import running back up")
    assert not wrong, f"{here}:\n" + "\n".join(wrong)
