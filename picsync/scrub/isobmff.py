"""Pure: read and write ISO base media file format (ISOBMFF) boxes, bounds-checked. Stdlib only.

ISO/IEC 14496-12: a box is a 32-bit size (1 = a 64-bit size follows, 0 = to the end of its
container), a four-character type, then its payload; a *full* box starts its payload with a
version byte and 24 bits of flags. Every read here is checked against the enclosing container, and
a violation raises ``RefusedError`` with a reason that names the structure, never a value from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from picsync.errors import RefusedError

__all__ = ["Box", "Cursor", "box", "child_boxes", "full_box"]

_MAX_BOXES = 100_000  # per container; a real HEIF file has a few hundred boxes in all


@dataclass(frozen=True, slots=True)
class Box:
    """One box inside ``data``: ``type`` and the payload ``data[body:end]``."""

    type: bytes
    start: int
    body: int
    end: int

    def payload(self, data: bytes) -> bytes:
        return data[self.body : self.end]


def child_boxes(
    data: bytes, start: int, end: int, where: str, *, to_end_allowed: bool = False
) -> list[Box]:
    """The boxes that exactly tile ``data[start:end]``.

    ``where`` names the container in refusal reasons. A size of 0 ("to the end") is only
    accepted where the container is the file (``to_end_allowed``), as ISO 14496-12 allows.
    """
    boxes: list[Box] = []
    pos = start
    while pos < end:
        if len(boxes) >= _MAX_BOXES:
            raise RefusedError(f"HEIF {where} holds too many boxes")
        if end - pos < 8:
            raise RefusedError(f"HEIF {where} ends inside a box header")
        size, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if size == 1:
            if end - pos < 16:
                raise RefusedError(f"HEIF {where} ends inside a box header")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            body = pos + 16
        elif size == 0:
            if not to_end_allowed:
                raise RefusedError(f"HEIF {where} holds a box without a size")
            size = end - pos
        if size < body - pos:
            raise RefusedError(f"HEIF {where} holds a box with an impossible size")
        if pos + size > end:
            raise RefusedError(f"HEIF box runs past the end of its {where}")
        boxes.append(Box(bytes(kind), pos, body, pos + size))
        pos += size
    return boxes


class Cursor:
    """Big-endian fields read in order from a box payload; overrunning it refuses the file."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what  # e.g. "item location box", for refusal reasons

    def malformed(self, detail: str = "") -> RefusedError:
        return RefusedError(f"HEIF {self.what} is malformed" + (f" ({detail})" if detail else ""))

    def uint(self, size: int) -> int:
        """An unsigned integer of ``size`` bytes (0 bytes reads as 0, as ISOBMFF defines)."""
        if size < 0 or self.pos + size > len(self.data):
            raise self.malformed("it ends early")
        value = int.from_bytes(self.data[self.pos : self.pos + size], "big")
        self.pos += size
        return value

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise self.malformed("it ends early")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def full_header(self) -> tuple[int, int]:
        """A full box's version and flags."""
        value = self.uint(4)
        return value >> 24, value & 0xFFFFFF

    def string(self) -> bytes:
        """A NUL-terminated string; one that runs to the end of the payload without its
        terminator is taken whole, as libheif does."""
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            value, self.pos = self.data[self.pos :], len(self.data)
            return value
        value, self.pos = self.data[self.pos : end], end + 1
        return value

    def remaining(self) -> int:
        return len(self.data) - self.pos


def box(kind: bytes, payload: bytes) -> bytes:
    """A box with a 32-bit size (callers keep payloads under 4 GiB: the input limit is lower)."""
    size = 8 + len(payload)
    if size > 0xFFFFFFFF:
        raise RefusedError("HEIF box would be too large to write")
    return struct.pack(">I4s", size, kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)
