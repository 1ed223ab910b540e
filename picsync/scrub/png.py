"""Pure: PNG de-identification by chunk allowlist; image data is copied, never re-encoded.

deid.md §2.3. Kept: IHDR, PLTE, IDAT, IEND, tRNS, cHRM, gAMA, sBIT, sRGB, cICP, mDCV, cLLI,
pHYs, bKGD and APNG acTL/fcTL/fdAT, each with its length checked; the iCCP and the
Orientation-only eXIf (placed before the first IDAT) that ``png_meta`` rebuilds. Dropped:
tEXt/zTXt/iTXt, the original eXIf, tIME, every other chunk, bytes after IEND.

Two passes over the seekable source. The survey reads every chunk header and every metadata
chunk (checking CRCs) and plans the output, seeking over image data; nothing is written until
the survey has found the file complete and the generated chunks have passed ``ensure_clean``.
The copy pass streams IDAT/fdAT in 1 MiB pieces, checks their CRCs, and inflates each zlib
stream (output discarded) to prove it ends exactly where the image data ends and holds exactly
the bytes IHDR/fcTL call for: nothing can hide after the stream or after the last row. On
``RefusedError`` the bytes already written to ``dst`` must be discarded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from picsync.errors import RefusedError
from picsync.scrub.exif import exif_date_stamp
from picsync.scrub.png_meta import METADATA_LIMIT, PngMetadata
from picsync.scrub.report import ScrubOptions, ScrubReport
from picsync.scrub.verify import ensure_clean

__all__ = ["scrub"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = 1 << 20
_IMAGE_DATA = frozenset({b"IDAT", b"fdAT"})
_FIXED_SIZE = {
    kind.encode(): size
    for kind, size in dict(
        IHDR=13, cHRM=32, gAMA=4, sRGB=1, cICP=4, mDCV=24, cLLI=8, pHYs=9, acTL=8, fcTL=26, IEND=0
    ).items()
}
_COPIED = frozenset(_FIXED_SIZE) | {b"PLTE", b"tRNS", b"sBIT", b"bKGD"}
_ONCE = (_COPIED - {b"fcTL"}) | {b"iCCP", b"eXIf"}
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_SBIT_SIZE = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_BKGD_SIZE = {0: 2, 2: 6, 3: 1, 4: 2, 6: 6}
_TRNS_SIZE = {0: 2, 2: 6}
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


@dataclass(frozen=True, slots=True)
class _Header:
    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool

    def raw_size(self, width: int, height: int) -> int:
        """Bytes of filtered scanlines a ``width`` x ``height`` image of this kind inflates to."""
        bits = _CHANNELS[self.color_type] * self.bit_depth

        def rows(w: int, h: int) -> int:
            return h * (1 + (w * bits + 7) // 8) if w and h else 0

        if not self.interlaced:
            return rows(width, height)
        return sum(
            rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy)
            for x0, y0, dx, dy in _ADAM7
        )


@dataclass(frozen=True, slots=True)
class _Item:
    """One output chunk: ready bytes, or image data to stream from ``offset`` of the source."""

    kind: bytes
    chunk: bytes = b""
    offset: int = 0
    length: int = 0


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified PNG to ``dst``; raise ``RefusedError`` if that cannot be done."""
    survey = _Survey()
    survey.read(src)
    items = survey.plan(options)
    generated = b"".join(item.chunk for item in items if item.kind in (b"iCCP", b"eXIf"))
    kept_date = survey.meta.kept_date(options)
    deliberate = [exif_date_stamp(kept_date)] if kept_date else []
    ensure_clean(generated, survey.meta.needles, deliberate)  # before anything reaches dst
    assert survey.header is not None
    _copy(src, dst, items, survey.header)
    return ScrubReport(
        format="png",
        removed=tuple(dict.fromkeys(survey.meta.removed)),
        capture_time=survey.meta.capture_time(),
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class _Survey:
    """First pass: the whole chunk structure, every metadata chunk, and the output plan."""

    def __init__(self) -> None:
        self.header: _Header | None = None
        self.items: list[_Item] = []
        self.meta = PngMetadata()
        self._seen: set[bytes] = set()
        self._image_data = "before"  # before | inside | after the IDAT run

    def read(self, src: BinaryIO) -> None:
        size = src.seek(0, 2)
        src.seek(0)
        if src.read(8) != SIGNATURE:
            raise RefusedError("not a PNG (bad signature)")
        pos = 8
        while True:
            head = src.read(8)
            if len(head) < 8:
                raise RefusedError("PNG is truncated (it has no IEND chunk)")
            length, kind = struct.unpack(">I4s", head)
            if length > 0x7FFFFFFF or pos + 12 + length > size:
                raise RefusedError("PNG chunk runs past the end of the file")
            if not (kind.isalpha() and kind.isascii()):
                raise RefusedError("PNG has a chunk with an invalid type")
            self._check_order(kind)
            if kind in _IMAGE_DATA:
                self.items.append(_Item(kind, offset=pos + 8, length=length))
                src.seek(length + 4, 1)  # CRC checked while copying
            else:
                self._add(kind, _read_checked(src, kind, length))
            pos += 12 + length
            if kind == b"IEND":
                break
        if pos < size:
            self.meta.removed.append("trailer after IEND")
        if b"IDAT" not in self._seen:
            raise RefusedError("PNG has no image data")
        assert self.header is not None  # IHDR comes first or _check_order refused
        if self.header.color_type == 3 and b"PLTE" not in self._seen:
            raise RefusedError("PNG palette image has no palette")

    def _check_order(self, kind: bytes) -> None:
        if kind in _ONCE and kind in self._seen:
            raise RefusedError("PNG repeats a chunk that may occur only once")
        if (self.header is None) != (kind == b"IHDR"):
            raise RefusedError("PNG does not start with its IHDR chunk")
        if kind == b"IDAT":
            if self._image_data == "after":
                raise RefusedError("PNG image data is split by other chunks")
            self._image_data = "inside"
        elif self._image_data == "inside":
            self._image_data = "after"
        if kind == b"PLTE" and self._image_data != "before":
            raise RefusedError("PNG palette comes after the image data")
        if kind == b"fdAT" and b"fcTL" not in self._seen:
            raise RefusedError("PNG animation frame has no frame control chunk")
        self._seen.add(kind)

    def _add(self, kind: bytes, data: bytes | None) -> None:
        if kind in _COPIED:
            if data is None or not self._valid_size(kind, data):
                raise RefusedError(f"PNG {kind.decode()} chunk has the wrong length")
            if kind == b"IHDR":
                self.header = _parse_header(data)
            self.items.append(_Item(kind, _chunk(kind, data)))
        elif kind == b"iCCP":
            self.items.append(_Item(kind, _chunk(kind, self.meta.icc_chunk_data(data))))
        elif kind == b"eXIf":
            self.meta.add_exif(data)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            self.meta.add_text(kind, data)
        elif kind[0:1].isupper():
            raise RefusedError(f"PNG has an unknown critical chunk {kind.decode()}")
        else:
            self.meta.add_other(kind, data)

    def _valid_size(self, kind: bytes, data: bytes) -> bool:
        if kind in _FIXED_SIZE:
            return len(data) == _FIXED_SIZE[kind]
        color_type = self.header.color_type if self.header else -1
        if kind == b"PLTE":
            return color_type in (2, 3, 6) and len(data) % 3 == 0 and 3 <= len(data) <= 768
        if kind == b"tRNS":
            if color_type == 3:
                return 1 <= len(data) <= 256
            return len(data) == _TRNS_SIZE.get(color_type)
        if kind == b"sBIT":
            return len(data) == _SBIT_SIZE.get(color_type)
        return len(data) == _BKGD_SIZE.get(color_type)  # bKGD

    def plan(self, options: ScrubOptions) -> list[_Item]:
        """The output chunks, with a rebuilt eXIf before the first frame/image chunk."""
        exif = self.meta.minimal_exif(options)
        if exif is None:
            return self.items
        first = next(i for i, item in enumerate(self.items) if item.kind in (b"IDAT", b"fcTL"))
        return [*self.items[:first], _Item(b"eXIf", _chunk(b"eXIf", exif)), *self.items[first:]]


def _parse_header(data: bytes) -> _Header:
    width, height, depth, color_type, compression, filter_, interlace = struct.unpack(
        ">IIBBBBB", data
    )
    if not (0 < width <= 0x7FFFFFFF and 0 < height <= 0x7FFFFFFF):
        raise RefusedError("PNG has impossible dimensions")
    if depth not in _BIT_DEPTHS.get(color_type, ()) or compression or filter_ or interlace > 1:
        raise RefusedError("PNG header is malformed")
    return _Header(width, height, depth, color_type, interlace == 1)


def _read_checked(src: BinaryIO, kind: bytes, length: int) -> bytes | None:
    """A chunk's data after checking its CRC; None (data skipped) if it is too large to keep."""
    crc = zlib.crc32(kind)
    kept = bytearray() if length <= METADATA_LIMIT else None
    left = length
    while left:
        piece = src.read(min(left, _CHUNK))
        if not piece:
            raise RefusedError("PNG is truncated (it ends inside a chunk)")
        crc = zlib.crc32(piece, crc)
        if kept is not None:
            kept += piece
        left -= len(piece)
    if src.read(4) != struct.pack(">I", crc):
        raise RefusedError("PNG chunk fails its CRC check")
    return bytes(kept) if kept is not None else None


class _ZlibCheck:
    """Inflate one image's compressed data (output discarded) and prove it is exactly complete."""

    def __init__(self, expected: int) -> None:
        self._inflater = zlib.decompressobj()
        self._left = expected

    def feed(self, data: bytes) -> None:
        pending = data
        try:
            while pending:
                if self._inflater.eof:
                    raise RefusedError("PNG image data continues after its compressed stream")
                out = self._inflater.decompress(pending, min(4 * _CHUNK, self._left + 1))
                self._left -= len(out)
                if self._left < 0:
                    raise RefusedError("PNG image data holds more than the image needs")
                if self._inflater.unused_data:
                    raise RefusedError("PNG image data continues after its compressed stream")
                if not out and self._inflater.unconsumed_tail == pending:
                    raise RefusedError("PNG image data does not inflate")
                pending = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise RefusedError("PNG image data is not a valid zlib stream") from exc

    def finish(self) -> None:
        if not self._inflater.eof or self._left != 0:
            raise RefusedError("PNG image data does not hold exactly the image it declares")


def _copy(src: BinaryIO, dst: BinaryIO, items: list[_Item], header: _Header) -> None:
    """Second pass: write the plan, streaming and checking IDAT/fdAT as they go by."""
    dst.write(SIGNATURE)
    # The IDAT run is one zlib stream; so is each APNG frame's run of fdAT after its fcTL.
    check: _ZlibCheck | None = None
    frame: tuple[int, int] | None = None  # size from an fcTL whose fdAT have not started
    seen_idat = False
    for item in items:
        if item.kind == b"IDAT":
            if check is None:
                check = _ZlibCheck(header.raw_size(header.width, header.height))
            seen_idat = True
            _stream(src, dst, item, check)
            continue
        if item.kind == b"fdAT":
            if frame is not None:
                check, frame = _ZlibCheck(header.raw_size(*frame)), None
            if check is None or item.length < 4:
                raise RefusedError("PNG animation frame is malformed")
            _stream(src, dst, item, check, skip=4)
            continue
        if item.kind in (b"fcTL", b"IEND") and seen_idat:
            if frame is not None:
                raise RefusedError("PNG animation frame has no image data")
            if check is not None:
                check.finish()
                check = None
            if item.kind == b"fcTL":
                frame = struct.unpack_from(">II", item.chunk, 12)
        dst.write(item.chunk)


def _stream(src: BinaryIO, dst: BinaryIO, item: _Item, check: _ZlibCheck, skip: int = 0) -> None:
    """Copy one IDAT/fdAT chunk in bounded pieces, checking its CRC and feeding ``check``."""
    src.seek(item.offset)
    dst.write(struct.pack(">I", item.length) + item.kind)
    crc = zlib.crc32(item.kind)
    left = item.length
    while left:
        piece = src.read(min(left, _CHUNK))
        if not piece:
            raise RefusedError("PNG is truncated (it ends inside the image data)")
        crc = zlib.crc32(piece, crc)
        check.feed(piece[skip:])
        skip = max(0, skip - len(piece))
        dst.write(piece)
        left -= len(piece)
    stored = src.read(4)
    if stored != struct.pack(">I", crc):
        raise RefusedError("PNG chunk fails its CRC check")
    dst.write(stored)
