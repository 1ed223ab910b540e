"""Test helpers for TIFF/DNG: an independent TIFF reader and writer, and planted sample files.

Independent of ``picsync.scrub.tiff_*`` on purpose: the oracle must not share the code under test.

    ``Tag`` / ``Ifd`` / ``write_tiff``: write a TIFF (classic or BigTIFF, either byte order) from
        typed values, image data blocks (strips or tiles) and nested directories (Exif, GPS,
        SubIFDs), image data placed *before* the directories (the opposite of picsync's layout).
    ``read_tiff``: parse any TIFF into ``Page`` objects (typed values, image data, sub-directories).
    ``pillow_page``: one page compressed by Pillow/libtiff, as an ``Ifd`` to re-assemble.
    ``planted_tags`` / ``planted_page``: every kind of TIFF metadata with FAKE identifiers.
    ``make_dng``: a tiny hand-made DNG (CFA raw in a SubIFD, previews, serials).
    ``frames``: Pillow's decode of every page.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from tests.scrub.planted import PLANTED, iptc_app13_body, planted_icc, planted_xmp, sample_image

BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL = range(1, 11)
FLOAT, DOUBLE, LONG8 = 11, 12, 16
_CODES = {SHORT: "H", LONG: "I", SSHORT: "h", SLONG: "i", FLOAT: "f", DOUBLE: "d", LONG8: "Q"}
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}


@dataclass(frozen=True)
class Tag:
    """A typed value: bytes for BYTE/UNDEFINED/ASCII (NUL added), tuples for numbers (pairs for
    rationals)."""

    tag: int
    type: int
    value: object


@dataclass
class Ifd:
    tags: list[Tag]
    blocks: list[bytes] | None = None  # image data, referenced by strip (or tile) tables
    tiled: bool = False
    children: dict[int, list[Ifd]] = field(default_factory=dict)  # pointer tag -> directories


def _encode(tag: Tag, order: str) -> tuple[int, bytes]:
    value = tag.value
    if tag.type == ASCII:
        data = value if isinstance(value, bytes) else str(value).encode()
        data += b"\x00"
        return len(data), data
    if tag.type in (BYTE, SBYTE, UNDEFINED):
        assert isinstance(value, bytes)
        return len(value), value
    assert isinstance(value, tuple)
    if tag.type in (RATIONAL, SRATIONAL):
        code = "II" if tag.type == RATIONAL else "ii"
        return len(value), b"".join(struct.pack(order + code, *pair) for pair in value)
    return len(value), struct.pack(f"{order}{len(value)}{_CODES[tag.type]}", *value)


def write_tiff(pages: list[Ifd], *, big_endian: bool = False, bigtiff: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    word, word_type = ("Q", LONG8) if bigtiff else ("I", LONG)
    word_size = struct.calcsize(word)
    out = bytearray(b"MM" if big_endian else b"II")
    out += struct.pack(
        order + ("HHHQ" if bigtiff else "HI"), *((43, 8, 0, 0) if bigtiff else (42, 0))
    )

    def append(data: bytes) -> int:
        if len(out) % 2:
            out.append(0)
        start = len(out)
        out.extend(data)
        return start

    def place(ifd: Ifd) -> tuple[int, int]:
        tags = list(ifd.tags)
        if ifd.blocks is not None:
            starts = tuple(append(block) for block in ifd.blocks)
            counts = tuple(len(block) for block in ifd.blocks)
            offsets_tag, counts_tag = (324, 325) if ifd.tiled else (273, 279)
            tags += [Tag(offsets_tag, word_type, starts), Tag(counts_tag, word_type, counts)]
        for pointer, children in ifd.children.items():
            tags.append(Tag(pointer, word_type, tuple(place(child)[0] for child in children)))
        tags.sort(key=lambda t: t.tag)
        encoded = [(t, *_encode(t, order)) for t in tags]
        if len(out) % 2:
            out.append(0)
        start = len(out)
        out.extend(struct.pack(order + ("Q" if bigtiff else "H"), len(tags)))
        slots = []
        for t, count, data in encoded:
            out.extend(struct.pack(order + ("HHQ" if bigtiff else "HHI"), t.tag, t.type, count))
            slots.append(len(out))
            out.extend(
                data.ljust(word_size, b"\x00") if len(data) <= word_size else bytes(word_size)
            )
        next_slot = len(out)
        out.extend(bytes(word_size))
        for (_, _, data), slot in zip(encoded, slots, strict=True):
            if len(data) > word_size:
                struct.pack_into(order + word, out, slot, append(data))
        return start, next_slot

    slot = 8 if bigtiff else 4
    for page in pages:
        start, next_slot = place(page)
        struct.pack_into(order + word, out, slot, start)
        slot = next_slot
    return bytes(out)


@dataclass
class Page:
    """A directory as read: tag -> (type, count, typed value), image data, sub-directories."""

    tags: dict[int, tuple[int, int, object]]
    blocks: list[bytes]
    children: dict[int, list[Page]]

    def value(self, tag: int) -> object:
        return self.tags[tag][2]


def read_tiff(data: bytes) -> list[Page]:
    order = "<" if data[:2] == b"II" else ">"
    bigtiff = struct.unpack_from(order + "H", data, 2)[0] == 43
    word, word_size = ("Q", 8) if bigtiff else ("I", 4)
    first = struct.unpack_from(order + word, data, 8 if bigtiff else 4)[0]

    def decode(type_: int, count: int, raw: bytes) -> object:
        if type_ in (BYTE, SBYTE, UNDEFINED, ASCII):
            return raw
        if type_ in (RATIONAL, SRATIONAL):
            code = "II" if type_ == RATIONAL else "ii"
            return tuple(struct.unpack_from(order + code, raw, 8 * i) for i in range(count))
        code = {13: "I", 18: "Q"}.get(type_) or _CODES[type_]
        return struct.unpack(f"{order}{count}{code}", raw)

    def parse(offset: int, depth: int) -> tuple[Page, int]:
        count = struct.unpack_from(order + ("Q" if bigtiff else "H"), data, offset)[0]
        pos = offset + (8 if bigtiff else 2)
        tags: dict[int, tuple[int, int, object]] = {}
        for _ in range(count):
            tag, type_, n = struct.unpack_from(order + ("HHQ" if bigtiff else "HHI"), data, pos)
            size = _SIZES.get(type_, 8) * n
            field_start = pos + (12 if bigtiff else 8)
            if size > word_size:
                field_start = struct.unpack_from(order + word, data, field_start)[0]
            tags[tag] = (type_, n, decode(type_, n, data[field_start : field_start + size]))
            pos += 20 if bigtiff else 12
        next_offset = struct.unpack_from(order + word, data, pos)[0]
        blocks = []
        for offsets_tag, counts_tag in ((273, 279), (324, 325)):
            if offsets_tag in tags:
                starts, lengths = tags[offsets_tag][2], tags[counts_tag][2]
                assert isinstance(starts, tuple) and isinstance(lengths, tuple)
                blocks = [data[s : s + n] for s, n in zip(starts, lengths, strict=True)]
        children: dict[int, list[Page]] = {}
        for pointer in (330, 34665, 34853):
            if pointer in tags and depth < 2:
                offsets = tags[pointer][2]
                assert isinstance(offsets, tuple)
                children[pointer] = [parse(child, depth + 1)[0] for child in offsets]
        return Page(tags, blocks, children), next_offset

    pages, offset = [], first
    while offset:
        page, offset = parse(offset, 0)
        pages.append(page)
    return pages


def all_tags(data: bytes) -> set[int]:
    """Every tag in every directory and sub-directory of a TIFF."""
    found: set[int] = set()

    def walk(page: Page) -> None:
        found.update(page.tags)
        for children in page.children.values():
            for child in children:
                walk(child)

    for page in read_tiff(data):
        walk(page)
    return found


def pillow_tiff(image: Image.Image, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "TIFF", **save)
    return out.getvalue()


def pillow_page(image: Image.Image, **save: object) -> Ifd:
    """One page as Pillow/libtiff writes it (structure tags and compressed strips), re-typed."""
    page = read_tiff(pillow_tiff(image, **save))[0]
    tags = [Tag(tag, type_, value) for tag, (type_, _, value) in page.tags.items()]
    tags = [t for t in tags if t.tag not in (273, 279, 324, 325)]
    return Ifd(tags, page.blocks)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def planted_tags(page: int = 1) -> list[Tag]:
    """IFD-level text, XMP, IPTC, Photoshop and XP tags, with FAKE values (page-specific name)."""
    irb = iptc_app13_body()[len(b"Photoshop 3.0\x00") :]
    iim = irb[12:]  # the IPTC-IIM datasets inside the 8BIM 0x0404 resource
    return [
        Tag(269, ASCII, PLANTED["DocumentName"]),
        Tag(270, ASCII, PLANTED["ImageDescription"]),
        Tag(271, ASCII, PLANTED["Make"]),
        Tag(272, ASCII, PLANTED["Model"]),
        Tag(285, ASCII, f"Page {page} {PLANTED['DocumentName']}"),
        Tag(305, ASCII, PLANTED["Software"]),
        Tag(306, ASCII, "2031:02:03 04:05:06"),
        Tag(315, ASCII, PLANTED["Artist"]),
        Tag(316, ASCII, PLANTED["HostComputer"]),
        Tag(33432, ASCII, PLANTED["Copyright"]),
        Tag(700, BYTE, planted_xmp()),
        Tag(33723, UNDEFINED, iim),
        Tag(34377, BYTE, irb),
        Tag(40093, BYTE, _utf16(PLANTED["XPAuthor"])),
        Tag(40092, BYTE, _utf16(PLANTED["XPComment"])),
        Tag(65000, ASCII, PLANTED["Vendor"]),  # an unknown private tag
    ]


def planted_exif_ifds() -> dict[int, list[Ifd]]:
    """ExifIFD (with Interop and a MakerNote) and GPS directories holding FAKE identifiers."""
    maker_note = b"FakeMaker\x00" + PLANTED["MakerNoteSerial"].encode() + b"\x00"
    maker_note += PLANTED["MakerNoteOwner"].encode("utf-16-le")
    exif = Ifd(
        [
            Tag(36867, ASCII, "2031:02:03 04:05:07"),
            Tag(36881, ASCII, "+09:30"),
            Tag(37510, UNDEFINED, b"ASCII\x00\x00\x00" + PLANTED["UserComment"].encode()),
            Tag(42032, ASCII, PLANTED["OwnerName"]),
            Tag(42033, ASCII, PLANTED["BodySerialNumber"]),
            Tag(42036, ASCII, PLANTED["LensModel"]),
            Tag(42037, ASCII, PLANTED["LensSerialNumber"]),
            Tag(42016, ASCII, PLANTED["ImageUniqueID"]),
            Tag(37500, UNDEFINED, maker_note),
        ]
    )
    gps = Ifd(
        [
            Tag(1, ASCII, "N"),
            Tag(2, RATIONAL, ((12, 1), (34, 1), (5678, 100))),
            Tag(3, ASCII, "E"),
            Tag(4, RATIONAL, ((98, 1), (7, 1), (6543, 100))),
            Tag(28, UNDEFINED, b"ASCII\x00\x00\x00" + PLANTED["GPSArea"].encode()),
        ]
    )
    return {34665: [exif], 34853: [gps]}


def planted_page(base: Ifd, page: int = 1, *, icc: bytes | None = None) -> Ifd:
    """``base`` with every planted tag, Exif and GPS directories, and an ICC profile."""
    tags = [t for t in base.tags if t.tag not in (34675,)]
    tags += [*planted_tags(page), Tag(34675, UNDEFINED, icc or planted_icc())]
    return Ifd(tags, base.blocks, base.tiled, {**base.children, **planted_exif_ifds()})


def frames(data: bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    """Pillow's decode of every page: mode, size, pixel bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = Image.open(io.BytesIO(data))
        decoded = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            decoded.append((image.mode, image.size, image.tobytes()))
        return decoded


