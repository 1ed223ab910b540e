"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Daemon, Site, new_site

pytest_plugins = ["tests.emulators.fixtures"]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return new_site(tmp_path)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons a test starts are killed at the end even when the test fails."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop_quietly()
