"""JPEG de-identification: identifiers gone; pixels, orientation, colour kept; bad files refused."""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, jpeg, scrub
from picsync.scrub.exif import orientation_only_exif, read_exif
from picsync.scrub.jpeg import strip_jpeg_bytes
from tests.scrub.planted import (
    PLANTED,
    XMP_HEADER,
    CountingSource,
    WriteOnlySink,
    ascii_,
    build_tiff,
    decoded,
    displayed,
    exiftool_hits,
    exiftool_report,
    icc_app2_bodies,
    icc_tags,
    insert_after_soi,
    jpeg_markers,
    jpeg_segment,
    make_jpeg,
    named_icc,
    planted_exif,
    planted_hits,
    planted_jpeg,
    planted_xmp,
    rational,
    scrubbed,
    short,
    standard_srgb_icc,
    sub_ifd,
)

pytestmark = pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO")

# Values every planted JPEG carries in its metadata (the PNG-only ones aside).
JPEG_PLANTED = {k: v for k, v in PLANTED.items() if not k.startswith("Png")}
KEPT_MARKERS = {0xD8, 0xE0, 0xE1, 0xE2, 0xEE, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD, 0xDA, 0xD9}


@pytest.mark.parametrize(
    "variant",
    [
        dict(mode="RGB"),
        dict(mode="RGB", progressive=True),
        dict(mode="L"),
        dict(mode="CMYK"),
        dict(mode="RGB", big_endian=True, orientation=8),
    ],
    ids=["baseline", "progressive", "gray", "cmyk-adobe", "big-endian-exif"],
)
def test_every_planted_identifier_is_gone_and_pixels_are_identical(
    variant: dict[str, object], tmp_path: Path
) -> None:
    source = planted_jpeg(**variant)  # type: ignore[arg-type]
    # The oracles can fail: the input carries what the output must not.
    expected = set(JPEG_PLANTED) - (set() if variant.get("progressive") else {"BetweenScans"})
    expected -= {"JfifThumb"} if variant["mode"] == "CMYK" else set()  # CMYK JPEGs have no JFIF
    assert set(planted_hits(source, JPEG_PLANTED)) == expected
    assert {"ImageDescription", "BodySerialNumber", "XmpCreator", "IptcByline", "IccDesc"} <= set(
        exiftool_hits(exiftool_report(source, tmp_path, "in.jpg"))
    )

    output, report = scrubbed(source)

    assert planted_hits(output) == []
    assert exiftool_hits(exiftool_report(output, tmp_path, "out.jpg")) == []
    assert decoded(output) == decoded(source)
    assert displayed(output) == displayed(source)
    assert {marker for marker, _, _ in jpeg_markers(output)} <= KEPT_MARKERS
    for name in ("APP1 Exif", "GPS", "MakerNote", "IFD1 thumbnail", "XMP", "ExtendedXMP"):
        assert name in report.removed
    for name in ("APP13 IPTC", "COM", "APP11 JUMBF", "APP2 MPF", "trailer after EOI"):
        assert name in report.removed
    assert report.format == "jpeg"


def test_segments_between_progressive_scans_are_dropped() -> None:
    source = planted_jpeg(progressive=True)
    output, report = scrubbed(source)
    scans = [m for m, _, _ in jpeg_markers(output) if m == 0xDA]
    assert len(scans) == sum(1 for m, _, _ in jpeg_markers(source) if m == 0xDA) > 1
    assert "APP4" in report.removed
    assert planted_hits(output, {"BetweenScans": PLANTED["BetweenScans"]}) == []


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_displays_the_same(orientation: int) -> None:
    source = planted_jpeg(orientation=orientation)
    output, _ = scrubbed(source)
    assert displayed(output) == displayed(source)
    app1 = [m for m, _, _ in jpeg_markers(output) if m == 0xE1]
    with Image.open(io.BytesIO(output)) as image:
        assert dict(image.getexif()) == ({} if orientation == 1 else {0x0112: orientation})
    assert len(app1) == (0 if orientation == 1 else 1)


def test_orientation_only_in_xmp_is_carried_into_exif() -> None:
    source = insert_after_soi(
        make_jpeg(), [jpeg_segment(0xE1, XMP_HEADER + planted_xmp(orientation=6))]
    )
    output, report = scrubbed(source)
    with Image.open(io.BytesIO(output)) as image:
        assert dict(image.getexif()) == {0x0112: 6}
    assert displayed(output) == displayed(source)
    assert displayed(output)[1] == (48, 64)
    assert "XMP" in report.removed


