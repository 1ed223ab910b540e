"""Pure: clean a JPEG held inside another container (a PDF image, a DICOM frame). Stdlib only.

``jpeg.strip_jpeg_bytes`` does the cleaning (the same segment allowlist as a JPEG file). This
module adds what a container scrubber needs around it:

- ``metadata_needles``: every identifying value in the JPEG's APPn/COM segments and trailer, so the
  container's own verifier can prove none of them reached its output;
- ``decode_segments``: the segments a decoder reads (tables, frame, scans with their entropy-coded
  data, and the colour transform of APP14 Adobe), so a caller can prove the cleaned JPEG decodes
  to the same pixels without decoding it (pixel data is compared byte for byte);
- ``clean_jpeg``: both together, refusing when the cleaned JPEG would not decode identically;
- ``metadata_end``: where a JPEG's metadata segments end and its coded pixels begin, so a
  container's verifier can scan the former and skip the latter;
- ``icc_profile_needles``: the identifying text of a colour profile the cleaner rewrites.

Needles never include what the cleaner keeps (a standard or already clean ICC profile, the
JFIF and Adobe headers), so a container's verifier can run them over its whole output.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from picsync.errors import RefusedError
from picsync.scrub.exif import read_exif
from picsync.scrub.icc import ICC_APP2_PREFIX, join_app2_chunks, sanitise_icc
from picsync.scrub.jpeg import strip_jpeg_bytes
from picsync.scrub.verify import ensure_clean, markup_values, text_needles

__all__ = [
    "CleanJpeg",
    "clean_jpeg",
    "decode_segments",
    "icc_profile_needles",
    "metadata_end",
    "metadata_needles",
]

_EOI, _SOS, _COM, _APP14 = 0xD9, 0xDA, 0xFE, 0xEE
_APP = range(0xE0, 0xF0)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RSTn; anything else is a marker
# (or a fill byte before one). The same rule as picsync.scrub.jpeg, so both split scans alike.
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
_MAX_SEGMENTS = 100_000


@dataclass(frozen=True, slots=True)
class CleanJpeg:
    """A cleaned JPEG, the identifying values its original held, and whether anything went."""

    data: bytes
    needles: frozenset[bytes]
    changed: bool


@dataclass(frozen=True, slots=True)
class _Segment:
    marker: int
    body: bytes  # for SOS: the header followed by the entropy-coded data up to the next marker
    start: int  # offset of the marker in the JPEG


def clean_jpeg(data: bytes) -> CleanJpeg:
    """Strip ``data``'s metadata; refuse if the result would not decode to the same pixels."""
    cleaned = strip_jpeg_bytes(data)
    if decode_segments(cleaned) != decode_segments(data):
        raise RefusedError("cleaned embedded JPEG would not decode to the same pixels")
    needles = frozenset(metadata_needles(data))
    ensure_clean(cleaned[: metadata_end(cleaned)], needles)
    return CleanJpeg(cleaned, needles, cleaned != data)


