"""Routing a test site's camera folder to destinations: a folder, the Dropbox emulator, the Box
emulator, or several at once (one route with many destinations: each file is prepared once
and delivered to each).

The configuration follows tests/test_dropbox_daemon.py and tests/test_box_daemon.py: a PKCE
refresh token file for Dropbox, a client secret file for Box's Client Credentials Grant, and
the emulators' environment seams (DROPBOX_API_HOST, PICSYNC_BOX_BASE_URL, REQUESTS_CA_BUNDLE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulators.box import BoxEmulator
from tests.emulators.dropbox import DropboxEmulator
from tests.emulators.tls import LoopbackTls
from tests.helpers import Site
from tests.reliability.remotes import BoxRemote, DropboxRemote, FolderRemote, Remote

# Quick retries so that a short run sees many of them; the cap stays above any Retry-After the
# tests send, so that honouring it is never traded for the cap.
RETRY = {"base_delay": 0.2, "max_delay": 4, "max_attempts": 12, "blocked_pause": 1.0}


@dataclass
class Target:
    """One destination: its settings, its region, how the oracle reads it, its environment."""

    name: str
    settings: dict[str, Any]
    region: str
    remote: Remote
    env: dict[str, str] = field(default_factory=dict)


def folder(site: Site, name: str = "outbox") -> Target:
    settings = {"type": "folder", "path": "outbox"}
    return Target(name, settings, "onprem", FolderRemote(name, site.outbox))


def secret_file(site: Site, name: str, value: str) -> str:
    path = site.root / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return name


def dropbox(
    site: Site, emulator: DropboxEmulator, tls: LoopbackTls, name: str = "dbx", **settings: Any
) -> Target:
    token = secret_file(site, f"{name}.token", emulator.pkce_refresh_token)
    return Target(
        name,
        {
            "type": "dropbox",
            "region": "eu",
            "app_key": emulator.app_key,
            "refresh_token_file": token,
            "root": "/picsync",
            "timeout": 20,
            **settings,
        },
        "eu",
        DropboxRemote(name, emulator),
        emulator.client_environment(tls.ca_path),
    )


def box(
    site: Site, emulator: BoxEmulator, tls: LoopbackTls, name: str = "box", **settings: Any
) -> Target:
    secret = secret_file(site, f"{name}.secret", emulator.client_secret)
    return Target(
        name,
        {
            "type": "box",
            "region": "us",
            "folder_id": emulator.create_folder("Clinic"),
            "auth": "ccg",
            "client_id": emulator.client_id,
            "client_secret_file": secret,
            "enterprise_id": emulator.enterprise_id,
            "timeout": 20,
            **settings,
        },
        "us",
        BoxRemote(name, emulator),
        emulator.client_environment(tls.ca_path),
    )


def route(
    site: Site, *targets: Target, source: dict[str, Any] | None = None, **overrides: Any
) -> tuple[list[Remote], dict[str, str]]:
    """Write the site's configuration: the camera goes to every target. Returns the remotes for
    the oracle and the daemon's environment."""
    env: dict[str, str] = {}
    for target in targets:
        env.update(target.env)
    site.write_config(
        source={"destinations": [t.name for t in targets], **(source or {})},
        destinations={t.name: t.settings for t in targets},
        residency={"allowed_regions": sorted({t.region for t in targets})},
        retry=overrides.pop("retry", RETRY),
        **overrides,
    )
    return [t.remote for t in targets], env


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
