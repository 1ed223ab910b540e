"""Helpers for tests of the Box emulator and the Box destination (fixtures: box_fixtures.py).

- `sdk_client(emu, tls)`: a real `box_sdk_gen.BoxClient` (CCG as the service account) that
  trusts only the test CA; SDK retries kept but with tiny waits unless told otherwise.
- `make_destination(emu, ...)`: a picsync `BoxDestination` built the way the daemon builds it.
- `DictCache` / `MemorySlot`: in-memory KeyValueCache / ResumeState (the daemon's are rows).
- `new_jwt_key()` / `jwt_config_text(emu, key)`: an RSA key (passphrase-protected PEM) and the
  app configuration JSON Box's Developer Console would hand out for it.
- `shared_box_emulator()`: one plain-http emulator for the whole session, for factories that
  cannot take fixtures (the destination contract suite); each caller gets its own folder.
"""

from __future__ import annotations

import atexit
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from box_sdk_gen import (
    BoxCCGAuth,
    BoxClient,
    BoxNetworkClient,
    BoxRetryStrategy,
    CCGConfig,
    NetworkSession,
    RetryStrategy,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from picsync.config.destinations import BoxDestinationSettings
from picsync.destinations.box import BoxDestination
from picsync.destinations.box_client import connect

from .box import BoxEmulator
from .tls import LoopbackTls

BoxClientFactory = Callable[..., BoxClient]
DestinationFactory = Callable[..., BoxDestination]


class DictCache:
    """An in-memory KeyValueCache (the daemon's lives in the ledger)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self.values[key] = value

    def delete(self, key: str) -> None:
        with self._lock:
            self.values.pop(key, None)


class MemorySlot:
    """An in-memory ResumeState (the daemon's is a ledger row)."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.saves = 0

    def load(self) -> str | None:
        return self.state

    def save(self, state: str) -> None:
        self.state = state
        self.saves += 1

    def clear(self) -> None:
        self.state = None


def trusting_session(tls: LoopbackTls | None) -> requests.Session:
    """A requests session that trusts only the test CA (the environment's bundle ignored)."""
    session = requests.Session()
    if tls is not None:
        session.trust_env = False
        session.verify = str(tls.ca_path)
    return session


def sdk_client(
    emu: BoxEmulator,
    tls: LoopbackTls | None,
    *,
    retry_strategy: RetryStrategy | None = None,
    user_id: str | None = None,
    client_secret: str | None = None,
) -> BoxClient:
    config = CCGConfig(
        emu.client_id,
        client_secret or emu.client_secret,
        enterprise_id=None if user_id else emu.enterprise_id,
        user_id=user_id,
    )
    session = NetworkSession(
        base_urls=emu.base_urls(),
        network_client=BoxNetworkClient(requests_session=trusting_session(tls)),
        retry_strategy=retry_strategy or BoxRetryStrategy(retry_base_interval=0.01),
    )
    return BoxClient(auth=BoxCCGAuth(config), network_session=session)


def make_destination(
    emu: BoxEmulator,
    *,
    folder_id: str | None = None,
    cache: DictCache | None = None,
    secrets_: dict[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    **settings: Any,
) -> BoxDestination:
    """A BoxDestination built as the daemon builds it (settings + secrets + environment)."""
    fields: dict[str, Any] = {
        "type": "box",
        "region": "us",
        "auth": "ccg",
        "client_id": emu.client_id,
        "enterprise_id": emu.enterprise_id,
        "timeout": 10.0,
    }
    if "folder_path" not in settings:
        fields["folder_id"] = folder_id or emu.create_folder(f"Clinic-{secrets.token_hex(3)}")
    fields.update(settings)
    parsed = BoxDestinationSettings(**fields)
    given = {"client_secret": emu.client_secret} if secrets_ is None else secrets_
    connection = connect(parsed, given, "box", emu.client_environment())
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return BoxDestination(
        "box",
        parsed.region,
        connection,
        cache or DictCache(),
        folder_id=parsed.folder_id,
        folder_path=parsed.folder_path,
        chunked_threshold=parsed.chunked_threshold,
        **extra,
    )


# ---- JWT ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JwtKey:
    kid: str
    private_pem: str  # encrypted with `passphrase`, as the Developer Console hands it out
    passphrase: str
    public_pem: str


def new_jwt_key() -> JwtKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    passphrase = secrets.token_hex(8)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return JwtKey(secrets.token_hex(4), private_pem, passphrase, public_pem)


def jwt_config_text(emu: BoxEmulator, key: JwtKey, *, register: bool = True) -> str:
    """The app configuration JSON ("config.json") for `emu`'s app and `key`."""
    if register:
        emu.add_jwt_key(key.kid, key.public_pem)
    return json.dumps(
        {
            "boxAppSettings": {
                "clientID": emu.client_id,
                "clientSecret": emu.client_secret,
                "appAuth": {
                    "publicKeyID": key.kid,
                    "privateKey": key.private_pem,
                    "passphrase": key.passphrase,
                },
            },
            "enterpriseID": emu.enterprise_id,
        }
    )


# ---- one emulator for factories without fixtures -----------------------------------------

_shared: BoxEmulator | None = None
_shared_lock = threading.Lock()


def shared_box_emulator() -> BoxEmulator:
    """A process-wide plain-http emulator, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = BoxEmulator().start()
            atexit.register(_shared.stop)
        assert _shared.errors == [], f"the Box emulator raised: {_shared.errors!r}"
        return _shared
