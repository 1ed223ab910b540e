"""HEIF de-identification: identifiers gone; pixels, orientation, colour kept; bad files refused.

Inputs are encoded by libheif (pillow-heif) with planted EXIF, XMP, ICC and thumbnails, then
optionally re-laid out by ``heif_builders.relayout`` to reach container variants libheif does not
write. Oracles: ``planted_hits`` and ``verify.find_leaks`` (raw bytes, zlib, base64), exiftool,
and libheif's decode (pixels after irot/imir/clap).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, scrub
from picsync.scrub.heif_meta import item_data
from picsync.scrub.verify import find_leaks
from tests.scrub.heif_builders import (
    DEPTH_URN,
    GAIN_MAP_URN,
    ExtraItem,
    Layout,
    aux_c,
    box,
    decoded,
    full_box,
    heif_info,
    item_ids_of,
    item_types,
    make_heic,
    make_heic_16bit,
    meta_children,
    parsed_meta,
    pillow_pixels,
    properties,
    property_types,
    reference_types,
    relayout,
    thumbnail_ids,
    top_level_types,
    udes,
)
from tests.scrub.planted import (
    PLANTED,
    WriteOnlySink,
    exiftool_hits,
    exiftool_report,
    icc_tags,
    planted_hits,
    planted_needles,
    scrubbed,
    standard_srgb_icc,
)

# What a libheif file made by make_heic carries: EXIF (with its thumbnail's), XMP, ICC values.
EXPECTED_IN_SOURCE = {
    "ImageDescription",
    "BodySerialNumber",
    "OwnerName",
    "GPSArea",
    "XPAuthor",
    "MakerNoteSerial",
    "ThumbnailSerial",
    "XmpCreator",
    "XmpHistory",
    "XmpEmbedded",
    "IccDesc",
    "IccSerial",
    "IccPrivate",
}
KEPT_PROPERTY_TYPES = {b"hvcC", b"ispe", b"colr", b"pixi", b"irot", b"imir", b"clap", b"auxC"}

VARIANTS = {
    "single": lambda: make_heic(),
    "grid": lambda: make_heic((200, 150), orientation=5, tile_size=64, thumbnails=(48, 24)),
    "alpha": lambda: make_heic(mode="RGBA", orientation=8),
    "10-bit": make_heic_16bit,
    "odd-size": lambda: make_heic((63, 37), orientation=2),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_planted_identifier_is_gone_and_pixels_are_identical(
    variant: str, tmp_path: Path
) -> None:
    source = VARIANTS[variant]()
    # The oracles can fail: the input carries what the output must not.
    no_icc = {name for name in EXPECTED_IN_SOURCE if name.startswith("Icc")}
    assert EXPECTED_IN_SOURCE - (no_icc if variant == "10-bit" else set()) <= set(
        planted_hits(source)
    )
    assert {"ImageDescription", "BodySerialNumber", "XmpCreator", "GPS"} <= set(
        exiftool_hits(exiftool_report(source, tmp_path, "in.heic"))
    )

    output, report = scrubbed(source)

    assert planted_hits(output) == []
    assert find_leaks(output, planted_needles()) == []
    assert exiftool_hits(exiftool_report(output, tmp_path, "out.heic")) == []
    assert decoded(output) == decoded(source)
    assert set(item_types(output)) <= {b"hvc1", b"grid"}
    assert set(property_types(output)) <= KEPT_PROPERTY_TYPES
    assert top_level_types(output) == [b"ftyp", b"meta", b"mdat"]
    assert set(reference_types(output)) <= {b"dimg", b"auxl"}
    info = heif_info(output)
    assert info["thumbnails"] == []
    assert not info.get("exif") and not info.get("xmp")
    for name in ("Exif item", "XMP item", "GPS", "MakerNote", "IFD1 thumbnail"):
        assert name in report.removed
    assert report.format == "heif"


def test_thumbnails_are_dropped_but_the_image_and_its_orientation_stay() -> None:
    source = make_heic((96, 64), orientation=6, thumbnails=(48, 32))
    assert len(heif_info(source)["thumbnails"]) == 2  # type: ignore[arg-type]
    output, report = scrubbed(source)
    assert heif_info(output)["thumbnails"] == []
    assert item_types(output) == [b"hvc1"]
    assert "thumbnail image" in report.removed
    assert decoded(output)[1] == (64, 96)  # rotated for display


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_displays_the_same(orientation: int) -> None:
    source = make_heic((48, 32), orientation=orientation, thumbnails=())
    output, _ = scrubbed(source)
    assert properties(output, b"irot") == properties(source, b"irot")
    assert properties(output, b"imir") == properties(source, b"imir")
    assert properties(output, b"clap") == properties(source, b"clap") != []
    assert decoded(output) == decoded(source)
    assert pillow_pixels(output) == pillow_pixels(source)
    expected_size = (32, 48) if orientation >= 5 else (48, 32)
    assert decoded(output)[1] == expected_size
    if orientation != 1:
        assert properties(output, b"irot") or properties(output, b"imir")


def test_grid_keeps_every_tile_and_its_layout() -> None:
    source = make_heic((200, 150), orientation=1, tile_size=64, thumbnails=(32,))
    output, _ = scrubbed(source)
    types = item_types(output)
    assert types.count(b"grid") == 1 and types.count(b"hvc1") == 4 * 3
    assert heif_info(output)["tiling"] == heif_info(source)["tiling"]
    assert decoded(output) == decoded(source)


def test_grid_description_in_idat_survives() -> None:
    source = relayout(
        make_heic((200, 150), tile_size=64), Layout(in_idat=lambda _, kind: kind == b"grid")
    )
    assert b"idat" in meta_children(source)
    output, _ = scrubbed(source)
    assert decoded(output) == decoded(source)


def test_alpha_plane_is_kept_and_the_thumbnails_alpha_dropped() -> None:
    source = make_heic(mode="RGBA", orientation=1, thumbnails=(24,))
    assert item_types(source).count(b"hvc1") == 4  # image, alpha, thumbnail, thumbnail alpha
    output, report = scrubbed(source)
    assert item_types(output) == [b"hvc1", b"hvc1"]
    assert reference_types(output) == [b"auxl"]
    assert decoded(output) == decoded(source)
    assert decoded(output)[0] == "RGBA"
    assert "thumbnail image" in report.removed and "auxiliary image" in report.removed


def test_standard_icc_profile_is_kept_verbatim() -> None:
    profile = standard_srgb_icc()
    source = make_heic(icc=profile)
    output, report = scrubbed(source)
    assert heif_info(output)["icc_profile"] == profile
    assert "ICC profile text" not in report.removed


def test_device_icc_profile_keeps_its_colorimetry() -> None:
    source = make_heic()
    output, report = scrubbed(source)
    original, clean = heif_info(source)["icc_profile"], heif_info(output)["icc_profile"]
    assert isinstance(original, bytes) and isinstance(clean, bytes)
    for tag in (b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"wtpt", b"chad", b"chrm"):
        assert icc_tags(clean)[tag] == icc_tags(original)[tag]
    assert not {b"dmnd", b"dmdd", b"mmod", b"zzzz"} & set(icc_tags(clean))
    assert clean[48:56] == bytes(8) and clean[24:36] == bytes(12)
    assert "ICC profile text" in report.removed


def test_nclx_colour_is_kept() -> None:
    source = make_heic(metadata=False)
    assert properties(source, b"colr")[0].startswith(b"nclx")
    output, report = scrubbed(source)
    assert properties(output, b"colr") == properties(source, b"colr")
    assert heif_info(output)["nclx_profile"] == heif_info(source)["nclx_profile"]
    assert decoded(output) == decoded(source)
    assert report.removed == ("thumbnail image",)


LAYOUTS = {
    "iloc-v0": Layout(iloc_version=0),
    "iloc-v1-64bit-fields": Layout(offset_size=8, length_size=8, base_offset_size=8, index_size=4),
    "iloc-base-offsets-only": Layout(offset_size=0, base_offset_size=4),
    "iloc-v2": Layout(iloc_version=2, index_size=8),
    "idat": Layout(in_idat=lambda _, kind: kind in (b"grid", b"Exif", b"mime")),
    "split-extents": Layout(split_extents=True),
    "32-bit-ids": Layout(id_offset=70000),
    "wide-ipma": Layout(wide_ipma=True),
    "mdat-64-bit-size": Layout(mdat_size="64"),
    "mdat-to-end": Layout(mdat_size="0"),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_container_layouts(name: str) -> None:
    original = make_heic((200, 150), orientation=7, tile_size=64)
    source = relayout(original, LAYOUTS[name])
    assert decoded(source) == decoded(original)  # the builder wrote a valid file
    output, _ = scrubbed(source)
    assert decoded(output) == decoded(source)
    assert planted_hits(output) == []
    assert output == scrubbed(original)[0]  # one canonical output whatever the layout


def _everything_else_layout(source: bytes) -> Layout:
    """Every other place identifying data can sit in a HEIF file."""
    depth, gain = thumbnail_ids(source)
    text = PLANTED["Comment"]
    return Layout(
        item_names={1: PLANTED["DocumentName"].encode(), depth: PLANTED["Artist"].encode()},
        handler_name=PLANTED["HostComputer"].encode(),
        primary_properties=[udes(PLANTED["XmpPerson"]), box(b"uuid", bytes(16) + text.encode())],
        retype_refs={b"thmb": b"auxl"},
        item_properties={depth: [aux_c(DEPTH_URN)], gain: [aux_c(GAIN_MAP_URN)]},
        extra_items=[
            ExtraItem(90, b"mime", PLANTED["Vendor"].encode(), content_type=b"application/json"),
            ExtraItem(91, b"uri ", PLANTED["Jumbf"].encode(), content_type=b"urn:fake:c2pa"),
            ExtraItem(92, b"hvc1", b"\x00\x00\x00\x02" + PLANTED["Mpf"].encode()),
        ],
        meta_boxes=[
            box(b"xml ", f"<x>{PLANTED['IptcCity']}</x>".encode()),
            full_box(b"grpl", 0, 0, box(b"altr", bytes(4) + b"\x00\x00\x00\x01\x00\x00\x00\x02")),
        ],
        top_boxes=[box(b"uuid", bytes(16) + PLANTED["Ducky"].encode()), box(b"free", b"x" * 8)],
        trailing_boxes=[box(b"udta", box(b"\xa9nam", PLANTED["IptcByline"].encode()))],
    )


def test_every_other_structure_is_dropped(tmp_path: Path) -> None:
    original = make_heic(thumbnails=(32, 24))
    source = relayout(original, _everything_else_layout(original))
    assert decoded(source) == decoded(original)
    hits = set(planted_hits(source))
    assert {"DocumentName", "HostComputer", "XmpPerson", "Vendor", "Jumbf", "Mpf"} <= hits
    assert {"IptcCity", "Ducky", "IptcByline", "Comment", "Artist"} <= hits

    output, report = scrubbed(source)

    assert planted_hits(output) == []
    assert exiftool_hits(exiftool_report(output, tmp_path, "out.heic")) == []
    assert decoded(output) == decoded(source)
    assert item_types(output) == [b"hvc1"]
    assert set(property_types(output)) <= KEPT_PROPERTY_TYPES
    assert set(meta_children(output)) == {b"hdlr", b"dinf", b"pitm", b"iinf", b"iprp", b"iloc"}
    for name in (
        "item names",
        "handler name",
        "user description property",
        "vendor (uuid) property",
        "depth image",
        "HDR gain map",
        "metadata item",
        "unused item",
        "other meta box",
        "entity groups",
        "vendor (uuid) box",
        "free space",
        "user data box",
    ):
        assert name in report.removed


def test_capture_time_goes_to_the_report_not_the_file(tmp_path: Path) -> None:
    output, report = scrubbed(make_heic())
    assert report.capture_time == "2031-02-03T04:05:07+09:30"
    assert b"2031" not in output
    assert "2031" not in exiftool_report(output, tmp_path)


def test_keep_capture_date_writes_the_date_without_time_of_day(tmp_path: Path) -> None:
    source = make_heic(orientation=6)
    output, _ = scrubbed(source, ScrubOptions(keep_capture_date=True))
    text = exiftool_report(output, tmp_path)
    assert "2031:02:03" in text
    for fragment in ("04:05", "+09:30", "4321", "Orientation"):
        assert fragment not in text
    assert item_types(output) == [b"hvc1", b"Exif"]
    assert reference_types(output) == [b"cdsc"]
    assert decoded(output) == decoded(source)
    assert planted_hits(output, {k: v for k, v in PLANTED.items() if k != "CaptureDate"}) == []


def test_output_is_canonical() -> None:
    once, _ = scrubbed(make_heic((200, 150), tile_size=64, orientation=3))
    twice, report = scrubbed(once)
    assert twice == once
    assert report.removed == ()
    assert report.capture_time is None


def test_hevc_sei_in_the_decoder_configuration_is_dropped() -> None:
    original = make_heic(orientation=1)
    hvcc = properties(original, b"hvcC")[0]
    sei = PLANTED["Vendor"].encode()
    array = bytes([0x80 | 39]) + b"\x00\x01" + len(sei).to_bytes(2, "big") + sei
    with_sei = hvcc[:22] + bytes([hvcc[22] + 1]) + hvcc[23:] + array
    source = relayout(original, Layout(replace_properties={b"hvcC": box(b"hvcC", with_sei)}))
    assert decoded(source) == decoded(original)
    output, report = scrubbed(source)
    assert properties(output, b"hvcC") == [hvcc]
    assert "HEVC SEI in decoder configuration" in report.removed
    assert planted_hits(output) == []


def test_avif_container_is_rewritten_the_same_way() -> None:
    """No AV1 codec is installed here: the container rewrite is checked, not the pixels."""
    original = make_heic(orientation=6, thumbnails=())
    av1c = box(b"av1C", bytes([0x81, 0x00, 0x0C, 0x00]))
    source = relayout(
        original,
        Layout(
            ftyp=b"avif" + bytes(4) + b"avifmif1miafMA1A",
            retype_items={1: b"av01"},
            replace_properties={b"hvcC": av1c},
        ),
    )
    output, report = scrubbed(source)
    assert output[8:12] == b"avif"
    assert item_types(output) == [b"av01"]
    assert properties(output, b"av1C") == [av1c[8:]]
    assert properties(output, b"irot") == properties(source, b"irot")
    assert planted_hits(output) == []
    assert "Exif item" in report.removed and "XMP item" in report.removed
    primary = item_ids_of(source, b"av01")[0]
    assert _primary_bytes(output) == _item_bytes(source, primary)


def _item_bytes(data: bytes, item_id: int) -> bytes:
    return item_data(parsed_meta(data), data, item_id)


def _primary_bytes(data: bytes) -> bytes:
    return _item_bytes(data, 1)


def test_verification_refuses_before_writing_anything() -> None:
    # auxC is kept byte for byte (its subtype is codec data); if it repeats an EXIF value, the
    # verifier catches it and nothing reaches the destination.
    original = make_heic(mode="RGBA", orientation=1, thumbnails=())
    urn = b"urn:mpeg:hevc:2015:auxid:1"
    auxc = full_box(b"auxC", 0, 0, urn + b"\0" + PLANTED["Artist"].encode())
    source = relayout(original, Layout(replace_properties={b"auxC": auxc}))
    sink = WriteOnlySink()
    with pytest.raises(RefusedError, match="failed verification") as refused:
        scrub(io.BytesIO(source), sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == b""
    assert "Fakeman" not in str(refused.value)
