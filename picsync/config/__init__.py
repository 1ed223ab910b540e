"""Load and check picsync's YAML configuration; every error names its key and line.

``load_config(path)`` returns a ``Config`` or raises ``ConfigError`` listing every problem found,
each as ``key.path (line N): what is wrong``. Callers exit with code 78 on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError

from picsync.config.keys import IDENTITY_HERE, identity_lines, read_recipients
from picsync.config.models import (
    BoxDestinationSettings,
    DestinationSettings,
    DropboxDestinationSettings,
    FolderDestinationSettings,
    Settings,
    SourceSettings,
)
from picsync.config.secrets import (
    SecretError,
    expand_secret_path,
    read_secret_file,
    resolve_secret,
)
from picsync.config.yamlmap import KeyPath, PositionedYaml, format_key, load_positioned
from picsync.crypto import Recipient
from picsync.errors import ConfigError, describe_os_error
from picsync.schedule import parse_bandwidth, parse_window

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

# Keys holding secrets: they may come from the environment or a *_file, never from the YAML.
SECRET_KEYS: tuple[KeyPath, ...] = (
    ("privacy", "hash_key"),
    ("alerts", "webhook_url"),
    ("alerts", "email", "password"),
)
DESTINATION_TYPES: dict[str, Any] = {
    "folder": FolderDestinationSettings,
    "dropbox": DropboxDestinationSettings,
    "box": BoxDestinationSettings,
}


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
    problems = _secrets_in_yaml(doc)
    if problems:
        raise ConfigError(problems)
    base = path.resolve().parent
    try:
        settings = Settings(**_absolute_paths(doc.data, base))
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, doc)) from None
    problems = _check_references(settings, doc)
    problems += _check_schedules(settings, doc)
    problems += _check_residency(settings, doc)
    problems += _check_filesystem(settings, doc)
    hash_key = None
    try:
        hash_key = resolve_secret(settings.privacy.hash_key, settings.privacy.hash_key_file)
    except SecretError as exc:
        problems.append(_at(doc, ("privacy", "hash_key_file"), str(exc)))
    secrets, secret_problems = _destination_secrets(settings, doc)
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
            problems.append(_at(doc, key, str(exc)))
            continue
        if resolved is not None:
            alert_secrets[name] = resolved
    keys = read_recipients(settings, lambda key, message: _at(doc, key, message))
    problems += keys.problems
    warnings = list(keys.warnings)
    for name, dest in settings.destinations.items():
        # Not an error: a NAS may be down when picsync starts; its deliveries wait (paused)
        # while files are still scrubbed and sealed into the spool.
        if isinstance(dest, FolderDestinationSettings) and not dest.path.is_dir():
            warnings.append(
                _at(
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


def _destination_secrets(
    settings: Settings, doc: PositionedYaml
) -> tuple[dict[str, dict[str, SecretStr]], list[str]]:
    """Read every destination's secrets; a problem names the ``*_file`` key it came from."""
    found: dict[str, dict[str, SecretStr]] = {}
    problems: list[str] = []
    for name, dest in settings.destinations.items():
        values: dict[str, SecretStr] = {}
        for secret in dest.SECRETS:
            try:
                value = resolve_secret(getattr(dest, secret), getattr(dest, f"{secret}_file"))
            except SecretError as exc:
                problems.append(_at(doc, ("destinations", name, f"{secret}_file"), str(exc)))
                continue
            if value is not None:
                values[secret] = value
        for secret in dest.SECRET_FILES:
            path = getattr(dest, secret)
            if path is None:
                continue
            try:
                values[secret] = SecretStr(read_secret_file(expand_secret_path(path)))
            except SecretError as exc:
                problems.append(_at(doc, ("destinations", name, secret), str(exc)))
        found[name] = values
    return found, problems


