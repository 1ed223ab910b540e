"""Generated benchmark inputs: camera-like images with realistic (FAKE) metadata. Not a test.

Pixels are a smooth gradient plus seeded noise (numpy), so JPEG, PNG and HEIC compress to sizes
a camera or phone produces, and every file differs. Metadata comes from the test builders in
tests/scrub/ (every value invented): EXIF with GPS, a MakerNote and a thumbnail, XMP, IPTC,
ICC profiles, text chunks, trailers; the PDF is the planted two-page "scan" plus a page holding a
full-size planted JPEG. Used by bench_scrub.py and bench_e2e.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import benchlib  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import pikepdf
import pillow_heif
from PIL import Image

from tests.scrub.planted import (
    insert_after_soi,
    jpeg_segment,
    plant_jpeg,
    plant_png,
    planted_exif,
    planted_icc,
    planted_xmp,
    png_chunk,
)
from tests.scrub.planted_pdf import dct_image, planted_pdf
from tests.scrub.tiff_samples import pillow_page, planted_page, write_tiff

FORMATS = ("jpeg", "png", "tiff", "heic", "pdf")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "tiff": "tif", "heic": "heic", "pdf": "pdf"}


def photo(seed: int, size: tuple[int, int], noise: float = 6.0) -> Image.Image:
    """A gradient with seeded Gaussian noise: compresses like a real photo, differs per seed."""
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / (37 + seed % 11)),
            128 + 100 * np.cos(y / (53 + seed % 7)),
            (x + y) * 255 / (width + height),
        ],
        axis=-1,
    )
    pixels = base + rng.normal(0, noise, base.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def jpeg(seed: int, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    photo(seed, size).save(out, "JPEG", quality=90)
    return plant_jpeg(out.getvalue(), orientation=6)


def png(seed: int, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    photo(seed, size, noise=2.0).save(out, "PNG")
    return plant_png(out.getvalue(), orientation=6)


def tiff(seed: int, size: tuple[int, int]) -> bytes:
    """A scanner-style TIFF: Deflate strips (libtiff via Pillow) and every planted TIFF tag."""
    page = pillow_page(photo(seed, size, noise=2.0), compression="tiff_adobe_deflate")
    return write_tiff([planted_page(page)])


def heic(seed: int, size: tuple[int, int]) -> bytes:
    """A phone-style lossy HEIC with EXIF (orientation 6), XMP, an ICC profile, a thumbnail."""
    out = io.BytesIO()
    pillow_heif.from_pillow(photo(seed, size)).save(
        out,
        quality=80,
        exif=planted_exif(orientation=6),
        xmp=planted_xmp(),
        icc_profile=planted_icc(),
        thumbnails=[256],
    )
    return out.getvalue()


def pdf(seed: int, size: tuple[int, int]) -> bytes:
    """The planted two-page PDF plus a third page that holds a full-size planted JPEG scan."""
    with pikepdf.open(io.BytesIO(planted_pdf())) as document:
        scan = dct_image(document, jpeg(seed, size))
        page = document.add_blank_page(page_size=(612, 792))
        page.obj.Contents = document.make_stream(b"q 540 0 0 720 36 36 cm /Scan Do Q\n")
        page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Scan=scan))
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()


BUILDERS: dict[str, Callable[[int, tuple[int, int]], bytes]] = {
    "jpeg": jpeg,
    "png": png,
    "tiff": tiff,
    "heic": heic,
    "pdf": pdf,
}


def unique_copy(fmt: str, data: bytes, index: int) -> bytes:
    """``data`` made different for ``index`` by one more metadata item (a JPEG comment, a PNG
    text chunk): picsync takes each content once, so a copy would be a duplicate, not a file."""
    note = f"bench copy {index}".encode()
    if fmt == "jpeg":
        return insert_after_soi(data, [jpeg_segment(0xFE, note)])
    if fmt == "png":
        ihdr_end = 8 + 12 + 13
        return data[:ihdr_end] + png_chunk(b"tEXt", b"Comment\x00" + note) + data[ihdr_end:]
    raise ValueError(f"no cheap unique copy for {fmt}; encode each file instead")


def write_set(
    folder: Path,
    formats: tuple[str, ...],
    per_format: int,
    size: tuple[int, int],
    *,
    distinct: int = 4,
    seed: int = 0,
    unique: bool = False,
) -> list[Path]:
    """``per_format`` files of each format in ``folder``; ``distinct`` of them are encoded and
    the rest are copies of those (encoding is the slow part, not what is measured). With
    ``unique``, every file has different bytes: copies get a ``unique_copy`` note (JPEG, PNG)
    or, for the other formats, every file is encoded."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        cheap = fmt in ("jpeg", "png")
        encoded = per_format if unique and not cheap else min(distinct, per_format)
        made = [BUILDERS[fmt](seed + i, size) for i in range(encoded)]
        for index in range(per_format):
            data = made[index % len(made)]
            if unique and index >= len(made):
                data = unique_copy(fmt, data, index)
            path = folder / f"{fmt}_{index:05d}.{EXTENSIONS[fmt]}"
            path.write_bytes(data)
            paths.append(path)
    return paths
