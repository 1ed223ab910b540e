"""check_complete: real files built in each test, cut at every offset (or a dense sample).

Sweeps truncate one copy of the file further and further in place, so every cut is a real
file on disk, and state exactly which cuts leave a structurally complete file, and why.
"""

from __future__ import annotations

import io
import os
import random
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path

import pikepdf
import pillow_heif
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from picsync.completeness import check_complete

pillow_heif.register_heif_opener()

# The watched file is named like a real clinic photo: reasons must never repeat it.
NAME = "Jane_Doe_1961-04-02_wound.bin"


# --- helpers ---------------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = NAME) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check_file(path: Path) -> str | None:
    with open(path, "rb") as f:
        return check_complete(f, path.stat().st_size)


def check_reason(reason: str | None) -> str | None:
    """Reasons are short and never repeat the file's name or path."""
    if reason is not None:
        assert isinstance(reason, str) and 0 < len(reason) <= 80
        assert "/" not in reason and "Jane" not in reason
    return reason


def check_cut(path: Path, n: int) -> str | None:
    """Check a copy of ``path`` truncated to ``n`` bytes."""
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(path.read_bytes()[:n])
    return check_reason(check_file(cut))


def complete_cuts(path: Path, cuts: Iterable[int]) -> set[int]:
    """Return the lengths at which a truncated copy of ``path`` is called complete.

    One copy is truncated further and further in place (a real file each time, cheap).
    """
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(path.read_bytes())
    complete: set[int] = set()
    with open(cut, "r+b") as writer:
        for n in sorted(cuts, reverse=True):
            writer.truncate(n)
            with open(cut, "rb") as f:
                if check_reason(check_complete(f, n)) is None:
                    complete.add(n)
    return complete


def every_cut(path: Path) -> range:
    return range(path.stat().st_size + 1)


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A reproducible image of random pixels: compresses badly, like a real photo's detail."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * Image.getmodebands(mode))
    return Image.frombytes(mode, size, pixels)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_empty_file_is_reported(tmp_path: Path) -> None:
    assert check_file(write(tmp_path, b"")) == "empty file"


def test_a_few_bytes_are_too_short_to_tell(tmp_path: Path) -> None:
    for head in (b"\xff", b"\xff\xd8", b"\x89PN", b"%PDF", b"II*", b"\x00\x00\x00\x18ftyp"):
        assert check_file(write(tmp_path, head)) == "file is too short to tell its format"
    assert check_file(write(tmp_path, bytes(128) + b"DI")) == "file is too short to tell its format"


def test_a_file_that_changed_size_after_being_measured_gives_a_reason(tmp_path: Path) -> None:
    path = write(tmp_path, encode(noise((32, 32)), "PNG"))
    size = path.stat().st_size
    with open(path, "rb") as f:
        assert check_complete(f, size + 100) == "file changed size after it was measured"
        assert check_complete(f, size - 100) == "file changed size after it was measured"
        assert check_complete(f, size) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(200),
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(100),
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + bytes(5000),  # MP4: not judged here
        b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01" + bytes(300),  # Canon CR3 raw
        b"plain text, no image here\n" * 10,
    ],
)
def test_formats_it_cannot_judge_count_as_complete(tmp_path: Path, data: bytes) -> None:
    assert check_file(write(tmp_path, data)) is None


# --- JPEG ------------------------------------------------------------------------------------


def jpeg_with_thumbnail_in_app1(main: bytes, thumbnail: bytes) -> bytes:
    """Insert an EXIF APP1 whose IFD1 points at a whole JPEG thumbnail (with its own FFD9)."""
    ifd1_at = 8 + 6  # after the TIFF header and an empty IFD0
    thumb_at = ifd1_at + 2 + 2 * 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<HI", 0, ifd1_at)
    tiff += struct.pack("<H", 2) + struct.pack("<HHII", 513, 4, 1, thumb_at)
    tiff += struct.pack("<HHII", 514, 4, 1, len(thumbnail)) + struct.pack("<I", 0) + thumbnail
    payload = b"Exif\x00\x00" + tiff
    return main[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + main[2:]


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"restart_marker_blocks": 1}, {"quality": 100, "subsampling": 0}],
)
def test_jpeg_is_complete_only_with_its_last_byte(
    tmp_path: Path, options: dict[str, object]
) -> None:
    data = encode(noise((40, 32)), "JPEG", **options)
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}  # EOI is the last two bytes


def test_jpeg_restart_markers_and_stuffed_bytes_are_not_mistaken_for_eoi(tmp_path: Path) -> None:
    data = encode(noise((64, 48)), "JPEG", restart_marker_blocks=1, subsampling=0, quality=95)
    scan = data[data.index(b"\xff\xda") :]
    restarts = sum(scan.count(bytes([0xFF, code])) for code in range(0xD0, 0xD8))
    assert restarts > 20 and scan.count(b"\xff\x00") > 5  # the test has teeth
    path = write(tmp_path, data)
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_progressive_jpeg_reason_names_what_is_missing(tmp_path: Path) -> None:
    data = encode(noise((40, 32)), "JPEG", progressive=True)
    assert data.count(b"\xff\xda") > 3
    path = write(tmp_path, data)
    assert check_cut(path, len(data) - 1) == "JPEG has no end-of-image marker"
    assert check_cut(path, 30) == "JPEG segment runs past the end of the file"


