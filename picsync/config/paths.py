"""Paths in the configuration are taken from the folder the configuration file is in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picsync.config.models import BoxDestinationSettings, DropboxDestinationSettings


def absolute_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
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
