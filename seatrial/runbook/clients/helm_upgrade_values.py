"""The values a `helm upgrade` really deploys, by Helm v4's rules (pkg/action/upgrade.go reuseValues, and the
coalescing of pkg/chart/common/util/coalesce.go), so that what the guard renders is what the engine deploys.

    default            the given values; none given: the deployed release's values, as they are
    reuse              the given values over the deployed values, and the DEPLOYED chart's values.yaml
                       (coalesced with the deployed values) in place of the new chart's (--reuse-values)
    reset              the given values only, the new chart's values.yaml underneath (--reset-values)
    reset-then-reuse   the given values over the deployed values, the new chart's values.yaml underneath
                       (--reset-then-reuse-values)

Rendering the new chart with `UpgradeValues.for_render(...)` (its own values.yaml still underneath, as the
engine's offline render always does) gives the objects Helm deploys under each policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

POLICIES = ("default", "reuse", "reset", "reset-then-reuse")


def coalesce(values: dict, defaults: dict) -> dict:
    """`values` over `defaults`, as Helm coalesces (a copy; neither is changed): maps merge key by key, the
    values win, and a null in the values removes the default underneath it."""
    out = copy.deepcopy(values)
    _coalesce_into(out, copy.deepcopy(defaults))
    return out


def _coalesce_into(dst: dict, src: dict) -> None:
    for key, default in src.items():
        if key not in dst:
            dst[key] = default
        elif dst[key] is None:
            if default is not None:  # the user nulls a default: the key goes (a null nothing sets stays null)
                del dst[key]
        elif isinstance(dst[key], dict) and isinstance(default, dict):
            _coalesce_into(dst[key], default)


def _absent_as_null(values: dict, defaults: dict) -> dict:
    """`values` with a null for every key of `defaults` it lacks, at any depth: rendered over `defaults`, such
    a null removes the default, so the result is `values` alone."""
    out = dict(values)
    for key, default in defaults.items():
        if key not in out:
            out[key] = None
        elif isinstance(out[key], dict) and isinstance(default, dict):
            out[key] = _absent_as_null(out[key], default)
    return out


@dataclass(frozen=True)
class UpgradeValues:
    """One upgrade's values under a policy: `given` is what is passed to helm upgrade, `user` what the new
    revision records as its values after Helm's reuse rule, and for --reuse-values `replaced_defaults` the
    deployed chart's values that stand in for the new chart's values.yaml."""

    policy: str
    given: dict
    user: dict
    replaced_defaults: dict | None = field(default=None, repr=False)

    def for_render(self, new_defaults: dict, user: dict | None = None) -> dict:
        """The values to render the new chart with (its `new_defaults` underneath) so that the objects are what
        Helm deploys; `user` in place of `self.user` for a variant (the guard's fix values on top)."""
        values = self.user if user is None else user
        if self.replaced_defaults is None:
            return values
        return _absent_as_null(coalesce(values, self.replaced_defaults), new_defaults)


def upgrade_values(policy: str, given: dict, deployed_config: dict, deployed_chart_values: dict) -> UpgradeValues:
    """The values Helm deploys when upgrading a release whose revision holds `deployed_config` (the user's values)
    and was made from a chart with `deployed_chart_values` (its values.yaml)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown values policy {policy!r}")
    if policy == "reset":
        return UpgradeValues(policy, given, given)
    if policy == "default":
        return UpgradeValues(policy, given, given if given else copy.deepcopy(deployed_config))
    user = coalesce(given, deployed_config)
    if policy == "reset-then-reuse":
        return UpgradeValues(policy, given, user)
    return UpgradeValues(policy, given, user, coalesce(deployed_config, deployed_chart_values))


def exactly(values: dict) -> UpgradeValues:
    """The values rendered as they are (an install, or an upgrade given them with --reset-values)."""
    return UpgradeValues("reset", values, values)
