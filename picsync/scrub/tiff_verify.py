"""Pure: prove the directories picsync generated for a TIFF say exactly what was planned.

deid.md rule 12, for TIFF: the generated header and directories (everything before the image data)
are parsed back with the same checked reader used on inputs, and must match the plan entry for
entry: the same tags in ascending order, each value byte-identical, every strip or tile inside the
image-data region, the chain ending after the last page. Then ``verify.ensure_clean`` scans those
bytes (and every zlib stream and base64 run in them) for the identifying values of the input.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from picsync.errors import RefusedError
from picsync.scrub.tiff_read import Layout, TiffFile
from picsync.scrub.tiff_tags import (
    STRIP_BYTE_COUNTS,
    STRIP_OFFSETS,
    TILE_BYTE_COUNTS,
    TILE_OFFSETS,
)
from picsync.scrub.tiff_write import OutIfd
from picsync.scrub.verify import ensure_clean

__all__ = ["verify_output"]

_FAILED = "de-identified TIFF failed verification"
_DATA_TABLES = ((STRIP_OFFSETS, STRIP_BYTE_COUNTS), (TILE_OFFSETS, TILE_BYTE_COUNTS))


def verify_output(
    metadata: bytes, total: int, layout: Layout, ifds: list[OutIfd], needles: Iterable[bytes]
) -> None:
    """Raise ``RefusedError`` unless ``metadata`` (the first bytes of a ``total``-byte output)
    parses back to exactly ``ifds`` and holds none of ``needles``."""
    try:
        out = TiffFile(io.BytesIO(metadata), size=total)
        if out.layout != layout:
            raise RefusedError(f"{_FAILED}: byte order or flavour changed")
        offset = out.first_ifd
        for expected in ifds:
            if offset == 0:
                raise RefusedError(f"{_FAILED}: a page is missing")
            offset = _check(out, offset, expected, data_start=len(metadata))
        if offset != 0:
            raise RefusedError(f"{_FAILED}: the page chain does not end")
    except RefusedError as exc:
        if str(exc).startswith(_FAILED):
            raise
        raise RefusedError(f"{_FAILED}: {exc}") from exc
    ensure_clean(metadata, needles)


def _check(out: TiffFile, offset: int, expected: OutIfd, data_start: int) -> int:
    entries, next_offset = out.ifd(offset)
    tags = [entry.tag for entry in entries]
    if tags != sorted(set(tags)):
        raise RefusedError(f"{_FAILED}: tags are not in ascending order")
    planned = {entry.tag: entry for entry in expected.entries}
    if set(tags) != set(planned) | set(expected.children):
        raise RefusedError(f"{_FAILED}: a directory holds other tags than planned")
    for entry in entries:
        child = expected.children.get(entry.tag)
        if child is not None:
            if _check(out, out.number(entry), child, data_start) != 0:
                raise RefusedError(f"{_FAILED}: a sub-directory is chained")
            continue
        want = planned[entry.tag]
        if (entry.type, entry.count) != (want.type, want.count):
            raise RefusedError(f"{_FAILED}: an entry changed type or count")
        if out.value(entry, len(want.value)) != want.value:
            raise RefusedError(f"{_FAILED}: an entry changed value")
    for offsets_tag, counts_tag in _DATA_TABLES:
        if offsets_tag in planned:
            by_tag = {entry.tag: entry for entry in entries}
            starts, lengths = out.uints(by_tag[offsets_tag]), out.uints(by_tag[counts_tag])
            for start, length in zip(starts, lengths, strict=True):
                if start < data_start or start + length > out.size:
                    raise RefusedError(f"{_FAILED}: image data lies outside its region")
    return next_offset
