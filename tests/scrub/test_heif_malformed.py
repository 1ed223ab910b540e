"""HEIF files picsync must refuse, and corrupted files that must never crash or hang it.

Every refusal reason is checked to be PHI-free. The hypothesis tests corrupt real libheif files
(truncation, bit flips, overwritten size/offset/count fields, inserted bytes, wrong magic) and
accept only two outcomes: ``RefusedError``, or an output that holds no planted value and that
picsync itself rewrites to the very same bytes (a complete, canonical file).
"""

from __future__ import annotations

import io
import struct
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, heif
from picsync.scrub.heif_meta import item_data
from tests.scrub.heif_builders import (
    Layout,
    box,
    boxes_of,
    item_ids_of,
    make_heic,
    parsed_meta,
    relayout,
)
from tests.scrub.planted import PLANTED, WriteOnlySink, planted_hits, scrubbed


@cache
def _single() -> bytes:
    return make_heic((32, 24), thumbnails=(16,))


@cache
def _grid_in_idat() -> bytes:
    source = make_heic((96, 80), orientation=5, tile_size=64, thumbnails=(16,))
    # Exif and XMP in idat: their bytes are then inside the region the fuzzers corrupt.
    return relayout(source, Layout(in_idat=lambda _, kind: kind in (b"grid", b"mime", b"Exif")))


def _refusal(data: bytes) -> str:
    """The reason ``heif.scrub`` (called directly: the dispatcher's sniffing is not tested here)
    gives for refusing ``data``; nothing may have been written."""
    sink = WriteOnlySink()
    with pytest.raises(RefusedError) as refused:
        heif.scrub(io.BytesIO(data), sink, ScrubOptions())  # type: ignore[arg-type]
    assert sink.getvalue() == b""
    message = str(refused.value)
    assert not any(value.lower() in message.lower() for value in PLANTED.values())
    return message


def _with_layout(**changes: object) -> bytes:
    return relayout(_single(), Layout(**changes))  # type: ignore[arg-type]


def test_truncated_and_damaged_containers_are_refused() -> None:
    good = _single()
    assert "past the end" in _refusal(good[:-100])
    assert "past the end" in _refusal(good[:300])
    open_ended = _with_layout(mdat_size="0")
    assert "item data lies past the end of the file" in _refusal(open_ended[:-100])
    assert "file type box" in _refusal(box(b"free", b"") + good)
    assert "image sequences" in _refusal(good + box(b"moov", b""))
    meta = next(b for b in boxes_of(good) if b.type == b"meta")
    assert "exactly one" in _refusal(good + good[meta.start : meta.start + 8 + len(meta.payload)])
    assert "image ('pict') handler" in _refusal(good.replace(b"pict", b"vide", 1))
    assert "field size" in _refusal(_with_layout(offset_size=2))
    assert "impossible size" in _refusal(good[:28] + struct.pack(">I", 4) + good[32:])


def test_structures_picsync_does_not_support_are_refused() -> None:
    assert "still-image brand" in _refusal(_with_layout(ftyp=b"msf1" + bytes(4) + b"msf1heic"))
    assert "construction method" in _refusal(_with_layout(construction={1: 2}))
    assert "encrypted" in _refusal(_with_layout(protected={1}))
    assert "coding" in _refusal(_with_layout(retype_items={1: b"jpeg"}))
    unknown = box(b"zzzz", b"essential to decode")
    assert "needs a property" in _refusal(
        _with_layout(primary_properties=[unknown], essential_extras=True)
    )
    assert b"zzzz" not in scrubbed(_with_layout(primary_properties=[unknown]))[0]


def test_inconsistent_item_tables_are_refused() -> None:
    source = make_heic((96, 80), tile_size=64)
    grid = item_ids_of(source, b"grid")[0]
    description = bytearray(heif_grid_description(source, grid))
    description[2] += 1  # one more row than there are tiles
    assert "one tile per cell" in _refusal(
        relayout(source, Layout(item_data={grid: bytes(description)}))
    )
    good = _single()
    pitm = good.index(b"pitm") + 8
    assert "primary item is not described" in _refusal(good[:pitm] + b"\x00\x63" + good[pitm + 2 :])


