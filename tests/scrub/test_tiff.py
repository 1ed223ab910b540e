"""TIFF de-identification: pages rebuilt from the allowlist; pixels, orientation, colour kept."""

from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

import pytest
from PIL import Image

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, scrub
from picsync.scrub.verify import find_leaks
from tests.scrub.planted import (
    PLANTED,
    CountingSource,
    WriteOnlySink,
    exiftool_hits,
    exiftool_report,
    icc_tags,
    planted_hits,
    planted_icc,
    planted_jpeg,
    planted_needles,
    scrubbed,
    standard_srgb_icc,
)
from tests.scrub.tiff_samples import (
    ASCII,
    LONG,
    SHORT,
    UNDEFINED,
    Ifd,
    Tag,
    all_tags,
    frames,
    pillow_page,
    planted_page,
    read_tiff,
    sample,
    shown,
    write_tiff,
)

# What a rebuilt plain-TIFF directory may hold (deid.md §2.4 allowlist).
ALLOWED = {254, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 282, 283, 284, 292, 293}
ALLOWED |= {296, 297, 301, 317, 318, 319, 320, 322, 323, 324, 325, 332, 334, 338, 339, 340, 341}
ALLOWED |= {347, 529, 530, 531, 532, 34675}
# Planted values a TIFF carries (see tiff_samples.planted_page); the JPEG/PNG-only ones aside.
TIFF_PLANTED = {
    "ImageDescription", "DocumentName", "Make", "Model", "Software", "Artist", "HostComputer",
    "Copyright", "XPAuthor", "XPComment", "UserComment", "OwnerName", "BodySerialNumber",
    "LensModel", "LensSerialNumber", "ImageUniqueID", "XmpCreator", "XmpHistory", "XmpDocumentID",
    "XmpSerial", "XmpPerson", "XmpEmbedded", "IptcByline", "IptcCaption", "IptcCity", "GPSArea",
    "MakerNoteSerial", "MakerNoteOwner", "IccDesc", "IccCopyright", "IccDeviceMaker",
    "IccDeviceModel", "IccSerial", "IccPrivate", "Vendor", "CaptureDate", "XmpDate", "XmpGps",
}  # fmt: skip
REMOVED_NAMES = {"Artist", "Copyright", "DateTime", "ImageDescription", "Make/Model", "Software"}
REMOVED_NAMES |= {"HostComputer", "DocumentName", "PageName", "XMP", "IPTC", "Photoshop IRB"}
REMOVED_NAMES |= {"Exif IFD", "GPS", "MakerNote", "XP tags", "private tags", "ICC profile text"}


def planted_pages(compression: str, mode: str = "RGB", **save: object) -> list[Ifd]:
    """Three pages of different sizes, several strips each, everything planted on every page."""
    sizes = [(64, 48), (40, 56), (33, 17)]
    return [
        planted_page(
            pillow_page(sample(mode, size), compression=compression, tiffinfo={278: 8}, **save),
            number,
        )
        for number, size in enumerate(sizes, start=1)
    ]


def assert_clean(output: bytes, tmp_path: Path) -> None:
    """No planted value anywhere: raw bytes, zlib streams, base64 (two scanners), exiftool."""
    assert planted_hits(output) == []
    assert find_leaks(output, planted_needles()) == []
    assert exiftool_hits(exiftool_report(output, tmp_path, "out.tif")) == []
    for page in read_tiff(output):
        assert set(page.tags) <= ALLOWED
        assert page.children == {}


@pytest.mark.parametrize(
    "compression", ["raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"]
)
def test_every_page_loses_every_planted_identifier_and_keeps_its_pixels(
    compression: str, tmp_path: Path
) -> None:
    source = write_tiff(planted_pages(compression))
    # The oracles can fail: the input carries what the output must not, on pages 2..n too.
    assert set(planted_hits(source)) == TIFF_PLANTED
    before = exiftool_report(source, tmp_path, "in.tif")
    assert {"Artist", "BodySerialNumber", "XmpCreator", "IptcByline", "GPS"} <= set(
        exiftool_hits(before)
    )
    assert '"IFD2:PageName": "Page 3' in before

    output, report = scrubbed(source)

    assert_clean(output, tmp_path)
    assert len(frames(output)) == 3
    assert frames(output) == frames(source)
    assert set(report.removed) >= REMOVED_NAMES
    assert report.format == "tiff"
    assert report.capture_time == "2031-02-03T04:05:07+09:30"


