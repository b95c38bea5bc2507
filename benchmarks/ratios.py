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
    op: str  # "<=" or ">=", or "info": shown beside a target it explains, judged by none
    target: float
    note: str = ""  # how it was measured, what it includes

    @property
    def met(self) -> bool:
        if self.op == "info":
            return True
        return self.value <= self.target if self.op == "<=" else self.value >= self.target

    @property
    def verdict(self) -> str:
        return "info" if self.op == "info" else "met" if self.met else "NOT met"

    @property
    def target_text(self) -> str:
        return "no target" if self.op == "info" else f"target {self.op} {self.target:g}"

    def line(self) -> str:
        return f"{self.name}: {self.value:.3g} ({self.target_text}: {self.verdict})" + (
            f" -- {self.note}" if self.note else "")


def emit(ratios: list[Ratio], json_path: str | None) -> None:
    for ratio in ratios:
        print("ratio " + ratio.line())
    if json_path:
        Path(json_path).write_text(json.dumps([asdict(r) for r in ratios], indent=1))


def load(json_path: Path) -> list[Ratio]:
    return [Ratio(**entry) for entry in json.loads(json_path.read_text())]