def _at(doc: PositionedYaml, key: KeyPath, message: str) -> str:
    line = doc.line_of(key)
    where = f" (line {line})" if line is not None and key in doc.lines else ""
    env = _env_name(key)
    if env in os.environ:
        where = f" (from environment variable {env})"
    elif line is not None and not where:
        where = f" (missing; its section starts at line {line})"
    return f"{format_key(key)}{where}: {message}"


def _env_name(key: KeyPath) -> str:
    return "PICSYNC_" + "__".join(str(part).upper() for part in key)


def _describe_validation(exc: ValidationError, doc: PositionedYaml) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        # A discriminated union puts the type's tag after the destination's name: drop it.
        if len(loc) > 2 and loc[0] == "destinations" and loc[2] in DESTINATION_TYPES:
            loc = (*loc[:2], *loc[3:])
        key = tuple(loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and indentation)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(_at(doc, key, message))
    return problems


def _secret_keys(doc: PositionedYaml) -> list[KeyPath]:
    """Every key path that holds a secret: fixed ones and each destination type's own."""
    keys = list(SECRET_KEYS)
    destinations = doc.data.get("destinations") if isinstance(doc.data, dict) else None
    if isinstance(destinations, dict):
        for name, entry in destinations.items():
            kind = entry.get("type") if isinstance(entry, dict) else None
            model = DESTINATION_TYPES.get(kind) if isinstance(kind, str) else None
            for field in model.SECRETS if model else ():
                keys.append(("destinations", name, field))
    return keys


def _secrets_in_yaml(doc: PositionedYaml) -> list[str]:
    problems = []
    for key in _secret_keys(doc):
        node: Any = doc.data
        for part in key:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            problems.append(
                _at(
                    doc,
                    key,
                    "secrets never go in the configuration file; set the environment variable "
                    f"{_env_name(key)} or point {key[-1]}_file at a file readable only by picsync",
                )
            )
    return problems


def _absolute_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make path values absolute against the config file's folder, before validation."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and "$" not in value:
            return str(base / Path(value).expanduser())
        return value

    result = dict(data)
    if "state_dir" in result:
        result["state_dir"] = fix(result["state_dir"])
    for section in ("sources", "destinations"):
        entries = result.get(section)
        if isinstance(entries, dict):
            result[section] = {
                name: _fix_entry_paths(entry, fix) for name, entry in entries.items()
            }
    privacy = result.get("privacy")
    if isinstance(privacy, dict) and "hash_key_file" in privacy:
        result["privacy"] = {**privacy, "hash_key_file": fix(privacy["hash_key_file"])}
    keys = result.get("keys")
    if isinstance(keys, dict) and "recipients_file" in keys:
        result["keys"] = {**keys, "recipients_file": fix(keys["recipients_file"])}
    alerts = result.get("alerts")
    if isinstance(alerts, dict):
        fixed = dict(alerts)
        if "webhook_url_file" in fixed:
            fixed["webhook_url_file"] = fix(fixed["webhook_url_file"])
        email = fixed.get("email")
        if isinstance(email, dict) and "password_file" in email:
            fixed["email"] = {**email, "password_file": fix(email["password_file"])}
        result["alerts"] = fixed
    return result


_ENTRY_PATH_KEYS = (
    "path",
    "archive_dir",
    "jwt_config_file",
    *(
        f"{secret}_file"
        for model in (DropboxDestinationSettings, BoxDestinationSettings)
        for secret in model.SECRETS
    ),
)


