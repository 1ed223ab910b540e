"""Folder destination: a local disk or a mounted NAS share.

Writes go to a hidden temp name in the target folder, are fsynced, renamed into place and the
folder fsynced, so a crash never leaves a partial file under a real name. The same bytes at the
same path are a no-op; different bytes at an existing path are refused, never overwritten.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from picsync.errors import (
    BlockedError,
    PermanentError,
    TransientError,
    describe_os_error,
)
from picsync.fsutil import fsync_dir
from picsync.model import RemoteFile

if TYPE_CHECKING:
    from picsync.destinations import DestinationContext, PayloadSource, ResumeState

_CHUNK = 1 << 20
_BLOCKING_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


class FolderDestination:
    def __init__(self, name: str, root: Path, region: str = "onprem") -> None:
        self.name = name
        self.region = region
        self.root = root
        # The device the folder lives on now; if it changes, the share was unmounted and writing
        # would fill the empty mount point on the local disk instead.
        self._device = root.stat().st_dev if root.exists() else None

    # ---- the protocol ------------------------------------------------------------------------

    def upload(
        self, remote_path: str, payload: PayloadSource, resume: ResumeState | None = None
    ) -> RemoteFile:
        target = self._target(remote_path)
        with _translate():
            self._check_mounted()
            existing = self._stat_target(target, remote_path)
            if existing is not None:
                if existing.fingerprint == self.fingerprint(payload):
                    return existing  # our earlier attempt landed
                raise PermanentError(
                    "a different file already exists at this remote path; refusing to overwrite"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            # One temp name per target: remote paths are unique per delivery and a delivery is
            # worked on by one worker at a time, so what is there is an interrupted attempt of
            # ours. (Removing it by name, not by globbing the folder: a month's folder may hold
            # 100,000 files, and a glob per upload made each upload O(folder).)
            tmp = target.parent / f".{target.name}.partial"
            tmp.unlink(missing_ok=True)
            try:
                _copy_synced(payload, tmp)  # the payload is read once (it may be rate-limited)
                tmp.replace(target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            fsync_dir(target.parent)
            # Re-read from the destination's disk: the fingerprint is of what it now holds.
            stored = self._stat_target(target, remote_path)
        if stored is None:
            raise TransientError("the file vanished right after it was written")
        return stored

    def stat(self, remote_path: str) -> RemoteFile | None:
        target = self._target(remote_path)
        with _translate():
            self._check_mounted()
            return self._stat_target(target, remote_path)

    def probe(self) -> str:
        with _translate():
            self._check_mounted()
            probe = self.root / f".picsync-probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"picsync")
            probe.unlink()
        return f"folder {self.root} is writable"

    def fingerprint(self, payload: PayloadSource) -> str:
        with payload.open() as stream:
            return _sha256_stream(stream)

    # ---- helpers -----------------------------------------------------------------------------

    def _target(self, remote_path: str) -> Path:
        parts = PurePosixPath(remote_path).parts
        if not parts or remote_path.startswith("/") or any(p in ("..", ".") for p in parts):
            raise PermanentError("remote path must be relative and stay inside the folder")
        return self.root.joinpath(*parts)

    def _check_mounted(self) -> None:
        try:
            device = self.root.stat().st_dev
        except FileNotFoundError:
            raise BlockedError(
                "the destination folder is missing (is the share mounted?)"
            ) from None
        if self._device is None:
            self._device = device
        elif device != self._device:
            raise BlockedError(
                "the destination folder is now on another device (was the share unmounted?)"
            )

    def _stat_target(self, target: Path, remote_path: str) -> RemoteFile | None:
        try:
            size = target.stat().st_size
        except FileNotFoundError:
            return None
        return RemoteFile(path=remote_path, size=size, fingerprint=_sha256_file(target))


def from_context(context: DestinationContext) -> FolderDestination:
    settings = context.settings
    return FolderDestination(context.name, Path(settings.path), settings.region)


@contextmanager
def _translate() -> Iterator[None]:
    """OS errors become picsync's: a full or read-only disk blocks, anything else is retried."""
    try:
        yield
    except OSError as exc:
        message = f"folder destination: {describe_os_error(exc)}"
        if exc.errno in _BLOCKING_ERRNOS:
            raise BlockedError(message) from exc
        raise TransientError(message) from exc


def _copy_synced(src: PayloadSource, dst: Path) -> None:
    with src.open() as fin, open(dst, "xb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256_stream(handle)


def _sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
