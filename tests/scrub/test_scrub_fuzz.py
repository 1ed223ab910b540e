"""Damaged and hostile inputs: a refusal or a clean result; never a crash or unbounded work.

Hypothesis mutates planted JPEGs and PNGs (truncation, flipped bytes, rewritten segment/chunk
lengths, inserted and deleted bytes, wrong magic). Whatever parses must come out clean and in
canonical form; whatever does not must be refused with a reason that names no planted value.
Work is bounded by counting the bytes read, not by a clock. Set PICSYNC_FUZZ_EXAMPLES (default
150) to fuzz longer locally.
"""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from picsync.errors import RefusedError
from picsync.scrub import ScrubOptions, scrub
from picsync.scrub.icc import sanitise_icc
from tests.scrub.planted import (
    PLANTED,
    CountingSource,
    WriteOnlySink,
    encode_png,
    jpeg_markers,
    plant_png,
    planted_hits,
    planted_icc,
    planted_jpeg,
    planted_png,
    png_chunks,
    scrubbed,
)

BASES = {
    "jpeg": planted_jpeg(orientation=6),
    "jpeg-progressive": planted_jpeg(progressive=True),
    "jpeg-cmyk": planted_jpeg("CMYK", big_endian=True),
    "png": planted_png(orientation=3),
    "png-palette": planted_png("P", xmp_orientation=6),
    "png-adam7": plant_png(
        encode_png(9, 7, 16, 2, bytes(range(256)) * 2 + bytes(122), interlace=True)
    ),
}
FUZZ = settings(
    max_examples=int(os.environ.get("PICSYNC_FUZZ_EXAMPLES", "150")),
    deadline=None,  # no wall-clock assertions: work is bounded by bytes read instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _boundaries(data: bytes) -> list[int]:
    """Offsets of the length fields of every JPEG segment / PNG chunk."""
    if data.startswith(b"\xff\xd8"):
        return [start + 2 for marker, start, _ in jpeg_markers(data) if marker != 0xD9]
    offsets, pos = [], 8
    for _, chunk in png_chunks(data):
        offsets.append(pos)
        pos += 12 + len(chunk)
    return offsets


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(BASES[draw(st.sampled_from(sorted(BASES)))])
    how = draw(st.sampled_from(["truncate", "flip", "length", "insert", "delete", "magic"]))
    position = draw(st.integers(min_value=0, max_value=len(data) - 1))
    if how == "truncate":
        return bytes(data[:position])
    if how == "flip":
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            data[draw(st.integers(min_value=0, max_value=len(data) - 1))] ^= draw(
                st.integers(min_value=1, max_value=255)
            )
        return bytes(data)
    if how == "length":
        field = draw(st.sampled_from(_boundaries(bytes(data))))
        size = 2 if data.startswith(b"\xff\xd8") else 4
        old = int.from_bytes(data[field : field + size], "big")
        new = draw(
            st.one_of(
                st.integers(min_value=0, max_value=256**size - 1),
                st.integers(min_value=-16, max_value=16).map(lambda d: max(0, old + d)),
            )
        )
        data[field : field + size] = min(new, 256**size - 1).to_bytes(size, "big")
        return bytes(data)
    if how == "insert":
        return (
            bytes(data[:position])
            + draw(st.binary(min_size=1, max_size=64))
            + bytes(data[position:])
        )
    if how == "delete":
        return bytes(data[:position]) + bytes(data[position + draw(st.integers(1, 64)) :])
    magic = draw(st.binary(min_size=1, max_size=12))
    return magic + bytes(data[len(magic) :])


def _metadata(output: bytes) -> bytes:
    """The parts of an output picsync generated (not the copied image data)."""
    if output.startswith(b"\xff\xd8"):
        first_scan = next(start for marker, start, _ in jpeg_markers(output) if marker == 0xDA)
        return output[:first_scan]
    return b"".join(
        kind + data for kind, data in png_chunks(output) if kind not in (b"IDAT", b"fdAT")
    )


def _message_is_clean(message: str) -> None:
    assert not any(value.lower() in message.lower() for value in PLANTED.values())


@FUZZ
@given(damaged())
def test_damaged_files_are_refused_or_come_out_clean(data: bytes) -> None:
    source, sink = CountingSource(data), WriteOnlySink()
    try:
        scrub(source, sink, ScrubOptions())  # type: ignore[arg-type]
    except RefusedError as refused:
        event("refused")
        _message_is_clean(str(refused))
        return
    finally:
        assert source.bytes_read <= 2 * len(data) + 4096  # bounded work: at most two passes
    event("scrubbed")
    output = sink.getvalue()
    assert planted_hits(_metadata(output)) == []
    assert scrubbed(output)[0] == output  # the output is valid and already canonical


def _image_end(data: bytes) -> int:
    """Offset just after EOI / IEND: every shorter prefix is an incomplete file."""
    if data.startswith(b"\xff\xd8"):
        return jpeg_markers(data)[-1][2]
    return data.index(b"IEND") + 8


@pytest.mark.parametrize("name", sorted(BASES))
def test_every_truncation_is_refused(name: str) -> None:
    data = BASES[name]
    end = _image_end(data)
    cuts = {cut + delta for cut in _boundaries(data) for delta in (-1, 0, 1, 2, 5)}
    cuts |= set(range(0, end, max(1, end // 150)))
    for cut in sorted(c for c in cuts if 0 <= c < end):
        with pytest.raises(RefusedError) as refused:
            scrubbed(data[:cut])
        _message_is_clean(str(refused.value))


@FUZZ
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255), st.integers(0, 2))
def test_damaged_icc_profiles_are_refused_or_sanitised(
    position: int, mask: int, version: int
) -> None:
    profile = bytearray(planted_icc(version=4 if version else 2))
    profile[position % len(profile)] ^= mask
    try:
        clean = sanitise_icc(bytes(profile))
    except RefusedError as refused:
        _message_is_clean(str(refused))
        return
    assert sanitise_icc(clean) == clean
    assert planted_hits(clean, {k: v for k, v in PLANTED.items() if k.startswith("Icc")}) == []


def test_wrong_magic_is_refused_by_the_dispatcher() -> None:
    for head in (b"", b"\x00" * 16, b"GIF89a" + bytes(20), b"PK\x03\x04" + bytes(30)):
        with pytest.raises(RefusedError):
            scrub(io.BytesIO(head), WriteOnlySink(), ScrubOptions())  # type: ignore[arg-type]
    huge_segment = b"\xff\xd8\xff\xe1" + struct.pack(">H", 65535) + b"Exif\x00\x00"
    with pytest.raises(RefusedError, match="truncated"):
        scrubbed(huge_segment)
