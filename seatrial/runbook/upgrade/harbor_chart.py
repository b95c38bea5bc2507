"""What the guard knows about the chart it judges: Harbor's (goharbor/harbor-helm), and only that one.

Its findings (data volumes by component, PostgreSQL majors, the fix values) read Harbor's object names,
labels and values keys; another chart would be judged by rules that are not its own.
"""

from __future__ import annotations

from seatrial.charts.harbor import DATA_COMPONENTS, HARBOR_CHART, unknown_components
from seatrial.runbook.errors import BadInput


def refuse_unknown_components(names: list[str] | tuple[str, ...], option: str) -> None:
    unknown = unknown_components(names)
    if unknown:
        raise BadInput(f"{option} {', '.join(unknown)}: not a component of Harbor's chart with a data volume",
                       fix=f"name one of {', '.join(DATA_COMPONENTS)}")


def refuse_other_charts(name: str, what: str) -> None:
    """The guard judges Harbor's chart only: another chart is refused, never judged by Harbor's rules."""
    if name != HARBOR_CHART:
        raise BadInput(f"{what} is chart {name!r}, not Harbor's chart ({HARBOR_CHART!r}): the upgrade guard only "
                       "knows Harbor's chart (its components, volumes and PostgreSQL), and would judge this one "
                       "by the wrong rules", fix="give a Harbor chart (goharbor/harbor-helm), e.g. "
                       "seatrial/charts/harbor-1.18.4.tgz")
