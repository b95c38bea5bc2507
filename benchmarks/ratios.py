"""The ratios the benchmarks measure against issue 13's targets: each script prints one line per ratio and,
with `--json FILE`, writes them for benchmarks/summary.py, which prints them all in one table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ratio:
    name: str  # what is compared, e.g. "idle sandbox, share of one core"
    value: float
    op: str  # "<=" or ">="
    target: float
    note: str = ""  # how it was measured, what it includes

    @property
    def met(self) -> bool:
        return self.value <= self.target if self.op == "<=" else self.value >= self.target

    def line(self) -> str:
        verdict = "met" if self.met else "NOT met"
        return f"{self.name}: {self.value:.3g} (target {self.op} {self.target:g}: {verdict})" + (
            f" -- {self.note}" if self.note else "")


def emit(ratios: list[Ratio], json_path: str | None) -> None:
    for ratio in ratios:
        print("ratio " + ratio.line())
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(r) for r in ratios], indent=1))


def load(json_path: Path) -> list[Ratio]:
    return [Ratio(**entry) for entry in json.loads(json_path.read_text())]
