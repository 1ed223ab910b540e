"""Pure intake rules: which names a source takes and when a file is settled."""

from __future__ import annotations

import pytest

from picsync.config.models import DEFAULT_INCLUDE
from picsync.intake import Selection, first_sight, is_ignored_name, is_settled, observe
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
