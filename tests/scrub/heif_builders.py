"""Test helpers for HEIF: encode with pillow-heif, re-lay files out by hand, look inside them.

``make_heic`` encodes a sample image with libheif (through pillow-heif) carrying planted EXIF,
XMP, an ICC profile and thumbnails. ``relayout`` rewrites such a file with the same coded
images but a different container layout (iloc versions and field sizes, idat, split extents,
32-bit item ids, wide ipma, a 64-bit or open-ended mdat) and extra planted structures (item names,
vendor boxes, user-description properties, depth/gain-map auxiliary items, metadata items); every
test checks that libheif still decodes the result to the same pixels, so a wrong builder fails
loudly instead of testing nothing. ``boxes_of``/``meta_children``/``property_types`` walk the
output independently of the code under test.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from picsync.scrub.heif_meta import HeifMeta, item_data, parse_meta
from picsync.scrub.isobmff import Box
from tests.scrub.planted import planted_exif, planted_icc, planted_xmp, sample_image

DEPTH_URN = b"urn:mpeg:hevc:2015:auxid:2"
GAIN_MAP_URN = b"urn:com:apple:photo:2020:aux:hdrgainmap"


def make_heic(
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    *,
    orientation: int | None = 6,
    icc: bytes | None = None,
    metadata: bool = True,
    thumbnails: tuple[int, ...] = (32,),
    tile_size: int = 0,
) -> bytes:
    """A lossless HEIC from ``sample_image`` with planted EXIF/XMP/ICC and thumbnails.

    libheif turns the EXIF orientation into ``irot``/``imir`` properties (and keeps the EXIF).
    """
    image = sample_image(mode, size)
    options: dict[str, object] = {"quality": -1, "thumbnails": list(thumbnails)}
    if metadata:
        options |= {"exif": planted_exif(orientation=orientation), "xmp": planted_xmp()}
    options["icc_profile"] = planted_icc() if icc is None and metadata else icc
    if options["icc_profile"] is None:
        del options["icc_profile"]
    if tile_size:
        options["tile_size"] = tile_size
    if mode in ("RGB", "RGBA"):
        options["chroma"] = 444
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, **options)
    return out.getvalue()


def make_heic_16bit(size: tuple[int, int] = (40, 24)) -> bytes:
    """A 10-bit HEIC (pixi 10,10,10) from 16-bit RGB samples."""
    width, height = size
    samples = np.fromfunction(
        lambda y, x, c: (x * 2311 + y * 977 + c * 6151) % 65536, (height, width, 3), dtype=np.int64
    ).astype("<u2")
    heif = pillow_heif.from_bytes("RGB;16", size, samples.tobytes())
    out = io.BytesIO()
    heif.save(out, quality=-1, exif=planted_exif(orientation=3), xmp=planted_xmp())
    return out.getvalue()


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """libheif's decode of the primary image, orientation applied: mode, size, pixel bytes."""
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    return heif.mode, heif.size, np.asarray(heif).tobytes()


def heif_info(data: bytes) -> dict[str, object]:
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    return dict(heif.info)


def pillow_pixels(data: bytes) -> tuple[tuple[int, int], bytes]:
    """What a Pillow-based viewer shows: the plugin's decode, then EXIF orientation applied."""
    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(data)) as image:
        shown = ImageOps.exif_transpose(image)
        return shown.size, shown.tobytes()


# ---------------------------------------------------------------------------- walking


@dataclass(frozen=True)
class RawBox:
    type: bytes
    payload: bytes
    start: int


def boxes_of(data: bytes, start: int = 0, end: int | None = None) -> list[RawBox]:
    """The boxes tiling ``data[start:end]`` (64-bit and to-the-end sizes understood)."""
    end = len(data) if end is None else end
    found = []
    while start < end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        found.append(RawBox(kind, data[start + header : start + size], start))
        start += size
    return found


def meta_children(data: bytes) -> dict[bytes, bytes]:
    meta = next(b for b in boxes_of(data) if b.type == b"meta")
    return {b.type: b.payload for b in boxes_of(meta.payload, 4)}


