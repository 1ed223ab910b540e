"""ICC sanitising: standard profiles kept verbatim, device profiles stripped, colour unchanged."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from picsync.errors import RefusedError
from picsync.scrub.icc import (
    NEUTRAL_DESCRIPTION,
    app2_chunks,
    is_standard_profile,
    join_app2_chunks,
    sanitise_icc,
)
from tests.scrub.planted import (
    PLANTED,
    build_icc,
    icc_tags,
    named_icc,
    planted_hits,
    planted_icc,
    sample_image,
    standard_srgb_icc,
)

COLORIMETRIC = (b"wtpt", b"chad", b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"chrm")
ICC_PLANTED = {k: v for k, v in PLANTED.items() if k.startswith("Icc")}


def _desc_v2(text: str) -> bytes:
    ascii_text = text.encode() + b"\x00"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(79)


def _v2_standard(extra: dict[bytes, bytes] | None = None) -> bytes:
    """A v2 profile named "sRGB IEC61966-2.1" with sRGB colorimetry."""
    standard = standard_srgb_icc()
    header = bytearray(standard[:128])
    header[8:12] = b"\x02\x10\x00\x00"
    notice = b"text\x00\x00\x00\x00Copyright (c) 1998 Hewlett-Packard Company\x00"
    tags = {b"desc": _desc_v2("sRGB IEC61966-2.1"), b"cprt": notice}
    tags |= {sig: data for sig, data in icc_tags(standard).items() if sig in COLORIMETRIC}
    return build_icc(bytes(header), tags | (extra or {}))


def _transformed(profile: bytes) -> bytes:
    """Pixels converted from ``profile`` to sRGB by littleCMS."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    target = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    transform = ImageCms.buildTransform(source, target, "RGB", "LAB")
    result = ImageCms.applyTransform(sample_image("RGB", (32, 16)), transform)
    assert isinstance(result, Image.Image)
    return result.tobytes()


@pytest.mark.parametrize("profile", [standard_srgb_icc(), _v2_standard()], ids=["v4", "v2"])
def test_standard_profile_is_kept_verbatim(profile: bytes) -> None:
    assert is_standard_profile(profile)
    assert sanitise_icc(profile) is profile


@pytest.mark.parametrize("version", [2, 4])
def test_device_profile_loses_identity_and_keeps_colour(version: int) -> None:
    profile = planted_icc(version=version)
    assert set(planted_hits(profile, ICC_PLANTED)) == set(ICC_PLANTED)

    clean = sanitise_icc(profile)

    assert planted_hits(clean, ICC_PLANTED) == []
    for tag in COLORIMETRIC:
        assert icc_tags(clean)[tag] == icc_tags(profile)[tag]
    assert set(icc_tags(clean)) == {b"desc", b"cprt", *COLORIMETRIC}
    assert (
        NEUTRAL_DESCRIPTION.encode("utf-16-be" if version == 4 else "ascii")
        in icc_tags(clean)[b"desc"]
    )
    assert clean[24:36] == bytes(12) and clean[48:56] == bytes(8) and clean[84:100] == bytes(16)
    assert clean[8] == version and clean[12:24] == profile[12:24]  # class, colour space, PCS
    assert struct.unpack(">I", clean[:4])[0] == len(clean)
    assert _transformed(clean) == _transformed(profile)


def test_colour_check_can_fail() -> None:
    profile = bytearray(planted_icc())
    red = bytes(profile).index(icc_tags(bytes(profile))[b"rXYZ"])
    profile[red + 9] ^= 0x40  # a different red primary
    assert _transformed(bytes(profile)) != _transformed(planted_icc())


def test_shared_curves_stay_shared() -> None:
    clean = sanitise_icc(planted_icc())
    count = struct.unpack_from(">I", clean, 128)[0]
    table = {
        struct.unpack_from(">4sII", clean, 132 + 12 * i)[0]: clean[136 + 12 * i : 144 + 12 * i]
        for i in range(count)
    }
    assert table[b"rTRC"] == table[b"gTRC"] == table[b"bTRC"]


