"""Test helpers: build images carrying planted FAKE identifiers, and oracles that look for them.

Every value planted here is invented (``PLANTED``); no real person, place or device. Files are
built in memory by the tests themselves: nothing binary is checked in.

Builders
    ``build_tiff(ifd0, ifd1)`` + field constructors (``ascii_``, ``short``, ``rational``, ...):
        a small TIFF writer for EXIF blocks (and simple TIFF files).
    ``planted_exif(...)``: EXIF with IFD0, ExifIFD, GPS, Interop, XP* (UTF-16LE) tags, a
        MakerNote and an IFD1 thumbnail that carries its own EXIF.
    ``planted_xmp(...)``, ``extended_xmp_bodies()``, ``iptc_app13_body()``: XMP (with a base64
        embedded image), ExtendedXMP APP1 bodies, a Photoshop IRB with IPTC-IIM datasets.
    ``planted_icc(...)`` / ``standard_srgb_icc()`` / ``named_icc(desc, cprt)``: an ICC profile
        with device tags, private tags and header device fields / Pillow's (littleCMS) "sRGB
        built-in" profile / sRGB colorimetry under any name and copyright text.
    ``make_jpeg`` / ``plant_jpeg`` / ``planted_jpeg``: a clean Pillow JPEG, and the same with every
        kind of JPEG metadata spliced in (vendor APPn, C2PA JUMBF, Ducky, MPF, COM, JFXX, a JFIF
        thumbnail, duplicate Exif, segments between progressive scans, a trailer and a ZIP
        archive after EOI).
    ``encode_png`` / ``make_png`` / ``plant_png`` / ``planted_png``: PNGs (8/16-bit, palette,
        Adam7) and the same with text chunks (plain and zlib), XMP, eXIf, tIME, a named iCCP,
        private chunks and a trailer plus ZIP archive after IEND.
Running
    ``scrubbed(data, options)``: ``picsync.scrub.scrub`` into a ``WriteOnlySink`` (no read, seek or
        tell: like the encryptor a scrubber feeds); returns output and report.
    ``CountingSource``: a seekable source that counts bytes read (bounded-work assertions).
Oracles
    ``planted_hits(data)``: labels of planted values found in raw bytes, inflated zlib streams or
        decoded base64 (ASCII case-insensitive; UTF-8 and UTF-16).
    ``exiftool_report(data, tmp_path)`` / ``exiftool_hits(report)``: ``exiftool -a -G1 -ee -j``
        output as text / the planted values (and any GPS tag) it shows.
    ``decoded(data)`` / ``displayed(data)``: Pillow pixels (all frames) / after EXIF orientation.
    ``jpeg_markers(data)`` / ``png_chunks(data)`` / ``icc_tags(profile)``: simple walkers.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import subprocess
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from picsync.scrub import ScrubOptions, ScrubReport, scrub

# ---------------------------------------------------------------------------- planted values

PLANTED: dict[str, str] = {
    "ImageDescription": "Jane Testpatient MRN-0042-FAKE left forearm",
    "DocumentName": "Testpatient_Jane_DOB-1961-07-04-FAKE.jpg",
    "Make": "FakeCam Optics Ltd",
    "Model": "FC-9000 Clinic Edition",
    "Software": "FakeSoft Editor 9.1",
    "Artist": "Dr Fakeman Clinician",
    "HostComputer": "WS-FAKE-HOST-17",
    "Copyright": "Fake Dermatology Clinic North",
    "XPAuthor": "XPAuthor Fakename",
    "XPComment": "XPComment Testpatient FAKE",
    "UserComment": "UserComment Fake Referral Note",
    "OwnerName": "Owner Fakeperson",
    "BodySerialNumber": "SN-FAKE-7781",
    "LensModel": "FakeLens 50mm F1.8",
    "LensSerialNumber": "LSN-FAKE-5512",
    "ImageUniqueID": "UID-FAKE-0123456789ABCDEF",
    "CaptureDate": "2031:02:03",
    "XmpDate": "2031-02-03T04:05:07",
    "XmpGps": "12,34.9463N",
    "GPSArea": "Fake Street 42 Testville",
    "Interop": "Interop-FAKE-Format",
    "MakerNoteSerial": "MKN-SN-FAKE-3141",
    "MakerNoteOwner": "MakerNote Owner Fakename",
    "ThumbnailArtist": "Thumbnail Artist Fakename",
    "ThumbnailSerial": "THUMB-SN-FAKE-2718",
    "DuplicateExif": "Duplicate Exif Fakename",
    "XmpCreator": "XMP Creator Fakename",
    "XmpHistory": "/Patients/Testpatient, Jane FAKE/IMG_0001.psd",
    "XmpDocumentID": "xmp.did:FAKE-DOC-5F3A",
    "XmpSerial": "AUX-SN-FAKE-1618",
    "XmpPerson": "Person Fakeinimage",
    "XmpEmbedded": "GIMAGE-FAKE-EMBEDDED-PAYLOAD",
    "ExtendedXmp": "ExtXMP Secret Fakename",
    "IptcByline": "IPTC Byline Fakename",
    "IptcCaption": "IPTC Caption Testpatient FAKE",
    "IptcCity": "Iptcville-FAKE",
    "Comment": "COM note Fake Scanner Operator",
    "Vendor": "VENDOR-APP3-FAKE-SERIAL",
    "Ducky": "Ducky Copyright Fakename",
    "Jumbf": "C2PA-FAKE-CLAIM-GENERATOR",
    "Mpf": "MPF-FAKE-SECONDARY-IMAGE",
    "Jfxx": "JFXX-FAKE-THUMBNAIL",
    "JfifThumb": "JFIF THUMB PIXELS FAKE!!",
    "BetweenScans": "APP4-BETWEEN-SCANS-FAKE",
    "Trailer": "SEFT-FAKE-TRAILER-DATA",
    "IccDesc": "ICC Desc Testpatient Monitor FAKE",
    "IccCopyright": "ICC Copyright Fake Clinic",
    "IccDeviceMaker": "ICC-DMND-FAKE-MAKER",
    "IccDeviceModel": "ICC-DMDD-FAKE-MODEL",
    "IccSerial": "MMOD-SN-FAKE-0815",
    "IccPrivate": "ICC-PRIVATE-FAKE-TAG",
    "PngAuthor": "PNG Author Fakename",
    "PngCompressed": "PNG zTXt compressed Fakenote",
    "PngTitle": "PNG iTXt Fake Title",
    "PngPrivate": "PNG-PRIVATE-FAKE-CHUNK",
    "PngIccName": "Testpatient ICC FAKE",
    "PngTrailer": "PNG-TRAILER-FAKE-DATA",
}


def planted_needles() -> list[bytes]:
    """Every planted value as UTF-8 bytes (what a verifier is asked to look for)."""
    return [value.encode() for value in PLANTED.values()]


# ---------------------------------------------------------------------------- TIFF / EXIF


@dataclass(frozen=True)
class Field:
    """One TIFF entry: ``kind`` is ascii|byte|undefined|short|long|rational|ifd|blob."""

    tag: int
    kind: str
    value: object


def ascii_(tag: int, text: str) -> Field:
    return Field(tag, "ascii", text)


def short(tag: int, *values: int) -> Field:
    return Field(tag, "short", values)


def long_(tag: int, *values: int) -> Field:
    return Field(tag, "long", values)


def rational(tag: int, *pairs: tuple[int, int]) -> Field:
    return Field(tag, "rational", pairs)


def undefined(tag: int, data: bytes) -> Field:
    return Field(tag, "undefined", data)


def byte(tag: int, data: bytes) -> Field:
    return Field(tag, "byte", data)


def sub_ifd(tag: int, fields: list[Field]) -> Field:
    return Field(tag, "ifd", fields)


def blob(tag: int, data: bytes) -> Field:
    """A LONG offset to ``data`` written after the IFD (e.g. JPEGInterchangeFormat)."""
    return Field(tag, "blob", data)


_TYPES = {"byte": 1, "ascii": 2, "short": 3, "long": 4, "rational": 5, "undefined": 7}


def build_tiff(
    ifd0: list[Field], ifd1: list[Field] | None = None, *, big_endian: bool = False
) -> bytes:
    """TIFF bytes: IFD0 (with nested sub-IFDs) and an optional IFD1 chained after it."""
    order = ">" if big_endian else "<"
    out = bytearray((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8))

    def encode(field: Field) -> tuple[int, int, bytes]:
        value = field.value
        if field.kind == "ascii":
            data = str(value).encode() + b"\x00"
            return 2, len(data), data
        if field.kind in ("byte", "undefined"):
            assert isinstance(value, bytes)
            return _TYPES[field.kind], len(value), value
        assert isinstance(value, tuple)
        if field.kind == "rational":
            return 5, len(value), b"".join(struct.pack(order + "II", *pair) for pair in value)
        fmt = "H" if field.kind == "short" else "I"
        return _TYPES[field.kind], len(value), b"".join(struct.pack(order + fmt, v) for v in value)

    def write_ifd(fields: list[Field]) -> tuple[int, int]:
        fields = sorted(fields, key=lambda f: f.tag)
        start = len(out)
        out.extend(struct.pack(order + "H", len(fields)))
        slots = []
        for field in fields:
            if field.kind in ("ifd", "blob"):
                type_, count = 4, 1
            else:
                type_, count, _ = encode(field)
            out.extend(struct.pack(order + "HHI", field.tag, type_, count))
            slots.append(len(out))
            out.extend(b"\x00" * 4)
        next_slot = len(out)
        out.extend(b"\x00" * 4)
        for field, slot in zip(fields, slots, strict=True):
            if field.kind == "ifd":
                assert isinstance(field.value, list)
                target, _ = write_ifd(field.value)
            elif field.kind == "blob":
                assert isinstance(field.value, bytes)
                target = _append(out, field.value)
            else:
                data = encode(field)[2]
                if len(data) <= 4:
                    out[slot : slot + 4] = data.ljust(4, b"\x00")
                    continue
                target = _append(out, data)
            out[slot : slot + 4] = struct.pack(order + "I", target)
        return start, next_slot

    _, next_slot = write_ifd(ifd0)
    if ifd1 is not None:
        start, _ = write_ifd(ifd1)
        out[next_slot : next_slot + 4] = struct.pack(order + "I", start)
    return bytes(out)


def _append(out: bytearray, data: bytes) -> int:
    if len(out) % 2:
        out.append(0)
    start = len(out)
    out.extend(data)
    return start


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def _makernote() -> bytes:
    inner = build_tiff(
        [ascii_(0x001D, PLANTED["MakerNoteSerial"]), ascii_(0x0009, PLANTED["MakerNoteOwner"])]
    )
    return b"FakeMaker\x00" + inner


def thumbnail_jpeg() -> bytes:
    """A small JPEG thumbnail with its own APP1 EXIF and COM (as cameras write in IFD1)."""
    inner_exif = build_tiff(
        [
            ascii_(0x013B, PLANTED["ThumbnailArtist"]),
            sub_ifd(0x8769, [ascii_(0xA431, PLANTED["ThumbnailSerial"])]),
        ]
    )
    clean = make_jpeg(size=(16, 12), quality=50)
    return insert_after_soi(clean, [jpeg_segment(0xE1, b"Exif\x00\x00" + inner_exif)])


def planted_exif(
    *, orientation: int | None = None, big_endian: bool = False, thumbnail: bool = True
) -> bytes:
    """EXIF TIFF bytes with every planted EXIF value (IFD0, ExifIFD, GPS, Interop, IFD1)."""
    exif_ifd = [
        ascii_(0x9003, "2031:02:03 04:05:07"),  # DateTimeOriginal
        ascii_(0x9004, "2031:02:03 04:05:08"),  # CreateDate
        ascii_(0x9011, "+09:30"),  # OffsetTimeOriginal
        ascii_(0x9291, "4321"),  # SubSecTimeOriginal
        undefined(0x9286, b"ASCII\x00\x00\x00" + PLANTED["UserComment"].encode()),
        ascii_(0xA430, PLANTED["OwnerName"]),
        ascii_(0xA431, PLANTED["BodySerialNumber"]),
        ascii_(0xA434, PLANTED["LensModel"]),
        ascii_(0xA435, PLANTED["LensSerialNumber"]),
        ascii_(0xA420, PLANTED["ImageUniqueID"]),
        undefined(0x927C, _makernote()),
        sub_ifd(0xA005, [ascii_(0x0001, "R98"), ascii_(0x1000, PLANTED["Interop"])]),
    ]
    gps = [
        ascii_(0x0001, "N"),
        rational(0x0002, (12, 1), (34, 1), (5678, 100)),
        ascii_(0x0003, "E"),
        rational(0x0004, (98, 1), (7, 1), (6543, 100)),
        rational(0x0006, (4321, 10)),
        ascii_(0x001D, "2031:02:03"),
        undefined(0x001C, b"ASCII\x00\x00\x00" + PLANTED["GPSArea"].encode()),
    ]
    ifd0 = [
        ascii_(0x010E, PLANTED["ImageDescription"]),
        ascii_(0x010D, PLANTED["DocumentName"]),
        ascii_(0x010F, PLANTED["Make"]),
        ascii_(0x0110, PLANTED["Model"]),
        ascii_(0x0131, PLANTED["Software"]),
        ascii_(0x0132, "2031:02:03 04:05:06"),
        ascii_(0x013B, PLANTED["Artist"]),
        ascii_(0x013C, PLANTED["HostComputer"]),
        ascii_(0x8298, PLANTED["Copyright"]),
        byte(0x9C9D, _utf16(PLANTED["XPAuthor"])),
        byte(0x9C9C, _utf16(PLANTED["XPComment"])),
        rational(0x011A, (72, 1)),
        rational(0x011B, (72, 1)),
        short(0x0128, 2),
        sub_ifd(0x8769, exif_ifd),
        sub_ifd(0x8825, gps),
    ]
    if orientation is not None:
        ifd0.append(short(0x0112, orientation))
    ifd1 = None
    if thumbnail:
        thumb = thumbnail_jpeg()
        ifd1 = [short(0x0103, 6), blob(0x0201, thumb), long_(0x0202, len(thumb))]
    return build_tiff(ifd0, ifd1, big_endian=big_endian)


# ---------------------------------------------------------------------------- XMP / IPTC

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"


def planted_xmp(*, orientation: int | None = None) -> bytes:
    """An XMP packet with planted values, GPS, dates and a base64 embedded "image"."""
    embedded = base64.b64encode(PLANTED["XmpEmbedded"].encode() + bytes(range(40))).decode()
    orientation_attr = f' tiff:Orientation="{orientation}"' if orientation else ""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
 xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" xmlns:GImage="http://ns.google.com/photos/1.0/image/"
 xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 xmpMM:DocumentID="{PLANTED["XmpDocumentID"]}" aux:SerialNumber="{PLANTED["XmpSerial"]}"
 exif:GPSLatitude="{PLANTED["XmpGps"]}"
 exif:DateTimeOriginal="{PLANTED["XmpDate"]}"{orientation_attr}
 GImage:Mime="image/jpeg" GImage:Data="{embedded}">
<dc:creator><rdf:Seq><rdf:li>{PLANTED["XmpCreator"]}</rdf:li></rdf:Seq></dc:creator>
<photoshop:History>{PLANTED["XmpHistory"]}</photoshop:History>
<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>{PLANTED["XmpPerson"]}</rdf:li></rdf:Bag></Iptc4xmpExt:PersonInImage>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


def extended_xmp_bodies(chunk: int = 60) -> list[bytes]:
    """APP1 bodies of an ExtendedXMP packet split over several segments."""
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        'xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
        f'GCamera:Note="{PLANTED["ExtendedXmp"]}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    return [
        EXTENDED_XMP_HEADER
        + guid
        + struct.pack(">II", len(packet), offset)
        + packet[offset : offset + chunk]
        for offset in range(0, len(packet), chunk)
    ]


def iptc_app13_body() -> bytes:
    """A Photoshop 3.0 IRB holding IPTC-IIM By-line, Caption, City and Keywords."""
    datasets = b""
    for number, value in ((80, "IptcByline"), (120, "IptcCaption"), (90, "IptcCity")):
        data = PLANTED[value].encode()
        datasets += b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(data)) + data
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(datasets))
    resource += datasets + b"\x00" * (len(datasets) % 2)
    return b"Photoshop 3.0\x00" + resource


def ducky_app12_body() -> bytes:
    """Photoshop "Save for Web" APP12: a UTF-16BE copyright record."""
    text = PLANTED["Ducky"].encode("utf-16-be")
    record = struct.pack(">HHI", 3, len(text) + 4, len(text) // 2) + text
    return b"Ducky" + record + b"\x00\x00"


def zip_archive(text: str) -> bytes:
    """A ZIP archive holding ``text`` deflated (what a polyglot appends after the image)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("note.txt", text * 3)
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def jumbf_app11_body() -> bytes:
    """A C2PA-style JUMBF superbox (description + JSON content box) in an APP11 body."""
    description = _box(b"jumd", b"c2pa" + bytes(12) + b"\x03" + b"c2pa\x00")
    content = _box(b"json", b'{"claim_generator": "%s"}' % PLANTED["Jumbf"].encode())
    return b"JP" + b"\x00\x01" + b"\x00\x00\x00\x01" + _box(b"jumb", description + content)


