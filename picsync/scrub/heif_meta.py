"""Pure: parse a HEIF ``meta`` box into items, locations, references and properties. Stdlib only.

ISO/IEC 23008-12 (HEIF) on ISO/IEC 14496-12: ``hdlr`` ('pict'), ``pitm`` (primary item),
``iinf``/``infe`` (items and their types), ``iloc`` (where each item's bytes are: file offsets or
the ``idat`` box), ``iref`` (typed links between items), ``iprp`` (``ipco`` property boxes and
``ipma`` associations from items to them), ``idat`` and ``dinf``. Every field is read through a
bounds-checked cursor; anything inconsistent refuses the file (deid.md rule 10). Nothing here
decides what to keep: that is ``heif_items`` and ``heif_props``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from picsync.errors import RefusedError
from picsync.scrub.isobmff import Box, Cursor, child_boxes

__all__ = [
    "Association",
    "Extent",
    "HeifMeta",
    "Item",
    "Location",
    "Property",
    "Reference",
    "item_data",
    "item_spans",
    "item_view",
    "parse_meta",
]

_FIELD_SIZES = frozenset({0, 4, 8})  # iloc offset/length/base-offset/index sizes ISO allows
_SINGLE = {  # meta children that may occur once, and how refusals name them
    b"hdlr": "handler",
    b"pitm": "primary item",
    b"iloc": "item location",
    b"iinf": "item information",
    b"iref": "item reference",
    b"iprp": "item properties",
    b"idat": "item data",
    b"dinf": "data information",
}


@dataclass(frozen=True, slots=True)
class Extent:
    offset: int
    length: int  # 0 = to the end of the file (or idat), as ISO 14496-12 defines


@dataclass(frozen=True, slots=True)
class Location:
    method: int  # construction_method: 0 = file offsets, 1 = idat offsets, 2 = item offsets
    data_reference: int  # 0 = this file; else an entry of dinf/dref
    base_offset: int
    extents: tuple[Extent, ...]


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    type: bytes  # four characters ('hvc1', 'grid', 'Exif', 'mime'...)
    hidden: bool
    protected: bool
    name: bytes  # free text: may name a patient, so it is never copied
    content_type: bytes = b""  # for 'mime' items (XMP: application/rdf+xml); 'uri ' type
    content_encoding: bytes = b""


@dataclass(frozen=True, slots=True)
class Reference:
    type: bytes  # 'dimg', 'thmb', 'auxl', 'cdsc', 'prem', 'base'...
    source: int
    targets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Property:
    type: bytes
    payload: bytes  # the box payload, after its header


@dataclass(frozen=True, slots=True)
class Association:
    index: int  # 1-based position in ``HeifMeta.properties``
    essential: bool


@dataclass(slots=True)
class HeifMeta:
    handler_name: bytes = b""
    primary: int = 0
    items: dict[int, Item] = field(default_factory=dict)
    locations: dict[int, Location] = field(default_factory=dict)
    references: list[Reference] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)
    associations: dict[int, tuple[Association, ...]] = field(default_factory=dict)
    idat: tuple[int, int] | None = None  # its payload's start and end in the file
    local_references: set[int] = field(default_factory=lambda: {0})  # "this file" dref indexes
    other_boxes: list[tuple[bytes, bytes]] = field(default_factory=list)  # dropped: type, payload


def parse_meta(data: bytes, meta: Box) -> HeifMeta:
    """Parse the ``meta`` box ``meta`` of the file ``data``."""
    cursor = Cursor(meta.payload(data), "meta box")
    version, _ = cursor.full_header()
    if version != 0:
        raise RefusedError("HEIF meta box has an unknown version")
    parsed = HeifMeta()
    seen: set[bytes] = set()
    for child in child_boxes(data, meta.body + 4, meta.end, "meta box"):
        if child.type in _SINGLE:
            if child.type in seen:
                raise RefusedError(f"HEIF meta box repeats its {_SINGLE[child.type]} box")
            seen.add(child.type)
        _parse_child(data, child, parsed)
    for required in (b"hdlr", b"pitm", b"iinf", b"iloc", b"iprp"):
        if required not in seen:
            raise RefusedError(f"HEIF meta box has no {_SINGLE[required]} box")
    if parsed.primary not in parsed.items:
        raise RefusedError("HEIF primary item is not described in the item information")
    return parsed


def _parse_child(data: bytes, child: Box, parsed: HeifMeta) -> None:
    payload = child.payload(data)
    if child.type == b"hdlr":
        cursor = Cursor(payload, "handler box")
        cursor.full_header()
        cursor.uint(4)  # pre_defined
        if cursor.take(4) != b"pict":
            raise RefusedError("HEIF meta box is not an image ('pict') handler")
        cursor.take(12)  # reserved
        parsed.handler_name = cursor.string()
    elif child.type == b"pitm":
        cursor = Cursor(payload, "primary item box")
        version, _ = cursor.full_header()
        if version > 1:
            raise RefusedError("HEIF primary item box has an unknown version")
        parsed.primary = cursor.uint(2 if version == 0 else 4)
    elif child.type == b"iinf":
        _parse_iinf(data, child, parsed)
    elif child.type == b"iloc":
        parsed.locations = _parse_iloc(payload)
    elif child.type == b"iref":
        parsed.references = _parse_iref(data, child)
    elif child.type == b"iprp":
        _parse_iprp(data, child, parsed)
    elif child.type == b"idat":
        parsed.idat = (child.body, child.end)
    elif child.type == b"dinf":
        parsed.local_references = _parse_dinf(data, child)
    else:
        parsed.other_boxes.append((child.type, payload))


def _parse_iinf(data: bytes, iinf: Box, parsed: HeifMeta) -> None:
    cursor = Cursor(iinf.payload(data), "item information box")
    version, _ = cursor.full_header()
    count = cursor.uint(2 if version == 0 else 4)
    entries = [
        box
        for box in child_boxes(data, iinf.body + cursor.pos, iinf.end, "item information box")
        if box.type == b"infe"
    ]
    if len(entries) != count:
        raise RefusedError("HEIF item information box does not hold the entries it counts")
    for entry in entries:
        item = _parse_infe(entry.payload(data))
        if item.id in parsed.items:
            raise RefusedError("HEIF describes the same item twice")
        parsed.items[item.id] = item


def _parse_infe(payload: bytes) -> Item:
    cursor = Cursor(payload, "item information entry")
    version, flags = cursor.full_header()
    if version > 3:
        raise RefusedError("HEIF item information entry has an unknown version")
    item_id = cursor.uint(4 if version == 3 else 2)
    protected = cursor.uint(2) != 0
    # Versions 0 and 1 predate item types: they describe MIME resources only.
    item_type = cursor.take(4) if version >= 2 else b"mime"
    name = cursor.string()
    content_type = encoding = b""
    if item_type == b"mime":
        content_type = cursor.string()
        encoding = cursor.string() if cursor.remaining() else b""
    elif item_type == b"uri ":
        content_type = cursor.string()
    return Item(item_id, item_type, bool(flags & 1), protected, name, content_type, encoding)


def _parse_iloc(payload: bytes) -> dict[int, Location]:
    cursor = Cursor(payload, "item location box")
    version, _ = cursor.full_header()
    if version > 2:
        raise RefusedError("HEIF item location box has an unknown version")
    sizes = cursor.uint(2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_size, index_size = (sizes >> 4) & 15, (sizes & 15 if version > 0 else 0)
    if not {offset_size, length_size, base_size, index_size} <= _FIELD_SIZES:
        raise cursor.malformed("a field size other than 0, 4 or 8 bytes")
    id_size = 2 if version < 2 else 4
    locations: dict[int, Location] = {}
    for _ in range(cursor.uint(id_size)):
        item_id = cursor.uint(id_size)
        method = cursor.uint(2) & 15 if version > 0 else 0
        data_reference = cursor.uint(2)
        base_offset = cursor.uint(base_size)
        extent_count = cursor.uint(2)
        if extent_count > 1 and offset_size + length_size + index_size == 0:
            raise cursor.malformed("several extents that all mean the whole file")
        extents = []
        for _ in range(extent_count):
            cursor.uint(index_size)  # extent_index: only meaningful for construction method 2
            extents.append(Extent(cursor.uint(offset_size), cursor.uint(length_size)))
        if item_id in locations:
            raise RefusedError("HEIF locates the same item twice")
        locations[item_id] = Location(method, data_reference, base_offset, tuple(extents))
    if cursor.remaining():
        raise cursor.malformed("bytes after its last entry")
    return locations


def _parse_iref(data: bytes, iref: Box) -> list[Reference]:
    cursor = Cursor(iref.payload(data), "item reference box")
    version, _ = cursor.full_header()
    if version > 1:
        raise RefusedError("HEIF item reference box has an unknown version")
    id_size = 2 if version == 0 else 4
    references = []
    for child in child_boxes(data, iref.body + 4, iref.end, "item reference box"):
        entry = Cursor(child.payload(data), "item reference box")
        source = entry.uint(id_size)
        targets = tuple(entry.uint(id_size) for _ in range(entry.uint(2)))
        if entry.remaining():
            raise entry.malformed("bytes after a reference list")
        references.append(Reference(child.type, source, targets))
    return references


def _parse_iprp(data: bytes, iprp: Box, parsed: HeifMeta) -> None:
    children = child_boxes(data, iprp.body, iprp.end, "item properties box")
    containers = [child for child in children if child.type == b"ipco"]
    if len(containers) != 1:
        raise RefusedError("HEIF item properties box needs exactly one property container")
    ipco = containers[0]
    parsed.properties = [
        Property(box.type, box.payload(data))
        for box in child_boxes(data, ipco.body, ipco.end, "property container")
    ]
    for child in children:
        if child.type == b"ipma":
            _parse_ipma(child.payload(data), parsed)
        elif child.type != b"ipco":
            parsed.other_boxes.append((child.type, child.payload(data)))


def _parse_ipma(payload: bytes, parsed: HeifMeta) -> None:
    cursor = Cursor(payload, "property association box")
    version, flags = cursor.full_header()
    if version > 1:
        raise RefusedError("HEIF property association box has an unknown version")
    wide = bool(flags & 1)  # 15-bit property indexes instead of 7-bit
    for _ in range(cursor.uint(4)):
        item_id = cursor.uint(2 if version == 0 else 4)
        associations = []
        for _ in range(cursor.uint(1)):
            value = cursor.uint(2 if wide else 1)
            essential, index = (value >> 15, value & 0x7FFF) if wide else (value >> 7, value & 0x7F)
            if index == 0:
                continue  # "no property", as ISO 23008-12 defines
            if index > len(parsed.properties):
                raise cursor.malformed("an association with a property that does not exist")
            associations.append(Association(index, bool(essential)))
        if item_id in parsed.associations:
            raise RefusedError("HEIF associates properties with the same item twice")
        parsed.associations[item_id] = tuple(associations)
    if cursor.remaining():
        raise cursor.malformed("bytes after its last entry")


def _parse_dinf(data: bytes, dinf: Box) -> set[int]:
    """Data reference indexes meaning "this file": 0, and every self-contained ``url `` entry."""
    local = {0}
    for child in child_boxes(data, dinf.body, dinf.end, "data information box"):
        if child.type != b"dref":
            continue
        cursor = Cursor(child.payload(data), "data reference box")
        cursor.full_header()
        cursor.uint(4)  # entry_count; the entries are counted from the boxes themselves
        entries = child_boxes(data, child.body + 8, child.end, "data reference box")
        for index, entry in enumerate(entries, start=1):
            entry_flags = Cursor(entry.payload(data), "data reference entry").full_header()[1]
            if entry.type == b"url " and entry_flags & 1:
                local.add(index)
    return local


def item_spans(meta: HeifMeta, file_size: int, item_id: int) -> list[tuple[int, int]]:
    """Where an item's bytes are in the file, as (start, end) pairs in order."""
    location = meta.locations.get(item_id)
    if location is None:
        raise RefusedError("HEIF image item has no data location")
    if location.method == 0:
        if location.data_reference not in meta.local_references:
            raise RefusedError("HEIF item data lives in another file")
        space, where = (0, file_size), "file"
    elif location.method == 1:
        if meta.idat is None:
            raise RefusedError("HEIF item data refers to a missing idat box")
        space, where = meta.idat, "idat box"
    else:
        raise RefusedError("HEIF item uses a construction method picsync does not support")
    spans = []
    for extent in location.extents:
        start = space[0] + location.base_offset + extent.offset
        end = start + extent.length if extent.length else space[1]
        if start > space[1] or end > space[1] or end < start:
            raise RefusedError(f"HEIF item data lies past the end of the {where}")
        spans.append((start, end))
    return spans


def item_data(meta: HeifMeta, data: bytes, item_id: int) -> bytes:
    """An item's bytes: its extents, concatenated."""
    return b"".join(data[start:end] for start, end in item_spans(meta, len(data), item_id))


def item_view(meta: HeifMeta, data: bytes, item_id: int) -> bytes | memoryview:
    """An item's bytes without copying them when they are in one piece (the usual case), so a
    large file is held in memory about twice (input and output), not once per copy."""
    spans = item_spans(meta, len(data), item_id)
    if len(spans) == 1:
        start, end = spans[0]
        return memoryview(data)[start:end]
    return b"".join(data[start:end] for start, end in spans)
