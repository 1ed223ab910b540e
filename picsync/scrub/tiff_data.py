"""Pure: a TIFF page's image data (strips or tiles): measure each piece, then copy it verbatim.

Pixels are never decoded into an image and never re-encoded (deid.md rule 2). Each strip or tile
is copied byte for byte in 1 MiB pieces, but only the bytes a decoder reads: slack after the
image data inside a strip could hold anything (an older image, a previous patient's scan), so

- uncompressed data is cut to exactly the bytes the image geometry needs;
- a Deflate stream is inflated (output discarded) to find where it ends and to prove it decodes
  to the number of bytes the geometry calls for; the copy stops at the end of the stream;
- JPEG-in-TIFF strips and tiles (and old-style JPEG streams) go through the JPEG allowlist
  (``jpeg.scrub``), which drops any APPn/COM segment and anything after EOI while copying the
  entropy-coded data verbatim;
- LZW, PackBits and CCITT fax data are copied as declared (a pure-Python decoder would take
  minutes on a large scan); only their bounds are checked.

Image data that overlaps a directory or a tag value is refused (``refuse_overlaps``): copied
verbatim, it would carry metadata past the allowlist.

``survey`` runs first and fixes every piece's output length (the directories, written before the
data, hold the offsets); ``copy`` then writes. Bytes that the survey read are hashed both times,
so a source that changes between the passes is refused rather than copied unchecked.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, cast

from picsync.errors import RefusedError
from picsync.scrub import jpeg
from picsync.scrub.report import ScrubOptions

__all__ = [
    "COMPRESSIONS",
    "Block",
    "Digest",
    "Geometry",
    "PageData",
    "copy",
    "refuse_overlaps",
    "survey",
]

_Write = Callable[[bytes], object]


class Digest(Protocol):
    """What ``survey`` and ``copy`` need of a hash (``hashlib.blake2b()`` has it)."""

    def update(self, data: bytes, /) -> None: ...


_CHUNK = 1 << 20
_NONE = 1
_DEFLATE = frozenset({8, 32946})  # Adobe Deflate, and the older PKZIP-style code
# JPEG-in-TIFF (TIFF Technote 2), DNG lossy JPEG, and old-style JPEG (TIFF 6.0 §22), which
# picsync accepts only as whole JPEG streams.
_JPEG = frozenset({6, 7, 34892})
_AS_DECLARED = frozenset({2, 3, 4, 5, 32773})  # CCITT RLE, G3, G4, LZW, PackBits
COMPRESSIONS = frozenset({_NONE} | _DEFLATE | _JPEG | _AS_DECLARED)


@dataclass(frozen=True, slots=True)
class Geometry:
    """How a page's decoded bytes are laid out: enough to size every strip or tile."""

    width: int
    height: int
    block_width: int  # tile width, or the image width for strips
    block_length: int  # tile length, or rows per strip (at most the height)
    tiled: bool
    sample_bits: tuple[int, ...]  # bits of each sample of a pixel
    planar: bool  # PlanarConfiguration 2: one plane per sample
    ycbcr: tuple[int, int] | None  # chroma subsampling of uncompressed YCbCr data

    @property
    def planes(self) -> int:
        return len(self.sample_bits) if self.planar else 1

    def blocks_per_plane(self) -> int:
        down = -(-self.height // self.block_length)
        return down * (-(-self.width // self.block_width) if self.tiled else 1)

    def block_count(self) -> int:
        return self.blocks_per_plane() * self.planes

    def sizes(self, index: int) -> tuple[int, int]:
        """Decoded bytes of block ``index``: exactly needed, and at most allowed (a last strip
        may be written full length)."""
        plane = index // self.blocks_per_plane()
        if self.tiled:
            full = self._bytes(self.block_width, self.block_length, plane)
            return full, full
        row = index % self.blocks_per_plane()
        rows = min(self.block_length, self.height - row * self.block_length)
        return self._bytes(self.width, rows, plane), self._bytes(
            self.width, self.block_length, plane
        )

    def _bytes(self, width: int, rows: int, plane: int) -> int:
        if self.ycbcr is not None and not self.planar:
            across, down = self.ycbcr
            units = -(-width // across) * -(-rows // down)
            return units * (across * down + 2) * self.sample_bits[0] // 8
        bits = self.sample_bits[plane] if self.planar else sum(self.sample_bits)
        return rows * ((width * bits + 7) // 8)


@dataclass(slots=True)
class Block:
    """One strip or tile: where it is in the source and how many bytes of it are written."""

    offset: int
    length: int  # as declared by the byte-count table
    out_length: int = 0


@dataclass(slots=True)
class PageData:
    """The image data of one output page."""

    compression: int
    geometry: Geometry
    blocks: list[Block] = field(default_factory=list)
    interchange: bool = False  # old-style JPEG: one stream, also named by JPEGInterchangeFormat
    removed: list[str] = field(default_factory=list)  # what the JPEG allowlist took out


def refuse_overlaps(structure: list[tuple[int, int]], pages: list[PageData]) -> None:
    """Refuse image data that overlaps a directory or a tag value: copied verbatim, it would
    carry that metadata (an ICC profile's text, an Exif block) into the output."""
    merged: list[list[int]] = []
    for start, end in sorted(structure):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    starts = [start for start, _ in merged]
    for page in pages:
        for block in page.blocks:
            index = bisect.bisect_left(starts, block.offset + block.length) - 1
            if index >= 0 and merged[index][1] > block.offset:
                raise RefusedError("TIFF image data overlaps its metadata")


def survey(src: BinaryIO, page: PageData, digest: Digest) -> None:
    """Fix each block's output length; hash the bytes read so ``copy`` can prove it saw the same."""
    for index, block in enumerate(page.blocks):
        if block.length == 0:
            raise RefusedError("TIFF has an empty strip or tile")
        if page.compression == _NONE:
            exact, _ = page.geometry.sizes(index)
            if block.length < exact:
                raise RefusedError("TIFF strip or tile is shorter than the image needs")
            block.out_length = exact
        elif page.compression in _DEFLATE:
            block.out_length = _survey_deflate(src, block, page.geometry.sizes(index), digest)
        elif page.compression in _JPEG:
            sink = _Sink(digest)
            removed = _scrub_jpeg(src, block, sink)
            page.removed.extend(f"JPEG data {name}" for name in removed)
            block.out_length = sink.count
        else:
            block.out_length = block.length


def copy(src: BinaryIO, page: PageData, write: _Write, digest: Digest) -> None:
    """Write every block's kept bytes, each followed by a pad byte to an even length."""
    for block in page.blocks:
        if page.compression in _JPEG:
            sink = _Sink(digest, write)
            _scrub_jpeg(src, block, sink)
            if sink.count != block.out_length:
                raise RefusedError("TIFF changed while it was being de-identified")
        else:
            _copy_range(src, block.offset, block.out_length, write, digest, page.compression)
        if block.out_length % 2:
            write(b"\x00")


def _copy_range(
    src: BinaryIO, offset: int, length: int, write: _Write, digest: Digest, compression: int
) -> None:
    src.seek(offset)
    left = length
    while left:
        piece = src.read(min(_CHUNK, left))
        if not piece:
            raise RefusedError("TIFF changed while it was being de-identified")
        if compression in _DEFLATE:
            digest.update(piece)
        write(piece)
        left -= len(piece)


def _survey_deflate(src: BinaryIO, block: Block, sizes: tuple[int, int], digest: Digest) -> int:
    """Bytes of the zlib stream at ``block``; refuse unless it ends and fills the block exactly."""
    exact, allowed = sizes
    inflater = zlib.decompressobj()
    inflated = consumed = 0
    src.seek(block.offset)
    left = block.length
    try:
        while not inflater.eof:
            piece = src.read(min(_CHUNK, left))
            if not piece:
                raise RefusedError("TIFF Deflate data does not end inside its strip or tile")
            left -= len(piece)
            data = piece
            while data and not inflater.eof:
                inflated += len(inflater.decompress(data, _CHUNK))
                if inflated > allowed:
                    raise RefusedError("TIFF Deflate data holds more than the image needs")
                data = inflater.unconsumed_tail
            used = len(piece) - len(inflater.unused_data)
            digest.update(piece[:used])
            consumed += used
    except zlib.error as exc:
        raise RefusedError("TIFF Deflate data is corrupt") from exc
    if inflated < exact:
        raise RefusedError("TIFF Deflate data holds less than the image needs")
    return consumed


def _scrub_jpeg(src: BinaryIO, block: Block, sink: _Sink) -> tuple[str, ...]:
    window = _Window(src, block.offset, block.length)
    try:
        return jpeg.scrub(cast(BinaryIO, window), cast(BinaryIO, sink), ScrubOptions()).removed
    except RefusedError as exc:
        raise RefusedError(f"TIFF JPEG strip or tile: {exc}") from exc


class _Window:
    """Forward reads of one byte range of ``src`` (the JPEG scrubber reads, never seeks)."""

    def __init__(self, src: BinaryIO, offset: int, length: int) -> None:
        self._src, self._pos, self._end = src, offset, offset + length

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._pos
        size = left if size < 0 else min(size, left)
        if size <= 0:
            return b""
        self._src.seek(self._pos)
        data = self._src.read(size)
        self._pos += len(data)
        return data


class _Sink:
    """Counts and hashes what the JPEG scrubber writes, and passes it on when told where."""

    def __init__(self, digest: Digest, write: _Write | None = None) -> None:
        self.count = 0
        self._digest, self._write = digest, write

    def write(self, data: bytes) -> int:
        self.count += len(data)
        self._digest.update(data)
        if self._write is not None:
            self._write(data)
        return len(data)