# ---------------------------------------------------------------------------- ICC


def standard_srgb_icc() -> bytes:
    """littleCMS's "sRGB built-in" profile (v4; desc, cprt and colorimetric tags only)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def icc_tags(profile: bytes) -> dict[bytes, bytes]:
    """Tag signature -> tag data (as declared in the tag table)."""
    count = struct.unpack_from(">I", profile, 128)[0]
    tags = {}
    for index in range(count):
        sig, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
        tags[sig] = profile[offset : offset + size]
    return tags


def build_icc(header: bytes, tags: dict[bytes, bytes]) -> bytes:
    """An ICC profile from a 128-byte header and tag data (identical data is shared)."""
    table_size = 4 + 12 * len(tags)
    offsets: dict[bytes, int] = {}
    data = bytearray()
    entries = b""
    for sig, value in tags.items():
        if value not in offsets:
            data.extend(b"\x00" * (-len(data) % 4))
            offsets[value] = 128 + table_size + len(data)
            data.extend(value)
        entries += struct.pack(">4sII", sig, offsets[value], len(value))
    body = struct.pack(">I", len(tags)) + entries + bytes(data)
    size = 128 + len(body)
    return struct.pack(">I", size) + header[4:128] + body


def _text_type(text: str) -> bytes:
    return b"text\x00\x00\x00\x00" + text.encode() + b"\x00"


def _desc_type(text: str) -> bytes:
    ascii_text = text.encode() + b"\x00"
    return b"desc" + b"\x00" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text + b"\x00" * 79


def _mluc_type(text: str) -> bytes:
    utf16 = text.encode("utf-16-be")
    return (
        b"mluc"
        + b"\x00" * 4
        + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(utf16), 28)
        + utf16
    )


def named_icc(description: str, copyright_notice: str) -> bytes:
    """A v4 profile with sRGB colorimetry under the given ``desc`` and ``cprt`` texts (e.g.
    "Display P3" / "Copyright Apple Inc., 2022" to stand in for a vendor's standard profile)."""
    standard = standard_srgb_icc()
    tags = {b"desc": _mluc_type(description), b"cprt": _mluc_type(copyright_notice)}
    tags |= {sig: data for sig, data in icc_tags(standard).items() if sig not in tags}
    return build_icc(standard[:128], tags)


def planted_icc(*, version: int = 4) -> bytes:
    """An ICC profile (sRGB colorimetry) with identifying desc/cprt, dmnd/dmdd/mmod, a private
    text tag, and header device manufacturer/model and creation date filled in."""
    standard = standard_srgb_icc()
    colorimetric = {
        sig: data for sig, data in icc_tags(standard).items() if sig not in (b"desc", b"cprt")
    }
    text = _mluc_type if version >= 4 else _desc_type
    tags = {
        b"desc": text(PLANTED["IccDesc"]),
        b"cprt": _mluc_type(PLANTED["IccCopyright"])
        if version >= 4
        else _text_type(PLANTED["IccCopyright"]),
        **colorimetric,
        b"dmnd": text(PLANTED["IccDeviceMaker"]),
        b"dmdd": text(PLANTED["IccDeviceModel"]),
        b"mmod": b"mmod\x00\x00\x00\x00" + PLANTED["IccSerial"].encode() + b"\x00" * 7,
        b"zzzz": _text_type(PLANTED["IccPrivate"]),
    }
    header = bytearray(standard[:128])
    header[8] = version
    header[24:36] = struct.pack(">6H", 2031, 2, 3, 4, 5, 6)  # creation date
    header[48:56] = b"FAKEDV07"  # device manufacturer + model
    return build_icc(bytes(header), tags)


def icc_app2_bodies(profile: bytes, chunk: int = 65519) -> list[bytes]:
    parts = [profile[i : i + chunk] for i in range(0, len(profile), chunk)]
    return [b"ICC_PROFILE\x00" + bytes([n + 1, len(parts)]) + part for n, part in enumerate(parts)]


# ---------------------------------------------------------------------------- JPEG


def sample_image(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A deterministic image with detail in every channel (not a flat colour)."""
    width, height = size
    bands = len(Image.new(mode, (1, 1)).getbands())
    data = bytes(
        (x * 7 + y * 13 + band * 61 + (x * y) % 17) % 256
        for y in range(height)
        for x in range(width)
        for band in range(bands)
    )
    return Image.frombytes(mode, size, data)


def make_jpeg(
    mode: str = "RGB",
    size: tuple[int, int] = (64, 48),
    *,
    progressive: bool = False,
    quality: int = 90,
) -> bytes:
    out = io.BytesIO()
    sample_image(mode, size).save(out, "JPEG", quality=quality, progressive=progressive)
    return out.getvalue()


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_markers(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every marker segment, scans skipped; stops after EOI."""
    found, pos = [], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            pos += 1  # inside entropy-coded data
            continue
        marker = data[pos + 1]
        if marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9:
            found.append((marker, pos, pos + 2))
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        found.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    return found


def insert_after_soi(jpeg: bytes, segments: list[bytes]) -> bytes:
    """Splice segments in after SOI and any JFIF APP0 (which must stay first)."""
    pos = 2
    first = jpeg_markers(jpeg)[0]
    if first[0] == 0xE0 and jpeg[first[1] + 4 : first[1] + 9] == b"JFIF\x00":
        pos = first[2]
    return jpeg[:pos] + b"".join(segments) + jpeg[pos:]


def insert_between_scans(jpeg: bytes, segments: list[bytes]) -> bytes:
    """Splice segments in before the second SOS of a progressive JPEG."""
    scans = [start for marker, start, _ in jpeg_markers(jpeg) if marker == 0xDA]
    assert len(scans) >= 2, "not a progressive JPEG"
    return jpeg[: scans[1]] + b"".join(segments) + jpeg[scans[1] :]


def with_jfif_thumbnail(jpeg: bytes) -> bytes:
    """Replace the JFIF APP0 by one carrying a 4x2 RGB thumbnail (24 planted bytes)."""
    marker, start, end = jpeg_markers(jpeg)[0]
    assert marker == 0xE0
    body = jpeg[start + 4 : end]
    thumb = PLANTED["JfifThumb"].encode()
    assert len(thumb) == 4 * 2 * 3
    return jpeg[:start] + jpeg_segment(0xE0, body[:12] + b"\x04\x02" + thumb) + jpeg[end:]


def plant_jpeg(
    jpeg: bytes,
    *,
    orientation: int | None = None,
    big_endian: bool = False,
    icc: bytes | None = None,
    trailer: bool = True,
) -> bytes:
    """``jpeg`` with every kind of identifying JPEG metadata spliced in."""
    segments = [
        jpeg_segment(
            0xE1, b"Exif\x00\x00" + planted_exif(orientation=orientation, big_endian=big_endian)
        ),
        jpeg_segment(0xE1, XMP_HEADER + planted_xmp()),
        *(jpeg_segment(0xE1, body) for body in extended_xmp_bodies()),
        jpeg_segment(0xED, iptc_app13_body()),
        *(jpeg_segment(0xE2, body) for body in icc_app2_bodies(icc or planted_icc())),
        jpeg_segment(0xE2, b"MPF\x00" + PLANTED["Mpf"].encode()),
        jpeg_segment(0xEB, jumbf_app11_body()),
        jpeg_segment(0xEC, ducky_app12_body()),
        jpeg_segment(0xE3, b"Meta\x00" + PLANTED["Vendor"].encode()),
        jpeg_segment(0xE0, b"JFXX\x00\x13" + PLANTED["Jfxx"].encode()),
        jpeg_segment(0xFE, PLANTED["Comment"].encode()),
        jpeg_segment(
            0xE1,
            b"Exif\x00\x00"
            + build_tiff([ascii_(0x013B, PLANTED["DuplicateExif"]), short(0x0112, 3)]),
        ),
    ]
    out = insert_after_soi(jpeg, segments)
    if jpeg_markers(out)[0][0] == 0xE0:
        out = with_jfif_thumbnail(out)
    if sum(1 for marker, _, _ in jpeg_markers(out) if marker == 0xDA) > 1:
        out = insert_between_scans(
            out,
            [
                jpeg_segment(0xE4, PLANTED["BetweenScans"].encode()),
                jpeg_segment(0xFE, PLANTED["Comment"].encode()),
            ],
        )
    if trailer:  # a Samsung-style trailer, then a ZIP archive (a JPEG/ZIP polyglot)
        out += b"SEFH" + PLANTED["Trailer"].encode() + zip_archive(PLANTED["Trailer"])
    return out


def planted_jpeg(
    mode: str = "RGB",
    *,
    progressive: bool = False,
    orientation: int | None = None,
    big_endian: bool = False,
    icc: bytes | None = None,
    trailer: bool = True,
) -> bytes:
    """A Pillow JPEG with every kind of planted metadata (see ``plant_jpeg``)."""
    clean = make_jpeg(mode, progressive=progressive)
    return plant_jpeg(
        clean, orientation=orientation, big_endian=big_endian, icc=icc, trailer=trailer
    )


# ---------------------------------------------------------------------------- PNG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk up to and including IEND."""
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def encode_png(
    width: int,
    height: int,
    bit_depth: int,
    color_type: int,
    pixels: bytes,
    *,
    interlace: bool = False,
    extra: list[bytes] | None = None,
) -> bytes:
    """A PNG from raw pixel bytes (rows packed, no filter), optionally Adam7-interlaced."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bits = channels * bit_depth
    row_bytes = (width * bits + 7) // 8
    rows = [pixels[y * row_bytes : (y + 1) * row_bytes] for y in range(height)]
    if not interlace:
        raw = b"".join(b"\x00" + row for row in rows)
    else:
        assert bits % 8 == 0, "the test encoder interlaces whole-byte pixels only"
        size = bits // 8
        raw = b""
        for x0, y0, dx, dy in (
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ):
            for y in range(y0, height, dy):
                picked = b"".join(rows[y][x * size : (x + 1) * size] for x in range(x0, width, dx))
                if picked:
                    raw += b"\x00" + picked
    ihdr = struct.pack(
        ">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 1 if interlace else 0
    )
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + b"".join(extra or [])
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def make_png(mode: str = "RGB", size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    out = io.BytesIO()
    image = sample_image("RGB" if mode == "P" else mode, size)
    if mode == "P":
        image = image.quantize(64)
    image.save(out, "PNG", **save)
    return out.getvalue()


def _itxt(keyword: str, text: str, *, compressed: bool) -> bytes:
    value = zlib.compress(text.encode()) if compressed else text.encode()
    return png_chunk(
        b"iTXt", keyword.encode() + b"\x00" + bytes([compressed, 0]) + b"en\x00\x00" + value
    )


def plant_png(
    png: bytes,
    *,
    orientation: int | None = None,
    icc: bytes | None = None,
    xmp_orientation: int | None = None,
    trailer: bool = True,
) -> bytes:
    """``png`` with text chunks (plain and compressed), XMP, eXIf, tIME, iCCP, private chunks and
    a trailer after IEND spliced in, before and after the image data."""
    profile = icc or planted_icc()
    before = [
        png_chunk(b"iCCP", PLANTED["PngIccName"].encode() + b"\x00\x00" + zlib.compress(profile)),
        png_chunk(b"tEXt", b"Author\x00" + PLANTED["PngAuthor"].encode()),
        png_chunk(
            b"zTXt", b"Description\x00\x00" + zlib.compress(PLANTED["PngCompressed"].encode())
        ),
        _itxt("Title", PLANTED["PngTitle"], compressed=False),
        _itxt(
            "XML:com.adobe.xmp", planted_xmp(orientation=xmp_orientation).decode(), compressed=True
        ),
        png_chunk(b"eXIf", planted_exif(orientation=orientation)),
        png_chunk(b"tIME", struct.pack(">HBBBBB", 2031, 2, 3, 4, 5, 6)),
        png_chunk(b"vpAg", PLANTED["PngPrivate"].encode()),
    ]
    after = [
        png_chunk(b"tEXt", b"Comment\x00" + PLANTED["Comment"].encode()),
        png_chunk(b"caBX", PLANTED["Jumbf"].encode()),
    ]
    chunks = png_chunks(png)
    if any(kind == b"iCCP" or kind == b"sRGB" for kind, _ in chunks):
        before = before[1:]
    first_idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    out = PNG_SIGNATURE + png_chunk(*chunks[0]) + b"".join(before)
    out += b"".join(png_chunk(kind, data) for kind, data in chunks[1:first_idat])
    out += b"".join(png_chunk(kind, data) for kind, data in chunks[first_idat:-1])
    out += b"".join(after) + png_chunk(b"IEND", b"")
    if trailer:  # text, then a ZIP archive (a PNG/ZIP polyglot)
        out += PLANTED["PngTrailer"].encode() + zip_archive(PLANTED["PngTrailer"])
    return out


def planted_png(
    mode: str = "RGB",
    *,
    orientation: int | None = None,
    xmp_orientation: int | None = None,
    icc: bytes | None = None,
    trailer: bool = True,
) -> bytes:
    """A Pillow PNG with every kind of planted metadata (see ``plant_png``)."""
    clean = make_png(mode)
    return plant_png(
        clean, orientation=orientation, icc=icc, xmp_orientation=xmp_orientation, trailer=trailer
    )


# ---------------------------------------------------------------------------- running & oracles


class CountingSource(io.BytesIO):
    """A seekable source that records how much was read, and the largest single read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0
        self.largest_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        self.largest_read = max(self.largest_read, len(chunk))
        return chunk


class WriteOnlySink:
    """A destination that can only be written, like the encryptor a scrubber feeds."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.largest_write = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self.largest_write = max(self.largest_write, len(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def scrubbed(data: bytes, options: ScrubOptions | None = None) -> tuple[bytes, ScrubReport]:
    """Run ``picsync.scrub.scrub`` on ``data`` into a write-only sink; output and report."""
    sink = WriteOnlySink()
    report = scrub(CountingSource(data), sink, options)  # type: ignore[arg-type]
    return sink.getvalue(), report


_ZLIB_START = re.compile(rb"\x78[\x01\x5e\x9c\xda]")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{12,}={0,2}")


def planted_hits(data: bytes, values: dict[str, str] | None = None) -> list[str]:
    """Labels of planted values present in ``data``, its zlib streams or its base64 runs."""
    layers = [data]
    for match in _ZLIB_START.finditer(data):
        inflater = zlib.decompressobj()
        try:
            layers.append(inflater.decompress(data[match.start() :], 1 << 24))
        except zlib.error:
            continue
    for layer in list(layers):
        for match in _BASE64.finditer(layer):
            run = match.group()
            for shift in range(4):
                part = run[shift:]
                try:
                    layers.append(base64.b64decode(part[: len(part) // 4 * 4]))
                except ValueError:
                    continue
    lowered = [layer.lower() for layer in layers]
    hits = []
    for label, value in (values or PLANTED).items():
        forms = [value.encode(), value.encode("utf-16-le"), value.encode("utf-16-be")]
        if any(form.lower() in layer for form in forms for layer in lowered):
            hits.append(label)
    return hits


def exiftool_report(data: bytes, tmp_path: Path, name: str = "probe") -> str:
    """``exiftool -a -G1 -ee -j`` on ``data`` as JSON text (every tag exiftool can find)."""
    path = tmp_path / name
    path.write_bytes(data)
    result = subprocess.run(
        ["exiftool", "-a", "-G1", "-ee", "-j", str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.stdout, result.stderr.decode(errors="replace")
    json.loads(result.stdout)  # must be valid JSON: exiftool read the file
    return result.stdout.decode("utf-8", errors="replace")


def exiftool_hits(report: str) -> list[str]:
    """Labels of planted values exiftool reported (case-insensitive), plus "GPS" for any GPS tag."""
    lowered = report.lower()
    hits = [label for label, value in PLANTED.items() if value.lower() in lowered]
    if re.search(r'"GPS[^"]*:', report):
        hits.append("GPS")
    return hits


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the planted (fake) MPF segment
        image = Image.open(io.BytesIO(data))
        image.load()
        return image


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """Pillow's decode: mode, size and raw pixel bytes (every frame, for animations)."""
    with _open(data) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            frames.append(image.tobytes())
        return image.mode, image.size, b"".join(frames)


def displayed(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """Pixels as a viewer shows them: decoded, then EXIF/XMP orientation applied."""
    with _open(data) as image:
        shown = ImageOps.exif_transpose(image)
        return shown.mode, shown.size, shown.tobytes()
