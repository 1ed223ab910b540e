"""Pure: JPEG de-identification by segment allowlist; pixels are copied, never re-encoded.

deid.md §2.1. Kept: SOI, DQT, DHT, DAC, SOF (non-hierarchical), DRI, DNL, SOS and the
entropy-coded data (also between progressive scans), EOI, and the APPn segments ``jpeg_app``
rebuilds (JFIF without thumbnail, one Orientation-only Exif, sanitised ICC, Adobe). Everything
else is dropped: other APPn and COM (also between scans), trailers after EOI.

Every kept segment is parsed to its exact length, so no byte the decoder would not read is
copied. The metadata picsync generates is checked with ``verify.find_leaks`` against every value
read from the input before the first byte is written. Entropy-coded data streams through in
1 MiB pieces. On ``RefusedError`` the bytes already written to ``dst`` must be discarded.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from typing import BinaryIO

from picsync.errors import RefusedError
from picsync.scrub.jpeg_app import AppSegments, segment
from picsync.scrub.report import ScrubOptions, ScrubReport
from picsync.scrub.verify import ensure_clean

__all__ = ["scrub", "strip_jpeg_bytes"]

SOI, EOI, SOS, DNL, DRI, DQT, DHT, DAC, COM = 0xD8, 0xD9, 0xDA, 0xDC, 0xDD, 0xDB, 0xC4, 0xCC, 0xFE
_SOF_SUPPORTED = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB})
_HIERARCHICAL = frozenset({0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF, 0xDE, 0xDF})
_RST = range(0xD0, 0xD8)
_APP = range(0xE0, 0xF0)
_CHUNK = 1 << 20
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RSTn; anything else is a marker.
_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")


class _Reader:
    """Buffered forward reads from ``src``; a position in the buffer, so no read copies it."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.buffer = b""
        self.pos = 0

    def fill(self, need: int) -> bool:
        """Make ``need`` unread bytes available; False at end of file."""
        while len(self.buffer) - self.pos < need:
            more = self._src.read(_CHUNK)
            if not more:
                return False
            self.buffer, self.pos = self.buffer[self.pos :] + more, 0
        return True

    def read_exact(self, size: int) -> bytes:
        if not self.fill(size):
            raise RefusedError("JPEG is truncated (it ends inside a segment)")
        self.pos += size
        return self.buffer[self.pos - size : self.pos]

    def at_end(self) -> bool:
        return not self.fill(1)


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified JPEG to ``dst``; raise ``RefusedError`` if that cannot be done."""
    reader = _Reader(src)
    if reader.read_exact(2) != b"\xff\xd8":
        raise RefusedError("not a JPEG (no start-of-image marker)")
    header = AppSegments()
    tables: list[bytes] = []
    marker = _read_header(reader, header, tables)
    app_segments, deliberate = header.app_segments(options)
    ensure_clean(app_segments, header.needles, deliberate)  # before anything reaches dst
    dst.write(b"\xff\xd8" + app_segments + b"".join(tables))
    _copy_scans(reader, dst.write, marker, header.removed)
    if not reader.at_end():
        header.removed.append("trailer after EOI")
    return ScrubReport(
        format="jpeg",
        removed=tuple(dict.fromkeys(header.removed)),
        capture_time=header.capture_time(),
    )


def strip_jpeg_bytes(data: bytes) -> bytes:
    """The same allowlist on an in-memory JPEG (an image inside a PDF or a DICOM frame).

    The result ends at EOI: any padding after it (DICOM pads fragments to even length) is
    dropped with the rest of the trailer, so callers re-pad as their container requires.
    """
    out = io.BytesIO()
    scrub(io.BytesIO(data), out, ScrubOptions())
    return out.getvalue()


def _read_header(reader: _Reader, header: AppSegments, tables: list[bytes]) -> int:
    """Walk the segments before the first scan; return with the SOS marker not yet consumed."""
    seen_frame = False
    while True:
        marker = _read_marker(reader)
        if marker == SOS:
            if not seen_frame:
                raise RefusedError("JPEG has a scan before its frame header")
            return marker
        if marker in _APP or marker == COM:
            header.add(marker, _read_body(reader))
        elif marker in _SOF_SUPPORTED:
            if seen_frame:
                raise RefusedError("JPEG has more than one frame header")
            seen_frame = True
            tables.append(segment(marker, _check_frame(_read_body(reader))))
        elif marker in (DQT, DHT, DAC, DRI):
            tables.append(segment(marker, _check_table(marker, _read_body(reader))))
        else:
            raise _unexpected(marker)


def _copy_scans(
    reader: _Reader, write: Callable[[bytes], object], marker: int, removed: list[str]
) -> None:
    """Copy every scan and the table segments between scans, through EOI."""
    while True:
        if marker == EOI:
            write(b"\xff\xd9")
            return
        if marker == SOS:
            write(segment(SOS, _check_scan(_read_body(reader))))
            marker = _copy_entropy(reader, write)
        elif marker in (DQT, DHT, DAC, DRI, DNL):
            write(segment(marker, _check_table(marker, _read_body(reader))))
            marker = _read_marker(reader)
        elif marker in _APP or marker == COM:
            _read_body(reader)  # metadata between scans: nobody reads it, nothing keeps it
            removed.append("COM" if marker == COM else f"APP{marker - 0xE0}")
            marker = _read_marker(reader)
        else:
            raise _unexpected(marker)


def _copy_entropy(reader: _Reader, write: Callable[[bytes], object]) -> int:
    """Copy entropy-coded data and its RSTn markers; return the marker that ends the scan."""
    while True:
        if not reader.fill(2):
            raise RefusedError("JPEG is truncated (it ends inside the image data)")
        found = _MARKER_IN_SCAN.search(reader.buffer, reader.pos)
        if found is None:
            # A final 0xFF may start a marker whose second byte is not read yet: keep it.
            end = len(reader.buffer) - reader.buffer.endswith(b"\xff")
            write(reader.buffer[reader.pos : end])
            reader.pos = end
            continue
        write(reader.buffer[reader.pos : found.start()])
        reader.pos = found.start()
        marker = _read_marker(reader)
        if marker not in _RST:
            return marker
        write(bytes((0xFF, marker)))  # a restart marker that fill bytes preceded


def _read_marker(reader: _Reader) -> int:
    if reader.read_exact(1) != b"\xff":
        raise RefusedError("JPEG has bytes between segments that belong to none")
    marker = 0xFF
    while marker == 0xFF:  # fill bytes
        marker = reader.read_exact(1)[0]
    if marker == 0x00:
        raise RefusedError("JPEG has a stuffed byte outside the image data")
    return marker


def _read_body(reader: _Reader) -> bytes:
    (length,) = struct.unpack(">H", reader.read_exact(2))
    if length < 2:
        raise RefusedError("JPEG segment has an impossible length")
    return reader.read_exact(length - 2)


def _unexpected(marker: int) -> RefusedError:
    if marker in _HIERARCHICAL:
        return RefusedError("hierarchical JPEG is not supported")
    if marker in (0xF7, 0xF8):
        return RefusedError("JPEG-LS is not supported")
    if marker == EOI:
        return RefusedError("JPEG has no image data")
    return RefusedError(f"JPEG has an unexpected marker 0xFF{marker:02X}")


def _check_frame(body: bytes) -> bytes:
    if len(body) < 6 or len(body) != 6 + 3 * body[5] or body[5] == 0:
        raise RefusedError("JPEG frame header is malformed")
    if struct.unpack_from(">H", body, 3)[0] == 0:
        raise RefusedError("JPEG frame header has zero width")
    return body


def _check_scan(body: bytes) -> bytes:
    if not body or not 1 <= body[0] <= 4 or len(body) != 4 + 2 * body[0]:
        raise RefusedError("JPEG scan header is malformed")
    return body


def _check_table(marker: int, body: bytes) -> bytes:
    """Refuse a table segment unless its contents account for its length exactly."""
    if marker in (DRI, DNL):
        ok = len(body) == 2
    elif marker == DAC:  # (class/destination, conditioning value) pairs
        ok = len(body) % 2 == 0 and all(b >> 4 <= 1 and b & 0x0F <= 3 for b in body[::2])
    else:
        ok = _tables_fill(body, marker)
    if not ok or not body:
        raise RefusedError("JPEG table segment is malformed")
    return body


def _tables_fill(body: bytes, marker: int) -> bool:
    """True if DQT/DHT ``body`` is a whole number of well-formed tables and nothing else."""
    pos = 0
    while pos < len(body):
        kind, destination = body[pos] >> 4, body[pos] & 0x0F
        if kind > 1 or destination > 3:  # precision (DQT) or class (DHT); table number
            return False
        if marker == DQT:
            pos += 1 + 64 * (1 + kind)
            continue
        if pos + 17 > len(body) or sum(body[pos + 1 : pos + 17]) > 256:
            return False
        pos += 17 + sum(body[pos + 1 : pos + 17])
    return pos == len(body)