@pytest.mark.parametrize(
    ("mode", "compression"),
    [
        ("L", "tiff_lzw"),
        ("P", "tiff_adobe_deflate"),
        ("1", "group4"),
        ("1", "group3"),
        ("RGBA", "tiff_lzw"),
        ("CMYK", "tiff_lzw"),
        ("CMYK", "raw"),
        ("I;16", "raw"),
        ("I;16", "tiff_adobe_deflate"),
        ("I;16B", "raw"),
        ("I;16B", "tiff_lzw"),
        ("F", "raw"),
        ("YCbCr", "jpeg"),
    ],
)
def test_pixel_formats_survive_bit_for_bit(mode: str, compression: str, tmp_path: Path) -> None:
    image = sample("RGB" if mode == "P" else "L" if mode in ("1", "I;16", "I;16B", "F") else mode)
    image = image.quantize(32) if mode == "P" else image
    image = image.convert(mode) if mode in ("1", "I;16", "I;16B", "F") else image
    source = write_tiff(
        [planted_page(pillow_page(image, compression=compression, tiffinfo={278: 16}))],
        big_endian=mode == "I;16B",
    )
    output, _ = scrubbed(source)
    assert output[:2] == source[:2]  # byte order kept
    assert frames(output) == frames(source)
    assert frames(output)[0][0] == Image.open(io.BytesIO(source)).mode
    assert_clean(output, tmp_path)


def test_big_endian_multipage(tmp_path: Path) -> None:
    source = write_tiff(planted_pages("tiff_lzw"), big_endian=True)
    output, _ = scrubbed(source)
    assert output[:4] == b"MM\x00*"
    assert frames(output) == frames(source)
    assert_clean(output, tmp_path)


def test_bigtiff_stays_bigtiff(tmp_path: Path) -> None:
    source = write_tiff(planted_pages("tiff_adobe_deflate"), bigtiff=True)
    output, _ = scrubbed(source)
    assert output[:4] == b"II+\x00"
    assert frames(output) == frames(source)
    assert_clean(output, tmp_path)


def _tiles(image: Image.Image, tile: int, compress: bool) -> Ifd:
    """A tiled page by hand: edge tiles padded (with zeros), optionally Deflate-compressed."""
    width, height = image.size
    pixel = len(image.getbands())
    raw = image.tobytes()
    tiles = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            rows = b""
            for y in range(top, top + tile):
                row = raw[
                    (y * width + left) * pixel : (y * width + min(left + tile, width)) * pixel
                ]
                rows += row.ljust(tile * pixel, b"\x00") if y < height else bytes(tile * pixel)
            tiles.append(zlib.compress(rows) if compress else rows)
    tags = [
        Tag(256, SHORT, (width,)),
        Tag(257, SHORT, (height,)),
        Tag(258, SHORT, (8,) * pixel),
        Tag(259, SHORT, (8 if compress else 1,)),
        Tag(262, SHORT, (2 if pixel == 3 else 1,)),
        Tag(277, SHORT, (pixel,)),
        Tag(322, SHORT, (tile,)),
        Tag(323, SHORT, (tile,)),
    ]
    return Ifd(tags, tiles, tiled=True)


@pytest.mark.parametrize("compress", [False, True], ids=["uncompressed", "deflate"])
def test_tiled_pages_survive(compress: bool, tmp_path: Path) -> None:
    image = sample("RGB", (40, 36))  # 3 x 3 tiles of 16, the right and bottom ones partial
    source = write_tiff(
        [planted_page(_tiles(image, 16, compress)), _tiles(sample("L"), 32, compress)]
    )
    output, _ = scrubbed(source)
    assert frames(output) == frames(source)
    assert frames(output)[0] == ("RGB", (40, 36), image.tobytes())
    assert [len(page.blocks) for page in read_tiff(output)] == [9, 4]
    assert_clean(output, tmp_path)