def test_jpeg_thumbnail_eoi_inside_app1_does_not_complete_the_main_image(tmp_path: Path) -> None:
    thumbnail = encode(noise((16, 12)), "JPEG")
    data = jpeg_with_thumbnail_in_app1(encode(noise((40, 32)), "JPEG"), thumbnail)
    with Image.open(io.BytesIO(data)) as image:  # a JPEG any reader accepts
        image.load()
    thumb_end = data.index(thumbnail) + len(thumbnail)
    path = write(tmp_path, data)
    # APP1 ends with the thumbnail: a cut there ends on an FFD9 that is not the main image's
    assert check_cut(path, thumb_end) == "JPEG has no end-of-image marker"
    assert check_cut(path, thumb_end - 1) == "JPEG segment runs past the end of the file"
    assert check_cut(path, len(data) - 100) == "JPEG has no end-of-image marker"
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_jpeg_trailer_after_eoi_is_allowed_and_every_cut_inside_it_is_complete(
    tmp_path: Path,
) -> None:
    main = encode(noise((40, 32)), "JPEG")
    trailer = b"\x00\x00\x00\x18ftypmp42" + random.Random(1).randbytes(300) + b"\xff\xd9\xff\xd8"
    data = main + trailer
    path = write(tmp_path, data)
    assert check_file(path) is None
    # Anything that keeps the main image through its EOI is a complete JPEG plus some trailer.
    assert complete_cuts(path, every_cut(path)) == set(range(len(main), len(data) + 1))


def test_jpeg_fill_bytes_before_a_marker_are_skipped(tmp_path: Path) -> None:
    plain = encode(noise((32, 32)), "JPEG")
    dqt = plain.index(b"\xff\xdb")
    data = plain[:dqt] + b"\xff\xff\xff" + plain[dqt:]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    path = write(tmp_path, data)
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_jpeg_ls_scan_bytes_after_ff_are_not_markers(tmp_path: Path) -> None:
    # JPEG-LS stuffs one zero bit after FF, so FF 00..7F occur inside its scans.
    frame = b"\xff\xf7" + struct.pack(">HBHHB", 11, 8, 2, 2, 1) + b"\x01\x11\x00"  # SOF55
    scan_header = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x00\x00"
    scan = b"\x12\xff\x7f\x34\xff\x3a\x56\xff\x01\x00"
    data = b"\xff\xd8" + frame + scan_header + scan + b"\xff\xd9"
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_jpeg_without_a_scan_is_not_an_image(tmp_path: Path) -> None:
    assert check_file(write(tmp_path, b"\xff\xd8\xff\xfe\x00\x04hi\xff\xd9")) is not None


def test_jpeg_with_endless_tiny_segments_stops_with_a_reason(tmp_path: Path) -> None:
    data = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 70_000 + b"\xff\xda\x00\x02\xff\xd9"
    started = time.monotonic()
    assert check_file(write(tmp_path, data)) == "JPEG has too many segments"
    assert time.monotonic() - started < 5


# --- PNG -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_png_is_complete_only_with_its_whole_iend_chunk(tmp_path: Path, mode: str) -> None:
    data = encode(noise((40, 30), mode), "PNG", pnginfo=None)
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}
    assert check_cut(path, len(data) - 1) == "PNG ends inside its IEND chunk"
    assert check_cut(path, len(data) - 12) == "PNG ends before its IEND chunk"
    assert check_cut(path, 100) == "PNG chunk runs past the end of the file"


def test_png_with_data_after_iend_is_complete_from_iend_on(tmp_path: Path) -> None:
    main = encode(noise((24, 24)), "PNG")
    data = main + b"trailing bytes a phone app appended"
    path = write(tmp_path, data)
    assert complete_cuts(path, every_cut(path)) == set(range(len(main), len(data) + 1))


# --- PDF -------------------------------------------------------------------------------------


def pikepdf_document(pages: int) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "data_factory",
    [
        lambda: encode(noise((64, 64)), "PDF"),
        lambda: encode(noise((32, 32)), "PDF", save_all=True, append_images=[noise((20, 20))]),
        lambda: pikepdf_document(3),
    ],
)
def test_pdf_is_complete_from_its_final_eof_marker_on(
    tmp_path: Path, data_factory: Callable[[], bytes]
) -> None:
    data = data_factory()
    eof_end = data.rindex(b"%%EOF") + 5
    assert data[eof_end:].strip() == b""
    path = write(tmp_path, data)
    assert check_file(path) is None
    # Only the whitespace after %%EOF may go missing.
    assert complete_cuts(path, every_cut(path)) == set(range(eof_end, len(data) + 1))


def test_pdf_with_an_incremental_update_cut_short_is_incomplete(tmp_path: Path) -> None:
    base = pikepdf_document(1)
    base_xref = int(base[base.rindex(b"startxref") + 9 : base.rindex(b"%%EOF")].strip())
    with pikepdf.open(io.BytesIO(base)) as original:
        size, root = int(original.trailer.Size), original.Root.objgen[0]
    new_object_at = len(base)
    new_object = f"{size} 0 obj\n<< /Producer (update) >>\nendobj\n".encode()
    xref_at = new_object_at + len(new_object)
    update = (
        new_object
        + (
            f"xref\n{size} 1\n{new_object_at:010d} 00000 n \n"
            f"trailer\n<< /Size {size + 1} /Root {root} 0 R /Info {size} 0 R"
            f" /Prev {base_xref} >>\nstartxref\n{xref_at}\n%%EOF\n"
        ).encode()
    )
    data = base + update
    with pikepdf.open(io.BytesIO(data)) as updated:  # a valid incremental update
        assert str(updated.docinfo.Producer) == "update"
    path = write(tmp_path, data)
    assert check_file(path) is None
    first_eof_end = base.rindex(b"%%EOF") + 5
    final_eof_end = data.rindex(b"%%EOF") + 5
    # Complete: the original revision with (part of) its trailing newline, or the updated file.
    expected = set(range(first_eof_end, len(base) + 1)) | set(range(final_eof_end, len(data) + 1))
    assert complete_cuts(path, every_cut(path)) == expected
    assert check_cut(path, len(base) + 20) == "PDF has data after its last %%EOF"


