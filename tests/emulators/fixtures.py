"""Pytest fixtures for the loopback emulators (import them into a test module or conftest).

- `loopback_tls` (session): a throwaway CA + server certificate; `.ca_path` is the PEM file.
- `dropbox_emulator`: a started DropboxEmulator; at teardown it is stopped and the test fails
  if the emulator itself raised (so an emulator bug cannot pass as a server error).
- `dropbox_client`: a factory for real `dropbox.Dropbox` clients pointed at the emulator,
  authenticated with the emulator's refresh token, SDK retries off and a 5 s timeout.
- `dropbox_subprocess_env`: the environment for a subprocess (e.g. the daemon) whose
  unmodified Dropbox SDK must talk to the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dropbox
import pytest

from .dropbox import DropboxEmulator
from .dropbox_seam import loopback_dropbox
from .tls import LoopbackTls, make_loopback_tls

DropboxFactory = Callable[..., dropbox.Dropbox]


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTls:
    return make_loopback_tls(tmp_path_factory.mktemp("loopback-tls"))


@pytest.fixture
def dropbox_emulator(loopback_tls: LoopbackTls) -> Iterator[DropboxEmulator]:
    emulator = DropboxEmulator(tls=loopback_tls.server_context()).start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert emulator.errors == [], f"the Dropbox emulator raised: {emulator.errors!r}"


@pytest.fixture
def dropbox_client(dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls) -> DropboxFactory:
    """`dropbox_client(**overrides)` → a real SDK client for the emulator."""

    def make(**overrides: Any) -> dropbox.Dropbox:
        settings: dict[str, Any] = {
            "oauth2_refresh_token": dropbox_emulator.refresh_token,
            "app_key": dropbox_emulator.app_key,
            "app_secret": dropbox_emulator.app_secret,
            "max_retries_on_error": 0,
            "max_retries_on_rate_limit": 0,
            "timeout": 5,
        }
        settings.update(overrides)
        return loopback_dropbox(dropbox_emulator.netloc, loopback_tls.ca_path, **settings)

    return make


@pytest.fixture
def dropbox_subprocess_env(
    dropbox_emulator: DropboxEmulator, loopback_tls: LoopbackTls
) -> dict[str, str]:
    return dropbox_emulator.client_environment(loopback_tls.ca_path)
