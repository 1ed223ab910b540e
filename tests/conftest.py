"""Shared fixtures, and the reliability figures table at the end of a run."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Daemon, Site, new_site
from tests.reliability.report import header

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


# The reliability suite's rows reach the table through a file, not memory: with pytest-xdist
# the scenarios run in worker processes, and only this process prints the summary. Workers
# inherit the variable set here before they start.
ROWS_ENV = "PICSYNC_RELIABILITY_ROWS"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and ROWS_ENV not in os.environ:
        handle, path = tempfile.mkstemp(prefix="picsync-reliability-", suffix=".rows")
        os.close(handle)
        os.environ[ROWS_ENV] = path
        config.stash[_ROWS_FILE] = Path(path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    path = config.stash.get(_ROWS_FILE, None)
    if path is None or not path.exists():
        return
    rows = path.read_text(encoding="utf-8").splitlines()
    path.unlink()
    if rows:
        terminalreporter.section("reliability figures (specs/reliability.md §3)")
        terminalreporter.write_line("\n".join([*header(), *rows]))


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_ROWS_FILE, None)
    if path is not None:
        path.unlink(missing_ok=True)  # a run cut short never printed its summary


_ROWS_FILE = pytest.StashKey[Path]()