def test_pdf_eof_farther_than_1_kib_from_the_end_does_not_count(tmp_path: Path) -> None:
    data = pikepdf_document(1)
    assert check_file(write(tmp_path, data + b"\n" * 1000)) is None
    reason = check_file(write(tmp_path, data + b"\n" * 1100))
    assert reason == "PDF has no %%EOF in its last 1 KiB"


# --- TIFF ------------------------------------------------------------------------------------

_TIFF_CODES = {3: "H", 4: "I", 13: "I", 16: "Q"}


def tiff_ifd(at: int, entries: list[tuple[int, int, list[int]]], endian: str, big: bool) -> bytes:
    """Encode one IFD placed at ``at``, its out-of-line values right after it; next = 0."""
    inline, word = (8, "Q") if big else (4, "I")
    count_format, entry_format = ("Q", "HHQ") if big else ("H", "HHI")
    entry_size = struct.calcsize("<" + entry_format) + inline
    extra_at = at + struct.calcsize(count_format) + len(entries) * entry_size + inline
    extra, fields = b"", b""
    for tag, type_, values in sorted(entries):
        raw = struct.pack(f"{endian}{len(values)}{_TIFF_CODES[type_]}", *values)
        if len(raw) <= inline:
            field = raw.ljust(inline, b"\x00")
        else:
            field = struct.pack(endian + word, extra_at + len(extra))
            extra += raw + b"\x00" * (len(raw) % 2)
        fields += struct.pack(endian + entry_format, tag, type_, len(values)) + field
    return struct.pack(endian + count_format, len(entries)) + fields + bytes(inline) + extra


def tiff_image_tags(
    width: int, height: int, tiled: bool, offsets: list[int], lengths: list[int], big: bool
) -> list[tuple[int, int, list[int]]]:
    offset_type = 16 if big else 4
    tags = [(256, 4, [width]), (257, 4, [height]), (258, 3, [8]), (259, 3, [1]), (262, 3, [1])]
    tags.append((277, 3, [1]))
    if tiled:
        tags += [(322, 3, [16]), (323, 3, [16]), (324, offset_type, offsets), (325, 4, lengths)]
    else:
        length_type = 3 if max(lengths) < 1 << 16 else 4  # SHORT when it fits, as writers do
        tags += [(273, offset_type, offsets), (278, 3, [4]), (279, length_type, lengths)]
    return tags


def build_tiff(
    *,
    endian: str = "<",
    big: bool = False,
    pages: int = 1,
    tiled: bool = False,
    ifd_first: bool = False,
    sub_ifd: bool = False,
    seed: int = 0,
) -> bytes:
    """A minimal valid grey TIFF (classic or BigTIFF, either byte order), built field by field."""
    rng = random.Random(seed)
    out = bytearray(b"II" if endian == "<" else b"MM")
    out += struct.pack(endian + "HHHQ", 43, 8, 0, 0) if big else struct.pack(endian + "HI", 42, 0)
    word = "Q" if big else "I"
    link_at = 8 if big else 4  # where the pointer to the next IFD goes
    width, height = 32, 20
    pieces = 4 if tiled else 5  # 2x2 tiles of 16x16 (padded) or strips of 4 rows
    piece_size = 256 if tiled else width * 4
    for _ in range(pages):
        blocks = [rng.randbytes(piece_size) for _ in range(pieces)]
        entries = tiff_image_tags(width, height, tiled, [0] * pieces, [piece_size] * pieces, big)
        if sub_ifd:  # a reduced image in a SubIFD, placed before its parent
            thumb = rng.randbytes(40)
            thumb_at = len(out)
            out += thumb
            child_at = len(out)
            child = tiff_image_tags(8, 5, False, [thumb_at], [40], big)
            out += tiff_ifd(child_at, child, endian, big)
            entries.append((330, 16 if big else 13, [child_at]))
        if len(out) % 2:
            out += b"\x00"
        ifd_at = len(out)
        ifd_size = len(tiff_ifd(ifd_at, entries, endian, big))
        data_at = ifd_at + ifd_size if ifd_first else ifd_at
        if not ifd_first:
            ifd_at += pieces * piece_size
        offsets = [data_at + i * piece_size for i in range(pieces)]
        entries = [e if e[0] not in (273, 324) else (e[0], e[1], offsets) for e in entries]
        ifd = tiff_ifd(ifd_at, entries, endian, big)
        out += ifd + b"".join(blocks) if ifd_first else b"".join(blocks) + ifd
        struct.pack_into(endian + word, out, link_at, ifd_at)
        link_at = ifd_at + (8 + len(entries) * 20 if big else 2 + len(entries) * 12)
    return bytes(out)


TIFF_VARIANTS = {
    "little-endian strips": {},
    "big-endian strips": {"endian": ">"},
    "tiled": {"tiled": True},
    "big-endian tiled, IFD before data": {"endian": ">", "tiled": True, "ifd_first": True},
    "multi-page": {"pages": 3},
    "multi-page, IFD before data": {"pages": 3, "ifd_first": True},
    "BigTIFF strips": {"big": True},
    "BigTIFF big-endian tiled": {"big": True, "endian": ">", "tiled": True},
    "BigTIFF multi-page, IFD first": {"big": True, "pages": 2, "ifd_first": True},
    "SubIFD": {"sub_ifd": True},
    "BigTIFF SubIFD": {"big": True, "sub_ifd": True, "ifd_first": True},
}


