"""Pure: write fresh TIFF directories (classic or BigTIFF, either byte order). Stdlib only.

``serialize`` lays out a header and a chain of IFDs, each followed by its out-of-line values and
its sub-directories, every directory and value starting on an even offset (TIFF 6.0 §2). Entries
are written in ascending tag order, each tag once. Nothing is copied from the source here: the
caller decides every entry, so the bytes produced are exactly what the allowlist admitted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from picsync.errors import RefusedError
from picsync.scrub.tiff_read import TYPE_SIZES, Layout

__all__ = ["OutEntry", "OutIfd", "serialize"]


@dataclass(frozen=True, slots=True)
class OutEntry:
    """One entry to write; ``value`` is already in the output's byte order."""

    tag: int
    type: int
    count: int
    value: bytes


@dataclass(slots=True)
class OutIfd:
    """One directory to write; ``children`` maps a pointer tag (e.g. ExifIFD) to a sub-directory."""

    entries: list[OutEntry]
    children: dict[int, OutIfd] = field(default_factory=dict)


def serialize(layout: Layout, ifds: list[OutIfd]) -> bytes:
    """Header + the chain ``ifds`` (in order) with their values and sub-directories."""
    out = bytearray(layout.header(0))
    slot = layout.header_size - layout.offset_size  # where the first IFD's offset goes
    for ifd in ifds:
        start, next_slot = _place(out, layout, ifd)
        _patch(out, layout, slot, start)
        slot = next_slot
    return bytes(out)


def _place(out: bytearray, layout: Layout, ifd: OutIfd) -> tuple[int, int]:
    """Append one directory, its values and its children; return its offset and next-IFD slot."""
    pointer = struct.pack(layout.order + layout.offset_code, 0)
    entries = list(ifd.entries)
    entries += [OutEntry(tag, layout.offset_type, 1, pointer) for tag in ifd.children]
    entries.sort(key=lambda entry: entry.tag)
    tags = [entry.tag for entry in entries]
    if len(set(tags)) != len(tags):
        raise RefusedError("TIFF rebuild produced a directory with a repeated tag")
    _align(out)
    start = len(out)
    out += struct.pack(layout.order + ("Q" if layout.big else "H"), len(entries))
    head = layout.order + ("HHQ" if layout.big else "HHI")
    slots = []
    for entry in entries:
        if len(entry.value) != TYPE_SIZES[entry.type] * entry.count:
            raise RefusedError("TIFF rebuild produced an entry of the wrong size")
        out += struct.pack(head, entry.tag, entry.type, entry.count)
        slots.append(len(out))
        inline = entry.value if len(entry.value) <= layout.offset_size else b""
        out += inline.ljust(layout.offset_size, b"\x00")
    next_slot = len(out)
    out += bytes(layout.offset_size)
    for entry, slot in zip(entries, slots, strict=True):
        if entry.tag in ifd.children and entry.type == layout.offset_type:
            child_start, _ = _place(out, layout, ifd.children[entry.tag])
            _patch(out, layout, slot, child_start)
        elif len(entry.value) > layout.offset_size:
            _align(out)
            _patch(out, layout, slot, len(out))
            out += entry.value
    return start, next_slot


def _align(out: bytearray) -> None:
    if len(out) % 2:
        out.append(0)


def _patch(out: bytearray, layout: Layout, slot: int, value: int) -> None:
    struct.pack_into(layout.order + layout.offset_code, out, slot, value)
