"""Pure: strip metadata from a JPEG 2000 image without touching its pixels. Stdlib only.

Used for PDF /JPXDecode images and DICOM JPEG 2000 frames. The data is either a bare codestream
(DICOM, often PDF) or a JP2/JPX file (boxes around one codestream). Kept: the
signature, file type, reader requirements and header boxes (image header, bit depths, colour
specification with its ICC profile sanitised, palette, component mapping and definition,
resolution) and the first codestream. Dropped: XML and UUID boxes (XMP lives in one), UUID info,
IPR and label boxes. In the codestream, COM marker segments go (encoders write their name there,
and anything else may follow); every other marker segment and all tile data are copied byte for
byte, so the image decodes exactly as before. Refused: compositing files (several codestreams,
fragment tables, layers), vendor colour methods, and codestreams that do not parse completely.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from picsync.errors import RefusedError
from picsync.scrub.icc import sanitise_icc
from picsync.scrub.verify import markup_values, text_needles

__all__ = ["CleanJpx", "clean_jpx"]

_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_CODESTREAM_START = b"\xff\x4f\xff\x51"  # SOC then SIZ
_KEPT_BOXES = frozenset({b"jP  ", b"ftyp", b"rreq", b"jp2h", b"jp2c"})
_DROPPED_BOXES = frozenset({b"xml ", b"uuid", b"uinf", b"jp2i", b"lbl ", b"nlst", b"asoc", b"free"})
_HEADER_BOXES = frozenset({b"ihdr", b"bpcc", b"colr", b"pclr", b"cmap", b"cdef", b"res "})
_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
# Codestream markers (second byte) allowed in the main header and in tile-part headers.
_COM, _SOT, _SOD, _EOC, _TLM = 0x64, 0x90, 0x93, 0xD9, 0x55
_MAIN_MARKERS = frozenset({0x50, 0x51, 0x52, 0x53, 0x55, 0x57, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x60})
_MAIN_MARKERS |= {0x63, _COM}
_TILE_MARKERS = frozenset({0x52, 0x53, 0x58, 0x5C, 0x5D, 0x5E, 0x5F, 0x61, _COM})
_MAX_SEGMENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class CleanJpx:
    """The cleaned image, whether anything went, and the identifying values that went."""

    data: bytes
    changed: bool
    needles: frozenset[bytes]


def clean_jpx(data: bytes) -> CleanJpx:
    """Strip ``data`` (a JP2/JPX file or a bare codestream); raise ``RefusedError`` if it does
    not parse completely or cannot be cleaned without changing what it shows."""
    needles: set[bytes] = set()
    if data.startswith(_CODESTREAM_START):
        cleaned = _clean_codestream(data, needles)
    elif data.startswith(_SIGNATURE):
        cleaned = _clean_file(data, needles)
    else:
        raise RefusedError("JPEG 2000 image is neither a JP2 file nor a codestream")
    return CleanJpx(cleaned, cleaned != data, frozenset(needles))


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, content) of each box in ``data``, which they must fill exactly."""
    boxes: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise RefusedError("JPEG 2000 image has a truncated box")
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            if pos + 16 > len(data):
                raise RefusedError("JPEG 2000 image has a truncated box")
            length, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif length == 0:
            length = len(data) - pos  # the last box runs to the end
        if length < header or pos + length > len(data):
            raise RefusedError("JPEG 2000 image has a box with an impossible length")
        boxes.append((bytes(kind), data[pos + header : pos + length]))
        pos += length
        if len(boxes) > _MAX_SEGMENTS:
            raise RefusedError("JPEG 2000 image has too many boxes")
    return boxes


def _box(kind: bytes, content: bytes) -> bytes:
    if len(content) + 8 > 0xFFFFFFFF:
        return struct.pack(">I4sQ", 1, kind, len(content) + 16) + content
    return struct.pack(">I4s", len(content) + 8, kind) + content


def _clean_file(data: bytes, needles: set[bytes]) -> bytes:
    out = bytearray()
    codestreams = 0
    for kind, content in _boxes(data):
        if kind == b"jp2c":
            codestreams += 1
            if codestreams > 1:
                raise RefusedError("JPEG 2000 image holds several codestreams")
            out += _box(kind, _clean_codestream(content, needles))
        elif kind == b"jp2h":
            out += _box(kind, _clean_header(content, needles))
        elif kind in _KEPT_BOXES:
            out += _box(kind, content)
        elif kind in _DROPPED_BOXES:
            needles |= _box_needles(kind, content)
        else:
            raise RefusedError("JPEG 2000 image uses JPX features picsync cannot clean")
    if codestreams != 1:
        raise RefusedError("JPEG 2000 image has no codestream")
    return bytes(out)


