"""Pure: which files a source takes, and when a file has been quiet long enough.

Temp and partial names are ignored outright (specs/watching.md §6); ``include`` patterns narrow
what a source takes and ``exclude`` patterns (gitignore syntax) drop more. A file is settled when
its signature has not changed for the quiet time; the quiet time is short after the writer was
seen closing the file and longer when it was not (polled shares, files found by a scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pathspec

from picsync.model import Signature

_IGNORED_PREFIXES = (".", "~$", "~lock.")
_IGNORED_SUFFIXES = (
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".filepart",
    ".tmp",
    ".temp",
    ".!ut",
    "~",
)
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", ".apdisk", ".ds_store"})
_IGNORED_DIRS = frozenset(
    {"@eadir", "#recycle", ".recycle", "$recycle.bin", ".snapshot", "lost+found"}
)


def is_ignored_name(name: str) -> bool:
    """Temp, partial, hidden and system files that are never a finished image."""
    lower = name.lower()
    return (
        lower in _IGNORED_NAMES
        or lower.startswith(_IGNORED_PREFIXES)
        or lower.endswith(_IGNORED_SUFFIXES)
    )


def is_ignored_dir(name: str) -> bool:
    lower = name.lower()
    return lower in _IGNORED_DIRS or lower.startswith((".", ".trash-"))


class Selection:
    """A source's include and exclude patterns over paths relative to its root."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str]) -> None:
        # Patterns match case-insensitively: cameras write IMG_0001.JPG, scanners scan.pdf.
        self._include = pathspec.GitIgnoreSpec.from_lines(p.lower() for p in include)
        self._exclude = pathspec.GitIgnoreSpec.from_lines(p.lower() for p in exclude)

    def takes(self, rel_path: str) -> bool:
        parts = rel_path.split("/")
        if any(is_ignored_dir(p) for p in parts[:-1]) or is_ignored_name(parts[-1]):
            return False
        lower = rel_path.lower()
        return self._include.match_file(lower) and not self._exclude.match_file(lower)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file seen but not yet taken: what we saw, and since when it has looked the same."""

    first_seen: float
    signature: Signature | None
    stable_since: float
    saw_closed: bool
    next_check: float = 0.0  # when to look at the content again after an incomplete check


def first_sight(now: float, saw_closed: bool) -> Candidate:
    return Candidate(first_seen=now, signature=None, stable_since=now, saw_closed=saw_closed)


def observe(candidate: Candidate, signature: Signature, now: float, age: float) -> Candidate:
    """Fold in a fresh stat. ``age`` is how long ago the file last changed (from its ctime):
    a file found by a scan that nobody has touched for an hour need not wait out the quiet time.
    """
    if signature != candidate.signature:
        return replace(candidate, signature=signature, stable_since=now - max(0.0, age))
    return candidate


def is_settled(
    candidate: Candidate, now: float, quiet_closed: float, quiet_unclosed: float
) -> bool:
    if candidate.signature is None:
        return False
    quiet = quiet_closed if candidate.saw_closed else quiet_unclosed
    return now - candidate.stable_since >= quiet