@pytest.mark.parametrize("variant", TIFF_VARIANTS)
def test_hand_built_tiff_is_complete_only_with_its_last_byte(tmp_path: Path, variant: str) -> None:
    data = build_tiff(**TIFF_VARIANTS[variant])
    if not data.startswith(b"MM\x00+"):  # Pillow 13 cannot open big-endian BigTIFF at all
        with Image.open(io.BytesIO(data)) as image:  # Pillow agrees it is a valid TIFF
            for page in range(getattr(image, "n_frames", 1)):
                image.seek(page)
                image.load()
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}


_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 16: 8}
_TIFF_READ = {3: "H", 4: "I", 16: "Q"}


def tiff_structure_end(data: bytes) -> int:
    """Where the last IFD, tag value or strip of a (Pillow- or libtiff-written) TIFF ends."""
    endian = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    word, count_format, entry_format = ("Q", "Q", "HHQ") if big else ("I", "H", "HHI")
    inline = struct.calcsize(word)
    entry_head = struct.calcsize(endian + entry_format)
    end, ifd = 0, struct.unpack_from(endian + word, data, 8 if big else 4)[0]
    while ifd:
        count = struct.unpack_from(endian + count_format, data, ifd)[0]
        entries_at = ifd + struct.calcsize(count_format)
        next_at = entries_at + count * (entry_head + inline)
        end = max(end, next_at + inline)
        values = {}
        for at in range(entries_at, next_at, entry_head + inline):
            tag, type_, n = struct.unpack_from(endian + entry_format, data, at)
            size = _TIFF_SIZES[type_] * n
            value_at = at + entry_head
            if size > inline:
                value_at = struct.unpack_from(endian + word, data, value_at)[0]
            end = max(end, value_at + size)
            if type_ in _TIFF_READ:
                values[tag] = struct.unpack_from(f"{endian}{n}{_TIFF_READ[type_]}", data, value_at)
        strips = zip(values[273], values[279], strict=True)
        end = max(end, *(offset + length for offset, length in strips))
        ifd = struct.unpack_from(endian + word, data, next_at)[0]
    return end


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"save_all": True, "append_images": [noise((30, 20), seed=1), noise((10, 10), "L")]},
        {"big_tiff": True},
        {"compression": "tiff_lzw"},
        {"compression": "tiff_adobe_deflate", "big_tiff": True},
        {"compression": "tiff_lzw", "save_all": True, "append_images": [noise((30, 20))]},
    ],
)
def test_pillow_tiff_is_complete_once_everything_it_refers_to_is_there(
    tmp_path: Path, options: dict[str, object]
) -> None:
    data = encode(noise((40, 30)), "TIFF", **options)
    # Writers may pad the file after the last structure: cutting only padding leaves a whole TIFF.
    structure_end = tiff_structure_end(data)
    assert len(data) - 16 < structure_end <= len(data)
    assert not data[structure_end:].strip(b"\x00")
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == set(range(structure_end, len(data) + 1))


def test_tiff_strips_written_before_the_ifd_are_checked(tmp_path: Path) -> None:
    data = build_tiff(ifd_first=True, pages=2)
    path = write(tmp_path, data)
    assert check_cut(path, len(data) - 1) == "TIFF image data runs past the end of the file"
    data = build_tiff(pages=2)  # data, then the IFD, then its out-of-line values
    path = write(tmp_path, data)
    assert check_cut(path, len(data) - 1) == "TIFF tag data runs past the end of the file"
    last_ifd = data.rindex(struct.pack("<HHHII", 9, 256, 4, 1, 32))  # 9 entries, width first
    assert check_cut(path, last_ifd + 20) == "TIFF directory runs past the end of the file"


def test_tiff_subifd_data_past_the_end_is_incomplete(tmp_path: Path) -> None:
    data = bytearray(build_tiff(sub_ifd=True))
    child_strip_length = struct.pack("<HHII", 279, 3, 1, 40)  # the child's StripByteCounts
    at = data.index(child_strip_length)
    struct.pack_into("<HHII", data, at, 279, 4, 1, 10**8)
    assert check_file(write(tmp_path, bytes(data))) == (
        "TIFF image data runs past the end of the file"
    )


def test_tiff_ifd_chain_that_loops_gives_a_reason(tmp_path: Path) -> None:
    data = bytearray(build_tiff(pages=2))
    first_ifd = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first_ifd)[0]
    second_ifd_link = first_ifd + 2 + entries * 12
    second_ifd = struct.unpack_from("<I", data, second_ifd_link)[0]
    entries = struct.unpack_from("<H", data, second_ifd)[0]
    struct.pack_into("<I", data, second_ifd + 2 + entries * 12, first_ifd)  # back to page 1
    reason = check_file(write(tmp_path, bytes(data)))
    assert reason == "TIFF directory chain loops back on itself"


def test_tiff_sparse_tiles_with_zero_length_need_no_data(tmp_path: Path) -> None:
    data = bytearray(build_tiff(tiled=True, endian="<"))
    # TileOffsets and TileByteCounts: 4 LONGs each, stored out of line
    offsets_at = struct.unpack_from("<I", data, data.index(struct.pack("<HHI", 324, 4, 4)) + 8)[0]
    lengths_at = struct.unpack_from("<I", data, data.index(struct.pack("<HHI", 325, 4, 4)) + 8)[0]
    struct.pack_into("<I", data, lengths_at + 12, 0)  # the last tile was never written...
    struct.pack_into("<I", data, offsets_at + 12, 0xFFFFFFF0)  # ...so its offset means nothing
    assert check_file(write(tmp_path, bytes(data))) is None


