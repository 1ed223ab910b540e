"""Read secrets from the environment, from ``*_file`` paths or from systemd credentials.

A secret never sits in the YAML file itself. A secret file must not be readable by group or
others: a key that every local user can read protects nothing.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from picsync.config.models import (
    BoxDestinationSettings,
    DropboxDestinationSettings,
    FolderDestinationSettings,
    Settings,
)
from picsync.config.where import at, env_name
from picsync.config.yamlmap import KeyPath, PositionedYaml
from picsync.errors import describe_os_error

_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class SecretError(ValueError):
    """A secret could not be read; the message says why and what to do."""


def expand_secret_path(raw: Path) -> Path:
    """Expand ``$CREDENTIALS_DIRECTORY`` (or any other variable) in a ``*_file`` path."""
    text = str(raw)
    missing = [name for name in _VARIABLE.findall(text) if name not in os.environ]
    if missing:
        hint = (
            " (set by systemd when the unit has LoadCredential=)"
            if missing[0] == "CREDENTIALS_DIRECTORY"
            else ""
        )
        raise SecretError(f"the path uses ${missing[0]}, which is not set{hint}")
    return Path(os.path.expandvars(text))


def read_secret_file(path: Path) -> str:
    """The file's content without the trailing newline; refuse group/other-readable files."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SecretError("the secret file does not exist") from None
    except OSError as exc:
        raise SecretError(f"cannot read the secret file: {describe_os_error(exc)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretError("the secret file is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"the secret file is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "run: chmod 600 on it"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        detail = describe_os_error(exc) if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretError(f"cannot read the secret file: {detail}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise SecretError("the secret file is empty")
    return value


def resolve_secret(value: SecretStr | None, file: Path | None) -> SecretStr | None:
    """One secret from its inline (environment) value or its file; both at once is ambiguous."""
    if value is not None and file is not None:
        raise SecretError("set either the value (environment) or the *_file path, not both")
    if file is not None:
        return SecretStr(read_secret_file(expand_secret_path(file)))
    return value


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


def secret_keys(doc: PositionedYaml) -> list[KeyPath]:
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


def secrets_in_yaml(doc: PositionedYaml) -> list[str]:
    problems = []
    for key in secret_keys(doc):
        node: Any = doc.data
        for part in key:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            problems.append(
                at(
                    doc,
                    key,
                    "secrets never go in the configuration file; set the environment variable "
                    f"{env_name(key)} or point {key[-1]}_file at a file readable only by picsync",
                )
            )
    return problems


def destination_secrets(
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
                problems.append(at(doc, ("destinations", name, f"{secret}_file"), str(exc)))
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
                problems.append(at(doc, ("destinations", name, secret), str(exc)))
        found[name] = values
    return found, problems