def property_types(data: bytes) -> list[bytes]:
    iprp = meta_children(data)[b"iprp"]
    ipco = next(b for b in boxes_of(iprp) if b.type == b"ipco")
    return [b.type for b in boxes_of(ipco.payload)]


def properties(data: bytes, kind: bytes) -> list[bytes]:
    iprp = meta_children(data)[b"iprp"]
    ipco = next(b for b in boxes_of(iprp) if b.type == b"ipco")
    return [b.payload for b in boxes_of(ipco.payload) if b.type == kind]


def item_types(data: bytes) -> list[bytes]:
    """The type of every ``infe`` entry (version 2 and 3)."""
    iinf = meta_children(data)[b"iinf"]
    skip = 6 if iinf[0] == 0 else 8
    types = []
    for entry in boxes_of(iinf, skip):
        id_size = 4 if entry.payload[0] == 3 else 2
        types.append(entry.payload[4 + id_size + 2 : 4 + id_size + 6])
    return types


def reference_types(data: bytes) -> list[bytes]:
    iref = meta_children(data).get(b"iref")
    return [] if iref is None else [b.type for b in boxes_of(iref, 4)]


def top_level_types(data: bytes) -> list[bytes]:
    return [b.type for b in boxes_of(data)]


# ---------------------------------------------------------------------------- re-laying out


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)


@dataclass
class ExtraItem:
    """An item to add: ``refs`` are (reference type, target ids) from this item."""

    id: int
    type: bytes
    data: bytes
    name: bytes = b""
    content_type: bytes = b""
    hidden: bool = True
    properties: list[bytes] = field(default_factory=list)  # complete property boxes
    refs: list[tuple[bytes, tuple[int, ...]]] = field(default_factory=list)


@dataclass
class Layout:
    """How ``relayout`` writes the file; the defaults give a plain libheif-like layout."""

    iloc_version: int = 1
    offset_size: int = 4
    length_size: int = 4
    base_offset_size: int = 0
    index_size: int = 0
    in_idat: Callable[[int, bytes], bool] = lambda item_id, item_type: False
    split_extents: bool = False  # every item in two extents
    id_offset: int = 0  # added to every item id (70000 forces 32-bit ids everywhere)
    wide_ipma: bool = False  # ipma flags=1 (15-bit property indexes)
    mdat_size: str = "32"  # "32", "64" (largesize) or "0" (to the end of the file)
    item_names: dict[int, bytes] = field(default_factory=dict)
    handler_name: bytes = b""
    primary_properties: list[bytes] = field(default_factory=list)  # appended, non-essential
    extra_items: list[ExtraItem] = field(default_factory=list)
    meta_boxes: list[bytes] = field(default_factory=list)  # extra boxes inside meta
    top_boxes: list[bytes] = field(default_factory=list)  # extra top-level boxes after ftyp
    trailing_boxes: list[bytes] = field(default_factory=list)  # after mdat
    retype_refs: dict[bytes, bytes] = field(default_factory=dict)  # e.g. thmb -> auxl
    item_properties: dict[int, list[bytes]] = field(default_factory=dict)  # extra, per item
    drop_refs: set[bytes] = field(default_factory=set)
    ftyp: bytes | None = None  # payload replacing the original's
    retype_items: dict[int, bytes] = field(default_factory=dict)
    replace_properties: dict[bytes, bytes] = field(default_factory=dict)  # type -> new box
    item_data: dict[int, bytes] = field(default_factory=dict)
    construction: dict[int, int] = field(default_factory=dict)  # item -> method written
    protected: set[int] = field(default_factory=set)
    essential_extras: bool = False  # primary_properties marked essential
    point_at: dict[int, int] = field(default_factory=dict)  # item -> item whose bytes it claims
    # (-1: the start of the file, i.e. the ftyp box)