# --- HEIF ------------------------------------------------------------------------------------


def top_level_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of each top-level box of a file with 32-bit box sizes."""
    boxes, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        boxes.append((kind, pos, pos + size))
        pos += size
    return boxes


def heif_file(fmt: str = "HEIF") -> bytes:
    data = encode(noise((64, 48)), fmt, quality=90)
    assert [box[0] for box in top_level_boxes(data)] == [b"ftyp", b"meta", b"mdat"]
    return data


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_is_complete_only_with_its_last_byte(tmp_path: Path, fmt: str) -> None:
    data = heif_file(fmt)
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_heif_cut_between_meta_and_mdat_is_incomplete(tmp_path: Path) -> None:
    data = heif_file()
    meta_end = top_level_boxes(data)[1][2]
    path = write(tmp_path, data)
    assert check_cut(path, meta_end) == "HEIF item data lies past the end of the file"
    assert check_cut(path, meta_end + 3) == "HEIF ends inside a box header"
    assert check_cut(path, meta_end + 20) == "HEIF box runs past the end of the file"


def test_heif_mdat_sized_zero_to_end_of_file_is_checked_by_item_locations(tmp_path: Path) -> None:
    data = bytearray(heif_file())
    mdat_at = top_level_boxes(bytes(data))[2][1]
    struct.pack_into(">I", data, mdat_at, 0)  # size 0: the box runs to the end of the file
    with Image.open(io.BytesIO(bytes(data))) as image:
        image.load()
    path = write(tmp_path, bytes(data))
    assert check_file(path) is None
    assert complete_cuts(path, every_cut(path)) == {len(data)}


def test_heif_64_bit_box_sizes_are_followed(tmp_path: Path) -> None:
    heif = heif_file()
    data = heif + struct.pack(">I4sQ", 1, b"free", 16 + 100) + bytes(100)
    path = write(tmp_path, data)
    assert check_file(path) is None
    # Cut right before the extra box, the file is the original HEIF again.
    assert complete_cuts(path, range(len(heif) - 50, len(data) + 1)) == {len(heif), len(data)}


def test_heif_box_structure_errors_have_reasons(tmp_path: Path) -> None:
    data = heif_file()
    ftyp, _, mdat = top_level_boxes(data)
    without_meta = data[: ftyp[2]] + data[mdat[1] :]
    assert check_file(write(tmp_path, without_meta)) == "HEIF has no meta box"
    assert check_file(write(tmp_path, data + b"\x00\x00\x00")) == "HEIF ends inside a box header"
    tiny_box = data + struct.pack(">I4s", 4, b"free")
    assert check_file(write(tmp_path, tiny_box)) == "HEIF box has an impossible size"


# --- DICOM -----------------------------------------------------------------------------------


def dicom_dataset(
    transfer_syntax: str, *, undefined_sequence: bool = False, fragments: list[bytes] | None = None
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.4"  # VL Photographic Image
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    ds.PatientName, ds.PatientID = "Test^Patient", "12345"
    inner = Dataset()
    inner.CodeValue, inner.CodingSchemeDesignator = "T-D0050", "SRT"
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = "1.2.3", "1.2.3.4"
    item.AnatomicRegionSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    if undefined_sequence:
        for element in (ds["ReferencedImageSequence"], item["AnatomicRegionSequence"]):
            element.is_undefined_length = True
        item.is_undefined_length_sequence_item = inner.is_undefined_length_sequence_item = True
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 8, 8, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    if fragments is None:
        ds.PixelData = bytes(range(64))
    else:
        ds.PixelData = encapsulate(fragments)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicom_complete_cuts_expected(ds: Dataset) -> set[int]:
    """Cut points that leave a whole DICOM file: the ends of top-level elements.

    Oracle: pydicom writing the first k elements gives the offset where element k ends. DICOM has
    no end marker, so a cut there parses cleanly; check_complete refuses it only after Rows and
    before the pixel data (an image cut before its pixels).
    """
    expected = set()
    tags = sorted(ds.keys())  # the order pydicom writes them in
    for k in range(1, len(tags) + 1):
        partial = Dataset()
        partial.file_meta = ds.file_meta
        for tag in tags[:k]:
            partial[tag] = ds[tag]
        if "Rows" not in partial or "PixelData" in partial:
            expected.add(len(dicom_bytes(partial)))
    return expected


DICOM_VARIANTS = {
    "explicit VR LE": (ExplicitVRLittleEndian, False, None),
    "implicit VR LE": (ImplicitVRLittleEndian, False, None),
    "explicit VR BE": (ExplicitVRBigEndian, False, None),
    "explicit VR LE, undefined-length sequences": (ExplicitVRLittleEndian, True, None),
    "implicit VR LE, undefined-length sequences": (ImplicitVRLittleEndian, True, None),
    "explicit VR BE, undefined-length sequences": (ExplicitVRBigEndian, True, None),
    "encapsulated JPEG pixel data": (JPEGBaseline8Bit, True, "jpeg"),
}


@pytest.mark.parametrize("variant", DICOM_VARIANTS)
def test_dicom_is_complete_only_at_legitimate_element_boundaries(
    tmp_path: Path, variant: str
) -> None:
    transfer_syntax, undefined, pixels = DICOM_VARIANTS[variant]
    fragments = None
    if pixels == "jpeg":
        frame = encode(noise((8, 8), "L"), "JPEG")
        fragments = [frame[:100], frame[100:]]  # one frame in two fragments
    ds = dicom_dataset(transfer_syntax, undefined_sequence=undefined, fragments=fragments)
    data = dicom_bytes(ds)
    assert pydicom.dcmread(io.BytesIO(data)).PatientID == "12345"
    if undefined:
        assert b"\xfe\xff\xdd\xe0" in data or b"\xff\xfe\xe0\xdd" in data  # real delimiters
    path = write(tmp_path, data)
    assert check_file(path) is None
    expected = dicom_complete_cuts_expected(ds)
    assert len(data) in expected
    assert complete_cuts(path, every_cut(path)) == expected


def test_dicom_reasons_for_typical_cuts(tmp_path: Path) -> None:
    ds = dicom_dataset(ExplicitVRLittleEndian, undefined_sequence=True)
    data = dicom_bytes(ds)
    path = write(tmp_path, data)
    pixel_header = data.rindex(b"\xe0\x7f\x10\x00")
    sequence_at = data.index(b"\x08\x00\x40\x11")  # ReferencedImageSequence
    assert check_cut(path, len(data) - 1) == "DICOM element runs past the end of the file"
    assert check_cut(path, pixel_header) == "DICOM ends before its pixel data"
    assert check_cut(path, pixel_header + 5) == "DICOM ends inside an element header"
    assert check_cut(path, sequence_at + 12) == "DICOM ends inside a sequence"
    assert check_cut(path, 132) == "DICOM has no data set after its file meta"
    assert complete_cuts(path, range(132)) == set()  # preamble and DICM cut short


def test_dicom_deflated_is_accepted_once_its_file_meta_is_whole(tmp_path: Path) -> None:
    ds = dicom_dataset(DeflatedExplicitVRLittleEndian)
    data = dicom_bytes(ds)
    assert pydicom.dcmread(io.BytesIO(data)).PatientID == "12345"
    meta_end = 132 + 12 + struct.unpack_from("<I", data, 140)[0]  # (0002,0000) group length
    path = write(tmp_path, data)
    # The deflated data set has no structure to walk: cuts after the file meta are accepted,
    # except a single byte, which could as well be the start of another file meta element.
    assert complete_cuts(path, every_cut(path)) == set(range(meta_end + 2, len(data) + 1))


def explicit_le(
    group: int, element: int, vr: bytes, value: bytes, undefined: bool = False
) -> bytes:
    length = 0xFFFFFFFF if undefined else len(value)
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, length) + value
    return struct.pack("<HH2sH", group, element, vr, length) + value


def implicit_le(group: int, element: int, value: bytes, undefined: bool = False) -> bytes:
    return struct.pack("<HHI", group, element, 0xFFFFFFFF if undefined else len(value)) + value


ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def hand_built_dicom(body: bytes) -> bytes:
    syntax = explicit_le(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\x00")
    meta = explicit_le(0x0002, 0x0000, b"UL", struct.pack("<I", len(syntax))) + syntax
    return bytes(128) + b"DICM" + meta + body


def test_dicom_undefined_length_un_is_walked_as_implicit_vr(tmp_path: Path) -> None:
    inner = implicit_le(0x0009, 0x0011, b"private!")  # implicit VR inside, as PS3.5 requires
    sequence = implicit_le(0xFFFE, 0xE000, inner, undefined=True) + ITEM_END + SEQUENCE_END
    body = explicit_le(0x0008, 0x0060, b"CS", b"XC")
    body += explicit_le(0x0009, 0x0010, b"LO", b"PICSYNCT")
    body += explicit_le(0x0009, 0x1010, b"UN", sequence, undefined=True)
    body += explicit_le(0x0010, 0x0020, b"LO", b"12345 ")
    data = hand_built_dicom(body)
    assert pydicom.dcmread(io.BytesIO(data)).PatientID == "12345"
    path = write(tmp_path, data)
    assert check_file(path) is None
    un_start = len(data) - len(body) + 10 + 16 + 12  # the UN element's value
    un_end = len(data) - 14  # PatientID follows it
    cuts = complete_cuts(path, range(un_start, len(data) + 1))
    assert cuts == {un_end, len(data)}


def test_dicom_sequences_nested_too_deeply_stop_with_a_reason(tmp_path: Path) -> None:
    opening = explicit_le(0x0008, 0x1140, b"SQ", b"", undefined=True)
    opening += implicit_le(0xFFFE, 0xE000, b"", undefined=True)
    body = opening * 200 + (ITEM_END + SEQUENCE_END) * 200
    data = hand_built_dicom(body)
    assert check_file(write(tmp_path, data)) == "DICOM sequences nest too deeply"


def test_dicom_without_transfer_syntax_guesses_explicit_or_implicit(tmp_path: Path) -> None:
    meta = explicit_le(0x0002, 0x0001, b"OB", b"\x00\x01")
    explicit = explicit_le(0x0008, 0x0060, b"CS", b"XC") + explicit_le(0x0010, 0x0020, b"LO", b"1 ")
    implicit = implicit_le(0x0008, 0x0060, b"XC") + implicit_le(0x0010, 0x0020, b"1 ")
    for body in (explicit, implicit):
        data = bytes(128) + b"DICM" + meta + body
        assert check_file(write(tmp_path, data)) is None
        assert check_file(write(tmp_path, data[:-1])) is not None


# --- big files: seek, read bounded pieces ---------------------------------------------------


def sparse_file(tmp_path: Path, pieces: dict[int, bytes], size: int) -> Path:
    path = tmp_path / NAME
    with open(path, "wb") as f:
        for offset, piece in pieces.items():
            f.seek(offset)
            f.write(piece)
        f.truncate(size)
    return path


def timed_with_peak_memory(path: Path) -> tuple[str | None, float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = check_file(path)
        return result, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


GIB = 1 << 30


def test_big_tiff_png_heif_dicom_are_checked_without_reading_their_data(tmp_path: Path) -> None:
    strip = 3 * GIB
    tiff = struct.pack("<2sHI", b"II", 42, 8) + tiff_ifd(
        8, tiff_image_tags(1, 1, False, [strip], [GIB], big=False), "<", big=False
    )
    png_data = 2 * GIB
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 13, b"IHDR") + bytes(17)
    png_idat = struct.pack(">I4s", png_data, b"IDAT")
    png_end = len(png) + 8 + png_data + 4
    dicom_head = hand_built_dicom(explicit_le(0x0008, 0x0060, b"CS", b"XC"))
    pixel_length = 3 * GIB
    dicom_pixels = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, pixel_length)
    cases = {
        "tiff": ({0: tiff}, strip + GIB),
        "png": ({0: png + png_idat, png_end: b"\x00\x00\x00\x00IEND\xaeB`\x82"}, png_end + 12),
        "dicom": ({0: dicom_head + dicom_pixels}, len(dicom_head) + 12 + pixel_length),
    }
    for name, (pieces, size) in cases.items():
        path = sparse_file(tmp_path, pieces, size)
        result, seconds, peak = timed_with_peak_memory(path)
        assert result is None, name
        assert seconds < 1 and peak < 1 << 20, name
        os.truncate(path, size - 1)
        assert check_file(path) is not None, name


def test_big_heif_with_64_bit_mdat_is_checked_without_reading_it(tmp_path: Path) -> None:
    data = heif_file()
    mdat = top_level_boxes(data)[2]
    mdat_size = 5 * GIB
    path = sparse_file(
        tmp_path,
        {0: data[: mdat[1]] + struct.pack(">I4sQ", 1, b"mdat", mdat_size)},
        mdat[1] + mdat_size,
    )
    # iloc still points at the old, smaller mdat's data: inside the file, so complete.
    result, seconds, peak = timed_with_peak_memory(path)
    assert (result, seconds < 1, peak < 1 << 20) == (None, True, True)


def test_big_jpeg_scan_is_read_in_bounded_pieces(tmp_path: Path) -> None:
    header = encode(noise((16, 16)), "JPEG")
    sos = header.index(b"\xff\xda")
    scan_header_end = sos + 2 + struct.unpack_from(">H", header, sos + 2)[0]
    size = 64 << 20
    path = sparse_file(tmp_path, {0: header[:scan_header_end], size - 2: b"\xff\xd9"}, size)
    result, seconds, peak = timed_with_peak_memory(path)
    assert result is None
    assert seconds < 10 and peak < 4 << 20


# --- JPEGs larger than the head read at once ---------------------------------------------------

HEAD = 64 << 10  # what check_complete reads at once; larger files take the paths below


def big_jpeg(**options: object) -> bytes:
    data = encode(noise((420, 320), seed=5), "JPEG", quality=95, **options)
    assert len(data) > 2 * HEAD  # the test has teeth: the file does not fit the head
    return data


def sampled_cuts(size: int, *near: int) -> set[int]:
    """Every 997th cut, every cut in the last 300 bytes and within 40 bytes of ``near``."""
    cuts = set(range(0, size, 997)) | set(range(size - 300, size + 1))
    for at in (HEAD, *near):
        cuts |= set(range(max(0, at - 40), min(size, at + 40) + 1))
    return cuts


def scan_header_end(data: bytes) -> int:
    sos = data.index(b"\xff\xda")
    return sos + 2 + struct.unpack_from(">H", data, sos + 2)[0]


@pytest.mark.parametrize(
    "options", [{}, {"progressive": True}, {"restart_marker_blocks": 4}, {"subsampling": 0}]
)
def test_big_jpeg_is_complete_only_with_its_last_byte(
    tmp_path: Path, options: dict[str, object]
) -> None:
    data = big_jpeg(**options)
    path = write(tmp_path, data)
    cuts = sampled_cuts(len(data), scan_header_end(data))
    assert complete_cuts(path, cuts) == {len(data)}


def test_big_jpeg_with_headers_longer_than_the_head_is_walked_in_the_file(tmp_path: Path) -> None:
    # Three ICC-profile-sized APP2 segments push the frame and scan headers past the head.
    app2 = b"\xff\xe2" + struct.pack(">H", 30_002) + random.Random(3).randbytes(30_000)
    main = big_jpeg()
    data = main[:2] + app2 * 3 + main[2:]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    path = write(tmp_path, data)
    cuts = sampled_cuts(len(data), scan_header_end(data), 2 + 3 * len(app2))
    assert complete_cuts(path, cuts) == {len(data)}


def test_big_jpeg_trailers_after_eoi_are_allowed(tmp_path: Path) -> None:
    main = big_jpeg()
    video = b"\x00\x00\x00\x18ftypmp42" + random.Random(2).randbytes(90_000) + b"\x00"
    second = encode(noise((200, 150), seed=6), "JPEG")  # an MPF image, ending in its own EOI
    for trailer in (video, second, video + second):
        data = main + trailer
        path = write(tmp_path, data)
        assert check_file(path) is None
        cuts = sampled_cuts(len(data), len(main))
        assert complete_cuts(path, cuts) == {n for n in cuts if n >= len(main)}


def test_big_progressive_jpeg_is_not_judged_by_its_tail(tmp_path: Path) -> None:
    # Between two scans past the head, a comment ending in FF D9: a file cut right after it
    # ends on FF D9 but has no end-of-image marker. Only the full walk can tell.
    data = big_jpeg(progressive=True)
    later_scan = data.index(b"\xff\xda", HEAD)
    comment = b"\xff\xfe\x00\x06ok\xff\xd9"
    data = data[:later_scan] + comment + data[later_scan:]
    path = write(tmp_path, data)
    assert check_file(path) is None
    assert check_cut(path, later_scan + len(comment)) == "JPEG has no end-of-image marker"


def test_only_a_file_larger_than_the_head_is_judged_by_its_tail(tmp_path: Path) -> None:
    # A comment after the only scan, ending in FF D9, cut right after: no end-of-image marker.
    # A file read whole is walked whole and says so; a larger one ends on FF D9 after a single
    # sequential scan, which the tail check takes for its EOI (the documented exception).
    comment = b"\xff\xfe\x00\x06ok\xff\xd9"
    for data, expected in (
        (encode(noise((40, 32)), "JPEG"), "JPEG has no end-of-image marker"),
        (big_jpeg(), None),
    ):
        cut = data[:-2] + comment  # the scan's data, then the comment; the EOI never came
        assert check_file(write(tmp_path, cut)) == expected


class CountingFile:
    """A real file that counts the bytes read from it."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")  # noqa: SIM115 (closed by the test)
        self.bytes_read = 0

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return self.f.seek(offset, whence)

    def read(self, size: int, /) -> bytes:
        data = self.f.read(size)
        self.bytes_read += len(data)
        return data


