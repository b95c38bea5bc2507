"""The `harbor` section (its password from the environment or a file, never inline)."""

from __future__ import annotations

from seatrial.runbook.config.model import MAX_VERIFY_WORKERS, HarborConfig
from seatrial.runbook.errors import ConfigError
from seatrial.runbook.secrets import Secret


class HarborSection:
    def from_env(self, variable: str, dotted: str) -> str:
        value = self.env.get(variable, "")
        if not value:
            raise ConfigError(
                dotted,
                f"the environment variable {variable} is not set (or empty)",
                fix=f"export {variable}=... before running seatrial",
            )
        return value

    def harbor(self, raw) -> HarborConfig:
        data = self.section(raw, "harbor")
        source_url = self.url(data, "source_url", "harbor")
        target_url = self.url(data, "target_url", "harbor")
        username = self.text(data, "username", "harbor", "admin")
        password = self.harbor_password(data)
        ca_bundle, insecure = self.tls(data, "harbor", {"source_url": source_url, "target_url": target_url})
        canary = self.text(data, "canary_project", "harbor", "seatrial-canary")
        fraction = self.get(data, "verify_fraction", "harbor", (int, float), 1.0)
        if not 0 < fraction <= 1:
            raise ConfigError(
                "harbor.verify_fraction",
                f"must be greater than 0 and at most 1, got {fraction}",
                fix="use 1.0 to verify every manifest and blob, or e.g. 0.1 for a 10% sample",
            )
        workers = self.get(data, "verify_workers", "harbor", int, 4)
        if not 1 <= workers <= MAX_VERIFY_WORKERS:
            raise ConfigError(
                "harbor.verify_workers",
                f"must be a whole number from 1 to {MAX_VERIFY_WORKERS}, got {workers!r}",
                fix="use about as many workers as the network to the registry can feed (4 is the default)",
            )
        return HarborConfig(
            source_url=source_url,
            target_url=target_url,
            username=username,
            password=password,
            ca_bundle=ca_bundle,
            insecure=insecure,
            canary_project=canary,
            verify_fraction=float(fraction),
            verify_workers=workers,
        )

    def harbor_password(self, data) -> Secret:
        has_env = data.get("password_env") is not None
        has_file = data.get("password_file") is not None
        if has_env and has_file:
            raise ConfigError(
                "harbor.password_file",
                "both harbor.password_env and harbor.password_file are set",
                fix="keep only one of them",
            )
        if has_env:
            variable = self.text(data, "password_env", "harbor")
            return Secret(self.from_env(variable, "harbor.password_env"), name="harbor_password")
        if has_file:
            path = self.path(data, "password_file", "harbor", what="password file")
            assert path is not None
            try:
                value = path.read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "harbor.password_file", f"cannot read {path}: {type(exc).__name__}", fix="check permissions"
                ) from None
            if not value:
                raise ConfigError("harbor.password_file", f"{path} is empty", fix="write the password into it")
            return Secret(value, name="harbor_password")
        raise ConfigError(
            "harbor.password_env",
            "missing: the Harbor password must come from an environment variable or a file",
            fix="set harbor.password_env: HARBOR_PASSWORD (or harbor.password_file: /path)",
        )
