"""Pure: write a compact HEIF file (ftyp, meta, mdat) from the items that survive. Stdlib only.

The output is written from scratch, never patched: ``ftyp`` with the kept brands, a ``meta`` box
holding ``hdlr`` (no name), ``dinf`` (this file only), ``pitm``, ``iinf`` (version 2 entries with
empty names), ``iref``, ``iprp`` and an ``iloc`` whose 32-bit offsets point into one ``mdat`` that
holds each item's bytes, copied verbatim, the primary's first. Item ids run from 1 in that order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from picsync.errors import RefusedError
from picsync.scrub.isobmff import box, full_box

__all__ = ["OutItem", "OutReference", "OutFile", "write_heif"]

_MAX_ID = 0xFFFF  # version-0 boxes use 16-bit ids; more items than this are refused upstream


@dataclass(frozen=True, slots=True)
class OutItem:
    id: int
    type: bytes
    hidden: bool
    data: bytes | memoryview  # copied verbatim from the input
    properties: tuple[tuple[int, bool], ...]  # (1-based index into OutFile.properties, essential)


@dataclass(frozen=True, slots=True)
class OutReference:
    type: bytes
    source: int
    targets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutFile:
    major_brand: bytes
    compatible_brands: tuple[bytes, ...]
    primary: int
    items: tuple[OutItem, ...]  # in mdat order
    properties: tuple[bytes, ...]  # complete property boxes
    references: tuple[OutReference, ...]


def write_heif(out: OutFile) -> tuple[bytes, int]:
    """The file's bytes, and the length of its header (ftyp + meta: everything not copied)."""
    if any(item.id > _MAX_ID for item in out.items):
        raise RefusedError("HEIF has too many items to rewrite")
    ftyp = box(b"ftyp", out.major_brand + bytes(4) + b"".join(out.compatible_brands))
    mdat_size = 8 + sum(len(item.data) for item in out.items)
    if mdat_size > 0xFFFFFFFF:
        raise RefusedError("HEIF image data is too large to rewrite")
    # The meta box's size does not depend on the offsets in it (fixed 32-bit fields), so it is
    # built once to learn where mdat starts, then again with the real offsets.
    meta_size = len(_meta(out, data_start=0))
    data_start = len(ftyp) + meta_size + 8
    meta = _meta(out, data_start)
    if len(meta) != meta_size or data_start + mdat_size - 8 > 0xFFFFFFFF:
        raise RefusedError("HEIF rewrite could not place its item data")
    mdat_header = struct.pack(">I4s", mdat_size, b"mdat")
    # One join: the item data (views into the input) is copied once, into the output.
    output = b"".join([ftyp, meta, mdat_header, *(item.data for item in out.items)])
    return output, len(ftyp) + len(meta)


def _meta(out: OutFile, data_start: int) -> bytes:
    handler = full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(12) + b"\x00")
    # One self-contained data reference, as libheif writes: item data is in this file.
    dinf = box(
        b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1) + full_box(b"url ", 0, 1, b""))
    )
    primary = full_box(b"pitm", 0, 0, struct.pack(">H", out.primary))
    entries = b"".join(
        full_box(b"infe", 2, int(item.hidden), struct.pack(">HH4s", item.id, 0, item.type) + b"\0")
        for item in out.items
    )
    iinf = full_box(b"iinf", 0, 0, struct.pack(">H", len(out.items)) + entries)
    parts = [handler, dinf, primary, iinf]
    if out.references:
        refs = b"".join(
            box(
                ref.type,
                struct.pack(f">HH{len(ref.targets)}H", ref.source, len(ref.targets), *ref.targets),
            )
            for ref in out.references
        )
        parts.append(full_box(b"iref", 0, 0, refs))
    parts.append(box(b"iprp", box(b"ipco", b"".join(out.properties)) + _ipma(out)))
    parts.append(_iloc(out, data_start))
    return full_box(b"meta", 0, 0, b"".join(parts))


def _ipma(out: OutFile) -> bytes:
    wide = len(out.properties) > 0x7F  # 15-bit indexes needed
    body = bytearray(struct.pack(">I", len(out.items)))
    for item in out.items:
        if len(item.properties) > 0xFF:
            raise RefusedError("HEIF item has too many properties to rewrite")
        body += struct.pack(">HB", item.id, len(item.properties))
        for index, essential in item.properties:
            if wide:
                body += struct.pack(">H", essential << 15 | index)
            else:
                body += struct.pack(">B", essential << 7 | index)
    return full_box(b"ipma", 0, int(wide), bytes(body))


def _iloc(out: OutFile, data_start: int) -> bytes:
    # offset_size 4, length_size 4, base_offset_size 0; one extent per item, in mdat.
    body = bytearray(struct.pack(">BBH", 0x44, 0x00, len(out.items)))
    offset = data_start
    for item in out.items:
        body += struct.pack(">HHHII", item.id, 0, 1, offset, len(item.data))
        offset += len(item.data)
    return full_box(b"iloc", 0, 0, bytes(body))
