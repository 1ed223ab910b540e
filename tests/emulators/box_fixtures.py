"""Pytest fixtures for the Box emulator; a test module names this module in `pytest_plugins`
(`loopback_tls` comes from fixtures.py, which conftest loads).

- `box_emulator`: a started BoxEmulator over TLS; at teardown it is stopped and the test fails
  if the emulator itself raised. `box_http_emulator`: the same over plain http.
- `box_sdk_client`: a factory for real SDK clients aimed at `box_emulator` (box_support).
- `box_tls_env`: REQUESTS_CA_BUNDLE set to the test CA (CURL_CA_BUNDLE removed) for code that,
  like picsync's backend, lets requests read its trust from the environment.
- `box_destination`: a factory for picsync `BoxDestination`s aimed at `box_emulator`.
- `jwt_key`: one RSA app key for the session.
- `box_subprocess_env`: the environment for a daemon whose destination `box` is the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from box_sdk_gen import BoxClient

from picsync.destinations.box import BoxDestination

from .box import BoxEmulator
from .box_support import (
    BoxClientFactory,
    DestinationFactory,
    JwtKey,
    make_destination,
    new_jwt_key,
    sdk_client,
)
from .tls import LoopbackTls


@pytest.fixture
def box_emulator(loopback_tls: LoopbackTls) -> Iterator[BoxEmulator]:
    emulator = BoxEmulator(tls=loopback_tls.server_context()).start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert emulator.errors == [], f"the Box emulator raised: {emulator.errors!r}"


@pytest.fixture
def box_http_emulator() -> Iterator[BoxEmulator]:
    emulator = BoxEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert emulator.errors == [], f"the Box emulator raised: {emulator.errors!r}"


@pytest.fixture
def box_sdk_client(box_emulator: BoxEmulator, loopback_tls: LoopbackTls) -> BoxClientFactory:
    def make(**kwargs: Any) -> BoxClient:
        return sdk_client(box_emulator, loopback_tls, **kwargs)

    return make


@pytest.fixture
def box_tls_env(monkeypatch: pytest.MonkeyPatch, loopback_tls: LoopbackTls) -> LoopbackTls:
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(loopback_tls.ca_path))
    return loopback_tls


@pytest.fixture
def box_destination(box_emulator: BoxEmulator, box_tls_env: LoopbackTls) -> DestinationFactory:
    def make(**kwargs: Any) -> BoxDestination:
        return make_destination(box_emulator, **kwargs)

    return make


@pytest.fixture(scope="session")
def jwt_key() -> JwtKey:
    return new_jwt_key()


@pytest.fixture
def box_subprocess_env(box_emulator: BoxEmulator, loopback_tls: LoopbackTls) -> dict[str, str]:
    """Environment for a daemon whose destination `box` is this emulator (CCG secret set)."""
    env = box_emulator.client_environment(loopback_tls.ca_path)
    env["PICSYNC_DESTINATIONS__BOX__CLIENT_SECRET"] = box_emulator.client_secret
    return env
