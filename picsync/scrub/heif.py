"""Pure: HEIC/HEIF/AVIF de-identification by rewriting the ISOBMFF container; pixels are copied.

deid.md §2.2. The file is read whole (refused above ``MAX_HEIF_BYTES``), its ``meta`` box parsed
(``heif_meta``), and a new file written (``heif_write``) holding only: the primary image item and
what decoding it needs (grid tiles, alpha: ``heif_items``), each item's coded bytes copied verbatim,
and the properties those items use, rebuilt from an allowlist (``heif_props``: ICC profiles
sanitised, ``irot``/``imir``/``clap`` kept, so the image displays as before). Dropped: the Exif and
XMP items (HEIF takes display orientation from ``irot``/``imir``, not Exif), thumbnails, depth maps,
gain maps, item names, entity groups and every top-level box but ``ftyp``, ``meta`` and ``mdat``.

Before anything is written the output is parsed back (primary present, the same items with the
same bytes, every extent inside the file, no metadata item) and the generated ``ftyp`` + ``meta``
is checked with ``verify.ensure_clean`` against every value read from the dropped metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO

from picsync.errors import RefusedError
from picsync.scrub.exif import build_minimal_exif, exif_date_stamp
from picsync.scrub.heif_items import (
    METADATA_TYPES,
    XMP_CONTENT_TYPE,
    Dropped,
    check_derivation,
    check_layout,
    dropped_name,
)
from picsync.scrub.heif_items import needed as needed_items
from picsync.scrub.heif_meta import HeifMeta, item_data, item_spans, item_view, parse_meta
from picsync.scrub.heif_props import KEPT_PROPERTIES, clean_property
from picsync.scrub.heif_write import OutFile, OutItem, OutReference, write_heif
from picsync.scrub.isobmff import Box, child_boxes
from picsync.scrub.report import ScrubOptions, ScrubReport
from picsync.scrub.verify import ensure_clean, text_needles

__all__ = ["MAX_HEIF_BYTES", "scrub"]

MAX_HEIF_BYTES = 256 << 20  # phone photos are a few MB; the whole file is held in memory
_STILL_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"avif"})
# Brands that stay true of the rewritten file (structural and MIAF profile brands).
_KEPT_BRANDS = _STILL_BRANDS | {b"miaf", b"MiHE", b"MiHA", b"MiHB", b"MiPr", b"MiAC", b"MiCm"}
_KEPT_BRANDS |= {b"MA1A", b"MA1B", b"iso8"}
_KEPT_REFERENCES = frozenset({b"dimg", b"auxl", b"prem"})  # links decoding needs
_TOP_LEVEL_NAMES = {
    b"free": "free space",
    b"skip": "free space",
    b"uuid": "vendor (uuid) box",
    b"udta": "user data box",
    b"meco": "additional metadata box",
    b"ftyp": "second file type box",
}
_WRITE_CHUNK = 1 << 20


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified HEIF to ``dst``; raise ``RefusedError`` if that cannot be done."""
    data = src.read(MAX_HEIF_BYTES + 1)
    if len(data) > MAX_HEIF_BYTES:
        raise RefusedError("HEIF file is larger than 256 MiB; picsync does not rewrite it")
    rewrite = _Rewrite(data)
    out = rewrite.plan(options)
    output, header_size = write_heif(out)
    _check_output(output, out)
    # Scanned: everything picsync generated (ftyp, meta, a dated Exif); coded image data is
    # copied verbatim, as a JPEG's entropy-coded data is, and never came from a metadata item.
    generated = output[:header_size] + b"".join(
        item.data for item in out.items if item.type == b"Exif"
    )
    ensure_clean(generated, rewrite.dropped.needles, rewrite.written)
    for start in range(0, len(output), _WRITE_CHUNK):
        dst.write(output[start : start + _WRITE_CHUNK])
    return ScrubReport(
        format="heif",
        removed=tuple(dict.fromkeys(rewrite.dropped.removed)),
        capture_time=rewrite.dropped.exif_time or rewrite.dropped.xmp_time,
    )


