"""Pure: what a PNG's metadata chunks say; the iCCP and eXIf picsync writes back. Stdlib only.

The policy half of the PNG allowlist (deid.md §2.3); ``png`` walks the chunks and hands each
metadata chunk here. iCCP: profile sanitised, name replaced by "ICC profile". eXIf, and
ImageMagick's "Raw profile type exif" text: read for orientation and capture time, dropped.
tEXt/zTXt/iTXt (XMP included) and unknown ancillary chunks: read for needles, dropped. Every
value read becomes a needle for the verifier; what Pillow would display with is tracked exactly.
"""

from __future__ import annotations

import zlib
from datetime import date

from picsync.errors import RefusedError
from picsync.scrub.exif import ExifInfo, XmpInfo, build_minimal_exif, read_exif, read_xmp
from picsync.scrub.icc import STANDARD_DESCRIPTIONS, sanitise_icc
from picsync.scrub.report import ScrubOptions
from picsync.scrub.verify import markup_values, text_needles

__all__ = ["ICC_NAME", "METADATA_LIMIT", "PngMetadata", "inflate"]

ICC_NAME = b"ICC profile"
METADATA_LIMIT = 16 << 20  # largest metadata chunk read (and inflated) into memory


class PngMetadata:
    """Values read from metadata chunks, what was dropped, and needles for the verifier."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        self.needles: set[bytes] = set()
        self.exif: ExifInfo | None = None  # from eXIf
        self.raw_exif: ExifInfo | None = None  # from a "Raw profile type exif" text chunk
        self.xmp: XmpInfo | None = None

    def add_exif(self, data: bytes | None) -> None:
        self.removed.append("eXIf")
        if data is None:
            raise RefusedError("PNG eXIf chunk is too large")
        self.exif = read_exif(data[6:] if data.startswith(b"Exif\x00\x00") else data)
        self._take_exif(self.exif)

    def add_text(self, kind: bytes, data: bytes | None) -> None:
        """tEXt, zTXt or iTXt: dropped; XMP and raw-profile EXIF are read for orientation."""
        self.removed.append(kind.decode())
        if data is None:
            return  # too large to read; dropped unread
        keyword, _, rest = data.partition(b"\x00")
        if kind == b"tEXt":
            text = rest
        elif kind == b"zTXt":
            text = inflate(rest[1:], None)
        else:  # iTXt: compression flag, method, language, translated keyword, text
            flag = rest[:1] == b"\x01"
            _, _, tail = rest[2:].partition(b"\x00")
            translated, _, text = tail.partition(b"\x00")
            self.needles.add(translated)
            text = inflate(text, None) if flag else text
        if keyword == b"XML:com.adobe.xmp":
            self.xmp = read_xmp(text)  # Pillow reads the last XMP text chunk
            self.needles |= markup_values(text)
        elif keyword == b"Raw profile type exif":
            self._add_raw_exif(text)
        else:
            self.needles.add(text.strip()[:256])
            self.needles |= text_needles(text)

    def add_other(self, kind: bytes, data: bytes | None) -> None:
        """An ancillary chunk outside the allowlist (tIME, private chunks, ...): dropped."""
        self.removed.append(
            f"private chunk {kind.decode()}" if kind[1:2].islower() else kind.decode()
        )
        if data is not None:
            self.needles |= text_needles(data)

    def icc_chunk_data(self, data: bytes | None) -> bytes:
        """The iCCP data to write: sanitised profile under the neutral name."""
        name, _, rest = (data or b"").partition(b"\x00")
        if data is None or not rest or rest[0] != 0:
            raise RefusedError("PNG iCCP chunk is malformed")
        profile = inflate(rest[1:], "PNG iCCP profile")
        clean = sanitise_icc(profile)
        if clean != profile:
            self.removed.append("ICC profile text")
        if name != ICC_NAME:
            self.removed.append("iCCP name")
            if name.decode("latin-1") not in STANDARD_DESCRIPTIONS:
                self.needles.add(name)  # free text; a standard name may recur in the profile
        return ICC_NAME + b"\x00\x00" + zlib.compress(clean, 9)

    def orientation(self) -> int:
        """What Pillow displays with: eXIf, else the raw-profile EXIF, then XMP if no tag."""
        exif = self.exif or self.raw_exif
        value = exif.orientation if exif else None
        if value is None and self.xmp is not None:
            value = self.xmp.orientation
        return value if value is not None and 2 <= value <= 8 else 1

    def capture_time(self) -> str | None:
        for source in (self.exif, self.raw_exif, self.xmp):
            if source is not None and source.capture_time:
                return source.capture_time
        return None

    def kept_date(self, options: ScrubOptions) -> date | None:
        kept_time = self.capture_time() if options.keep_capture_date else None
        return date.fromisoformat(kept_time[:10]) if kept_time else None

    def minimal_exif(self, options: ScrubOptions) -> bytes | None:
        """The eXIf data to write, or None when there is nothing to keep (orientation 1)."""
        orientation, capture_date = self.orientation(), self.kept_date(options)
        if orientation == 1 and capture_date is None:
            return None
        expected = orientation if orientation != 1 else None
        exif = build_minimal_exif(expected, None, capture_date)
        if read_exif(exif).orientation != expected:
            raise RefusedError("rebuilt EXIF does not read back as written")
        return exif

    def _take_exif(self, info: ExifInfo) -> None:
        self.removed.extend(info.sections)
        self.needles |= info.identifying
        if info.thumbnail is not None:
            self.needles |= text_needles(info.thumbnail)

    def _add_raw_exif(self, text: bytes) -> None:
        """ImageMagick's hex EXIF; Pillow reads orientation from it when there is no eXIf."""
        try:
            raw = bytes.fromhex(b"".join(text.split(b"\n")[3:]).decode("ascii"))
            info = read_exif(raw[6:] if raw.startswith(b"Exif\x00\x00") else raw)
        except (ValueError, RefusedError):
            self.needles |= text_needles(text)
            return
        self.raw_exif = info
        self._take_exif(info)


def inflate(data: bytes, what: str | None) -> bytes:
    """zlib-inflate at most ``METADATA_LIMIT`` bytes; refuse (or, if ``what`` is None, return
    what was inflated) when the stream is damaged or larger."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, METADATA_LIMIT)
    except zlib.error:
        out, complete = b"", False
    else:
        complete = inflater.eof and not inflater.unconsumed_tail
    if not complete and what is not None:
        raise RefusedError(f"{what} is not a complete zlib stream within the size limit")
    return out
