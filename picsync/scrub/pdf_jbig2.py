"""Pure: check that a PDF's JBIG2 image data holds pixels only. Stdlib only.

Scanners store black-and-white pages as JBIG2 (PDF /JBIG2Decode, embedded stream organisation:
segment headers and data, no file header; shared symbols in a /JBIG2Globals stream). Every
segment type codes pixels except the extension segment (type 62), which carries comments and
vendor data. picsync does not rewrite JBIG2: a stream with an extension segment, a segment type
the standard does not define, or a header that does not parse is refused.
"""

from __future__ import annotations

from picsync.errors import RefusedError

__all__ = ["check_jbig2"]

# ITU-T T.88 7.3: symbol dictionary, text, pattern, halftone, generic, refinement regions, page
# information, end of page/stripe/file, profiles, tables. 62 (extension) is the one left out.
_PIXEL_SEGMENTS = frozenset(
    {0, 4, 6, 7, 16, 20, 22, 23, 36, 38, 39, 40, 42, 43, 48, 49, 50, 51, 52, 53}
)
_UNKNOWN_LENGTH = 0xFFFFFFFF
_MAX_SEGMENTS = 1_000_000


def check_jbig2(data: bytes) -> None:
    """Raise ``RefusedError`` unless ``data`` is a sequence of pixel-coding JBIG2 segments."""
    reader = _Reader(data)
    for _ in range(_MAX_SEGMENTS):
        if reader.pos == len(data):
            return
        number = reader.number(4)
        flags = reader.number(1)
        if flags & 0x3F not in _PIXEL_SEGMENTS:
            raise RefusedError("JBIG2 image holds an extension or unknown segment")
        referred = reader.number(1)
        count = referred >> 5
        if count == 7:  # long form: a 29-bit count, then one retention bit per segment (+1)
            reader.pos -= 1
            count = reader.number(4) & 0x1FFFFFFF
            reader.skip((count + 8) // 8)
        elif count > 4:
            raise RefusedError("JBIG2 segment header is malformed")
        reader.skip(count * (1 if number <= 256 else 2 if number <= 65536 else 4))
        reader.skip(4 if flags & 0x40 else 1)  # page association
        length = reader.number(4)
        if length == _UNKNOWN_LENGTH:
            raise RefusedError("JBIG2 segment of unknown length is not supported")
        reader.skip(length)
    raise RefusedError("JBIG2 image has too many segments")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def number(self, size: int) -> int:
        self.skip(size)
        return int.from_bytes(self.data[self.pos - size : self.pos], "big")

    def skip(self, size: int) -> None:
        if self.pos + size > len(self.data):
            raise RefusedError("JBIG2 image is truncated")
        self.pos += size
