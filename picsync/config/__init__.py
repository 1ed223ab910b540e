"""Load and check picsync's YAML configuration; every error names its key and line.

``load_config(path)`` returns a ``Config`` or raises ``ConfigError`` listing every problem found,
each as ``key.path (line N): what is wrong``. Callers exit with code 78 on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr, ValidationError

from picsync.config.checks import (
    check_filesystem,
    check_references,
    check_residency,
    check_schedules,
    station_zone,
)
from picsync.config.keys import IDENTITY_HERE, identity_lines, read_recipients
from picsync.config.models import (
    BoxDestinationSettings,
    DestinationSettings,
    DropboxDestinationSettings,
    FolderDestinationSettings,
    Settings,
    SourceSettings,
)
from picsync.config.paths import absolute_paths
from picsync.config.secrets import (
    SecretError,
    destination_secrets,
    resolve_secret,
    secrets_in_yaml,
)
from picsync.config.where import at, describe_validation
from picsync.config.yamlmap import load_positioned
from picsync.crypto import Recipient
from picsync.errors import ConfigError, describe_os_error

__all__ = [
    "station_zone",
    "BoxDestinationSettings",
    "Config",
    "DropboxDestinationSettings",
    "DestinationSettings",
    "FolderDestinationSettings",
    "Settings",
    "SourceSettings",
    "load_config",
]


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings with absolute paths and secrets read."""

    path: Path
    settings: Settings
    hash_key: SecretStr | None
    recipients: tuple[Recipient, ...]
    key_epoch: str
    warnings: tuple[str, ...] = ()
    secrets: Mapping[str, Mapping[str, SecretStr]] = field(default_factory=dict)
    alert_secrets: Mapping[str, SecretStr] = field(default_factory=dict)

    def secret(self, destination: str, name: str) -> str | None:
        """A destination's secret value (from the environment, a file or a credential)."""
        value = self.secrets.get(destination, {}).get(name)
        return None if value is None else value.get_secret_value()

    def routes(self) -> list[tuple[str, list[str]]]:
        return [(name, list(src.destinations)) for name, src in self.settings.sources.items()]


def load_config(path: Path) -> Config:
    """Read, validate and check ``path``; raise ``ConfigError`` naming every bad key."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = describe_os_error(exc) if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{shown}: cannot read the configuration: {detail}") from None
    lines = identity_lines(text)
    if lines:
        raise ConfigError(f"{shown} (line {lines[0]}): {IDENTITY_HERE}")
    doc = load_positioned(text, shown)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{shown}: the configuration must be a mapping of keys to values")
    problems = secrets_in_yaml(doc)
    if problems:
        raise ConfigError(problems)
    base = path.resolve().parent
    try:
        settings = Settings(**absolute_paths(doc.data, base))
    except ValidationError as exc:
        raise ConfigError(describe_validation(exc, doc)) from None
    problems = check_references(settings, doc)
    problems += check_schedules(settings, doc)
    problems += check_residency(settings, doc)
    problems += check_filesystem(settings, doc)
    hash_key = None
    try:
        hash_key = resolve_secret(settings.privacy.hash_key, settings.privacy.hash_key_file)
    except SecretError as exc:
        problems.append(at(doc, ("privacy", "hash_key_file"), str(exc)))
    secrets, secret_problems = destination_secrets(settings, doc)
    problems += secret_problems
    alert_secrets: dict[str, SecretStr] = {}
    alerts = settings.alerts
    for name, value, file, key in (
        (
            "webhook_url",
            alerts.webhook_url,
            alerts.webhook_url_file,
            ("alerts", "webhook_url_file"),
        ),
        (
            "email_password",
            alerts.email.password if alerts.email else None,
            alerts.email.password_file if alerts.email else None,
            ("alerts", "email", "password_file"),
        ),
    ):
        try:
            resolved = resolve_secret(value, file)
        except SecretError as exc:
            problems.append(at(doc, key, str(exc)))
            continue
        if resolved is not None:
            alert_secrets[name] = resolved
    keys = read_recipients(settings, lambda key, message: at(doc, key, message))
    problems += keys.problems
    warnings = list(keys.warnings)
    for name, dest in settings.destinations.items():
        # Not an error: a NAS may be down when picsync starts; its deliveries wait (paused)
        # while files are still scrubbed and sealed into the spool.
        if isinstance(dest, FolderDestinationSettings) and not dest.path.is_dir():
            warnings.append(
                at(
                    doc,
                    ("destinations", name, "path"),
                    "folder does not exist now (is the share mounted?); deliveries to it wait",
                )
            )
    if problems:
        raise ConfigError(problems)
    return Config(
        path=path.resolve(),
        settings=settings,
        hash_key=hash_key,
        recipients=tuple(keys.recipients),
        key_epoch=keys.epoch,
        warnings=tuple(warnings),
        secrets=secrets,
        alert_secrets=alert_secrets,
    )