def test_big_sequential_jpeg_is_judged_by_its_tail_and_others_are_read_through(
    tmp_path: Path,
) -> None:
    small = encode(noise((16, 16)), "JPEG")
    header = small[: scan_header_end(small)]
    size = 64 << 20
    read = {}
    for name, tail in {"eoi": b"\xff\xd9", "eoi-then-padding": b"\xff\xd9\x00"}.items():
        path = sparse_file(tmp_path, {0: header, size - len(tail): tail}, size)
        counting = CountingFile(path)
        try:
            assert check_complete(counting, size) is None, name
        finally:
            counting.f.close()
        read[name] = counting.bytes_read
    assert read["eoi"] <= HEAD + 2  # the head and the last two bytes, not the scan
    assert read["eoi-then-padding"] > size - HEAD  # no EOI at the very end: the full walk


# --- robustness: garbage never raises ---------------------------------------------------------

PREFIXES = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"%PDF-1.7\n",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00\x08\x00\x00\x00",
    b"MM\x00+\x00\x08\x00\x00",
    b"\x00\x00\x00\x18ftypheic",
    bytes(128) + b"DICM",
    bytes(128) + b"DICM\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2\x00\x00\x00",
    bytes(128) + b"DICM\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.2\x00",
    b"",
]


def assert_answers_quickly(data: bytes) -> None:
    started = time.monotonic()
    result = check_complete(io.BytesIO(data), len(data))
    assert result is None or (isinstance(result, str) and result)
    assert time.monotonic() - started < 1


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), rest=st.binary(max_size=600))
def test_random_bytes_never_raise(prefix: bytes, rest: bytes) -> None:
    assert_answers_quickly(prefix + rest)