def parsed_meta(data: bytes) -> HeifMeta:
    meta = next(b for b in boxes_of(data) if b.type == b"meta")
    body = meta.start + 8
    return parse_meta(data, Box(b"meta", meta.start, body, body + len(meta.payload)))


def relayout(data: bytes, layout: Layout) -> bytes:
    """``data`` rewritten with the same items, properties and references, laid out as told."""
    meta = parsed_meta(data)
    ftyp = next(b for b in boxes_of(data) if b.type == b"ftyp")
    ids = {old: old + layout.id_offset for old in meta.items}
    for extra in layout.extra_items:
        ids[extra.id] = extra.id + layout.id_offset
    wide_ids = max(ids.values()) > 0xFFFF
    contents = {ids[i]: layout.item_data.get(i) or item_data(meta, data, i) for i in meta.items}
    types = {ids[i]: layout.retype_items.get(i, meta.items[i].type) for i in meta.items}
    hidden = {ids[i]: meta.items[i].hidden for i in meta.items}
    content_types = {ids[i]: meta.items[i].content_type for i in meta.items}
    names = {ids[i]: layout.item_names.get(i, b"") for i in meta.items}

    props = [layout.replace_properties.get(p.type, box(p.type, p.payload)) for p in meta.properties]
    assoc: dict[int, list[tuple[int, bool]]] = {
        ids[i]: [(a.index, a.essential) for a in links] for i, links in meta.associations.items()
    }
    refs = [
        (layout.retype_refs.get(r.type, r.type), ids[r.source], tuple(ids[t] for t in r.targets))
        for r in meta.references
        if r.type not in layout.drop_refs
    ]

    def attach(item_id: int, boxes: list[bytes], essential: bool = False) -> None:
        for prop in boxes:
            props.append(prop)
            assoc.setdefault(item_id, []).append((len(props), essential))

    attach(ids[meta.primary], layout.primary_properties, layout.essential_extras)
    for old, boxes in layout.item_properties.items():
        attach(ids[old], boxes)
    for extra in layout.extra_items:
        new = ids[extra.id]
        contents[new], types[new], hidden[new] = extra.data, extra.type, extra.hidden
        content_types[new], names[new] = extra.content_type, extra.name
        attach(new, extra.properties)
        refs.extend((kind, new, tuple(ids[t] for t in targets)) for kind, targets in extra.refs)
    order = sorted(contents)

    infe_version = 3 if wide_ids else 2
    entries = b""
    for item_id in order:
        protection = int(item_id - layout.id_offset in layout.protected)
        body = struct.pack(">I" if wide_ids else ">H", item_id) + struct.pack(">H", protection)
        body += types[item_id] + names[item_id] + b"\0"
        if types[item_id] in (b"mime", b"uri "):
            body += content_types[item_id] + b"\0"
        entries += full_box(b"infe", infe_version, int(hidden[item_id]), body)
    iinf = full_box(b"iinf", 0, 0, struct.pack(">H", len(order)) + entries)
    pitm = full_box(
        b"pitm", int(wide_ids), 0, struct.pack(">I" if wide_ids else ">H", ids[meta.primary])
    )
    id_fmt = ">I" if wide_ids else ">H"
    iref = full_box(
        b"iref",
        int(wide_ids),
        0,
        b"".join(
            box(kind, struct.pack(id_fmt, src) + struct.pack(">H", len(t)) + _ids(id_fmt, t))
            for kind, src, t in refs
        ),
    )
    ipma_body = struct.pack(">I", len(assoc))
    for item_id in sorted(assoc):
        links = assoc[item_id]
        ipma_body += struct.pack(id_fmt, item_id) + bytes([len(links)])
        for index, essential in links:
            ipma_body += (
                struct.pack(">H", essential << 15 | index)
                if layout.wide_ipma
                else bytes([essential << 7 | index])
            )
    ipma = full_box(b"ipma", int(wide_ids), int(layout.wide_ipma), ipma_body)
    iprp = box(b"iprp", box(b"ipco", b"".join(props)) + ipma)
    hdlr = full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(12) + layout.handler_name + b"\0")

    in_idat = {i for i in order if layout.in_idat(i - layout.id_offset, types[i])}
    idat_payload = b"".join(contents[i] for i in order if i in in_idat)
    mdat_payload = b"".join(contents[i] for i in order if i not in in_idat)

    def build(mdat_start: int) -> tuple[bytes, bytes]:
        version = layout.iloc_version
        if wide_ids and version < 2:
            version = 2
        sizes = (
            layout.offset_size << 12
            | layout.length_size << 8
            | layout.base_offset_size << 4
            | (layout.index_size if version else 0)
        )
        body = struct.pack(">H", sizes) + struct.pack(">I" if version == 2 else ">H", len(order))
        placed: dict[int, tuple[str, int, int]] = {}  # item -> space, start, length
        positions = {"mdat": mdat_start, "idat": 0}
        for item_id in order:
            space = "idat" if item_id in in_idat else "mdat"
            placed[item_id] = (space, positions[space], len(contents[item_id]))
            positions[space] += len(contents[item_id])
        for old, target in layout.point_at.items():
            source = ids[old]
            placed[source] = ("mdat", 0, placed[source][2]) if target == -1 else placed[ids[target]]
        for item_id in order:
            space, start, length = placed[item_id]
            body += struct.pack(">I" if version == 2 else ">H", item_id)
            if version:
                method = 1 if space == "idat" else 0
                body += struct.pack(
                    ">H", layout.construction.get(item_id - layout.id_offset, method)
                )
            elif space == "idat":
                raise ValueError("idat needs iloc version 1 or 2")
            body += struct.pack(">H", 0)  # data_reference_index: this file
            base = start if layout.base_offset_size else 0  # extents then count from the item
            body += _uint(base, layout.base_offset_size)
            start -= base
            parts = [(start, length)]
            if layout.split_extents and length > 1:
                parts = [(start, length // 2), (start + length // 2, length - length // 2)]
            body += struct.pack(">H", len(parts))
            for offset, size in parts:
                body += _uint(0, layout.index_size if version else 0)
                body += _uint(offset, layout.offset_size) + _uint(size, layout.length_size)
        iloc = full_box(b"iloc", version, 0, body)
        children = [hdlr, pitm, iloc, iinf, iref, iprp, *layout.meta_boxes]
        if idat_payload:
            children.append(box(b"idat", idat_payload))
        return full_box(b"meta", 0, 0, b"".join(children)), iloc

    head = box(b"ftyp", layout.ftyp or ftyp.payload) + b"".join(layout.top_boxes)
    mdat_header = {"32": 8, "64": 16, "0": 8}[layout.mdat_size]
    meta_box, _ = build(0)
    meta_box, _ = build(len(head) + len(meta_box) + mdat_header)
    if layout.mdat_size == "64":
        mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(mdat_payload)) + mdat_payload
    elif layout.mdat_size == "0":
        mdat = struct.pack(">I4s", 0, b"mdat") + mdat_payload
    else:
        mdat = box(b"mdat", mdat_payload)
    trailing = b"".join(layout.trailing_boxes) if layout.mdat_size != "0" else b""
    return head + meta_box + mdat + trailing


def _ids(fmt: str, values: tuple[int, ...]) -> bytes:
    return b"".join(struct.pack(fmt, value) for value in values)


def _uint(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big") if size else b""


def aux_c(urn: bytes) -> bytes:
    return full_box(b"auxC", 0, 0, urn + b"\0")


def udes(text: str) -> bytes:
    """A user-description property (lang, name, description, tags)."""
    return full_box(b"udes", 0, 0, b"en\0" + text.encode() + b"\0" + text.encode() + b"\0tag\0")


def thumbnail_ids(data: bytes) -> list[int]:
    meta = parsed_meta(data)
    return [r.source for r in meta.references if r.type == b"thmb"]


def item_ids_of(data: bytes, kind: bytes) -> list[int]:
    meta = parsed_meta(data)
    return [i for i, item in meta.items.items() if item.type == kind]
