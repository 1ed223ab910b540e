"""Small durable-filesystem helpers shared by the modules that rename files into place."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make renames and unlinks in ``folder`` durable (a rename is only safe once its folder is
    synced: until then a power cut may undo it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