def _fix_entry_paths(entry: Any, fix: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {key: fix(value) if key in _ENTRY_PATH_KEYS else value for key, value in entry.items()}


def _check_references(settings: Settings, doc: PositionedYaml) -> list[str]:
    problems = []
    shared_key = settings.privacy.hash_key is not None or settings.privacy.hash_key_file is not None
    for name, dest in settings.destinations.items():
        if "{patient}" in dest.template and not shared_key:
            problems.append(
                _at(
                    doc,
                    ("destinations", name, "template"),
                    "{patient} needs privacy.hash_key_file (a secret the clinic keeps): without "
                    "it the pseudonyms would change if this station's state were lost",
                )
            )
    for name, source in settings.sources.items():
        for index, target in enumerate(source.destinations):
            if target not in settings.destinations:
                known = ", ".join(sorted(settings.destinations))
                problems.append(
                    _at(
                        doc,
                        ("sources", name, "destinations", index),
                        f"no destination named {target!r} (defined: {known})",
                    )
                )
    return problems


def station_zone(settings: Settings) -> tzinfo:
    return ZoneInfo(settings.timezone)


def _check_schedules(settings: Settings, doc: PositionedYaml) -> list[str]:
    """Windows and bandwidth timetables parse, in a time zone that exists."""
    try:
        zone = station_zone(settings)
    except (ZoneInfoNotFoundError, ValueError):
        return [_at(doc, ("timezone",), "unknown time zone; use a name like Europe/Berlin")]
    problems = []
    for name, dest in settings.destinations.items():
        for key, parse in (("window", parse_window), ("bandwidth", parse_bandwidth)):
            text = getattr(dest, key)
            if text is None:
                continue
            try:
                parse(text, zone)
            except ValueError as exc:
                problems.append(_at(doc, ("destinations", name, key), str(exc)))
        if dest.window and "timezone" not in doc.data:
            problems.append(
                _at(
                    doc,
                    ("destinations", name, "window"),
                    "set timezone (e.g. Europe/Berlin) so the window follows the station's clock",
                )
            )
    return problems


def _check_residency(settings: Settings, doc: PositionedYaml) -> list[str]:
    """Every route must stay inside the regions the clinic allows (a source may narrow them)."""
    problems = []
    clinic = set(settings.residency.allowed_regions)
    for name, source in settings.sources.items():
        allowed = clinic & set(source.allowed_regions or clinic)
        for index, target in enumerate(source.destinations):
            dest = settings.destinations.get(target)
            if dest is not None and dest.region not in allowed:
                problems.append(
                    _at(
                        doc,
                        ("sources", name, "destinations", index),
                        f"route {name} -> {target} would store files in region {dest.region!r}, "
                        f"outside the regions allowed for source {name!r}: "
                        f"{', '.join(sorted(allowed)) or 'none'}",
                    )
                )
    return problems


def _check_filesystem(settings: Settings, doc: PositionedYaml) -> list[str]:
    problems = []
    for name, source in settings.sources.items():
        if not source.path.is_dir():
            problems.append(
                _at(doc, ("sources", name, "path"), "folder does not exist or is not a folder")
            )
    roots = [(name, src.path.resolve()) for name, src in settings.sources.items()]
    for name, dest in settings.destinations.items():
        if isinstance(dest, FolderDestinationSettings):
            target = dest.path.resolve()
            for source_name, root in roots:
                if target == root or root in target.parents or target in root.parents:
                    problems.append(
                        _at(
                            doc,
                            ("destinations", name, "path"),
                            f"overlaps the watched folder of source {source_name!r}",
                        )
                    )
    for name, source in settings.sources.items():
        if source.archive_dir is None:
            continue
        archive = source.archive_dir.resolve()
        for other, root in roots:
            if archive == root or root in archive.parents:
                problems.append(
                    _at(
                        doc,
                        ("sources", name, "archive_dir"),
                        f"lies inside the watched folder of source {other!r}; it must be outside "
                        "every watched folder, or archived files would be taken again",
                    )
                )
        if not archive.is_dir():
            problems.append(
                _at(
                    doc,
                    ("sources", name, "archive_dir"),
                    "folder does not exist or is not a folder",
                )
            )
    state = settings.state_dir.resolve()
    for source_name, root in roots:
        if state == root or root in state.parents:
            problems.append(
                _at(
                    doc, ("state_dir",), f"lies inside the watched folder of source {source_name!r}"
                )
            )
    if not state.is_dir() and not state.parent.is_dir():
        problems.append(_at(doc, ("state_dir",), "neither the folder nor its parent exists"))
    return problems
