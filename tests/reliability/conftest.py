"""Fixtures of the reliability suite: scale (short or long), the seed, rigs, the report.

``pytest tests/reliability`` runs the SHORT suite (CI); ``pytest tests/reliability --long`` or
``PICSYNC_RELIABILITY=long pytest tests/reliability`` the LONG one (the option is registered
here, so it is known when this directory is on the command line; the variable works always).
Every randomized test takes its seed from PICSYNC_TEST_SEED, or draws and prints one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulators.box_fixtures import box_emulator, box_subprocess_env  # noqa: F401
from tests.helpers import Site
from tests.reliability import report
from tests.reliability.manifest import Manifest
from tests.reliability.oracle import Figures, assert_clean, judge
from tests.reliability.remotes import Remote
from tests.reliability.rig import Rig
from tests.reliability.scale import Scale, current


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="reliability suite at the spec's sizes (also: PICSYNC_RELIABILITY=long)",
    )


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    return current(bool(pytestconfig.getoption("--long", default=False)))


@pytest.fixture
def seed() -> int:
    given = os.environ.get("PICSYNC_TEST_SEED")
    value = int(given) if given else random.randrange(10**6)
    print(f"seed {value} (replay with PICSYNC_TEST_SEED={value})")
    return value


@pytest.fixture
def rigs() -> Iterator[Callable[..., Rig]]:
    """``rigs(site, remotes, env=..., prefix=...)`` → a Rig, torn down after the test."""
    made: list[Rig] = []

    def make(site: Site, remotes: list[Remote], **kwargs: Any) -> Rig:
        rig = Rig(site, remotes, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@pytest.fixture
def oracle(scale: Scale) -> Callable[..., Figures]:
    """``oracle(rig, manifest, "R1 burst", seed)``: judge a finished run, print and keep its
    figures, and fail on any broken invariant (loss, duplicate, ...)."""

    def run(rig: Rig, manifest: Manifest, scenario: str, seed: int | None, **notes: str) -> Figures:
        figures = judge(rig, manifest, scenario, scale.mode, seed)
        figures.notes.update(notes)
        print(report.render(figures))
        report.add_to_summary(figures)
        report.save(figures)
        assert_clean(figures)
        return figures

    return run
