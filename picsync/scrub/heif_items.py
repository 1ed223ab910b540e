"""Pure: choose the HEIF items that survive, and read what the dropped ones reveal. Stdlib only.

deid.md §2.2 and rule 5: the primary item survives with what decoding it needs: the tiles or
inputs of a derived image (``dimg`` references of a ``grid``, ``iden`` or ``iovl`` item),
recursively, and alpha planes (``auxl`` references whose ``auxC`` says alpha). Everything else is
dropped: the Exif and XMP items, thumbnails, depth maps, HDR gain maps, other metadata items. The
dropped metadata is still read, for the capture time and for the identifying values the verifier
must then prove absent from the output.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from picsync.errors import RefusedError
from picsync.scrub.exif import read_exif, read_xmp
from picsync.scrub.heif_meta import HeifMeta, item_spans
from picsync.scrub.heif_props import ALPHA_AUX_TYPES, aux_type
from picsync.scrub.verify import markup_values, text_needles

__all__ = [
    "CODED_TYPES",
    "DERIVED_TYPES",
    "METADATA_TYPES",
    "Dropped",
    "check_derivation",
    "check_layout",
    "dropped_name",
    "needed",
]

CODED_TYPES = frozenset({b"hvc1", b"av01"})  # HEVC (HEIC) and AV1 (AVIF) coded images
DERIVED_TYPES = frozenset({b"grid", b"iden", b"iovl"})  # images computed from other images
METADATA_TYPES = frozenset({b"Exif", b"mime", b"uri "})
XMP_CONTENT_TYPE = b"application/rdf+xml"
_DEPTH_AUX_TYPES = frozenset(
    {b"urn:mpeg:hevc:2015:auxid:2", b"urn:mpeg:mpegB:cicp:systems:auxiliary:depth"}
)
_MAX_INFLATED = 16 << 20  # a compressed XMP item larger than this is read as it is


def needed(meta: HeifMeta) -> list[int]:
    """The primary item and every item decoding it needs; the primary first, then by id."""
    derived_from: dict[int, list[int]] = {}
    alpha_of: dict[int, list[int]] = {}
    for ref in meta.references:
        if ref.type == b"dimg":
            derived_from.setdefault(ref.source, []).extend(ref.targets)
        elif ref.type == b"auxl" and _aux_type(meta, ref.source) in ALPHA_AUX_TYPES:
            for target in ref.targets:
                alpha_of.setdefault(target, []).append(ref.source)
    kept: set[int] = set()
    pending = [meta.primary]
    while pending:
        item_id = pending.pop()
        if item_id in kept:
            continue
        item = meta.items.get(item_id)
        if item is None:
            raise RefusedError("HEIF image refers to an item that is not described")
        if item.protected:
            raise RefusedError("HEIF image is encrypted (protected items are not supported)")
        if item.type in DERIVED_TYPES:
            if not derived_from.get(item_id):
                raise RefusedError("HEIF derived image does not name the images it is made of")
            pending.extend(derived_from[item_id])
        elif item.type not in CODED_TYPES:
            raise RefusedError("HEIF image uses a coding picsync does not support")
        kept.add(item_id)
        pending.extend(alpha_of.get(item_id, ()))
    return [meta.primary, *sorted(kept - {meta.primary})]


def check_derivation(meta: HeifMeta, item_id: int, payload: bytes | memoryview) -> None:
    """Refuse a derived image whose description does not match the images it references."""
    item = meta.items[item_id]
    inputs = sum(
        len(ref.targets) for ref in meta.references if ref.type == b"dimg" and ref.source == item_id
    )
    if item.type == b"grid":
        if len(payload) < 8 or payload[0] != 0:
            raise RefusedError("HEIF grid description is malformed")
        expected_size = 12 if payload[1] & 1 else 8  # 32-bit or 16-bit output width and height
        if len(payload) != expected_size or inputs != (payload[2] + 1) * (payload[3] + 1):
            raise RefusedError("HEIF grid does not reference one tile per cell")
    elif item.type == b"iden" and inputs != 1:
        raise RefusedError("HEIF identity-derived image must reference exactly one image")


def check_layout(
    meta: HeifMeta, file_size: int, kept: set[int], media: list[tuple[int, int]]
) -> None:
    """Kept items' bytes must lie in media data and share no byte with any dropped item.

    Copying a kept item copies its bytes blindly; an extent reaching into the Exif item, a
    thumbnail or a vendor box would carry that along. Every extent of every item read from this
    file must also lie inside it: one that does not means a damaged or truncated file. The bytes
    that will be held in memory (kept and metadata items) may not add up to more than the file.
    """
    kept_spans: list[tuple[int, int]] = []
    dropped_spans: list[tuple[int, int]] = []
    budget = file_size
    for item_id in sorted(meta.items):
        location = meta.locations.get(item_id)
        read = item_id in kept or meta.items[item_id].type in METADATA_TYPES
        if not read and (location is None or location.method >= 2):
            continue  # stored nowhere, or relative to other items: nothing of it is copied
        spans = [(start, end) for start, end in item_spans(meta, file_size, item_id) if end > start]
        if read:
            budget -= sum(end - start for start, end in spans)
            if budget < 0:
                raise RefusedError("HEIF items claim more data than the file holds")
        (kept_spans if item_id in kept else dropped_spans).extend(spans)
    for start, end in kept_spans:
        if not any(low <= start and end <= high for low, high in media):
            raise RefusedError("HEIF image data lies outside the media data boxes")
    dropped_spans.sort()
    starts = [start for start, _ in dropped_spans]
    reach = list(_running_max(end for _, end in dropped_spans))
    for start, end in kept_spans:
        before = bisect.bisect_left(starts, end)  # dropped spans starting before this one ends
        if before and reach[before - 1] > start:
            raise RefusedError("HEIF image data overlaps data of an item that is dropped")


def _running_max(values: Iterable[int]) -> Iterator[int]:
    highest = 0
    for value in values:
        highest = max(highest, value)
        yield highest


def _aux_type(meta: HeifMeta, item_id: int) -> bytes | None:
    for association in meta.associations.get(item_id, ()):
        found = aux_type(meta.properties[association.index - 1])
        if found is not None:
            return found
    return None


def dropped_name(meta: HeifMeta, item_id: int) -> str:
    """A PHI-free name for a dropped item, for the report."""
    item = meta.items[item_id]
    if item.type == b"Exif":
        return "Exif item"
    if item.type == b"mime":
        return "XMP item" if item.content_type == XMP_CONTENT_TYPE else "metadata item"
    if item.type == b"uri ":
        return "metadata item"
    if item.type == b"tmap":
        return "HDR gain map"
    if any(ref.type == b"thmb" and ref.source == item_id for ref in meta.references):
        return "thumbnail image"
    kind = _aux_type(meta, item_id)
    if kind in _DEPTH_AUX_TYPES:
        return "depth image"
    if kind is not None and b"gainmap" in kind.lower():
        return "HDR gain map"
    if kind is not None:
        return "auxiliary image"
    return "unused item"


@dataclass(slots=True)
class Dropped:
    """What the dropped metadata items said: sections removed, needles, capture time."""

    removed: list[str] = field(default_factory=list)
    needles: set[bytes] = field(default_factory=set)
    exif_time: str | None = None
    xmp_time: str | None = None

    def add_exif(self, payload: bytes) -> None:
        """A HEIF Exif item: a 4-byte offset to the TIFF header, then the EXIF block."""
        tiff = _exif_tiff(payload)
        try:
            info = read_exif(tiff) if tiff is not None else None
        except RefusedError:
            info = None  # HEIF displays without Exif; unreadable text still becomes needles
        if info is None:
            self.needles |= text_needles(payload)
            return
        self.removed.extend(info.sections)
        self.needles |= info.identifying
        if info.thumbnail is not None:
            self.needles |= text_needles(info.thumbnail)
        self.exif_time = self.exif_time or info.capture_time

    def add_xmp(self, payload: bytes, encoding: bytes) -> None:
        packet = _decoded(payload, encoding)
        self.needles |= markup_values(packet)
        self.xmp_time = self.xmp_time or read_xmp(packet).capture_time

    def add_other(self, payload: bytes, encoding: bytes) -> None:
        self.needles |= text_needles(_decoded(payload, encoding))


def _exif_tiff(payload: bytes) -> bytes | None:
    if len(payload) < 4:
        return None
    offset = struct.unpack_from(">I", payload)[0]
    tiff = payload[4 + offset :] if offset <= len(payload) - 4 else b""
    if tiff[:4] in (b"II*\x00", b"MM\x00*"):
        return tiff
    if payload[4:10] == b"Exif\x00\x00":  # some writers give offset 0 and keep the JPEG prefix
        return payload[10:]
    return None


def _decoded(payload: bytes, encoding: bytes) -> bytes:
    """An item's content with its HTTP-style content encoding (deflate, gzip) undone."""
    if not encoding:
        return payload
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header
        return inflater.decompress(payload, _MAX_INFLATED) or payload
    except zlib.error:
        return payload
