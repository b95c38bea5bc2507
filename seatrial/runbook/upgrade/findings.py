"""A finding: one object judged by one check, with what is wrong, what was observed and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass

OK, WARN, FAIL = "ok", "warn", "fail"

# The guard's checks, in the order they are reported (checks/test_upgrade_plan.py has one test per name).
CHECKS: tuple[str, ...] = (
    "data_volume_kept",          # 1. a data PVC renamed = a new, empty volume
    "update_allowed",            # 2. fields Kubernetes refuses to update
    "postgres_major_reachable",  # 3. harbor-db skips a PostgreSQL major
    "values_key_read",           # 4. a values key the new chart ignores
    "data_volume_still_served",  # 5. a data PVC the new chart no longer renders
    "rollout_cannot_hang",       # 6. RWO volume + RollingUpdate (warning)
    "no_replace",                # 7. --force (replace) asked for
    "service_address_kept",      # 8. a Service's static address or type changes
)


@dataclass(frozen=True)
class Finding:
    check: str
    object: str          # the readable id: "PersistentVolumeClaim/my-harbor-registry", a values key, ...
    status: str = OK     # ok | warn | fail
    what: str = ""
    observed: str = ""
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**{key: data.get(key, "") for key in ("check", "object", "status", "what", "observed", "fix")})


def ok(check: str, obj: str, what: str = "") -> Finding:
    return Finding(check, obj, OK, what)


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.failed for f in findings) else 0
