"""TIFF files that do not parse completely are refused; bytes no decoder reads never leave.

Also: hypothesis-generated corruption (truncation, overwritten bytes, bit flips) of a planted
multi-page TIFF never crashes or hangs the scrubber: it refuses, or writes a clean file.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, tiff
from tests.scrub.planted import (
    PLANTED,
    WriteOnlySink,
    ascii_,
    build_tiff,
    insert_after_soi,
    jpeg_segment,
    planted_hits,
    scrubbed,
)
from tests.scrub.tiff_samples import (
    ASCII,
    LONG,
    SHORT,
    UNDEFINED,
    Ifd,
    Tag,
    frames,
    pillow_page,
    planted_page,
    read_tiff,
    sample,
    write_tiff,
)

SECRET = PLANTED["BodySerialNumber"].encode()


def _page(compression: str = "raw", mode: str = "RGB", rows: int = 16) -> Ifd:
    return pillow_page(sample(mode), compression=compression, tiffinfo={278: rows})


def _with(page: Ifd, *tags: Tag) -> Ifd:
    replaced = {tag.tag for tag in tags}
    return Ifd([t for t in page.tags if t.tag not in replaced] + list(tags), page.blocks)


def _refusal(data: bytes, *, direct: bool = False) -> str:
    """The refusal for ``data`` (``direct``: the TIFF module itself, bypassing format sniffing)."""
    with pytest.raises(RefusedError) as refused:
        if direct:
            tiff.scrub(io.BytesIO(data), WriteOnlySink(), ScrubOptions())  # type: ignore[arg-type]
        else:
            scrubbed(data)
    message = str(refused.value)
    assert not any(value.lower() in message.lower() for value in PLANTED.values())
    return message


def test_structural_refusals() -> None:
    good = write_tiff([_page()])
    assert "truncated" in _refusal(good[:6])
    assert "bad magic" in _refusal(b"II\x2b\x01" + good[4:], direct=True)
    assert "byte-order" in _refusal(b"IM" + good[2:], direct=True)
    assert "no image directory" in _refusal(good[:4] + b"\x00\x00\x00\x00" + good[8:])
    assert "past the end" in _refusal(good[:4] + struct.pack("<I", len(good) + 10) + good[8:])
    first = struct.unpack_from("<I", good, 4)[0]
    assert "header" in _refusal(good[:4] + struct.pack("<I", 2) + good[8:])
    count = struct.unpack_from("<H", good, first)[0]
    next_slot = first + 2 + 12 * count
    looped = good[:next_slot] + struct.pack("<I", first) + good[next_slot + 4 :]
    assert "loops" in _refusal(looped)
    assert "past the end" in _refusal(good[: len(good) - 200])  # strips cut off
    assert "BigTIFF header" in _refusal(b"II\x2b\x00\x04\x00\x00\x00" + bytes(16))


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ((Tag(259, SHORT, (50000,)),), "compression 50000"),
        ((Tag(259, SHORT, (6,)),), "not a JPEG"),
        ((Tag(259, SHORT, (6,)), Tag(519, LONG, (8,))), "separate tables"),
        ((Tag(256, ASCII, "64"),), "unexpected type"),
        ((Tag(256, SHORT, (0,)),), "impossible size"),
        ((Tag(277, SHORT, (2,)),), "bits per sample"),
        ((Tag(284, SHORT, (3,)),), "planar"),
        ((Tag(278, SHORT, (0,)),), "rows per strip is zero"),
        ((Tag(278, SHORT, (4,)),), "fewer strips"),
        ((Tag(262, SHORT, (6,)), Tag(530, SHORT, (3, 1))), "subsampling"),
        ((Tag(322, SHORT, (16,)),), "both strips and tiles"),
    ],
)
def test_inconsistent_structure_is_refused(tags: tuple[Tag, ...], reason: str) -> None:
    assert reason in _refusal(write_tiff([_with(_page(rows=16), *tags)]))


def test_strip_tables_of_different_lengths_are_refused() -> None:
    page = _page(rows=48)
    tables = [Tag(273, LONG, (8, 16)), Tag(279, LONG, (100,))]
    assert "differ in length" in _refusal(write_tiff([Ifd(page.tags + tables)]))


def test_a_repeated_structure_tag_is_refused() -> None:
    page = _page()
    page.tags.append(Tag(256, SHORT, (32,)))
    assert "repeats" in _refusal(write_tiff([page]))


def test_uncompressed_slack_is_cut_to_the_image() -> None:
    page = _page(rows=48)  # one strip
    page.blocks = [page.blocks[0] + b" " + SECRET * 4]
    source = write_tiff([page])
    output, _ = scrubbed(source)
    assert frames(output) == frames(source)
    assert planted_hits(output) == []
    assert len(read_tiff(output)[0].blocks[0]) == 64 * 48 * 3
    page.blocks = [page.blocks[0][:-1000]]
    assert "shorter than the image needs" in _refusal(write_tiff([page]))


def test_deflate_slack_after_the_stream_is_cut() -> None:
    page = _page("tiff_adobe_deflate", rows=8)
    page.blocks = [block + SECRET + zlib.compress(SECRET) for block in page.blocks]
    source = write_tiff([page])
    output, _ = scrubbed(source)
    assert frames(output) == frames(source)
    assert planted_hits(output) == []


def test_deflate_holding_more_or_less_than_the_image_is_refused() -> None:
    page = _page("tiff_adobe_deflate", rows=48)
    raw = sample().tobytes()
    page.blocks = [zlib.compress(raw + SECRET * 200)]
    assert "more than the image needs" in _refusal(write_tiff([page]))
    page.blocks = [zlib.compress(raw[:-10])]
    assert "less than the image needs" in _refusal(write_tiff([page]))
    page.blocks = [zlib.compress(raw)[:-20]]
    assert "does not end" in _refusal(write_tiff([page]))
    page.blocks = [b"\x78\x9c" + bytes(range(200))]
    assert "corrupt" in _refusal(write_tiff([page]))


def test_jpeg_strip_segments_and_trailers_are_dropped() -> None:
    page = _page("jpeg", rows=16)
    com = jpeg_segment(0xFE, SECRET)
    app1 = jpeg_segment(0xE1, b"Exif\x00\x00" + build_tiff([ascii_(315, PLANTED["Artist"])]))
    page.blocks = [insert_after_soi(block, [app1, com]) + SECRET for block in page.blocks]
    tables = next(t for t in page.tags if t.tag == 347)
    assert isinstance(tables.value, bytes)
    new_tables = insert_after_soi(tables.value, [jpeg_segment(0xFE, PLANTED["Comment"].encode())])
    source = write_tiff([_with(page, Tag(347, UNDEFINED, new_tables))])
    assert set(planted_hits(source)) == {"BodySerialNumber", "Artist", "Comment"}
    output, report = scrubbed(source)
    assert frames(output) == frames(source)
    assert planted_hits(output) == []
    assert "JPEGTables APPn/COM" in report.removed
    assert read_tiff(output)[0].value(347) == tables.value


def test_bad_jpeg_strips_and_tables_are_refused() -> None:
    page = _page("jpeg", rows=16)
    truncated = Ifd(page.tags, [page.blocks[0][:-30], *page.blocks[1:]])
    assert "JPEG strip or tile" in _refusal(write_tiff([truncated]))
    tables = next(t for t in page.tags if t.tag == 347)
    assert isinstance(tables.value, bytes)
    bad = [(b"\x00" + tables.value[1:], "not a JPEG stream"), (tables.value[:-40], "malformed")]
    bad.append((tables.value[:-2] + b"\xff\xc0\x00\x04\x00\x00\xff\xd9", "more than tables"))
    for value, reason in bad:
        assert reason in _refusal(write_tiff([_with(page, Tag(347, UNDEFINED, value))]))


def test_unused_strips_and_unreferenced_bytes_are_dropped() -> None:
    page = _page(rows=48)
    page.blocks = [*page.blocks, SECRET * 20]  # a second strip the image does not need
    source = write_tiff([page]) + SECRET  # and bytes no offset points at
    output, _ = scrubbed(source)
    assert frames(output) == frames(write_tiff([_page(rows=48)]))
    assert planted_hits(output) == []
    assert len(read_tiff(output)[0].blocks) == 1


def test_damaged_exif_directory_is_dropped_not_fatal() -> None:
    page = planted_page(_page())
    page.tags.append(Tag(34665, LONG, (10**9,)))  # a pointer far past the end
    page.children.pop(34665)
    output, report = scrubbed(write_tiff([page]))
    assert planted_hits(output) == []
    assert "Exif IFD" in report.removed


# ---------------------------------------------------------------------------- fuzzing

FUZZ_BASE = write_tiff(
    [
        planted_page(_page("tiff_lzw", rows=24)),
        planted_page(_page("tiff_adobe_deflate", "L", rows=16), 2),
        planted_page(_page("jpeg", rows=16), 3),
    ]
)


def _check(data: bytes) -> None:
    try:
        output, _ = scrubbed(data)
    except RefusedError:
        return
    assert planted_hits(output) == []
    assert read_tiff(output)  # what picsync writes always parses


_FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@_FUZZ
@given(st.integers(min_value=0, max_value=len(FUZZ_BASE) - 1))
def test_truncated_files_never_crash(length: int) -> None:
    _check(FUZZ_BASE[:length])


@_FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(FUZZ_BASE) - 1), st.binary(min_size=1, max_size=4)),
        min_size=1,
        max_size=6,
    )
)
def test_overwritten_bytes_never_crash(patches: list[tuple[int, bytes]]) -> None:
    data = bytearray(FUZZ_BASE)
    for offset, value in patches:
        data[offset : offset + len(value)] = value
    _check(bytes(data[: len(FUZZ_BASE)]))


@_FUZZ
@given(st.lists(st.integers(0, len(FUZZ_BASE) * 8 - 1), min_size=1, max_size=8))
def test_bit_flips_never_crash(bits: list[int]) -> None:
    data = bytearray(FUZZ_BASE)
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    _check(bytes(data))


@_FUZZ
@given(
    st.integers(0, 64),
    st.sampled_from([0, 1, 0xFFFF, 0xFFFFFFFF, 7, 8, 2**31]),
)
def test_bad_counts_and_offsets_in_directories_never_crash(slot: int, value: int) -> None:
    # Overwrite the count or value field of one directory entry of the first page.
    first = struct.unpack_from("<I", FUZZ_BASE, 4)[0]
    entries = struct.unpack_from("<H", FUZZ_BASE, first)[0]
    entry = first + 2 + 12 * (slot % entries)
    field = entry + (4 if slot < 32 else 8)
    data = bytearray(FUZZ_BASE)
    struct.pack_into("<I", data, field, value)
    _check(bytes(data))


def _set_inline(data: bytes, tag: int, value: int) -> bytes:
    """``data`` with the single LONG value of ``tag`` in IFD0 replaced (little-endian TIFF)."""
    first = struct.unpack_from("<I", data, 4)[0]
    for index in range(struct.unpack_from("<H", data, first)[0]):
        entry = first + 2 + 12 * index
        if struct.unpack_from("<H", data, entry)[0] == tag:
            assert struct.unpack_from("<HI", data, entry + 2) == (LONG, 1)
            return data[: entry + 8] + struct.pack("<I", value) + data[entry + 12 :]
    raise AssertionError("tag not found")


def test_image_data_overlapping_metadata_is_refused() -> None:
    page = planted_page(_page("tiff_lzw", rows=48))  # one strip, copied as declared
    data = write_tiff([page])
    xmp = next(t.value for t in page.tags if t.tag == 700)
    assert isinstance(xmp, bytes)
    start = data.index(xmp)
    aimed = _set_inline(_set_inline(data, 273, start), 279, len(xmp))
    assert "overlaps its metadata" in _refusal(aimed)
    exif_value = data.index(PLANTED["BodySerialNumber"].encode())  # inside the Exif directory
    aimed = _set_inline(_set_inline(data, 273, exif_value), 279, 40)
    assert "overlaps its metadata" in _refusal(aimed)
