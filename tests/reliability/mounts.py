"""Small, size-limited tmpfs mounts for disk-full tests (root only; skipped otherwise)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(path: Path, size: str, mode: str = "0700") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. "8m") at ``path`` for the block; skip if refused."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, leave: int, name: str = "filler.bin") -> Path:
    """Fill the filesystem of ``folder`` until only about ``leave`` bytes are free."""
    import shutil

    free = shutil.disk_usage(folder).free
    filler = folder / name
    with open(filler, "wb") as handle:
        remaining = max(0, free - leave)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            step = min(remaining, len(block))
            try:
                handle.write(block[:step])
            except OSError:
                break
            remaining -= step
    return filler
