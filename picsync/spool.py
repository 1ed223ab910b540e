"""The spool: payloads waiting for upload, each written to ``.part``, fsynced, then renamed.

A name without ``.part`` is always a complete file. Whatever the ledger does not reference
(a crash between rename and the ledger commit, or after delivery) is removed at start-up.
A failure to write the spool itself (a full or read-only disk) is a ``SpoolError``, so that
nothing downstream mistakes it for a problem with the photo being written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from picsync.crypto import DecryptingReader, Identity
from picsync.errors import SpoolError, describe_os_error
from picsync.fsutil import fsync_dir

_PART = ".part"


@dataclass(slots=True)
class SpoolWrite:
    """An open spool file being written; ``sha256``/``size`` describe its bytes once closed."""

    name: str
    file: BinaryIO
    sha256: str = ""
    size: int = 0


class _HashingFile:
    """Write-through to the spool file, hashing the exact bytes that will be uploaded."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        with _spool_errors():
            return self._file.write(data)

    def flush(self) -> None:
        with _spool_errors():
            self._file.flush()


@contextmanager
def _spool_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise SpoolError(f"cannot write the spool: {describe_os_error(exc)}") from exc


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / name

    @contextmanager
    def writing(self, name: str) -> Iterator[SpoolWrite]:
        """Yield a writer for ``name``; on a clean exit the file is durable under that name."""
        part = self.folder / (name + _PART)
        with _spool_errors():
            raw = open(part, "xb")  # noqa: SIM115 - closed below, on every path
        hashing = _HashingFile(raw)
        handle = SpoolWrite(name=name, file=hashing)  # type: ignore[arg-type]
        try:
            yield handle
            with _spool_errors():
                raw.flush()
                os.fsync(raw.fileno())
                raw.close()
        except BaseException:
            with suppress(OSError):  # closing flushes again, and fails again on a full disk
                raw.close()
            part.unlink(missing_ok=True)
            raise
        with _spool_errors():
            part.replace(self.folder / name)
        handle.sha256 = hashing.digest.hexdigest()
        handle.size = hashing.size

    def sync(self) -> None:
        """Make the renames durable (one directory fsync for a batch of writes)."""
        with _spool_errors():
            fsync_dir(self.folder)

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            (self.folder / name).unlink(missing_ok=True)

    def clean(self, keep: set[str]) -> int:
        """Delete partial files and files the ledger no longer needs; returns how many."""
        removed = 0
        for entry in os.scandir(self.folder):
            if entry.name not in keep and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed


@dataclass(frozen=True, slots=True)
class SpoolFile:
    """A spool file uploaded as it is (ciphertext for the records office)."""

    path: Path
    size: int

    def open(self) -> BinaryIO:
        return open(self.path, "rb")


@dataclass(frozen=True, slots=True)
class DecryptedSpoolFile:
    """A spool file sealed to the station's own key, decrypted while it is read, for a
    destination that receives plaintext by exception (``encryption: none``). The plaintext
    goes from memory to the network; it is never written to disk here."""

    path: Path
    size: int  # of the plaintext
    identities: tuple[Identity, ...]

    def open(self) -> BinaryIO:
        handle = open(self.path, "rb")  # noqa: SIM115 - closed by the returned reader
        return cast(BinaryIO, _ClosingReader(DecryptingReader(handle, self.identities), handle))


class _ClosingReader:
    """A decrypting reader that closes its spool file with it (usable in ``with``)."""

    def __init__(self, reader: DecryptingReader, handle: BinaryIO) -> None:
        self._reader = reader
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _ClosingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