def test_duplicate_exif_is_dropped_and_the_first_one_rules() -> None:
    first = build_tiff([ascii_(0x013B, "First Artist Fakename"), short(0x0112, 6)])
    second = build_tiff([ascii_(0x013B, PLANTED["DuplicateExif"]), short(0x0112, 3)])
    source = insert_after_soi(
        make_jpeg(),
        [jpeg_segment(0xE1, b"Exif\x00\x00" + first), jpeg_segment(0xE1, b"Exif\x00\x00" + second)],
    )
    output, _ = scrubbed(source)
    assert sum(1 for m, _, _ in jpeg_markers(output) if m == 0xE1) == 1
    assert displayed(output) == displayed(source)
    assert read_exif(_app1_tiff(output)).orientation == 6
    assert planted_hits(output, {"a": "First Artist Fakename", "b": PLANTED["DuplicateExif"]}) == []


def _app1_tiff(jpeg: bytes) -> bytes:
    _, start, end = next(s for s in jpeg_markers(jpeg) if s[0] == 0xE1)
    assert jpeg[start + 4 : start + 10] == b"Exif\x00\x00"
    return jpeg[start + 10 : end]


def test_the_new_exif_holds_orientation_only() -> None:
    output, _ = scrubbed(planted_jpeg(orientation=5))
    info = read_exif(_app1_tiff(output))
    assert (info.orientation, info.capture_time, info.resolution, info.sections) == (
        5,
        None,
        None,
        (),
    )
    assert info.identifying == frozenset()


def test_capture_time_goes_to_the_report_not_the_file(tmp_path: Path) -> None:
    output, report = scrubbed(planted_jpeg(orientation=6))
    assert report.capture_time == "2031-02-03T04:05:07+09:30"
    assert b"2031" not in output
    assert "2031" not in exiftool_report(output, tmp_path)


def test_keep_capture_date_writes_the_date_without_time_of_day(tmp_path: Path) -> None:
    output, _ = scrubbed(planted_jpeg(), ScrubOptions(keep_capture_date=True))
    report = exiftool_report(output, tmp_path)
    assert "2031:02:03" in report
    for fragment in ("04:05", "+09:30", "4321"):
        assert fragment not in report
    assert read_exif(_app1_tiff(output)).orientation is None


def test_jfif_density_is_kept_and_its_thumbnail_dropped() -> None:
    source = planted_jpeg()
    with Image.open(io.BytesIO(source)) as image:
        assert image.info["jfif_density"] == (1, 1)
    output, report = scrubbed(source)
    marker, start, end = jpeg_markers(output)[0]
    assert marker == 0xE0 and end - start == 2 + 16
    assert output[start + 16 : start + 18] == b"\x00\x00"  # thumbnail width and height
    assert "JFIF thumbnail" in report.removed and "JFXX thumbnail" in report.removed


def test_scanner_resolution_recorded_only_in_exif_survives() -> None:
    jpeg = make_jpeg()
    _, start, end = jpeg_markers(jpeg)[0]
    no_jfif = jpeg[:start] + jpeg[end:]
    exif = build_tiff([rational(0x011A, (300, 1)), rational(0x011B, (300, 1)), short(0x0128, 2)])
    source = insert_after_soi(no_jfif, [jpeg_segment(0xE1, b"Exif\x00\x00" + exif)])
    output, _ = scrubbed(source)
    with Image.open(io.BytesIO(source)) as before, Image.open(io.BytesIO(output)) as after:
        assert before.info["dpi"] == after.info["dpi"] == (300, 300)


def test_cmyk_keeps_adobe_segment_and_colours() -> None:
    source = planted_jpeg("CMYK")
    output, _ = scrubbed(source)
    adobe = [output[s + 4 : e] for m, s, e in jpeg_markers(output) if m == 0xEE]
    assert len(adobe) == 1 and adobe[0].startswith(b"Adobe") and len(adobe[0]) == 12
    assert decoded(output) == decoded(source)
    assert decoded(output)[0] == "CMYK"


def test_standard_icc_profile_is_kept_verbatim() -> None:
    profile = standard_srgb_icc()
    source = planted_jpeg(icc=profile)
    output, _ = scrubbed(source)
    with Image.open(io.BytesIO(output)) as image:
        assert image.info["icc_profile"] == profile


def test_device_icc_profile_keeps_its_colorimetry() -> None:
    source = planted_jpeg()
    output, report = scrubbed(source)
    with Image.open(io.BytesIO(source)) as before, Image.open(io.BytesIO(output)) as after:
        original, clean = before.info["icc_profile"], after.info["icc_profile"]
    colour = (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"wtpt", b"chad", b"chrm")
    for tag in colour:
        assert icc_tags(clean)[tag] == icc_tags(original)[tag]
    assert "ICC profile text" in report.removed