def test_old_pkzip_style_deflate_code_survives() -> None:
    image = sample("RGB", (30, 20))
    page = Ifd(
        [
            Tag(256, SHORT, (30,)),
            Tag(257, SHORT, (20,)),
            Tag(258, SHORT, (8, 8, 8)),
            Tag(259, SHORT, (32946,)),
            Tag(262, SHORT, (2,)),
            Tag(277, SHORT, (3,)),
            Tag(278, SHORT, (20,)),
        ],
        [zlib.compress(image.tobytes())],
    )
    source = write_tiff([page])
    output, _ = scrubbed(source)
    assert frames(output) == frames(source) == [("RGB", (30, 20), image.tobytes())]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_displays_the_same(orientation: int) -> None:
    page = planted_page(pillow_page(sample(), compression="tiff_lzw"))
    page.tags.append(Tag(274, SHORT, (orientation,)))
    source = write_tiff([page, page])
    output, _ = scrubbed(source)
    assert shown(output) == shown(source)
    assert shown(output)[1] == ((48, 64) if orientation >= 5 else (64, 48))
    assert [p.value(274) for p in read_tiff(output)] == [(orientation,)] * 2


def test_device_icc_profile_keeps_its_colorimetry() -> None:
    source = write_tiff(planted_pages("raw")[:1])
    output, report = scrubbed(source)
    original = planted_icc()
    clean = read_tiff(output)[0].value(34675)
    assert isinstance(clean, bytes)
    for tag in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"wtpt", b"chad"):
        assert icc_tags(clean)[tag] == icc_tags(original)[tag]
    with Image.open(io.BytesIO(output)) as image:
        assert image.info["icc_profile"] == clean
    assert "ICC profile text" in report.removed


def test_standard_icc_profile_is_kept_verbatim() -> None:
    profile = standard_srgb_icc()
    source = write_tiff([planted_page(pillow_page(sample(), compression="raw"), icc=profile)])
    output, report = scrubbed(source)
    assert read_tiff(output)[0].value(34675) == profile
    assert "ICC profile text" not in report.removed


def test_resolution_is_kept() -> None:
    source = write_tiff([planted_page(pillow_page(sample(), compression="raw", dpi=(600, 600)))])
    output, _ = scrubbed(source)
    with Image.open(io.BytesIO(source)) as before, Image.open(io.BytesIO(output)) as after:
        assert after.info["dpi"] == before.info["dpi"] == (600, 600)


def test_capture_time_goes_to_the_report_not_the_file(tmp_path: Path) -> None:
    output, report = scrubbed(write_tiff(planted_pages("raw")))
    assert report.capture_time == "2031-02-03T04:05:07+09:30"
    assert b"2031" not in output
    assert "2031" not in exiftool_report(output, tmp_path)


def test_datetime_is_the_capture_time_when_there_is_no_exif() -> None:
    page = pillow_page(sample(), compression="raw")
    page.tags.append(Tag(306, ASCII, "2030:01:02 03:04:05"))
    output, report = scrubbed(write_tiff([page]))
    assert report.capture_time == "2030-01-02T03:04:05"
    assert b"2030" not in output


def test_keep_capture_date_writes_the_date_without_time_of_day(tmp_path: Path) -> None:
    source = write_tiff(planted_pages("tiff_lzw"))
    output, _ = scrubbed(source, ScrubOptions(keep_capture_date=True))
    report = exiftool_report(output, tmp_path)
    assert '"ExifIFD:DateTimeOriginal": "2031:02:03' in report
    for fragment in ("04:05", "+09:30"):
        assert fragment not in report
    assert frames(output) == frames(source)
    assert read_tiff(output)[0].children[34665][0].tags.keys() == {36867}