def valid_samples() -> list[bytes]:
    image = noise((24, 16))
    frame = encode(noise((8, 8), "L"), "JPEG")
    return [
        encode(image, "JPEG"),
        encode(image, "JPEG", progressive=True),
        encode(image, "PNG"),
        encode(image, "PDF"),
        encode(image, "TIFF"),
        build_tiff(endian=">", tiled=True, pages=2, sub_ifd=True),
        build_tiff(big=True, ifd_first=True),
        heif_file(),
        dicom_bytes(dicom_dataset(ExplicitVRLittleEndian, undefined_sequence=True)),
        dicom_bytes(dicom_dataset(ImplicitVRLittleEndian, undefined_sequence=True)),
        dicom_bytes(dicom_dataset(ExplicitVRBigEndian, undefined_sequence=True)),
        dicom_bytes(dicom_dataset(JPEGBaseline8Bit, fragments=[frame])),
    ]


SAMPLES = valid_samples()
# Values that make lengths, counts and offsets extreme.
NASTY = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01", b"\xff\xd9", b"\x7f\xff"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.integers(0, len(SAMPLES) - 1),
    edits=st.lists(
        st.tuples(
            st.floats(0, 1, exclude_max=True),
            st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=8)),
        ),
        min_size=1,
        max_size=6,
    ),
    keep=st.floats(0.5, 1),
)
def test_mutated_valid_files_never_raise(
    sample: int, edits: list[tuple[float, bytes]], keep: float
) -> None:
    data = bytearray(SAMPLES[sample])
    for where, value in edits:
        at = int(where * len(data))
        data[at : at + len(value)] = value
    assert_answers_quickly(bytes(data[: max(1, int(len(data) * keep))]))


def test_valid_samples_are_complete() -> None:
    for data in SAMPLES:
        assert check_complete(io.BytesIO(data), len(data)) is None


def test_the_module_is_pure() -> None:
    import picsync.completeness as module
    import picsync.completeness_walkers as walkers

    allowed = {
        "__future__",
        "io",
        "re",
        "struct",
        "collections",
        "dataclasses",
        "typing",
        "picsync",
    }
    for source in (Path(module.__file__).read_text(), Path(walkers.__file__).read_text()):
        for line in source.splitlines():
            if line.startswith(("import ", "from ")):
                assert line.split()[1].split(".")[0] in allowed, line