def test_large_icc_profile_is_rechunked() -> None:
    profile = standard_srgb_icc()
    source = insert_after_soi(
        make_jpeg(), [jpeg_segment(0xE2, body) for body in icc_app2_bodies(profile, chunk=100)]
    )
    assert sum(1 for m, _, _ in jpeg_markers(source) if m == 0xE2) > 5
    output, _ = scrubbed(source)
    assert sum(1 for m, _, _ in jpeg_markers(output) if m == 0xE2) == 1
    with Image.open(io.BytesIO(output)) as image:
        assert image.info["icc_profile"] == profile


def test_large_file_streams_in_bounded_pieces() -> None:
    noise = random.Random(7).randbytes(1200 * 1000 * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (1200, 1000), noise).save(out, "JPEG", quality=95, restart_marker_rows=1)
    source = out.getvalue() + b"trailing bytes"
    assert len(source) > 1 << 20  # more than one read: markers may straddle pieces
    src, sink = CountingSource(source), WriteOnlySink()
    scrub(src, sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == source[: -len(b"trailing bytes")]
    assert sink.largest_write <= 1 << 20
    assert src.largest_read <= 1 << 20
    assert src.bytes_read <= len(source) + 512  # one pass, plus the format sniff


def test_strip_jpeg_bytes_matches_scrub() -> None:
    source = planted_jpeg(orientation=3)
    assert strip_jpeg_bytes(source) == scrubbed(source)[0]
    assert planted_hits(strip_jpeg_bytes(source)) == []


def test_output_is_canonical() -> None:
    once, _ = scrubbed(planted_jpeg(progressive=True, orientation=7))
    twice, report = scrubbed(once)
    assert twice == once
    assert report.removed == ("APP1 Exif",)  # replaced by an identical Orientation-only one


@pytest.mark.parametrize(
    ("label", "carrier"),
    [
        ("Artist", lambda: b"Exif\x00\x00" + build_tiff([ascii_(0x013B, PLANTED["Artist"])])),
        ("ThumbnailArtist", lambda: b"Exif\x00\x00" + planted_exif()),  # inside IFD1's JPEG
        ("XmpCreator", lambda: XMP_HEADER + planted_xmp()),
        ("Vendor", lambda: b"Meta\x00" + PLANTED["Vendor"].encode()),
    ],
)
def test_verification_refuses_before_writing_anything(
    label: str, carrier: Callable[[], bytes]
) -> None:
    # A standard profile is kept verbatim; if its copyright text repeats a value read from the
    # input, the verifier catches it and nothing reaches the destination.
    profile = named_icc("sRGB IEC61966-2.1", "Copyright " + PLANTED[label])
    marker = 0xE3 if label == "Vendor" else 0xE1
    source = insert_after_soi(
        make_jpeg(),
        [
            jpeg_segment(marker, carrier()),
            *(jpeg_segment(0xE2, b) for b in icc_app2_bodies(profile)),
        ],
    )
    sink = WriteOnlySink()
    with pytest.raises(RefusedError, match="failed verification") as refused:
        scrub(io.BytesIO(source), sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == b""
    assert PLANTED[label].lower() not in str(refused.value).lower()


def test_vendor_names_in_a_standard_profile_are_not_mistaken_for_leaks() -> None:
    # An iPhone photo: Make/LensMake "Apple" and Apple's own Display P3 profile.
    profile = named_icc("Display P3", "Copyright Apple Inc., 2022")
    exif = build_tiff(
        [
            ascii_(0x010F, "Apple"),
            ascii_(0x0110, "iPhone 13"),
            sub_ifd(0x8769, [ascii_(0xA433, "Apple")]),
        ]
    )
    xmp = b'<rdf:Description tiff:Make="Apple" photoshop:ICCProfile="Display P3"/>'
    source = insert_after_soi(
        make_jpeg(),
        [
            jpeg_segment(0xE1, b"Exif\x00\x00" + exif),
            jpeg_segment(0xE1, XMP_HEADER + xmp),
            *(jpeg_segment(0xE2, body) for body in icc_app2_bodies(profile)),
        ],
    )
    output, _ = scrubbed(source)
    with Image.open(io.BytesIO(output)) as image:
        assert image.info["icc_profile"] == profile
    assert b"iPhone 13" not in output


def test_conflicting_or_misplaced_orientation() -> None:
    twice = build_tiff([short(0x0112, 6), short(0x0112, 3)])
    refused = insert_after_soi(make_jpeg(), [jpeg_segment(0xE1, b"Exif\x00\x00" + twice)])
    assert "conflicting orientation" in _refusal(refused)
    # Orientation belongs to IFD0; a copy in the Exif IFD is ignored by readers, and by picsync.
    misplaced = build_tiff([sub_ifd(0x8769, [short(0x0112, 6)])])
    source = insert_after_soi(make_jpeg(), [jpeg_segment(0xE1, b"Exif\x00\x00" + misplaced)])
    output, _ = scrubbed(source)
    assert displayed(output) == displayed(source)
    assert displayed(output)[1] == (64, 48)
    assert 0xE1 not in [marker for marker, _, _ in jpeg_markers(output)]


def _refusal(data: bytes) -> str:
    with pytest.raises(RefusedError) as refused:
        scrubbed(data)
    message = str(refused.value)
    assert not any(value.lower() in message.lower() for value in PLANTED.values())
    return message


def test_refusals() -> None:
    good = planted_jpeg()
    sos = next(s for m, s, _ in jpeg_markers(good) if m == 0xDA)
    assert "truncated" in _refusal(good[: sos + 40])
    assert "truncated" in _refusal(good[:300])
    eoi = good.index(b"\xff\xd9", sos)
    assert "truncated" in _refusal(good[:eoi])
    app0_end = jpeg_markers(good)[0][2]
    assert "between segments" in _refusal(good[:app0_end] + b"\x00" + good[app0_end:])
    with pytest.raises(RefusedError, match="not a JPEG"):
        jpeg.scrub(io.BytesIO(b"\xff\xd9" + good[2:]), WriteOnlySink(), ScrubOptions())  # type: ignore[arg-type]
    # a segment whose length runs past the end of the file
    assert "truncated" in _refusal(good[:2] + b"\xff\xe1\xff\xff" + b"x" * 100)
    frame = next(s for m, s, _ in jpeg_markers(good) if m == 0xC0)
    assert "hierarchical" in _refusal(good[: frame + 1] + b"\xc5" + good[frame + 2 :])
    dqt = next(s for m, s, _ in jpeg_markers(good) if m == 0xDB)
    assert "table" in _refusal(good[: dqt + 4] + b"\x70" + good[dqt + 5 :])
    broken_exif = jpeg_segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\xff\xff")
    assert "EXIF" in _refusal(insert_after_soi(make_jpeg(), [broken_exif]))
    icc = icc_app2_bodies(standard_srgb_icc(), chunk=200)
    assert "ICC" in _refusal(
        insert_after_soi(make_jpeg(), [jpeg_segment(0xE2, b) for b in icc[:-1]])
    )
    assert "no image data" in _refusal(b"\xff\xd8\xff\xd9")


def test_exif_reader_finds_every_planted_value() -> None:
    for big_endian in (False, True):
        info = read_exif(planted_exif(orientation=7, big_endian=big_endian))
        assert info.orientation == 7
        assert info.capture_time == "2031-02-03T04:05:07+09:30"
        assert set(info.sections) == {"MakerNote", "GPS", "IFD1 thumbnail"}
        assert info.thumbnail is not None and info.thumbnail.startswith(b"\xff\xd8")
        expected = [
            PLANTED[label] for label in ("ImageDescription", "Artist", "XPAuthor", "GPSArea")
        ]
        expected += [PLANTED[label] for label in ("UserComment", "Interop", "MakerNoteSerial")]
        for value in expected:
            assert any(value.encode() in needle for needle in info.identifying), value
        assert PLANTED["Make"].encode() not in info.identifying


def test_orientation_only_exif_reads_back_in_pillow() -> None:
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif.load(b"Exif\x00\x00" + orientation_only_exif(orientation))
        assert dict(exif) == {0x0112: orientation}
        assert exif.get_ifd(0x8769) == {} and exif.get_ifd(0x8825) == {}


def test_odd_exif_headers_are_dropped_without_fuss() -> None:
    for body in (b"Exif\x00", b"Exif\x00\xff" + planted_exif(thumbnail=False)):
        source = insert_after_soi(make_jpeg(), [jpeg_segment(0xE1, body)])
        output, report = scrubbed(source)
        assert "APP1 Exif" in report.removed and planted_hits(output) == []


def test_a_damaged_second_exif_still_scrubs() -> None:
    source = insert_after_soi(
        make_jpeg(),
        [
            jpeg_segment(0xE1, b"Exif\x00\x00" + planted_exif(thumbnail=False)),
            jpeg_segment(0xE1, b"Exif\x00\x00MM\x00*junk " + PLANTED["Artist"].encode()),
        ],
    )
    output, _ = scrubbed(source)
    assert planted_hits(output) == []
    assert struct.unpack(">H", output[2:4])[0] == 0xFFE0  # JFIF first