def test_reduced_resolution_pages_and_thumbnails_are_dropped() -> None:
    secret = b"THUMB-SN-FAKE-2718 " * 10
    full = planted_page(pillow_page(sample(), compression="tiff_lzw"))
    reduced = pillow_page(sample("RGB", (16, 12)), compression="raw")
    reduced.tags.append(Tag(254, LONG, (1,)))
    reduced.blocks = [secret.ljust(16 * 12 * 3, b"\x00")]
    jpeg_thumbnail = Ifd(
        [Tag(259, SHORT, (6,)), Tag(513, UNDEFINED, secret), Tag(514, LONG, (190,))]
    )
    mask = pillow_page(sample("1"), compression="group4")
    mask.tags.append(Tag(254, LONG, (4,)))
    pyramid_level = pillow_page(sample("RGB", (32, 24)), compression="raw")
    pyramid_level.tags.append(Tag(254, LONG, (1,)))
    pyramid_level.blocks = [secret.ljust(32 * 24 * 3, b"\x00")]
    full.children[330] = [pyramid_level]
    second = pillow_page(sample("L"), compression="raw")
    second.tags.append(Tag(254, LONG, (2,)))
    source = write_tiff([full, reduced, jpeg_thumbnail, mask, second])
    output, report = scrubbed(source)
    assert len(read_tiff(output)) == 2
    assert frames(output) == [
        ("RGB", (64, 48), sample().tobytes()),
        ("L", (64, 48), sample("L").tobytes()),
    ]
    assert planted_hits(output, {"ThumbnailSerial": PLANTED["ThumbnailSerial"]}) == []
    for name in ("reduced-resolution image", "thumbnail", "transparency mask", "SubIFD images"):
        assert name in report.removed
    assert 330 not in all_tags(output)


def test_output_is_canonical() -> None:
    once, _ = scrubbed(write_tiff(planted_pages("jpeg")))
    twice, report = scrubbed(once)
    assert twice == once
    assert report.removed == ()


def test_large_file_streams_in_bounded_pieces() -> None:
    noise = random.Random(7).randbytes(1600 * 1200 * 3)
    image = Image.frombytes("RGB", (1600, 1200), noise)
    source = write_tiff([pillow_page(image, compression="raw", tiffinfo={278: 700})])
    assert len(source) > 5 << 20
    src, sink = CountingSource(source), WriteOnlySink()
    scrub(src, sink, ScrubOptions())  # type: ignore[arg-type]
    assert src.largest_read <= 1 << 20
    assert sink.largest_write <= 1 << 20
    assert src.bytes_read <= len(source) + (64 << 10)  # image data is read once
    assert frames(sink.getvalue()) == [("RGB", (1600, 1200), noise)]