def _box_needles(kind: bytes, content: bytes) -> set[bytes]:
    if kind == b"xml ":
        return markup_values(content)
    if kind == b"uuid" and content.startswith(_XMP_UUID):
        return markup_values(content[16:])
    return text_needles(content)


def _clean_header(content: bytes, needles: set[bytes]) -> bytes:
    out = bytearray()
    for kind, body in _boxes(content):
        if kind == b"colr":
            out += _box(kind, _clean_colour(body))
        elif kind in _HEADER_BOXES:
            out += _box(kind, body)
        else:
            needles |= text_needles(body)
    return bytes(out)


def _clean_colour(body: bytes) -> bytes:
    """Colour specification: enumerated spaces as they are, ICC profiles sanitised."""
    if len(body) < 3:
        raise RefusedError("JPEG 2000 image has a malformed colour specification")
    method = body[0]
    if method == 1:
        return body
    if method in (2, 3):
        return body[:3] + sanitise_icc(body[3:])
    raise RefusedError("JPEG 2000 image uses a vendor colour method picsync cannot check")


def _clean_codestream(data: bytes, needles: set[bytes]) -> bytes:
    """The codestream without COM segments; everything else byte for byte, up to EOC."""
    if not data.startswith(_CODESTREAM_START):
        raise RefusedError("JPEG 2000 codestream does not start with SOC and SIZ")
    out = bytearray(data[:2])
    pos, has_tlm = 2, False
    while True:  # main header
        marker, segment, pos = _marker_segment(data, pos)
        if marker == _SOT:
            pos -= len(segment)
            break
        if marker not in _MAIN_MARKERS:
            raise RefusedError("JPEG 2000 codestream has an unexpected marker")
        has_tlm |= marker == _TLM
        _keep_or_drop(marker, segment, out, needles)
    for _ in range(_MAX_SEGMENTS):
        if data[pos : pos + 2] == b"\xff\xd9":
            return bytes(out + b"\xff\xd9")  # whatever follows EOC is not the image's
        pos = _copy_tile_part(data, pos, out, needles, has_tlm)
    raise RefusedError("JPEG 2000 codestream has too many tile-parts")


def _marker_segment(data: bytes, pos: int) -> tuple[int, bytes, int]:
    if pos + 4 > len(data) or data[pos] != 0xFF:
        raise RefusedError("JPEG 2000 codestream is truncated or malformed")
    length = struct.unpack_from(">H", data, pos + 2)[0]
    end = pos + 2 + length
    if length < 2 or end > len(data):
        raise RefusedError("JPEG 2000 codestream has a segment past its end")
    return data[pos + 1], data[pos:end], end


def _keep_or_drop(marker: int, segment: bytes, out: bytearray, needles: set[bytes]) -> int:
    """Append ``segment`` unless it is a comment; return how many bytes were dropped."""
    if marker == _COM:
        needles |= text_needles(segment[6:])  # after marker, length and registration value
        return len(segment)
    out += segment
    return 0


def _copy_tile_part(
    data: bytes, start: int, out: bytearray, needles: set[bytes], has_tlm: bool
) -> int:
    marker, sot, pos = _marker_segment(data, start)
    if marker != _SOT or len(sot) != 12:
        raise RefusedError("JPEG 2000 codestream has a malformed tile-part")
    part_length = struct.unpack_from(">I", sot, 6)[0]
    header = bytearray()
    dropped = 0
    while True:
        if data[pos : pos + 2] == b"\xff\x93":  # SOD: the tile data follows
            pos += 2
            break
        marker, segment, pos = _marker_segment(data, pos)
        if marker not in _TILE_MARKERS:
            raise RefusedError("JPEG 2000 tile-part has an unexpected marker")
        dropped += _keep_or_drop(marker, segment, header, needles)
    if part_length == 0:  # the last tile-part runs to EOC
        end = len(data) - 2
        if data[end:] != b"\xff\xd9":
            raise RefusedError("JPEG 2000 codestream does not end with EOC")
    else:
        end = start + part_length
        if end < pos or end > len(data):
            raise RefusedError("JPEG 2000 tile-part length is impossible")
    if dropped and has_tlm:
        raise RefusedError("JPEG 2000 tile-part comment cannot be removed (length index)")
    new_sot = bytearray(sot)
    if part_length:
        struct.pack_into(">I", new_sot, 6, part_length - dropped)
    out += new_sot + header + b"\xff\x93" + data[pos:end]
    return end
