"""Open and stat source files safely: no symlinks, nothing outside the watched root."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from picsync.errors import RefusedError, SourceError, describe_os_error
from picsync.model import Signature


class VanishedError(SourceError):
    """The file is gone (deleted or moved away by someone else)."""


def signature_of(info: os.stat_result) -> Signature:
    return Signature(dev=info.st_dev, ino=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)


def open_source(root: Path, rel_path: str) -> tuple[BinaryIO, Signature]:
    """Open ``root/rel_path`` for reading without following symlinks out of ``root``."""
    path = root / rel_path
    try:
        real_parent = path.parent.resolve(strict=True)
    except FileNotFoundError:
        raise VanishedError("the file's folder no longer exists") from None
    except OSError as exc:
        raise SourceError(f"cannot reach the file: {describe_os_error(exc)}") from None
    if real_parent != root.resolve() and root.resolve() not in real_parent.parents:
        raise RefusedError("the file's folder leads outside the watched folder (a symlink)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VanishedError("the file no longer exists") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise RefusedError(
                "the file is a symbolic link; picsync takes regular files only"
            ) from None
        raise SourceError(f"cannot open the file: {describe_os_error(exc)}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise RefusedError("not a regular file")
    return os.fdopen(fd, "rb"), signature_of(info)


def current_signature(root: Path, rel_path: str) -> Signature | None:
    """The file's signature now, or None when it is gone."""
    try:
        return signature_of(os.lstat(root / rel_path))
    except FileNotFoundError:
        return None
