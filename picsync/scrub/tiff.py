"""Pure: TIFF and DNG de-identification by directory rebuild; image data is copied, never decoded.

deid.md §2.4. Every output directory is rebuilt from an allowlist (``tiff_tags``): image structure,
resolution, orientation, colour (ICC sanitised), and for DNG the raw-processing tags. Everything
else goes, on every page: text tags, Exif/GPS/Interop directories, XMP, IPTC, Photoshop blocks,
MakerNotes, serial numbers, thumbnails, previews and other secondary images (``tiff_pages``).

Steps, all before the first byte reaches ``dst`` except the last:

1. read the directory tree with bounds-checked reads (``tiff_read``), refuse proprietary raw;
2. rebuild each kept page's directory and list its strips or tiles (``tiff_build``), read every
   dropped value for the verifier and the capture time (``tiff_meta``);
3. survey the image data: exact lengths, Deflate streams inflated, JPEG strips filtered
   (``tiff_data``);
4. lay out a fresh, compact file: header, directories and their values, then the image data,
   all on even offsets; same byte order and flavour (classic or BigTIFF) as the input;
5. parse the generated directories back and scan them for identifying values (``tiff_verify``);
6. write the directories, then stream the image data from ``src`` in 1 MiB pieces.

On ``RefusedError`` the bytes already written to ``dst`` must be discarded.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import BinaryIO

from picsync.errors import RefusedError
from picsync.scrub import tiff_data
from picsync.scrub.report import ScrubOptions, ScrubReport
from picsync.scrub.tiff_build import OutPage, build_page, keepable
from picsync.scrub.tiff_meta import DroppedMetadata
from picsync.scrub.tiff_pages import Document, inherited_entries, read_document
from picsync.scrub.tiff_read import ASCII, Layout, TiffFile
from picsync.scrub.tiff_tags import (
    DATE_TIME_ORIGINAL,
    EXIF_IFD,
    IMAGE_TAGS,
    JPEG_INTERCHANGE,
    JPEG_INTERCHANGE_LENGTH,
)
from picsync.scrub.tiff_verify import verify_output
from picsync.scrub.tiff_write import OutEntry, OutIfd, serialize

__all__ = ["scrub"]

_CLASSIC_LIMIT = (1 << 32) - 1


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified TIFF (or DNG) to ``dst``; raise ``RefusedError`` if it cannot be."""
    tiff = TiffFile(src)
    document = read_document(tiff)
    pages = [
        build_page(tiff, inherited_entries(image, ifd0), document.is_dng)
        for image, ifd0 in document.images
    ]
    dropped = _dropped_metadata(tiff, document, pages)  # reads Exif, GPS, Interop too
    tiff_data.refuse_overlaps(tiff.structure, [page.data for page in pages])
    surveyed = hashlib.blake2b()
    for page in pages:
        tiff_data.survey(src, page.data, surveyed)

    capture_time = dropped.best_capture_time()
    exif = _capture_date_ifd(capture_time) if options.keep_capture_date else None
    metadata, ifds, total = _lay_out(tiff.layout, pages, exif)
    needles = dropped.needles.union(*(page.needles for page in pages))
    verify_output(metadata, total, tiff.layout, ifds, needles)  # before anything reaches dst

    written = _Counter(dst)
    written.write(metadata + bytes(len(metadata) % 2))
    copied = hashlib.blake2b()
    for page in pages:
        tiff_data.copy(src, page.data, written.write, copied)
    if copied.digest() != surveyed.digest() or written.count != total:
        raise RefusedError("TIFF changed while it was being de-identified")

    removed = [name for _, name in document.dropped] + dropped.removed
    removed += [name for page in pages for name in (*page.removed, *page.data.removed)]
    return ScrubReport(
        format="tiff", removed=tuple(dict.fromkeys(removed)), capture_time=capture_time
    )


def _dropped_metadata(tiff: TiffFile, document: Document, pages: list[OutPage]) -> DroppedMetadata:
    """Every value the rebuild left behind, from every directory the file has."""
    dropped = DroppedMetadata(tiff)
    structure = keepable(document.is_dng) | IMAGE_TAGS
    seen: set[int] = set()
    for (image, ifd0), page in zip(document.images, pages, strict=True):
        kept = page.kept_tags | set(page.data_tags)
        for directory in (image, ifd0):
            if directory is not None and id(directory) not in seen:
                seen.add(id(directory))
                dropped.add_directory(directory.entries, kept, structure)
    for directory, _ in document.dropped:
        if id(directory) not in seen:
            seen.add(id(directory))
            dropped.add_directory(directory.entries, frozenset(), None)
    return dropped


def _capture_date_ifd(capture_time: str | None) -> OutIfd | None:
    """An Exif directory holding only the capture date, time of day blank (deid.md rule 6)."""
    if capture_time is None:
        return None
    day = date.fromisoformat(capture_time[:10])
    stamp = day.strftime("%Y:%m:%d").encode("ascii") + b"   :  :  \x00"
    return OutIfd([OutEntry(DATE_TIME_ORIGINAL, ASCII, len(stamp), stamp)])


def _lay_out(
    layout: Layout, pages: list[OutPage], exif: OutIfd | None
) -> tuple[bytes, list[OutIfd], int]:
    """The header and directories, the directories as planned, and the output's total size."""

    def directories(tables: list[tuple[list[int], list[int]]]) -> list[OutIfd]:
        ifds = []
        for index, (page, (starts, lengths)) in enumerate(zip(pages, tables, strict=True)):
            offsets_tag, counts_tag = page.data_tags
            entries = [
                *page.ifd.entries,
                OutEntry(offsets_tag, layout.offset_type, len(starts), _pack(layout, starts)),
                OutEntry(counts_tag, layout.offset_type, len(lengths), _pack(layout, lengths)),
            ]
            if page.data.interchange:  # old-style JPEG names its one stream twice
                entries += [
                    OutEntry(JPEG_INTERCHANGE, layout.offset_type, 1, _pack(layout, starts)),
                    OutEntry(
                        JPEG_INTERCHANGE_LENGTH, layout.offset_type, 1, _pack(layout, lengths)
                    ),
                ]
            children = {EXIF_IFD: exif} if exif is not None and index == 0 else {}
            ifds.append(OutIfd(sorted(entries, key=lambda entry: entry.tag), children))
        return ifds

    lengths = [[block.out_length for block in page.data.blocks] for page in pages]
    draft = serialize(layout, directories([([0] * len(sizes), sizes) for sizes in lengths]))
    position = len(draft) + len(draft) % 2
    tables = []
    for sizes in lengths:
        starts = []
        for size in sizes:
            starts.append(position)
            position += size + size % 2
        tables.append((starts, sizes))
    if not layout.big and position > _CLASSIC_LIMIT:
        raise RefusedError("de-identified TIFF would exceed 4 GiB (classic TIFF limit)")
    ifds = directories(tables)
    metadata = serialize(layout, ifds)
    if len(metadata) != len(draft):
        raise RefusedError("TIFF rebuild is inconsistent")
    return metadata, ifds, position


def _pack(layout: Layout, values: list[int]) -> bytes:
    return layout.pack_uints(layout.offset_type, values)


class _Counter:
    """Counts what is written to ``dst`` (which must not be read or seeked)."""

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self.count = 0

    def write(self, data: bytes) -> object:
        self.count += len(data)
        return self._dst.write(data)
