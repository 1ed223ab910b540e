"""Pure: rebuild one output directory from the allowlist, and plan its image data. Stdlib only.

Every kept entry is checked against its rule (field types, count) and copied as stored (the output
keeps the input's byte order, so values need no conversion). Rebuilt rather than copied: the strip
or tile tables (new offsets, and the lengths ``tiff_data`` measures), the ICC profile
(``icc.sanitise_icc``), JPEGTables (only DQT/DHT/DAC/DRI survive), and DNG's UniqueCameraModel
(a neutral name: DNG readers require the tag). Structure the pixels depend on must be complete and
consistent, or the file is refused: a reader would have to guess, and so would picsync.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from picsync.errors import RefusedError
from picsync.scrub.icc import sanitise_icc
from picsync.scrub.tiff_data import COMPRESSIONS, Block, Geometry, PageData
from picsync.scrub.tiff_meta import NEUTRAL_CAMERA_MODEL
from picsync.scrub.tiff_read import ASCII, BYTE, LONG, UNDEFINED, Entry, TiffFile
from picsync.scrub.tiff_tags import (
    BASE_RULES,
    BITS_PER_SAMPLE,
    COMPRESSION,
    DNG_RULES,
    ICC_PROFILE,
    IMAGE_LENGTH,
    IMAGE_WIDTH,
    JPEG_INTERCHANGE,
    JPEG_INTERCHANGE_LENGTH,
    JPEG_TABLES,
    PHOTOMETRIC,
    PLANAR_CONFIG,
    REQUIRED_NUMBERS,
    ROWS_PER_STRIP,
    SAMPLES_PER_PIXEL,
    STRIP_BYTE_COUNTS,
    STRIP_OFFSETS,
    TILE_BYTE_COUNTS,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_WIDTH,
    UNIQUE_CAMERA_MODEL,
    YCBCR_SUBSAMPLING,
    Rule,
)
from picsync.scrub.tiff_write import OutEntry, OutIfd
from picsync.scrub.verify import text_needles

__all__ = ["OutPage", "build_page", "keepable"]

_VALUE_LIMIT = 16 << 20  # one kept value (an ICC profile is at most a few MiB)
_PAGE_LIMIT = 64 << 20  # all kept values of one directory
_MAX_PIXELS = 1 << 31  # per page; a 1200 dpi A3 scan is 0.3 gigapixel
_MAX_TILE_PIXELS = 1 << 26  # writers use 256 x 256 to 2048 x 2048
_MAX_BLOCKS = 1 << 20  # strips or tiles per page: each costs a little memory until written
_JPEG_COMPRESSIONS = frozenset({7, 34892})
_OLD_JPEG = 6
_OLD_JPEG_TABLES = (519, 520, 521)  # JPEGQTables, JPEGDCTables, JPEGACTables: file offsets
_JPEG_TABLE_MARKERS = frozenset({0xC4, 0xCC, 0xDB, 0xDD})  # DHT, DAC, DQT, DRI
_REBUILT = frozenset(
    {STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS, JPEG_TABLES, ICC_PROFILE}
    | {JPEG_INTERCHANGE, JPEG_INTERCHANGE_LENGTH}
)


def keepable(is_dng: bool) -> frozenset[int]:
    """Tags whose values (as such, or rebuilt) can reach the output directory."""
    tags = frozenset(BASE_RULES) | _REBUILT
    return tags | frozenset(DNG_RULES) | {UNIQUE_CAMERA_MODEL} if is_dng else tags


@dataclass(slots=True)
class OutPage:
    """One output directory (without its data tables) and the image data it points at."""

    ifd: OutIfd
    data: PageData
    data_tags: tuple[int, int]  # (offsets tag, byte-counts tag)
    removed: list[str] = field(default_factory=list)
    needles: set[bytes] = field(default_factory=set)
    kept_tags: set[int] = field(default_factory=set)  # source tags whose values were kept


def build_page(tiff: TiffFile, entries: list[Entry], is_dng: bool) -> OutPage:
    """The output directory for one image, from its source entries."""
    rules = {**BASE_RULES, **DNG_RULES} if is_dng else BASE_RULES
    tags: dict[int, Entry] = {}
    for entry in entries:
        if entry.tag in tags and entry.tag in rules | dict.fromkeys(_REBUILT):
            raise RefusedError("TIFF directory repeats an image structure tag")
        tags.setdefault(entry.tag, entry)
    data = _page_data(tiff, tags, rules)
    page = OutPage(OutIfd([]), data, _TILES if data.geometry.tiled else _STRIPS)
    budget = _PAGE_LIMIT
    for tag, entry in sorted(tags.items()):
        kept = _kept_entry(tiff, tag, entry, rules, page, min(_VALUE_LIMIT, budget))
        if kept is not None:
            page.ifd.entries.append(kept)
            page.kept_tags.add(tag)
            budget -= len(kept.value)
    if data.interchange:  # one strip now: the whole JPEG stream
        page.kept_tags |= {JPEG_INTERCHANGE, JPEG_INTERCHANGE_LENGTH}
        height = struct.pack(tiff.layout.order + "I", data.geometry.height)
        page.ifd.entries = [e for e in page.ifd.entries if e.tag != ROWS_PER_STRIP]
        page.ifd.entries.append(OutEntry(ROWS_PER_STRIP, LONG, 1, height))
    if is_dng:
        model = NEUTRAL_CAMERA_MODEL + b"\x00"
        source = tags.get(UNIQUE_CAMERA_MODEL)
        if source is not None and tiff.value_prefix(source, 64) != model:
            page.removed.append("UniqueCameraModel")
        page.ifd.entries.append(OutEntry(UNIQUE_CAMERA_MODEL, ASCII, len(model), model))
    page.ifd.entries.sort(key=lambda entry: entry.tag)
    return page


_STRIPS = (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
_TILES = (TILE_OFFSETS, TILE_BYTE_COUNTS)


def _kept_entry(
    tiff: TiffFile, tag: int, entry: Entry, rules: dict[int, Rule], page: OutPage, limit: int
) -> OutEntry | None:
    """The output entry for one allowlisted tag, or None when it is not kept."""
    rule = rules.get(tag)
    if rule is not None:
        if _fits(entry, rule):
            return OutEntry(tag, entry.type, entry.count, tiff.value(entry, limit))
        if tag in REQUIRED_NUMBERS:
            raise RefusedError("TIFF image structure tag has an unexpected type")
        page.removed.append("malformed tags")
        return None
    if tag in (ICC_PROFILE, JPEG_TABLES) and entry.type not in (BYTE, UNDEFINED):
        page.removed.append("malformed tags")
        return None
    if tag == ICC_PROFILE:
        value = tiff.value(entry, limit)
        clean = sanitise_icc(value)
        if clean != value:
            page.removed.append("ICC profile text")
        return OutEntry(tag, UNDEFINED, len(clean), clean)
    if tag == JPEG_TABLES and page.data.compression in _JPEG_COMPRESSIONS:
        tables = _clean_jpeg_tables(tiff.value(entry, limit), page)
        return OutEntry(tag, UNDEFINED, len(tables), tables)
    return None


def _fits(entry: Entry, rule: Rule) -> bool:
    return entry.type in rule.types and (rule.count is None or entry.count == rule.count)


def _page_data(tiff: TiffFile, tags: dict[int, Entry], rules: dict[int, Rule]) -> PageData:
    """Check the structure the pixels depend on, and list the strips or tiles."""

    def number(tag: int, default: int | None = None) -> int:
        entry = tags.get(tag)
        if entry is None:
            if default is None:
                raise RefusedError("TIFF page lacks a required image structure tag")
            return default
        if not _fits(entry, rules[tag]):
            raise RefusedError("TIFF image structure tag has an unexpected type")
        return tiff.number(entry)

    width, height = number(IMAGE_WIDTH), number(IMAGE_LENGTH)
    if width == 0 or height == 0 or width * height > _MAX_PIXELS:
        raise RefusedError("TIFF page has an impossible size")
    compression = number(COMPRESSION, 1)
    if compression not in COMPRESSIONS:
        raise RefusedError(f"TIFF compression {compression} is not supported")
    samples = number(SAMPLES_PER_PIXEL, 1)
    bits_entry = tags.get(BITS_PER_SAMPLE)
    if bits_entry is not None and not _fits(bits_entry, rules[BITS_PER_SAMPLE]):
        raise RefusedError("TIFF image structure tag has an unexpected type")
    bits = tuple(tiff.uints(bits_entry)) if bits_entry is not None else (1,)
    bits = bits * samples if len(bits) == 1 else bits
    if samples == 0 or len(bits) != samples or not all(1 <= b <= 64 for b in bits):
        raise RefusedError("TIFF bits per sample do not match its samples per pixel")
    planar = number(PLANAR_CONFIG, 1)
    if planar not in (1, 2):
        raise RefusedError("TIFF planar configuration is invalid")
    ycbcr = _subsampling(tiff, tags, number(PHOTOMETRIC, 0), compression)
    if TILE_OFFSETS in tags or TILE_WIDTH in tags:
        if STRIP_OFFSETS in tags:
            raise RefusedError("TIFF page has both strips and tiles")
        tile = (number(TILE_WIDTH), number(TILE_LENGTH))
        if 0 in tile or tile[0] * tile[1] > _MAX_TILE_PIXELS:
            raise RefusedError("TIFF tile size is invalid")
        geometry = Geometry(width, height, *tile, True, bits, planar == 2, ycbcr)
        data_tags = (TILE_OFFSETS, TILE_BYTE_COUNTS)
    else:
        rows = number(ROWS_PER_STRIP, height)
        if rows == 0:
            raise RefusedError("TIFF rows per strip is zero")
        geometry = Geometry(
            width, height, width, min(rows, height), False, bits, planar == 2, ycbcr
        )
        data_tags = _STRIPS
    blocks = _blocks(tiff, tags, data_tags, geometry)
    if compression == _OLD_JPEG:
        return _old_jpeg(tiff, tags, geometry, blocks)
    return PageData(compression, geometry, blocks)


def _old_jpeg(
    tiff: TiffFile, tags: dict[int, Entry], geometry: Geometry, blocks: list[Block]
) -> PageData:
    """Old-style JPEG, accepted in its two readable forms: JPEGInterchangeFormat naming one
    complete JPEG stream that holds every strip (it becomes the only strip), or strips that are
    each a complete JPEG stream. Tables stored by offset (JPEGQTables etc.) are refused."""
    if any(tag in tags for tag in _OLD_JPEG_TABLES):
        raise RefusedError("TIFF old-style JPEG with separate tables is not supported")
    start_entry, length_entry = tags.get(JPEG_INTERCHANGE), tags.get(JPEG_INTERCHANGE_LENGTH)
    if start_entry is None or length_entry is None:
        return PageData(_OLD_JPEG, geometry, blocks)
    if geometry.tiled:
        raise RefusedError("TIFF old-style JPEG in tiles is not supported")
    start, length = tiff.number(start_entry), tiff.number(length_entry)
    if start + length > tiff.size:
        raise RefusedError("TIFF old-style JPEG stream runs past the end of the file")
    if any(b.offset < start or b.offset + b.length > start + length for b in blocks):
        raise RefusedError("TIFF old-style JPEG strips lie outside its JPEG stream")
    return PageData(_OLD_JPEG, geometry, [Block(start, length)], interchange=True)


def _subsampling(
    tiff: TiffFile, tags: dict[int, Entry], photometric: int, compression: int
) -> tuple[int, int] | None:
    """Chroma subsampling of YCbCr data that picsync sizes (JPEG data sizes itself)."""
    if photometric != 6 or compression in _JPEG_COMPRESSIONS:
        return None
    entry = tags.get(YCBCR_SUBSAMPLING)
    across, down = (2, 2) if entry is None else tuple(tiff.uints(entry))  # TIFF 6.0 default
    if across not in (1, 2, 4) or down not in (1, 2, 4) or down > across:
        raise RefusedError("TIFF YCbCr subsampling is invalid")
    return None if (across, down) == (1, 1) else (across, down)


def _blocks(
    tiff: TiffFile, tags: dict[int, Entry], data_tags: tuple[int, int], geometry: Geometry
) -> list[Block]:
    offsets_entry, counts_entry = (tags.get(tag) for tag in data_tags)
    if offsets_entry is None or counts_entry is None:
        raise RefusedError("TIFF page has no image data table")
    needed = geometry.block_count()
    if needed > _MAX_BLOCKS:
        raise RefusedError("TIFF page has too many strips or tiles")
    tiff.spend(needed)  # a file of many such pages stops here
    offsets, counts = tiff.uints(offsets_entry), tiff.uints(counts_entry)
    if len(offsets) != len(counts):
        raise RefusedError("TIFF strip or tile tables differ in length")
    if len(offsets) < needed:
        raise RefusedError("TIFF has fewer strips or tiles than its image needs")
    blocks = []
    for offset, count in zip(offsets[:needed], counts[:needed], strict=True):
        if offset + count > tiff.size:
            raise RefusedError("TIFF image data runs past the end of the file")
        blocks.append(Block(offset, count))
    return blocks


def _clean_jpeg_tables(data: bytes, page: OutPage) -> bytes:
    """JPEGTables with only its table segments (an abbreviated JPEG stream: SOI tables EOI)."""
    if data[:2] != b"\xff\xd8":
        raise RefusedError("TIFF JPEGTables is not a JPEG stream")
    kept, pos = [b"\xff\xd8"], 2
    while True:
        if pos + 2 > len(data) or data[pos] != 0xFF:
            raise RefusedError("TIFF JPEGTables is malformed")
        marker = data[pos + 1]
        if marker == 0xD9:
            if pos + 2 < len(data):
                page.removed.append("JPEGTables trailer")
            break
        if pos + 4 > len(data):
            raise RefusedError("TIFF JPEGTables is malformed")
        end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
        if end > len(data) or end < pos + 4:
            raise RefusedError("TIFF JPEGTables is malformed")
        if marker in _JPEG_TABLE_MARKERS:
            kept.append(data[pos:end])
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            page.removed.append("JPEGTables APPn/COM")
            page.needles |= text_needles(data[pos + 4 : end])
        else:
            raise RefusedError("TIFF JPEGTables holds more than tables")
        pos = end
    return b"".join(kept) + b"\xff\xd9"