@dataclass(slots=True)
class _Rewrite:
    """One input file and what the rewrite has learnt about it so far."""

    data: bytes
    dropped: Dropped = field(default_factory=Dropped)
    written: list[bytes] = field(default_factory=list)  # values written on purpose (the date)

    def plan(self, options: ScrubOptions) -> OutFile:
        ftyp, meta_box, media = self._top_level()
        major, brands = _brands(ftyp.payload(self.data))
        meta = parse_meta(self.data, meta_box)
        self._note_meta_text(meta)
        kept = needed_items(meta)
        check_layout(meta, len(self.data), set(kept), media + ([meta.idat] if meta.idat else []))
        self._read_dropped(meta, set(kept))
        new_id = {old: new for new, old in enumerate(kept, start=1)}
        properties, associations = self._properties(meta, kept)
        items = []
        for old in kept:
            payload = item_view(meta, self.data, old)
            if not payload:
                raise RefusedError("HEIF image item has no data")
            check_derivation(meta, old, payload)
            item = meta.items[old]
            items.append(OutItem(new_id[old], item.type, item.hidden, payload, associations[old]))
        references = [
            OutReference(ref.type, new_id[ref.source], tuple(new_id[t] for t in ref.targets))
            for ref in meta.references
            if ref.type in _KEPT_REFERENCES
            and ref.source in new_id
            and all(target in new_id for target in ref.targets)
        ]
        exif = self._dated_exif(options, len(items) + 1)
        if exif is not None:
            items.append(exif)
            references.append(OutReference(b"cdsc", exif.id, (1,)))
        return OutFile(major, brands, 1, tuple(items), properties, tuple(references))

    def _top_level(self) -> tuple[Box, Box, list[tuple[int, int]]]:
        """The ftyp and meta boxes and the payload ranges of the mdat boxes; the rest is noted."""
        boxes = child_boxes(self.data, 0, len(self.data), "file", to_end_allowed=True)
        if not boxes or boxes[0].type != b"ftyp":
            raise RefusedError("HEIF does not start with a file type box")
        if any(b.type == b"moov" for b in boxes):
            raise RefusedError("HEIF image sequences (with a movie box) are not supported")
        metas = [b for b in boxes if b.type == b"meta"]
        if len(metas) != 1:
            raise RefusedError("HEIF must have exactly one top-level meta box")
        for other in boxes[1:]:
            if other.type in (b"meta", b"mdat"):  # unused mdat bytes are never copied
                continue
            self.dropped.removed.append(_TOP_LEVEL_NAMES.get(other.type, "unknown top-level box"))
            self.dropped.needles |= text_needles(other.payload(self.data))
        media = [(b.body, b.end) for b in boxes if b.type == b"mdat"]
        return boxes[0], metas[0], media

    def _note_meta_text(self, meta: HeifMeta) -> None:
        """Free text in the meta box that is never copied: handler and item names, other boxes."""
        names = [item.name for item in meta.items.values()]
        if any(name.strip(b"\x00 ") for name in names):
            self.dropped.removed.append("item names")
        if meta.handler_name.strip(b"\x00 "):
            self.dropped.removed.append("handler name")
        for name in [meta.handler_name, *names]:
            self.dropped.needles |= {name.strip(b"\x00 ")} | text_needles(name)
        for kind, payload in meta.other_boxes:
            self.dropped.removed.append("entity groups" if kind == b"grpl" else "other meta box")
            self.dropped.needles |= text_needles(payload)

    def _read_dropped(self, meta: HeifMeta, kept: set[int]) -> None:
        for item_id in sorted(set(meta.items) - kept):
            item = meta.items[item_id]
            self.dropped.removed.append(dropped_name(meta, item_id))
            if item.type not in METADATA_TYPES:
                continue  # coded images (thumbnails, depth, gain maps) hold no text
            payload = item_data(meta, self.data, item_id)
            if item.type == b"Exif":
                self.dropped.add_exif(payload)
            elif item.content_type == XMP_CONTENT_TYPE:
                self.dropped.add_xmp(payload, item.content_encoding)
            else:
                self.dropped.add_other(payload, item.content_encoding)

    def _properties(
        self, meta: HeifMeta, kept: list[int]
    ) -> tuple[tuple[bytes, ...], dict[int, tuple[tuple[int, bool], ...]]]:
        """The kept property boxes, and each kept item's associations with them (new indexes)."""
        boxes: list[bytes] = []
        new_index: dict[int, int | None] = {}
        for item_id in kept:
            for association in meta.associations.get(item_id, ()):
                if association.index in new_index:
                    continue
                clean = clean_property(meta.properties[association.index - 1])
                self.dropped.removed.extend(clean.removed)
                self.dropped.needles |= clean.needles
                if clean.box is not None:
                    boxes.append(clean.box)
                new_index[association.index] = len(boxes) if clean.box is not None else None
        associations: dict[int, tuple[tuple[int, bool], ...]] = {}
        for item_id in kept:
            links = []
            for association in meta.associations.get(item_id, ()):
                index = new_index[association.index]
                if index is None and association.essential:
                    raise RefusedError("HEIF image needs a property picsync does not keep")
                if index is not None:
                    links.append((index, association.essential))
            associations[item_id] = tuple(links)
        return tuple(boxes), associations

    def _dated_exif(self, options: ScrubOptions, item_id: int) -> OutItem | None:
        """An Exif item holding only the capture date, when the clinic keeps it (rule 6)."""
        capture_time = self.dropped.exif_time or self.dropped.xmp_time
        if not options.keep_capture_date or capture_time is None:
            return None
        day = date.fromisoformat(capture_time[:10])
        self.written.append(exif_date_stamp(day))
        # exif_tiff_header_offset 0: the TIFF header follows the offset field directly.
        payload = bytes(4) + build_minimal_exif(capture_date=day)
        return OutItem(item_id, b"Exif", True, payload, ())