def heif_grid_description(data: bytes, grid: int) -> bytes:
    return item_data(parsed_meta(data), data, grid)


def test_image_data_reaching_into_other_data_is_refused() -> None:
    exif = item_ids_of(_single(), b"Exif")[0]
    assert "overlaps" in _refusal(_with_layout(point_at={1: exif}))
    assert "outside the media data" in _refusal(_with_layout(point_at={1: -1}))


class _Endless(io.RawIOBase):
    """A source that never ends (a file larger than any limit), without holding it in memory."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def test_oversized_file_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(RefusedError, match="larger than 256 MiB"):
        heif.scrub(_Endless(), WriteOnlySink(), ScrubOptions())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- hypothesis


def _outcome(data: bytes) -> None:
    """The only acceptable outcomes of scrubbing ``data``: a refusal, or a clean canonical file."""
    sink = WriteOnlySink()
    try:
        heif.scrub(io.BytesIO(data), sink, ScrubOptions())  # type: ignore[arg-type]
    except RefusedError as refused:
        assert not any(v.lower() in str(refused).lower() for v in PLANTED.values())
        return
    output = sink.getvalue()
    assert planted_hits(output) == []
    again = WriteOnlySink()
    heif.scrub(io.BytesIO(output), again, ScrubOptions())  # type: ignore[arg-type]
    assert again.getvalue() == output


_SOURCES = st.sampled_from(["single", "grid"])
_FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _source(name: str) -> bytes:
    return _single() if name == "single" else _grid_in_idat()


def _header_size(data: bytes) -> int:
    """Bytes before mdat: where every structure (not coded pixels) lives."""
    return next(b.start for b in boxes_of(data) if b.type == b"mdat")


@_FUZZ
@given(name=_SOURCES, cut=st.floats(0, 1, exclude_max=True))
def test_truncations_never_crash(name: str, cut: float) -> None:
    data = _source(name)
    _outcome(data[: int(len(data) * cut)])


@_FUZZ
@given(
    name=_SOURCES,
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6
    ),
)
def test_bit_flips_in_the_structure_never_crash(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(_source(name))
    header = _header_size(bytes(data))
    for where, bit in flips:
        data[int(header * where)] ^= 1 << bit
    _outcome(bytes(data))


_FIELD_VALUES = st.one_of(
    st.sampled_from([0, 1, 2, 7, 8, 9, 15, 16, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0xFFFFFFFF]),
    st.integers(0, 0xFFFFFFFF),
)


@_FUZZ
@given(
    name=_SOURCES,
    where=st.floats(0, 1, exclude_max=True),
    width=st.sampled_from([1, 2, 4, 8]),
    value=_FIELD_VALUES,
)
def test_bad_lengths_offsets_and_counts_never_crash(
    name: str, where: float, width: int, value: int
) -> None:
    data = bytearray(_source(name))
    position = int(_header_size(bytes(data)) * where)
    data[position : position + width] = (value % (1 << (8 * width))).to_bytes(width, "big")
    _outcome(bytes(data))


@_FUZZ
@given(name=_SOURCES, where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=12))
def test_inserted_and_deleted_bytes_never_crash(name: str, where: float, junk: bytes) -> None:
    data = _source(name)
    position = int(_header_size(data) * where)
    _outcome(data[:position] + junk + data[position:])
    _outcome(data[:position] + data[position + len(junk) :])


@_FUZZ
@given(magic=st.binary(min_size=0, max_size=16), tail=st.binary(max_size=64))
def test_wrong_magic_and_garbage_never_crash(magic: bytes, tail: bytes) -> None:
    data = _single()
    _outcome(magic + data[len(magic) :])
    _outcome(magic + tail)
