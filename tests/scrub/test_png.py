"""PNG de-identification: identifiers gone; pixels, orientation, colour kept; bad files refused."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, png, scrub
from picsync.scrub.exif import read_exif
from tests.scrub.planted import (
    PLANTED,
    PNG_SIGNATURE,
    CountingSource,
    WriteOnlySink,
    build_tiff,
    decoded,
    displayed,
    encode_png,
    exiftool_hits,
    exiftool_report,
    icc_tags,
    make_png,
    named_icc,
    plant_png,
    planted_hits,
    planted_png,
    planted_xmp,
    png_chunk,
    png_chunks,
    sample_image,
    scrubbed,
    short,
    standard_srgb_icc,
)

JPEG_ONLY = {"DuplicateExif", "ExtendedXmp", "IptcByline", "IptcCaption", "IptcCity", "Vendor"}
JPEG_ONLY |= {"Ducky", "Mpf", "Jfxx", "JfifThumb", "BetweenScans", "Trailer"}
PNG_PLANTED = {k: v for k, v in PLANTED.items() if k not in JPEG_ONLY}
KEPT_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"iCCP", b"eXIf", b"IDAT", b"IEND", b"acTL", b"fcTL"}
KEPT_CHUNKS |= {b"fdAT", b"pHYs", b"gAMA", b"cHRM", b"sRGB", b"bKGD", b"sBIT"}


def _noise(size: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(size)


def _apng() -> bytes:
    frames = [sample_image("RGBA", (32, 24)).rotate(angle) for angle in (0, 90, 180)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


VARIANTS = {
    "rgb": lambda: make_png("RGB"),
    "rgba": lambda: make_png("RGBA"),
    "gray": lambda: make_png("L"),
    "palette-trns": lambda: make_png("P", transparency=0),
    "gray16": lambda: encode_png(40, 30, 16, 0, _noise(40 * 30 * 2)),
    "rgb16": lambda: encode_png(40, 30, 16, 2, _noise(40 * 30 * 6)),
    "adam7": lambda: encode_png(37, 29, 8, 6, _noise(37 * 29 * 4), interlace=True),
    "adam7-tiny": lambda: encode_png(3, 2, 16, 2, _noise(3 * 2 * 6), interlace=True),
    "apng": _apng,
}


def _inflated_image_data(data: bytes) -> bytes:
    return zlib.decompress(b"".join(d for kind, d in png_chunks(data) if kind == b"IDAT"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_planted_identifier_is_gone_and_pixels_are_identical(
    variant: str, tmp_path: Path
) -> None:
    source = plant_png(VARIANTS[variant](), orientation=6)
    assert set(planted_hits(source, PNG_PLANTED)) == set(PNG_PLANTED)
    assert {"PngAuthor", "PngTitle", "ImageDescription", "IccDesc"} <= set(
        exiftool_hits(exiftool_report(source, tmp_path, "in.png"))
    )

    output, report = scrubbed(source)

    assert planted_hits(output) == []
    assert exiftool_hits(exiftool_report(output, tmp_path, "out.png")) == []
    assert decoded(output) == decoded(source)
    assert displayed(output) == displayed(source)
    assert _inflated_image_data(output) == _inflated_image_data(source)  # 16-bit exact
    assert {kind for kind, _ in png_chunks(output)} <= KEPT_CHUNKS
    for name in ("tEXt", "zTXt", "iTXt", "eXIf", "tIME", "GPS", "MakerNote", "IFD1 thumbnail"):
        assert name in report.removed
    for name in ("private chunk vpAg", "private chunk caBX", "trailer after IEND", "iCCP name"):
        assert name in report.removed
    assert report.format == "png"


def test_animation_frames_are_kept() -> None:
    source = plant_png(_apng())
    output, _ = scrubbed(source)
    kinds = [kind for kind, _ in png_chunks(output)]
    assert kinds.count(b"fcTL") == 3 and b"acTL" in kinds and b"fdAT" in kinds
    with Image.open(io.BytesIO(output)) as image:
        assert image.n_frames == 3
    assert decoded(output) == decoded(source)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_displays_the_same(orientation: int) -> None:
    source = planted_png(orientation=orientation)
    output, _ = scrubbed(source)
    assert displayed(output) == displayed(source)
    exif = [data for kind, data in png_chunks(output) if kind == b"eXIf"]
    if orientation == 1:
        assert exif == []
    else:
        (only,) = exif
        info = read_exif(only)
        assert (info.orientation, info.identifying, info.sections) == (orientation, frozenset(), ())


def test_orientation_only_in_xmp_is_carried_into_exif() -> None:
    xmp = planted_xmp(orientation=8)
    text = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)
    clean = make_png()
    source = clean[:33] + text + clean[33:]
    output, _ = scrubbed(source)
    assert displayed(source)[1] == displayed(output)[1] == (48, 64)
    assert displayed(output) == displayed(source)
    assert [kind for kind, _ in png_chunks(output)] == [b"IHDR", b"eXIf", b"IDAT", b"IEND"]


def test_orientation_in_raw_profile_text_is_honoured() -> None:
    exif = b"Exif\x00\x00" + build_tiff([short(0x0112, 3)])
    text = f"\nexif\n{len(exif):8}\n{exif.hex()}\n".encode()
    clean = make_png()
    source = clean[:33] + png_chunk(b"tEXt", b"Raw profile type exif\x00" + text) + clean[33:]
    output, _ = scrubbed(source)
    assert displayed(output) == displayed(source)
    assert b"eXIf" in [kind for kind, _ in png_chunks(output)]


def test_exif_placed_after_image_data_still_counts() -> None:
    clean = make_png()
    iend = len(clean) - 12
    exif = build_tiff([short(0x0112, 6)])
    source = clean[:iend] + png_chunk(b"eXIf", exif) + clean[iend:]
    output, _ = scrubbed(source)
    assert displayed(output) == displayed(source)
    assert displayed(output)[1] == (48, 64)


def test_icc_profile_is_renamed_and_sanitised() -> None:
    source = planted_png()
    output, report = scrubbed(source)
    (iccp,) = [data for kind, data in png_chunks(output) if kind == b"iCCP"]
    assert iccp.startswith(b"ICC profile\x00\x00")
    original = zlib.decompress(
        next(d for k, d in png_chunks(source) if k == b"iCCP").split(b"\x00", 1)[1][1:]
    )
    clean = zlib.decompress(iccp[13:])
    for tag in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"wtpt", b"chad", b"chrm"):
        assert icc_tags(clean)[tag] == icc_tags(original)[tag]
    assert "ICC profile text" in report.removed


def test_standard_icc_profile_is_kept_verbatim() -> None:
    profile = standard_srgb_icc()
    output, _ = scrubbed(planted_png(icc=profile))
    with Image.open(io.BytesIO(output)) as image:
        assert image.info["icc_profile"] == profile


def test_capture_time_goes_to_the_report_not_the_file() -> None:
    output, report = scrubbed(planted_png(orientation=6))
    assert report.capture_time == "2031-02-03T04:05:07+09:30"
    assert b"2031" not in output


def test_keep_capture_date_writes_the_date_without_time_of_day(tmp_path: Path) -> None:
    output, _ = scrubbed(planted_png(), ScrubOptions(keep_capture_date=True))
    report = exiftool_report(output, tmp_path)
    assert "2031:02:03" in report
    assert "04:05" not in report and "+09:30" not in report


def test_output_is_canonical() -> None:
    once, _ = scrubbed(planted_png("P", orientation=5))
    twice, report = scrubbed(once)
    assert twice == once
    assert report.removed == ("eXIf",)  # replaced by an identical Orientation-only one


def test_large_image_data_streams_in_bounded_pieces() -> None:
    source = encode_png(1000, 800, 8, 2, _noise(1000 * 800 * 3))
    assert len(source) > 2 << 20
    src, sink = CountingSource(source), WriteOnlySink()
    scrub(src, sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == source
    assert sink.largest_write <= 1 << 20
    assert src.largest_read <= 1 << 20
    assert src.bytes_read <= len(source) + 4096  # metadata pass + image pass + sniff


def test_verification_refuses_before_writing_anything() -> None:
    profile = named_icc("sRGB IEC61966-2.1", "Copyright " + PLANTED["PngAuthor"])
    source = planted_png(icc=profile)
    sink = WriteOnlySink()
    with pytest.raises(RefusedError, match="failed verification"):
        scrub(io.BytesIO(source), sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == b""


def _refusal(data: bytes) -> str:
    with pytest.raises(RefusedError) as refused:
        scrubbed(data)
    message = str(refused.value)
    assert not any(value.lower() in message.lower() for value in PLANTED.values())
    return message


def _with_chunk_data(png_bytes: bytes, kind: bytes, data: bytes, *, fix_crc: bool = True) -> bytes:
    """``png_bytes`` with the data of its first ``kind`` chunk replaced."""
    out, pos = bytearray(png_bytes[:8]), 8
    done = False
    for chunk_kind, chunk_data in png_chunks(png_bytes):
        if chunk_kind == kind and not done:
            chunk = png_chunk(kind, data)
            out += chunk if fix_crc else chunk[:-4] + png_chunk(kind, chunk_data)[-4:]
            done = True
        else:
            out += png_chunk(chunk_kind, chunk_data)
        pos += 12 + len(chunk_data)
    return bytes(out) + png_bytes[pos:]


def test_refusals() -> None:
    good = planted_png()
    raw = b"".join(b"\x00" + bytes(30) for _ in range(20))
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 20, 8, 2, 0, 0, 0))
    iend = png_chunk(b"IEND", b"")

    def built(*chunks: bytes) -> bytes:
        return PNG_SIGNATURE + ihdr + b"".join(chunks) + iend

    author = next(d for k, d in png_chunks(good) if k == b"tEXt")
    assert "CRC" in _refusal(_with_chunk_data(good, b"tEXt", author[:-1] + b"X", fix_crc=False))
    idat = next(d for k, d in png_chunks(good) if k == b"IDAT")
    damaged_idat = _with_chunk_data(good, b"IDAT", idat[:-1] + b"\x00", fix_crc=False)
    assert _refusal(damaged_idat) in (  # whichever check sees the damage first
        "PNG chunk fails its CRC check",
        "PNG image data is not a valid zlib stream",
    )
    assert "past the end" in _refusal(good[:200])
    assert "no IEND" in _refusal(good[: good.index(b"IEND") - 4])
    split = png_chunk(b"IDAT", zlib.compress(raw)[:10])
    rest = png_chunk(b"IDAT", zlib.compress(raw)[10:])
    assert "split" in _refusal(built(split, png_chunk(b"tEXt", b"a\x00b"), rest))
    assert "after its compressed stream" in _refusal(
        built(png_chunk(b"IDAT", zlib.compress(raw) + b"hidden text"))
    )
    assert "more than the image" in _refusal(
        built(png_chunk(b"IDAT", zlib.compress(raw + b"\x00hidden row")))
    )
    assert "exactly" in _refusal(built(png_chunk(b"IDAT", zlib.compress(raw[:-31]))))
    assert "exactly" in _refusal(built(png_chunk(b"IDAT", zlib.compress(raw)[:-4])))
    assert "zlib" in _refusal(built(png_chunk(b"IDAT", b"\x78\x9c" + b"\xff" * 40)))
    assert "critical" in _refusal(
        built(png_chunk(b"ABCD", b""), png_chunk(b"IDAT", zlib.compress(raw)))
    )
    assert "repeats" in _refusal(built(ihdr, png_chunk(b"IDAT", zlib.compress(raw))))
    assert "length" in _refusal(
        built(png_chunk(b"gAMA", b"\x00" * 5), png_chunk(b"IDAT", zlib.compress(raw)))
    )
    assert "length" in _refusal(
        built(png_chunk(b"tRNS", b"\x00" * 2), png_chunk(b"IDAT", zlib.compress(raw)))
    )
    assert "invalid type" in _refusal(
        built(png_chunk(b"t3Xt", b""), png_chunk(b"IDAT", zlib.compress(raw)))
    )
    assert "no image data" in _refusal(built())
    assert "EXIF" in _refusal(
        built(
            png_chunk(b"eXIf", b"II*\x00\xff\xff\x00\x00"), png_chunk(b"IDAT", zlib.compress(raw))
        )
    )
    assert "iCCP" in _refusal(
        built(png_chunk(b"iCCP", b"x\x00\x00garbage"), png_chunk(b"IDAT", zlib.compress(raw)))
    )
    with pytest.raises(RefusedError, match="not a PNG"):
        png.scrub(io.BytesIO(b"\x89PNX" + good[4:]), WriteOnlySink(), ScrubOptions())  # type: ignore[arg-type]
