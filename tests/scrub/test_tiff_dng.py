"""DNG de-identification: raw-processing tags and CFA data kept; serials, names, previews gone.
Proprietary TIFF-shaped raw is refused by name."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from picsync.errors import RefusedError
from picsync.scrub.verify import find_leaks
from tests.scrub.planted import (
    PLANTED,
    exiftool_hits,
    exiftool_report,
    planted_hits,
    planted_needles,
    scrubbed,
)
from tests.scrub.tiff_samples import (
    ASCII,
    DNG_CAMERA_TAGS,
    DNG_RAW_TAGS,
    LONG,
    SHORT,
    SRATIONAL,
    UNDEFINED,
    Ifd,
    Tag,
    all_tags,
    cfa_raw,
    make_dng,
    pillow_page,
    planted_exif_ifds,
    read_tiff,
    sample,
    write_tiff,
)

GONE = {50735, 50827, 50740, 50709, 50781, 330, 34665, 34853, 700, 33723, 34377, 271, 272, 305}


@pytest.mark.parametrize(
    "variant",
    [{}, {"raw_in_ifd0": True}, {"big_endian": True}],
    ids=["raw-in-subifd", "raw-in-ifd0", "big-endian"],
)
def test_dng_keeps_raw_processing_tags_and_cfa_data(
    variant: dict[str, bool], tmp_path: Path
) -> None:
    source = make_dng(**variant)
    assert {"BodySerialNumber", "DocumentName", "MakerNoteSerial", "Model", "Artist"} <= set(
        planted_hits(source)
    )
    assert len(read_tiff(source)[0].children[330]) == 2  # the previews the output must lose

    output, report = scrubbed(source)

    pages = read_tiff(output)
    assert len(pages) == 1 and pages[0].children == {}
    page = pages[0]
    assert b"".join(page.blocks) == cfa_raw(variant.get("big_endian", False))
    assert (page.value(254), page.value(262), page.value(258)) == ((0,), (32803,), (16,))
    for tag in DNG_CAMERA_TAGS + DNG_RAW_TAGS:
        assert page.value(tag.tag) == tag.value, tag.tag
    assert page.value(50708) == b"Generic Camera\x00"
    assert page.value(274) == (6,)
    assert not GONE & all_tags(output)
    assert planted_hits(output) == []
    assert find_leaks(output, planted_needles()) == []
    report_text = exiftool_report(output, tmp_path, "out.dng")
    assert exiftool_hits(report_text) == []
    assert '"File:FileType": "DNG"' in report_text
    for name in ("DNG preview", "CameraSerialNumber", "OriginalRawFileName", "DNGPrivateData"):
        assert name in report.removed
    assert "UniqueCameraModel" in report.removed
    assert report.capture_time == "2031-02-03T04:05:07+09:30"


@pytest.mark.parametrize("variant", [{}, {"raw_in_ifd0": True}, {"big_endian": True}])
def test_dng_develops_identically_with_libraw(variant: dict[str, bool]) -> None:
    rawpy = pytest.importorskip("rawpy")  # LibRaw, an independent raw converter
    source = make_dng(**variant)
    output, _ = scrubbed(source)
    with rawpy.imread(io.BytesIO(source)) as before, rawpy.imread(io.BytesIO(output)) as after:
        assert (after.raw_image == before.raw_image).all()
        assert after.raw_pattern.tolist() == before.raw_pattern.tolist()
        assert after.black_level_per_channel == before.black_level_per_channel
        assert after.white_level == before.white_level
        assert after.sizes.flip == before.sizes.flip
        assert (after.postprocess() == before.postprocess()).all()


def test_dng_output_is_canonical() -> None:
    once, _ = scrubbed(make_dng())
    twice, report = scrubbed(once)
    assert twice == once
    assert report.removed == ()


def test_dng_tag_of_an_unexpected_type_is_not_copied() -> None:
    source = make_dng(raw_in_ifd0=True)
    patched = source.replace(b"\x21\xc6\x0a\x00", b"\x21\xc6\x02\x00", 1)  # ColorMatrix1 as ASCII
    assert patched != source
    output, report = scrubbed(patched)
    assert 50721 not in read_tiff(output)[0].tags
    assert "malformed tags" in report.removed


def test_dng_without_a_full_size_raw_image_is_refused() -> None:
    with pytest.raises(RefusedError, match="no full-size raw image"):
        scrubbed(make_dng(raw_type=1))  # every image a preview


def _cfa_page() -> Ifd:
    width, height = 32, 24
    return Ifd(
        [
            Tag(254, LONG, (0,)),
            Tag(256, SHORT, (width,)),
            Tag(257, SHORT, (height,)),
            Tag(258, SHORT, (16,)),
            Tag(259, SHORT, (1,)),
            Tag(262, SHORT, (32803,)),
            Tag(277, SHORT, (1,)),
            Tag(33421, SHORT, (2, 2)),
        ],
        [cfa_raw()],
    )


def test_canon_cr2_is_refused() -> None:
    page = pillow_page(sample(), compression="raw")
    page.blocks = [b"CR\x02\x00" + page.blocks[0][4:]]  # the first block lands at offset 8
    source = write_tiff([page])
    assert source[8:10] == b"CR"
    with pytest.raises(RefusedError, match="Canon CR2 raw"):
        scrubbed(source)


@pytest.mark.parametrize(
    ("make", "name"),
    [("NIKON CORPORATION", "Nikon NEF"), ("SONY", "Sony ARW"), ("Fake Vendor", "camera raw")],
)
def test_proprietary_raw_with_a_mosaic_subifd_is_refused(make: str, name: str) -> None:
    preview = pillow_page(sample("RGB", (16, 12)), compression="raw")
    preview.tags += [Tag(271, ASCII, make), Tag(254, LONG, (1,))]
    preview.children = {330: [_cfa_page()], **planted_exif_ifds()}
    with pytest.raises(RefusedError, match=name) as refused:
        scrubbed(write_tiff([preview]))
    assert "proprietary camera raw" in str(refused.value)
    assert not any(value.lower() in str(refused.value).lower() for value in PLANTED.values())


def test_raw_only_compression_is_refused() -> None:
    page = pillow_page(sample("L"), compression="raw")
    page.tags = [t for t in page.tags if t.tag != 259] + [Tag(259, SHORT, (34713,))]
    page.tags.append(Tag(271, ASCII, "NIKON CORPORATION"))
    with pytest.raises(RefusedError, match="Nikon NEF"):
        scrubbed(write_tiff([page]))


def test_camera_rgb_tiff_with_a_makernote_is_not_raw() -> None:
    page = pillow_page(sample(), compression="tiff_lzw")
    page.tags.append(Tag(271, ASCII, "NIKON CORPORATION"))
    page.children = planted_exif_ifds()
    output, report = scrubbed(write_tiff([page]))
    assert "MakerNote" in report.removed
    assert planted_hits(output) == []


def test_colour_matrix_values_are_not_rounded() -> None:
    extreme = Tag(50721, SRATIONAL, ((-(2**31), 1), (2**31 - 1, 3), *(((7, 11),) * 7)))
    source = make_dng(raw_in_ifd0=True)
    pages = read_tiff(source)
    assert pages[0].value(50721) != extreme.value
    page = Ifd(
        [*DNG_CAMERA_TAGS[:2], extreme, *_cfa_page().tags, DNG_RAW_TAGS[1]],
        _cfa_page().blocks,
    )
    page.tags.append(Tag(50740, UNDEFINED, PLANTED["MakerNoteSerial"].encode()))
    output, _ = scrubbed(write_tiff([page]))
    assert read_tiff(output)[0].value(50721) == extreme.value