def test_verification_refuses_before_writing_anything() -> None:
    # A standard profile is kept verbatim; if its copyright text repeats a dropped value, the
    # verifier catches it and nothing reaches the destination.
    artist = "Dr Fakeman Xyz"
    notice = f"Copyright {artist}"  # as long as the profile's own "No copyright, use freely"
    profile = bytearray(standard_srgb_icc())
    cprt = bytes(profile).index("No copyright".encode("utf-16-be"))
    profile[cprt : cprt + 2 * len(notice)] = notice.encode("utf-16-be")
    page = pillow_page(sample(), compression="raw")
    page.tags += [Tag(315, ASCII, artist), Tag(34675, UNDEFINED, bytes(profile))]
    sink = WriteOnlySink()
    with pytest.raises(RefusedError, match="failed verification") as refused:
        scrub(io.BytesIO(write_tiff([page])), sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == b""
    assert "Fakeman" not in str(refused.value)


def test_deflate_file_streams_in_bounded_pieces() -> None:
    noise = random.Random(8).randbytes(1200 * 1000 * 3)
    image = Image.frombytes("RGB", (1200, 1000), noise)
    source = write_tiff([pillow_page(image, compression="tiff_adobe_deflate", tiffinfo={278: 900})])
    src, sink = CountingSource(source), WriteOnlySink()
    scrub(src, sink, ScrubOptions())  # type: ignore[arg-type]
    assert src.largest_read <= 1 << 20
    assert sink.largest_write <= 1 << 20
    assert src.bytes_read <= 2 * len(source) + (64 << 10)  # inflated once to check, then copied
    assert frames(sink.getvalue()) == [("RGB", (1200, 1000), noise)]


def test_planar_pages_survive() -> None:
    image = sample("RGB", (30, 20))
    planes = [band.tobytes() for band in image.split()]
    tags = [
        Tag(256, SHORT, (30,)),
        Tag(257, SHORT, (20,)),
        Tag(258, SHORT, (8, 8, 8)),
        Tag(259, SHORT, (1,)),
        Tag(262, SHORT, (2,)),
        Tag(277, SHORT, (3,)),
        Tag(278, SHORT, (10,)),
        Tag(284, SHORT, (2,)),
    ]
    blocks = [plane[half * 300 : (half + 1) * 300] for plane in planes for half in (0, 1)]
    source = write_tiff([Ifd(tags, blocks)])
    output, _ = scrubbed(source)
    assert frames(output) == frames(source) == [("RGB", (30, 20), image.tobytes())]
    assert len(read_tiff(output)[0].blocks) == 6


def _old_style_jpeg(
    stream: bytes, *, interchange: bool, strips: int = 1, stream_length: int | None = None
) -> bytes:
    """An old-style JPEG page (compression 6) holding ``stream`` (a complete JPEG)."""
    tags = [
        Tag(256, SHORT, (64,)),
        Tag(257, SHORT, (48,)),
        Tag(258, SHORT, (8, 8, 8)),
        Tag(259, SHORT, (6,)),
        Tag(262, SHORT, (6,)),
        Tag(277, SHORT, (3,)),
        Tag(278, SHORT, (48 // strips,)),
        Tag(512, SHORT, (1,)),
        Tag(530, SHORT, (2, 2)),
    ]
    if not interchange:
        return write_tiff([planted_page(Ifd(tags, [stream]))])
    # The stream is the first data block (offset 8); the strips point inside it.
    cut = len(stream) // strips // 2 * 2  # even: write_tiff pads blocks to even offsets
    pieces = [stream[i * cut : (i + 1) * cut if i < strips - 1 else None] for i in range(strips)]
    tags += [Tag(513, LONG, (8,)), Tag(514, LONG, (stream_length or len(stream),))]
    return write_tiff([planted_page(Ifd(tags, pieces))])


@pytest.mark.parametrize(
    ("interchange", "strips"), [(False, 1), (True, 1), (True, 3)], ids=["strip", "jif", "jif-3"]
)
def test_old_style_jpeg_is_scrubbed_as_whole_jpeg_streams(
    interchange: bool, strips: int, tmp_path: Path
) -> None:
    stream = planted_jpeg()
    source = _old_style_jpeg(stream, interchange=interchange, strips=strips)
    assert {"Artist", "ThumbnailSerial", "XmpCreator", "Trailer"} <= set(planted_hits(source))
    output, report = scrubbed(source)
    assert planted_hits(output) == []
    # (Arbitrary cuts of one stream are no valid strips for libtiff; the whole stream is.)
    whole = _old_style_jpeg(stream, interchange=interchange) if strips > 1 else source
    assert frames(output) == frames(whole)
    assert "JPEG data APP1 Exif" in report.removed
    page = read_tiff(output)[0]
    assert len(page.blocks) == 1
    if interchange:
        assert page.value(513) == page.value(273) and page.value(514) == page.value(279)
        assert page.value(278) == (48,)
    for tag in set(page.tags) - {513, 514}:
        assert tag in ALLOWED | {512}
    assert exiftool_hits(exiftool_report(output, tmp_path)) == []


def test_old_style_jpeg_strips_outside_the_stream_are_refused() -> None:
    source = _old_style_jpeg(planted_jpeg(), interchange=True, strips=2, stream_length=100)
    with pytest.raises(RefusedError, match="outside its JPEG stream"):
        scrubbed(source)