@pytest.mark.parametrize(
    "extra",
    [
        {b"dmnd": _desc_v2("Fake Maker")},
        {b"zzzz": b"text\x00\x00\x00\x00" + PLANTED["IccPrivate"].encode()},
    ],
    ids=["device-tag", "private-tag"],
)
def test_standard_name_with_other_text_is_sanitised(extra: dict[bytes, bytes]) -> None:
    profile = _v2_standard(extra)
    assert not is_standard_profile(profile)
    clean = sanitise_icc(profile)
    assert set(icc_tags(clean)) == {b"desc", b"cprt", *COLORIMETRIC}
    assert b"Fake" not in clean


@pytest.mark.parametrize("notice", ["Dr Fakeman Clinician", ""])
def test_standard_name_without_a_copyright_notice_is_sanitised(notice: str) -> None:
    assert is_standard_profile(named_icc("Display P3", "Copyright Apple Inc., 2022"))
    profile = named_icc("Display P3", notice)
    assert not is_standard_profile(profile)
    clean = sanitise_icc(profile)
    assert clean != profile
    assert planted_hits(clean, {"Artist": PLANTED["Artist"]}) == []


def test_sanitising_is_idempotent() -> None:
    once = sanitise_icc(planted_icc(version=2))
    assert sanitise_icc(once) == once


def test_bytes_hidden_after_a_colour_tag_are_dropped() -> None:
    standard = standard_srgb_icc()
    tags = dict(icc_tags(standard))
    tags[b"rXYZ"] = tags[b"rXYZ"] + PLANTED["IccPrivate"].encode()  # inside the declared size
    tags[b"desc"] = b"desc" + bytes(8)  # unreadable name: not standard
    clean = sanitise_icc(build_icc(standard[:128], tags))
    assert PLANTED["IccPrivate"].encode() not in clean
    assert icc_tags(clean)[b"rXYZ"] == icc_tags(standard)[b"rXYZ"]


def _tag_table_patched(
    profile: bytes, index: int, offset: int | None = None, size: int | None = None
) -> bytes:
    data = bytearray(profile)
    pos = 132 + 12 * index
    sig, old_offset, old_size = struct.unpack_from(">4sII", data, pos)
    struct.pack_into(
        ">4sII",
        data,
        pos,
        sig,
        old_offset if offset is None else offset,
        old_size if size is None else size,
    )
    return bytes(data)


def test_malformed_profiles_are_refused() -> None:
    good = planted_icc()
    rxyz = list(icc_tags(good)).index(b"rXYZ")
    broken = [
        good[:100],
        good[:36] + b"xxxx" + good[40:],
        good[:-10],  # declared size larger than the data
        good[:128] + struct.pack(">I", 10_000) + good[132:],
        _tag_table_patched(good, 0, offset=len(good) - 4),
        _tag_table_patched(good, rxyz, offset=132 + 12 * rxyz - 20, size=4),
    ]
    wrong_type = bytearray(good)
    data_offset = struct.unpack_from(">I", good, 132 + 12 * rxyz + 4)[0]
    wrong_type[data_offset : data_offset + 4] = b"text"
    broken.append(bytes(wrong_type))
    for profile in broken:
        with pytest.raises(RefusedError, match="ICC profile"):
            sanitise_icc(profile)


def test_app2_chunks_round_trip_and_refuse_inconsistent_sets() -> None:
    profile = planted_icc() + bytes(150_000)
    chunks = app2_chunks(profile)
    assert len(chunks) == 3 and all(len(chunk) <= 65533 for chunk in chunks)
    assert join_app2_chunks(list(reversed(chunks))) == profile
    for bad in (
        chunks[:2],
        chunks + chunks[:1],
        [chunks[0][:12] + b"\x01\x02" + chunks[0][14:], *chunks[1:]],
    ):
        with pytest.raises(RefusedError, match="ICC"):
            join_app2_chunks(bad)
