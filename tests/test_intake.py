"""Pure intake rules: which names a source takes and when a file is settled."""

from __future__ import annotations

import pathspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picsync.config.models import DEFAULT_INCLUDE
from picsync.intake import (
    Selection,
    first_sight,
    is_ignored_dir,
    is_ignored_name,
    is_settled,
    observe,
)
from picsync.model import Signature


@pytest.mark.parametrize(
    "name",
    [
        ".IMG_0001.JPG.abc123",  # rsync temp
        "._IMG_0001.JPG",  # AppleDouble
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        "~$letter.docx",
        "scan.pdf.part",
        "scan.pdf.crdownload",
        "IMG_1.JPG.filepart",
        "photo.tmp",
        "photo.jpg~",
    ],
)
def test_temp_and_system_names_are_ignored(name: str) -> None:
    assert is_ignored_name(name)
    assert not Selection(["*"], []).takes(name)


def test_default_include_takes_images_case_insensitively() -> None:
    selection = Selection(DEFAULT_INCLUDE, [])
    for name in ("IMG_0001.JPG", "a/b/scan.PDF", "x.heic", "study/1.dcm", "p.tiff"):
        assert selection.takes(name), name
    for name in ("notes.txt", "clip.mp4", "a/@eaDir/IMG_1.jpg", "#recycle/x.jpg"):
        assert not selection.takes(name), name


def test_exclude_is_gitignore_style() -> None:
    selection = Selection(DEFAULT_INCLUDE, ["old/", "**/preview_*.jpg"])
    assert selection.takes("2026/IMG_1.jpg")
    assert not selection.takes("old/IMG_1.jpg")
    assert not selection.takes("deep/er/preview_1.jpg")


SIG = Signature(1, 2, 3, 4)


def test_settles_after_the_quiet_time() -> None:
    c = observe(first_sight(now=0.0, saw_closed=True), SIG, now=0.0, age=0.0)
    assert not is_settled(c, 1.9, quiet_closed=2.0, quiet_unclosed=10.0)
    assert is_settled(c, 2.0, quiet_closed=2.0, quiet_unclosed=10.0)


def test_a_change_restarts_the_quiet_time() -> None:
    c = observe(first_sight(0.0, saw_closed=False), SIG, now=0.0, age=0.0)
    c = observe(c, Signature(1, 2, 4, 5), now=8.0, age=0.0)
    assert not is_settled(c, 17.0, 2.0, 10.0)
    assert is_settled(c, 18.0, 2.0, 10.0)


def test_an_old_untouched_file_settles_at_once() -> None:
    c = observe(first_sight(100.0, saw_closed=False), SIG, now=100.0, age=3600.0)
    assert is_settled(c, 100.0, 2.0, 10.0)


def test_nothing_settles_before_its_first_stat() -> None:
    assert not is_settled(first_sight(0.0, True), 1e9, 0.0, 0.0)


# --- the suffix fast path gives pathspec's answers ---------------------------------------------


def reference_takes(include: list[str], exclude: list[str], rel_path: str) -> bool:
    """What Selection.takes answered when every pattern went through pathspec."""
    parts = rel_path.split("/")
    if any(is_ignored_dir(p) for p in parts[:-1]) or is_ignored_name(parts[-1]):
        return False
    lower = rel_path.lower()
    inc = pathspec.GitIgnoreSpec.from_lines(p.lower() for p in include)
    exc = pathspec.GitIgnoreSpec.from_lines(p.lower() for p in exclude)
    return inc.match_file(lower) and not exc.match_file(lower)


TRICKY_PATHS = [
    "IMG_0001.JPG",
    "a/b/scan.PDF",
    "notes.txt",
    "x.jpgx",
    "x.jpg.txt",
    "photo.JPEG",
    "album.jpg/notes.txt",  # a folder matched by "*.jpg": gitignore takes what is inside it
    "a/album.JPG/deep/notes.txt",
    "a/.jpg",
    ".jpg",
    "jpg",
    "a/jpg",
    "a..jpg",
    "a.jpg ",
    " a.jpg",
    "a\\.jpg",
    "a/b.tif/c.tiff",
    "@eaDir/x.jpg",
    "a/#recycle/x.jpg",
    "x.jpg~",
    "./a.jpg",
    "a//b.jpg",
]
SIMPLE = ["*.jpg", "*.JPEG", "*.tif", "*.tiff", "*.pdf", "*.dcm", "*.heic", "*.dng"]
NOT_SIMPLE = ["scans/", "**/preview_*.jpg", "!keep.jpg", "*.j?g", "# comment", "", "IMG_*"]


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        (list(DEFAULT_INCLUDE), []),
        (SIMPLE, ["*.tif"]),
        (SIMPLE, ["*.jpg", "*.pdf"]),
        (["*.jpg"], NOT_SIMPLE[:2]),
        ([*SIMPLE, "scans/"], []),
        (["*"], []),
        ([], []),
    ],
)
def test_selection_agrees_with_pathspec_on_tricky_paths(
    include: list[str], exclude: list[str]
) -> None:
    selection = Selection(include, exclude)
    for path in TRICKY_PATHS:
        assert selection.takes(path) == reference_takes(include, exclude, path), path


_SEGMENTS = st.sampled_from(
    [
        *("a", "IMG_1", "x.jpg", "y.JPG", "b.tiff", "c.tif", ".jpg", "jpg", "d.jpeg", "e.pdf.txt"),
        *("", ".", "..", "@eaDir", " ", "f.dcm", "g.jpg.part", "h.heic~", "i.JpEg", "j.pd"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(_SEGMENTS, min_size=1, max_size=5),
    tail=st.text(alphabet="aJ.pg/ *", max_size=6),
    include=st.lists(st.sampled_from(SIMPLE + NOT_SIMPLE), max_size=5),
    exclude=st.lists(st.sampled_from(SIMPLE + NOT_SIMPLE), max_size=3),
)
def test_selection_agrees_with_pathspec_on_generated_paths(
    parts: list[str], tail: str, include: list[str], exclude: list[str]
) -> None:
    path = "/".join(parts) + tail
    assert Selection(include, exclude).takes(path) == reference_takes(include, exclude, path)
