"""Pure: what a JPEG's APPn/COM segments say, and the few APPn segments picsync writes back.

The policy half of the JPEG allowlist (deid.md §2.1); ``jpeg`` walks the file and hands every
APPn/COM segment before the first scan to ``AppSegments.add``. Kept: the first APP0 JFIF (its
thumbnail size forced to 0x0), APP14 Adobe (the 12 bytes libjpeg reads), APP2 ICC (sanitised,
re-chunked). Read, then dropped: EXIF (orientation, capture time, resolution), XMP (orientation
when EXIF has none). Dropped: everything else. Every value read on the way becomes a needle for
the verifier. Stdlib only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import date

from picsync.errors import RefusedError
from picsync.scrub.exif import (
    ExifInfo,
    Resolution,
    XmpInfo,
    build_minimal_exif,
    exif_date_stamp,
    read_exif,
    read_xmp,
)
from picsync.scrub.icc import ICC_APP2_PREFIX, app2_chunks, join_app2_chunks, sanitise_icc
from picsync.scrub.report import ScrubOptions
from picsync.scrub.verify import markup_values, text_needles

__all__ = ["AppSegments", "segment"]

COM = 0xFE
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_NAMED_APPS = {  # (marker, prefix) -> PHI-free name for the report
    (0xE2, b"MPF\x00"): "APP2 MPF",
    (0xE2, b"FPXR\x00"): "APP2 FlashPix",
    (0xEB, b"JP"): "APP11 JUMBF",
    (0xEC, b"Ducky"): "APP12 Ducky",
    (0xED, b"Photoshop 3.0\x00"): "APP13 IPTC",
    (0xE1, b"FLIR\x00"): "APP1 FLIR",
}


@dataclass(slots=True)
class AppSegments:
    """What the segments before the first scan said; filled in while walking them."""

    removed: list[str] = field(default_factory=list)
    needles: set[bytes] = field(default_factory=set)
    jfif: bytes | None = None  # APP0 body up to the densities; thumbnail size appended as 0x0
    adobe: bytes | None = None
    icc: list[bytes] = field(default_factory=list)
    exif: ExifInfo | None = None
    xmp: XmpInfo | None = None
    depth: int = 0  # 1 while reading the metadata of an EXIF thumbnail

    def add(self, marker: int, body: bytes) -> None:
        """Take what must survive from one APPn/COM segment; note what is dropped."""
        if marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= 14:
            if self.jfif is None:  # libjpeg and Pillow need 14 bytes to read JFIF
                self.jfif = body[:12]
                if body[12] or body[13]:
                    self.removed.append("JFIF thumbnail")
                return
        elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
            self.adobe = body[:12]  # libjpeg reads these 12 bytes; the last segment wins there
            return
        elif marker == 0xE2 and body.startswith(ICC_APP2_PREFIX):
            self.icc.append(body)
            return
        elif marker == 0xE1 and body.startswith(b"Exif\x00"):
            # Readers take EXIF only from an APP1 starting "Exif\0\0", and only the first one.
            self._add_exif(body[6:], first=self.exif is None and body[5:6] == b"\x00")
            return
        elif marker == 0xE1 and body.startswith(_XMP):
            self.removed.append("XMP")
            self.xmp = read_xmp(body[len(_XMP) :])  # Pillow reads the last XMP packet
            self.needles |= markup_values(body[len(_XMP) :])
            return
        elif marker == 0xE1 and body.startswith(_EXTENDED_XMP):
            self.removed.append("ExtendedXMP")
            self.needles |= markup_values(body[len(_EXTENDED_XMP) + 40 :])
            return
        self.removed.append(self._name(marker, body))
        self.needles |= text_needles(body)

    def _name(self, marker: int, body: bytes) -> str:
        if marker == COM:
            return "COM"
        if marker == 0xE0 and body.startswith(b"JFXX\x00"):
            return "JFXX thumbnail"
        for (app, prefix), name in _NAMED_APPS.items():
            if app == marker and body.startswith(prefix):
                return name
        return f"APP{marker - 0xE0}"

    def _add_exif(self, tiff: bytes, first: bool) -> None:
        self.removed.append("APP1 Exif")
        try:
            info = read_exif(tiff)
        except RefusedError:
            if first:
                raise  # the block readers take orientation from: cannot know how to display
            self.needles |= text_needles(tiff)
            return
        if first:
            self.exif = info
        self.removed.extend(info.sections)
        self.needles |= info.identifying
        if info.thumbnail is not None:
            self.needles |= _thumbnail_needles(info.thumbnail, self.depth)

    def orientation(self) -> int:
        """The orientation a reader displays with: EXIF's if it has the tag, else XMP's."""
        value = self.exif.orientation if self.exif else None
        if value is None and self.xmp is not None:
            value = self.xmp.orientation
        return value if value is not None and 2 <= value <= 8 else 1

    def capture_time(self) -> str | None:
        exif_time = self.exif.capture_time if self.exif else None
        return exif_time or (self.xmp.capture_time if self.xmp else None)

    def app_segments(self, options: ScrubOptions) -> tuple[bytes, list[bytes]]:
        """The APPn segments of the output (JFIF, minimal Exif, ICC, Adobe), and the values
        from the input they hold on purpose (the capture date, if the clinic keeps it)."""
        out = b""
        if self.jfif is not None:
            out += segment(0xE0, self.jfif + b"\x00\x00")
        orientation = self.orientation()
        resolution = self.exif.resolution if self.exif else None
        if resolution is not None and (self._jfif_has_dpi() or _is_default(resolution)):
            resolution = None  # readers take JFIF's density first; 72 dpi is the camera default
        kept_time = self.capture_time() if options.keep_capture_date else None
        capture_date = date.fromisoformat(kept_time[:10]) if kept_time else None
        if orientation != 1 or resolution is not None or capture_date is not None:
            exif = build_minimal_exif(
                orientation if orientation != 1 else None, resolution, capture_date
            )
            if read_exif(exif).orientation != (orientation if orientation != 1 else None):
                raise RefusedError("rebuilt EXIF does not read back as written")
            out += segment(0xE1, b"Exif\x00\x00" + exif)
        if self.icc:
            profile = join_app2_chunks(self.icc)
            clean = sanitise_icc(profile)
            if clean != profile:
                self.removed.append("ICC profile text")
            out += b"".join(segment(0xE2, body) for body in app2_chunks(clean))
        if self.adobe is not None:
            out += segment(0xEE, self.adobe)
        return out, [exif_date_stamp(capture_date)] if capture_date else []

    def _jfif_has_dpi(self) -> bool:
        return self.jfif is not None and self.jfif[7] in (1, 2)


def _is_default(resolution: Resolution) -> bool:
    """72 dpi, the value cameras write when they know nothing about the scene's scale."""
    x, y = resolution.x, resolution.y
    return resolution.unit == 2 and x[0] == 72 * x[1] and y[0] == 72 * y[1]


def segment(marker: int, body: bytes) -> bytes:
    """One marker segment: 0xFF, marker, big-endian length (counting itself), body."""
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _thumbnail_needles(thumbnail: bytes, depth: int) -> set[bytes]:
    """Identifying values in an EXIF thumbnail's own APPn/COM segments (it is dropped whole)."""
    if depth > 0 or not thumbnail.startswith(b"\xff\xd8"):
        return text_needles(thumbnail)
    inner = AppSegments(depth=depth + 1)
    pos = 2
    try:
        while pos + 4 <= len(thumbnail) and thumbnail[pos] == 0xFF:
            marker = thumbnail[pos + 1]
            end = pos + 2 + struct.unpack_from(">H", thumbnail, pos + 2)[0]
            if marker == 0xDA or end > len(thumbnail):
                break
            if 0xE0 <= marker <= 0xEF or marker == COM:
                inner.add(marker, thumbnail[pos + 4 : end])
            pos = end
    except RefusedError:
        return inner.needles | text_needles(thumbnail)
    return inner.needles