def shown(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """The first page as a viewer shows it (TIFF Orientation applied)."""
    with Image.open(io.BytesIO(data)) as image:
        turned = ImageOps.exif_transpose(image)
        return turned.mode, turned.size, turned.tobytes()


def sample(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    return sample_image(mode, size)


# ---------------------------------------------------------------------------- DNG

CFA_SIZE = (32, 24)
# Raw-processing tags of a DNG's IFD0 (camera level) and raw directory: all must survive verbatim.
DNG_CAMERA_TAGS = [
    Tag(50706, BYTE, b"\x01\x04\x00\x00"),  # DNGVersion
    Tag(50707, BYTE, b"\x01\x01\x00\x00"),  # DNGBackwardVersion
    Tag(
        50721,
        SRATIONAL,
        tuple((v, 10000) for v in (6461, -907, -882, -4300, 12184, 2378, -819, 1944, 5931)),
    ),
    Tag(
        50722,
        SRATIONAL,
        tuple((v, 10000) for v in (5000, -500, -400, -3900, 11500, 2000, -700, 1800, 5500)),
    ),
    Tag(50778, SHORT, (17,)),  # CalibrationIlluminant1: Standard light A
    Tag(50779, SHORT, (21,)),  # CalibrationIlluminant2: D65
    Tag(50723, SRATIONAL, tuple((1 if i % 4 == 0 else 0, 1) for i in range(9))),
    Tag(50727, RATIONAL, ((1, 1), (1, 1), (1, 1))),  # AnalogBalance
    Tag(50728, RATIONAL, ((4873, 10000), (1, 1), (6012, 10000))),  # AsShotNeutral
    Tag(50730, SRATIONAL, ((-25, 100),)),  # BaselineExposure
    Tag(50731, RATIONAL, ((8, 10),)),  # BaselineNoise
    Tag(50732, RATIONAL, ((12, 10),)),  # BaselineSharpness
    Tag(50734, RATIONAL, ((1, 1),)),  # LinearResponseLimit
    Tag(
        50964,
        SRATIONAL,
        tuple((v, 10000) for v in (7000, 2000, 700, 3000, 6800, 200, 100, -900, 9000)),
    ),
]
DNG_RAW_TAGS = [
    Tag(33421, SHORT, (2, 2)),  # CFARepeatPatternDim
    Tag(33422, BYTE, b"\x00\x01\x01\x02"),  # CFAPattern RGGB
    Tag(50710, BYTE, b"\x00\x01\x02"),  # CFAPlaneColor
    Tag(50711, SHORT, (1,)),  # CFALayout
    Tag(50712, SHORT, tuple(range(0, 4096, 16))),  # LinearizationTable
    Tag(50713, SHORT, (1, 1)),  # BlackLevelRepeatDim
    Tag(50714, SHORT, (64,)),  # BlackLevel
    Tag(50717, SHORT, (4095,)),  # WhiteLevel
    Tag(50719, SHORT, (2, 2)),  # DefaultCropOrigin
    Tag(50720, SHORT, (28, 20)),  # DefaultCropSize
    Tag(50829, SHORT, (0, 0, 24, 32)),  # ActiveArea
    Tag(50733, LONG, (0,)),  # BayerGreenSplit
]
DNG_PLANTED = [
    Tag(50708, ASCII, f"{PLANTED['Make']} {PLANTED['Model']}"),  # UniqueCameraModel
    Tag(50709, ASCII, PLANTED["LensModel"]),  # LocalizedCameraModel
    Tag(50735, ASCII, PLANTED["BodySerialNumber"]),  # CameraSerialNumber
    Tag(50827, BYTE, b"IMG_" + PLANTED["DocumentName"].encode() + b"\x00"),  # OriginalRawFileName
    Tag(50740, BYTE, b"Adobe\x00MakN" + PLANTED["MakerNoteSerial"].encode()),  # DNGPrivateData
    Tag(50781, BYTE, bytes(range(16))),  # RawDataUniqueID
]


def cfa_raw(big_endian: bool = False) -> bytes:
    width, height = CFA_SIZE
    values = [(x * 97 + y * 131 + (x * y) % 37) % 4096 for y in range(height) for x in range(width)]
    return struct.pack(f"{'>' if big_endian else '<'}{len(values)}H", *values)


def make_dng(
    *, raw_in_ifd0: bool = False, big_endian: bool = False, orientation: int = 6, raw_type: int = 0
) -> bytes:
    """A DNG: a 16-bit CFA raw (two strips), an IFD0 RGB preview, a JPEG preview SubIFD, every
    raw-processing tag, and planted serials, names and metadata everywhere else."""
    width, height = CFA_SIZE
    raw = cfa_raw(big_endian)
    raw_structure = [
        Tag(254, LONG, (raw_type,)),
        Tag(256, SHORT, (width,)),
        Tag(257, SHORT, (height,)),
        Tag(258, SHORT, (16,)),
        Tag(259, SHORT, (1,)),
        Tag(262, SHORT, (32803,)),
        Tag(277, SHORT, (1,)),
        Tag(278, SHORT, (height // 2,)),
        Tag(284, SHORT, (1,)),
    ]
    half = len(raw) // 2
    raw_ifd = Ifd(raw_structure + DNG_RAW_TAGS, [raw[:half], raw[half:]])
    preview = sample("RGB", (16, 12))
    rgb_preview = pillow_page(preview, compression="raw")
    rgb_preview.tags = [t for t in rgb_preview.tags if t.tag != 254] + [Tag(254, LONG, (1,))]
    jpeg_preview = pillow_page(sample("RGB", (24, 16)), compression="jpeg")
    jpeg_preview.tags.append(Tag(254, LONG, (1,)))
    camera = DNG_CAMERA_TAGS + DNG_PLANTED + planted_tags() + [Tag(274, SHORT, (orientation,))]
    if raw_in_ifd0:
        ifd0 = Ifd(
            camera + raw_ifd.tags, raw_ifd.blocks, children={330: [rgb_preview, jpeg_preview]}
        )
    else:
        ifd0 = Ifd(
            camera + rgb_preview.tags, rgb_preview.blocks, children={330: [raw_ifd, jpeg_preview]}
        )
    ifd0.children.update(planted_exif_ifds())
    return write_tiff([ifd0], big_endian=big_endian)
