"""The state directory: its layout, the one-daemon lock, and the local hash key."""

from __future__ import annotations

import fcntl
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from picsync.crypto import Identity, generate_identity, identity_file_text, parse_identities
from picsync.errors import LockedError, describe_os_error

LEDGER_NAME = "ledger.sqlite3"
SPOOL_NAME = "spool"
LOCK_NAME = "picsync.lock"
HASH_KEY_NAME = "hash.key"


@dataclass(frozen=True, slots=True)
class StateDir:
    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER_NAME

    @property
    def spool(self) -> Path:
        return self.root / SPOOL_NAME

    def create(self) -> None:
        """Make the folders, private to picsync's user (they hold ciphertext and the ledger)."""
        for folder in (self.root, self.spool):
            folder.mkdir(mode=0o700, exist_ok=True)


class DaemonLock:
    """An exclusive ``flock`` on the state directory, held for the daemon's lifetime.

    The kernel drops the lock when the process dies, even by SIGKILL, so a crash never leaves a
    stale lock behind.
    """

    def __init__(self, state: StateDir) -> None:
        self._path = state.root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another picsync (pid {holder}) is already running on state directory "
                f"{self._path.parent}; stop it first, or give this one its own state_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def load_or_create_hash_key(state: StateDir) -> bytes:
    """The local key for path hashes, made on first run (mode 0600)."""
    path = state.root / HASH_KEY_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LockedError(f"cannot read the hash key: {describe_os_error(exc)}") from None
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    return path.read_bytes()


STATION_KEY_NAME = "station-spool-key.txt"


def load_or_create_station_identity(state: StateDir) -> Identity:
    """The station's own age identity, used only for spool copies bound for destinations that
    take plaintext by exception (``encryption: none``). Made on first use, mode 0600."""
    path = state.root / STATION_KEY_NAME
    try:
        return parse_identities(path.read_text(encoding="utf-8"))[0]
    except FileNotFoundError:
        pass
    identity = generate_identity()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, identity_file_text(identity).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    return identity
