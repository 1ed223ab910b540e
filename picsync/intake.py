"""Pure: which files a source takes, and when a file has been quiet long enough.

Temp and partial names are ignored outright (specs/watching.md §6); ``include`` patterns narrow
what a source takes and ``exclude`` patterns (gitignore syntax) drop more. A file is settled when
its signature has not changed for the quiet time; the quiet time is short after the writer was
seen closing the file and longer when it was not (polled shares, files found by a scan).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
        self._include = _matcher([p.lower() for p in include])
        self._exclude = _matcher([p.lower() for p in exclude])

    def takes(self, rel_path: str) -> bool:
        folder, _, name = rel_path.rpartition("/")
        if is_ignored_name(name):
            return False
        if folder and any(is_ignored_dir(part) for part in folder.split("/")):
            return False
        lower = rel_path.lower()
        return self._include(lower) and not self._exclude(lower)


# "*.jpg" and the like: a name pattern with one wildcard and a plain extension.
_SUFFIX_PATTERN = re.compile(r"\*(\.[a-z0-9_]+)")


def _matcher(patterns: list[str]) -> Callable[[str], bool]:
    """Gitignore matching of lowercased paths; suffix tests when every pattern is like "*.jpg".

    A catch-up scan matches every file of a source; pathspec's regexes cost more than the walk.
    The suffix tests give pathspec's answers (tests/test_intake.py compares them on many paths).
    """
    suffixes = [_SUFFIX_PATTERN.fullmatch(p) for p in patterns]
    if not all(suffixes):
        return pathspec.GitIgnoreSpec.from_lines(patterns).match_file
    names = tuple(m.group(1) for m in suffixes if m is not None)
    # Without a slash, "*.jpg" matches at any depth, and so do folders it matches ("a.jpg/" and
    # everything in them): a suffix at the end of the path or right before a slash.
    folders = re.compile("|".join(re.escape(f"{n}/") for n in names)) if names else None

    def match(lower: str) -> bool:
        return lower.endswith(names) or (
            folders is not None and "/" in lower and folders.search(lower) is not None
        )

    return match


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file seen but not yet taken: what we saw, and since when it has looked the same."""

    first_seen: float
    signature: Signature | None
    stable_since: float
    saw_closed: bool
    next_check: float = 0.0  # when to look at the content again after an incomplete check
    path_key: str = ""  # the keyed path hash, when a scan already computed it ("" if not)


def first_sight(now: float, saw_closed: bool, path_key: str = "") -> Candidate:
    return Candidate(now, None, now, saw_closed, path_key=path_key)


def observe(candidate: Candidate, signature: Signature, now: float, age: float) -> Candidate:
    """Fold in a fresh stat. ``age`` is how long ago the file last changed (from its ctime):
    a file found by a scan that nobody has touched for an hour need not wait out the quiet time.
    """
    if signature == candidate.signature:
        return candidate
    # Built directly: dataclasses.replace() costs several times more, once per file in a catch-up.
    return Candidate(
        candidate.first_seen,
        signature,
        now - max(0.0, age),
        candidate.saw_closed,
        candidate.next_check,
        candidate.path_key,
    )


def is_settled(
    candidate: Candidate, now: float, quiet_closed: float, quiet_unclosed: float
) -> bool:
    if candidate.signature is None:
        return False
    quiet = quiet_closed if candidate.saw_closed else quiet_unclosed
    return now - candidate.stable_since >= quiet