def decode_segments(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """What a decoder reads, in order: every segment except APPn and COM, plus Adobe's transform.

    Two JPEGs with equal ``decode_segments`` decode to identical pixels.
    """
    kept: list[tuple[int, bytes]] = []
    for segment in _segments(data):
        if segment.marker == _APP14 and segment.body.startswith(b"Adobe"):
            kept.append((segment.marker, segment.body[:12]))  # the bytes libjpeg reads
        elif segment.marker not in _APP and segment.marker != _COM:
            kept.append((segment.marker, segment.body))
    return tuple(kept)


def metadata_end(data: bytes) -> int:
    """Offset of the first segment after SOI that is not APPn or COM: before it, the metadata
    a scrubber writes; from it on, the tables, frame and scans that code the pixels."""
    for segment in _segments(data):
        if segment.marker not in _APP and segment.marker != _COM:
            return segment.start
    raise RefusedError("embedded JPEG has no image data")


def metadata_needles(data: bytes, depth: int = 0) -> set[bytes]:
    """Identifying values in the APPn/COM segments and the trailer of a JPEG."""
    needles: set[bytes] = set()
    icc: list[bytes] = []
    for segment in _segments(data, trailer_needles=needles):
        marker, body = segment.marker, segment.body
        if marker == 0xE1 and body.startswith(b"Exif\x00"):
            needles |= _exif_needles(body[6:], depth)
        elif marker == 0xE1 and body.startswith(_XMP):
            needles |= markup_values(body[len(_XMP) :])
        elif marker == 0xE1 and body.startswith(_EXTENDED_XMP):
            needles |= markup_values(body[len(_EXTENDED_XMP) + 40 :])
        elif marker == 0xE2 and body.startswith(ICC_APP2_PREFIX):
            icc.append(body)
        elif marker == 0xE0 and body.startswith(b"JFIF\x00"):
            needles |= text_needles(body[14:])  # only a thumbnail follows the 14-byte header
        elif marker == _APP14 and body.startswith(b"Adobe"):
            continue  # 12 bytes of colour-transform flags, kept as they are
        elif marker in _APP or marker == _COM:
            needles |= text_needles(body)
    needles |= _icc_needles(icc)
    return needles


def _exif_needles(tiff: bytes, depth: int) -> set[bytes]:
    try:
        info = read_exif(tiff)
    except RefusedError:
        return text_needles(tiff)
    needles = set(info.identifying)
    if info.thumbnail is not None:
        needles |= _thumbnail_needles(info.thumbnail, depth)
    return needles


def _thumbnail_needles(thumbnail: bytes, depth: int) -> set[bytes]:
    """The metadata of an EXIF thumbnail (its tables and pixels hold no names)."""
    if depth == 0:
        try:
            return metadata_needles(thumbnail, depth=1)
        except RefusedError:
            pass
    return text_needles(thumbnail)


# ICC tag types that hold numbers only; every other tag (desc, text, mluc, mmod, private) is text.
_NUMERIC_ICC_TYPES = frozenset(
    {
        b"XYZ ",
        b"curv",
        b"para",
        b"mft1",
        b"mft2",
        b"mAB ",
        b"mBA ",
        b"mpet",
        b"sf32",
        b"chrm",
        b"cicp",
        b"meas",
        b"view",
        b"sig ",
    }
)


def _icc_needles(bodies: list[bytes]) -> set[bytes]:
    if not bodies:
        return set()
    try:
        profile = join_app2_chunks(bodies)
    except RefusedError:
        return text_needles(b"".join(bodies))
    return icc_profile_needles(profile)


def icc_profile_needles(profile: bytes) -> set[bytes]:
    """Text of a profile that is not kept as it is (``icc.sanitise_icc`` replaces its text):
    its text tags and header device fields; none for a clean standard profile."""
    try:
        if sanitise_icc(profile) == profile:
            return set()  # kept as it is: a standard profile, or one picsync already cleaned
    except RefusedError:
        return text_needles(profile)
    needles = text_needles(profile[48:56])  # header: device manufacturer and model
    try:
        count = struct.unpack_from(">I", profile, 128)[0]
        for index in range(min(count, 512)):
            _, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
            tag = profile[offset : offset + size]
            if tag[:4] not in _NUMERIC_ICC_TYPES:
                needles |= text_needles(tag)
    except struct.error:
        return needles | text_needles(profile)  # unreadable: any text in it may identify
    return needles


def _segments(data: bytes, trailer_needles: set[bytes] | None = None) -> list[_Segment]:
    """Every marker segment from SOI to EOI, with each scan's entropy-coded data; refuse gaps."""
    if not data.startswith(b"\xff\xd8"):
        raise RefusedError("embedded image is not a JPEG (no start-of-image marker)")
    found: list[_Segment] = []
    pos = 2
    while len(found) < _MAX_SEGMENTS:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise RefusedError("embedded JPEG is truncated or has bytes between segments")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        marker = data[pos + 1] if pos + 1 < len(data) else -1
        if marker == _EOI:
            if trailer_needles is not None and pos + 2 < len(data):
                trailer_needles |= text_needles(data[pos + 2 :])
            return found
        if marker in _STANDALONE:
            found.append(_Segment(marker, b"", pos))
            pos += 2
            continue
        if marker <= 0 or pos + 4 > len(data):
            raise RefusedError("embedded JPEG is truncated")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise RefusedError("embedded JPEG segment runs past the end of the image")
        body = data[pos + 4 : end]
        if marker == _SOS:
            entropy, end = _entropy(data, end)
            body += entropy
        found.append(_Segment(marker, body, pos))
        pos = end
    raise RefusedError("embedded JPEG has too many segments")


def _entropy(data: bytes, pos: int) -> tuple[bytes, int]:
    """Entropy-coded data from ``pos`` with its RSTn markers (fill bytes before them dropped,
    as the cleaner drops them), and the offset of the marker that ends the scan."""
    out = bytearray()
    while True:
        found = _MARKER_IN_SCAN.search(data, pos)
        if found is None:
            raise RefusedError("embedded JPEG is truncated (it ends inside the image data)")
        out += data[pos : found.start()]
        marker_at = found.start()
        while marker_at + 1 < len(data) and data[marker_at + 1] == 0xFF:
            marker_at += 1
        if marker_at + 1 < len(data) and 0xD0 <= data[marker_at + 1] <= 0xD7:
            out += data[marker_at : marker_at + 2]
            pos = marker_at + 2
            continue
        return bytes(out), found.start()