def _brands(ftyp: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    if len(ftyp) < 8 or len(ftyp) % 4:
        raise RefusedError("HEIF file type box is malformed")
    major = ftyp[:4]
    if major not in _STILL_BRANDS:
        raise RefusedError("HEIF brand is not a still-image brand picsync supports")
    compatible = (ftyp[i : i + 4] for i in range(8, len(ftyp), 4))
    return major, tuple(dict.fromkeys(b for b in compatible if b in _KEPT_BRANDS))


def _check_output(output: bytes, out: OutFile) -> None:
    """Parse what was written as a reader would, and compare it with what was meant."""
    boxes = child_boxes(output, 0, len(output), "file")
    if [b.type for b in boxes] != [b"ftyp", b"meta", b"mdat"]:
        raise RefusedError("rewritten HEIF does not have the expected boxes")
    meta = parse_meta(output, boxes[1])
    if meta.primary != out.primary or set(meta.items) != {item.id for item in out.items}:
        raise RefusedError("rewritten HEIF does not describe the expected items")
    for item in out.items:
        described = meta.items[item.id]
        if described.type != item.type or described.name or described.protected:
            raise RefusedError("rewritten HEIF describes an item differently")
        spans = item_spans(meta, len(output), item.id)  # refuses an extent outside the file
        if len(spans) != 1 or memoryview(output)[spans[0][0] : spans[0][1]] != item.data:
            raise RefusedError("rewritten HEIF does not locate an item's data correctly")
    if any(item.type in (b"mime", b"uri ") for item in meta.items.values()):
        raise RefusedError("rewritten HEIF still holds a metadata item")
    if not {prop.type for prop in meta.properties} <= KEPT_PROPERTIES:
        raise RefusedError("rewritten HEIF holds a property outside the allowlist")
    if meta.other_boxes or meta.handler_name:
        raise RefusedError("rewritten HEIF meta box holds more than it should")
