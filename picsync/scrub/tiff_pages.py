"""Pure: read a TIFF's directory tree and decide which images leave, and as what. Stdlib only.

Kept: every full-resolution page of the IFD chain, in order (multi-page scans). Dropped whole:
reduced-resolution images (camera thumbnails in IFD1, pyramid levels), transparency masks and
other secondary images, and every SubIFD of a plain TIFF (deid.md rule 5: no second images).
A DNG keeps exactly one image, its full-size raw: when that sits in a SubIFD (IFD0 then being a
preview), it moves into IFD0 together with IFD0's camera-level raw-processing tags, and every
preview goes. Proprietary TIFF-shaped raw (CR2, NEF, ARW, ...) is refused by name: its
calibration lives in MakerNotes that the allowlist would drop (deid.md §2.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from picsync.errors import RefusedError
from picsync.scrub.tiff_read import Entry, TiffFile
from picsync.scrub.tiff_tags import (
    COMPRESSION,
    DNG_VERSION,
    IMAGE_TAGS,
    JPEG_INTERCHANGE,
    MAKE,
    NEW_SUBFILE_TYPE,
    PHOTOMETRIC,
    STRIP_OFFSETS,
    SUB_IFDS,
    SUBFILE_TYPE,
    TILE_OFFSETS,
)

__all__ = ["Directory", "Document", "read_document"]

_MAX_PAGES = 10_000
_MAX_SUB_IFDS = 64  # per page; DNG writers use one to three
_PAGE = 2  # NewSubfileType bit 1: one page of a multi-page document
_REDUCED, _MASK = 1, 4  # NewSubfileType bits 0 and 2
_RAW_PHOTOMETRIC = frozenset({32803, 34892})  # CFA (mosaic), LinearRaw
# Compression codes only camera raw uses: Sony, Nikon NEF, Panasonic, Kodak, Pentax and others.
_RAW_COMPRESSIONS = frozenset({32767, 32769, 32770, 32867, 34316, 34713, 65000, 65535})
_RAW_VENDORS = (
    ("NIKON", "Nikon NEF"),
    ("SONY", "Sony ARW"),
    ("CANON", "Canon CR2"),
    ("PENTAX", "Pentax PEF"),
    ("RICOH", "Pentax PEF"),
    ("SAMSUNG", "Samsung SRW"),
    ("EASTMAN KODAK", "Kodak DCR"),
    ("KODAK", "Kodak DCR"),
    ("HASSELBLAD", "Hasselblad 3FR"),
    ("LEAF", "Leaf MOS"),
    ("MAMIYA", "Mamiya MEF"),
    ("PHASE ONE", "Phase One IIQ"),
    ("SEIKO EPSON", "Epson ERF"),
    ("LEICA", "Leica raw"),
    ("KONICA MINOLTA", "Minolta MRW"),
    ("MINOLTA", "Minolta MRW"),
)


@dataclass(slots=True)
class Directory:
    """One IFD as read: its entries in file order, the first of each tag, and its SubIFDs."""

    entries: list[Entry]
    tags: dict[int, Entry] = field(default_factory=dict)
    repeated: set[int] = field(default_factory=set)
    sub_ifds: list[Directory] = field(default_factory=list)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.tag in self.tags:
                self.repeated.add(entry.tag)
            self.tags.setdefault(entry.tag, entry)

    def has_image_data(self) -> bool:
        return STRIP_OFFSETS in self.tags or TILE_OFFSETS in self.tags

    def subfile_type(self, tiff: TiffFile) -> int:
        """NewSubfileType, or its value implied by the old SubfileType tag (0: a full image)."""
        entry = self.tags.get(NEW_SUBFILE_TYPE)
        if entry is not None:
            return _number(tiff, entry)
        old = self.tags.get(SUBFILE_TYPE)
        if old is not None:
            return {2: _REDUCED, 3: _PAGE}.get(_number(tiff, old), 0)
        return 0


@dataclass(slots=True)
class Document:
    """What leaves: the images to write (in order) and the directories dropped whole."""

    is_dng: bool
    chain: list[Directory]
    images: list[tuple[Directory, Directory | None]]  # (image, DNG IFD0 whose tags it inherits)
    dropped: list[tuple[Directory, str]]  # (directory, PHI-free name for the report)


def read_document(tiff: TiffFile) -> Document:
    """The whole directory tree, checked, with the choice of images made."""
    if not tiff.layout.big and tiff.size >= 10 and tiff.read_at(8, 2, "") == b"CR":
        raise RefusedError("Canon CR2 raw: picsync does not de-identify proprietary camera raw")
    chain = _read_chain(tiff)
    is_dng = DNG_VERSION in chain[0].tags
    if not is_dng:
        _refuse_proprietary_raw(tiff, chain)
        return _plain_tiff(tiff, chain)
    return _dng(tiff, chain)


def _read_chain(tiff: TiffFile) -> list[Directory]:
    offset = tiff.first_ifd
    if offset == 0:
        raise RefusedError("TIFF has no image directory")
    visited: set[int] = set()
    chain: list[Directory] = []
    while offset:
        if offset in visited:
            raise RefusedError("TIFF directory chain loops back on itself")
        if len(chain) >= _MAX_PAGES:
            raise RefusedError("TIFF has too many pages")
        visited.add(offset)
        entries, offset = tiff.ifd(offset)
        directory = Directory(entries)
        pointer = directory.tags.get(SUB_IFDS)
        if pointer is not None:
            offsets = tiff.uints(pointer)
            if len(offsets) > _MAX_SUB_IFDS:
                raise RefusedError("TIFF page has too many SubIFDs")
            for sub_offset in offsets:
                if sub_offset in visited:
                    raise RefusedError("TIFF SubIFD is shared or loops back")
                visited.add(sub_offset)
                directory.sub_ifds.append(Directory(tiff.ifd(sub_offset)[0]))
        chain.append(directory)
    return chain


def _refuse_proprietary_raw(tiff: TiffFile, chain: list[Directory]) -> None:
    for directory in (ifd for page in chain for ifd in (page, *page.sub_ifds)):
        photometric = directory.tags.get(PHOTOMETRIC)
        compression = directory.tags.get(COMPRESSION)
        if (photometric is not None and _number(tiff, photometric) in _RAW_PHOTOMETRIC) or (
            compression is not None and _number(tiff, compression) in _RAW_COMPRESSIONS
        ):
            raise RefusedError(
                f"{_raw_name(tiff, chain[0])}: picsync does not de-identify proprietary camera raw"
            )


def _raw_name(tiff: TiffFile, ifd0: Directory) -> str:
    """A fixed name for the raw format, from the Make tag (never the tag's text itself)."""
    make = ifd0.tags.get(MAKE)
    text = (tiff.value_prefix(make, 64) or b"") if make is not None else b""
    upper = text.decode("latin-1").strip("\x00 ").upper()
    for prefix, name in _RAW_VENDORS:
        if upper.startswith(prefix):
            return name
    return "TIFF-based camera raw"


def _plain_tiff(tiff: TiffFile, chain: list[Directory]) -> Document:
    images: list[tuple[Directory, Directory | None]] = []
    dropped: list[tuple[Directory, str]] = []
    for page in chain:
        dropped.extend((sub, "SubIFD images") for sub in page.sub_ifds)
        kind = page.subfile_type(tiff)
        if not page.has_image_data() and JPEG_INTERCHANGE in page.tags:
            dropped.append((page, "thumbnail"))  # an EXIF-style JPEG thumbnail directory
        elif kind & _REDUCED:
            dropped.append((page, "reduced-resolution image"))
        elif kind & _MASK:
            dropped.append((page, "transparency mask"))
        elif kind & ~_PAGE:
            dropped.append((page, "secondary image"))
        else:
            images.append((page, None))
    if not images:
        raise RefusedError("TIFF holds no full-resolution image")
    return Document(False, chain, images, dropped)


def _dng(tiff: TiffFile, chain: list[Directory]) -> Document:
    ifd0 = chain[0]
    candidates = [ifd0, *ifd0.sub_ifds]
    main = next(
        (ifd for ifd in candidates if ifd.has_image_data() and ifd.subfile_type(tiff) == 0), None
    )
    if main is None:
        raise RefusedError("DNG has no full-size raw image")
    dropped = [
        (ifd, "DNG preview" if ifd.subfile_type(tiff) & _REDUCED else "DNG secondary image")
        for ifd in (*candidates, *chain[1:])
        if ifd is not main and (ifd is not ifd0 or ifd0.has_image_data())
    ]
    dropped += [(sub, "SubIFD images") for page in chain[1:] for sub in page.sub_ifds]
    inherit = ifd0 if main is not ifd0 else None
    return Document(True, chain, [(main, inherit)], dropped)


def inherited_entries(image: Directory, ifd0: Directory | None) -> list[Entry]:
    """The entries of the image's output directory: its own, plus (when a DNG raw image moves
    into IFD0) IFD0's camera-level tags that the raw directory does not set itself."""
    entries = list(image.entries)
    if ifd0 is not None:
        entries += [
            entry
            for tag, entry in ifd0.tags.items()
            if tag not in image.tags and tag not in IMAGE_TAGS
        ]
    return entries


def _number(tiff: TiffFile, entry: Entry) -> int:
    try:
        return tiff.number(entry)
    except RefusedError as exc:
        raise RefusedError("TIFF structure tag is malformed") from exc
