"""The configuration schema: pydantic models, every key documented in config.example.yaml.

Unknown keys are errors everywhere (``extra="forbid"``). Paths are taken as written here and made
absolute against the config file's folder by the loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from picsync.config.base import Strict, check_template
from picsync.config.destinations import (
    BoxDestinationSettings,
    DestinationSettings,
    DropboxDestinationSettings,
    FolderDestinationSettings,
    Region,
)
from picsync.identity import compile_rule

__all__ = [
    "BoxDestinationSettings",
    "DestinationSettings",
    "DropboxDestinationSettings",
    "FolderDestinationSettings",
    "Settings",
    "SourceSettings",
    "check_template",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

# Camera, scanner and DICOM files picsync knows how to take (specs/watching.md §6: prefer an
# allowlist of extensions to a denylist). Matching is case-insensitive.
DEFAULT_INCLUDE = (
    "*.jpg",
    "*.jpeg",
    "*.png",
    "*.tif",
    "*.tiff",
    "*.dng",
    "*.heic",
    "*.heif",
    "*.pdf",
    "*.dcm",
)


class ResidencySettings(Strict):
    """Where the clinic allows its photos to be stored; every route is checked against it."""

    allowed_regions: list[Region] = Field(min_length=1)


class RetrySettings(Strict):
    """Per-delivery retry schedule: exponential with jitter, capped, then dead."""

    max_attempts: int = Field(default=20, ge=1, le=10_000)
    base_delay: float = Field(default=10.0, gt=0)
    max_delay: float = Field(default=3600.0, gt=0)
    blocked_pause: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _cap_above_base(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must not be smaller than base_delay")
        return self


class SourceSettings(Strict):
    """A watched folder and where its files go."""

    path: Path
    destinations: list[str] = Field(min_length=1)
    mode: Literal["inotify", "poll"] = "inotify"
    settle: float = Field(default=2.0, ge=0)
    settle_unclosed: float | None = Field(default=None, ge=0)
    max_wait: float = Field(default=3600.0, gt=0)
    poll_interval: float = Field(default=10.0, gt=0)
    rescan_interval: float = Field(default=300.0, gt=0)
    include: list[str] = Field(default_factory=lambda: list(DEFAULT_INCLUDE))
    exclude: list[str] = Field(default_factory=list)
    identity_pattern: str | None = None
    allowed_regions: list[Region] | None = None  # narrows residency.allowed_regions
    after_upload: Literal["keep", "move", "delete"] = "keep"
    archive_dir: Path | None = None
    retention_days: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _disposition_is_complete(self) -> SourceSettings:
        if self.after_upload == "move" and self.archive_dir is None:
            raise ValueError(
                "after_upload: move needs archive_dir (a folder outside the watched one)"
            )
        if self.after_upload != "move" and self.archive_dir is not None:
            raise ValueError("archive_dir only goes with after_upload: move")
        if self.after_upload != "delete" and self.retention_days:
            raise ValueError("retention_days only goes with after_upload: delete")
        return self

    @field_validator("identity_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_rule(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @property
    def quiet_unclosed(self) -> float:
        """Quiet time for a file whose writer was never seen closing it (specs/watching.md §3)."""
        if self.settle_unclosed is not None:
            return self.settle_unclosed
        if self.mode == "poll":
            return max(30.0, 3 * self.poll_interval)
        return 10.0


class PrivacySettings(Strict):
    """Keys for the keyed hashes that stand in for paths in logs and status output.

    Without a key, picsync makes one in the state directory on first run. Set it when several
    stations should produce the same hashes.
    """

    hash_key: SecretStr | None = None
    hash_key_file: Path | None = None


class KeySettings(Strict):
    """The records office's age recipients (public keys); the station never holds an identity."""

    recipients: list[str] = Field(default_factory=list)
    recipients_file: Path | None = None


class EmailAlertSettings(Strict):
    """Alert e-mails over SMTP with STARTTLS (the password is a secret: env or password_file)."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    from_addr: str
    to_addrs: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    starttls: bool = True


class AlertSettings(Strict):
    """Who is called, and when. A webhook URL usually holds a token: it is a secret too."""

    webhook_url: SecretStr | None = None
    webhook_url_file: Path | None = None
    email: EmailAlertSettings | None = None
    reminder_after: float = Field(default=86400.0, ge=0)
    max_per_hour: int = Field(default=12, ge=1)
    backlog_after: float = Field(default=6 * 3600.0, gt=0)  # oldest waiting item, window open
    spool_min_free: int = Field(default=1 << 30, ge=0)  # bytes


class HealthSettings(Strict):
    """When the systemd watchdog stops being pinged."""

    # A worker with no progress (no byte read, no step finished) for this long is hung. Uploads
    # time out well before this, so only a truly stuck thread reaches it.
    stall_after: float = Field(default=600.0, gt=0)
    check_interval: float = Field(default=10.0, gt=0)  # how often alert conditions are looked at


class MetricsSettings(Strict):
    """The Prometheus endpoint; ``listen: null`` turns it off."""

    listen: str | None = Field(default="127.0.0.1:9464", pattern=r"^[^:]*:\d{1,5}$")


class LogSettings(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(BaseSettings):
    """The whole picsync configuration: YAML values, overridden by ``PICSYNC_*`` variables."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix="PICSYNC_",
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the YAML file (passed in as init values); no .env files.
        return (env_settings, init_settings)

    station: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    timezone: str = "UTC"  # the station's zone (e.g. Europe/Berlin) for upload windows
    state_dir: Path
    workers: int = Field(default=2, ge=1, le=64)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    residency: ResidencySettings
    sources: dict[str, SourceSettings] = Field(min_length=1)
    destinations: dict[str, DestinationSettings] = Field(min_length=1)
    keys: KeySettings = Field(default_factory=KeySettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("sources", "destinations")
    @classmethod
    def _names_are_simple(cls, value: dict[str, object]) -> dict[str, object]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(
                    f"name {name!r} must be lowercase letters, digits, '-' or '_' "
                    "(it appears in remote paths and environment variable names)"
                )
        return value
