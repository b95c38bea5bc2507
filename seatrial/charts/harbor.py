"""Facts about Harbor's chart (goharbor/harbor-helm 1.6-1.19) that more than one room reads: the configuration
validates `upgrade.accept_removed` against them, the upgrade guard judges with them."""

HARBOR_CHART = "harbor"
# The components whose data PVC a Harbor chart (1.6 to 1.19) renders; `--accept-removed` names one of them.
DATA_COMPONENTS = ("chartmuseum", "database", "jobservice", "redis", "registry", "trivy")


def unknown_components(names: list[str] | tuple[str, ...]) -> list[str]:
    return [name for name in names if name not in DATA_COMPONENTS]
