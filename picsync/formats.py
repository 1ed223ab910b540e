"""Pure: tell a file's format from its first bytes, never from its name."""

from __future__ import annotations

from enum import StrEnum

SNIFF_BYTES = 512  # enough for DICOM's preamble + "DICM" and an ISOBMFF ftyp box


class Format(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"  # includes DNG and TIFF-based raw; the TIFF scrubber tells them apart
    HEIF = "heif"  # HEIC, HEIF, AVIF: ISOBMFF image containers
    PDF = "pdf"
    DICOM = "dicom"
    VIDEO = "video"  # MP4, MOV, 3GP: not supported yet
    RAW = "raw"  # proprietary camera raw that is not TIFF-shaped (CR3, RAF, ORF, RW2)
    OTHER = "other"  # a known image format picsync does not process (GIF, WebP, BMP)
    UNKNOWN = "unknown"


SUPPORTED = frozenset({Format.JPEG, Format.PNG, Format.TIFF, Format.HEIF, Format.PDF, Format.DICOM})

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
)
_VIDEO_BRANDS = frozenset(
    {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"3gp4", b"3gp5", b"3g2a", b"M4V ", b"avc1"}
)


def sniff(head: bytes) -> tuple[Format, str]:
    """Return the format and a short human name (e.g. ``"Canon CR3 raw"``) for a file's head.

    DICOM is checked before TIFF: a DICOM preamble may itself be a TIFF header.
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return Format.DICOM, "DICOM"
    if head.startswith(b"\xff\xd8\xff"):
        return Format.JPEG, "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format.PNG, "PNG"
    if head.startswith(b"%PDF-"):
        return Format.PDF, "PDF"
    if head[:4] in (b"IIRO", b"IIRS"):
        return Format.RAW, "Olympus ORF raw"
    if head[:4] == b"IIU\x00":
        return Format.RAW, "Panasonic RW2 raw"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Format.TIFF, "TIFF"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return Format.RAW, "Fujifilm RAF raw"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return Format.RAW, "Canon CR3 raw"
        if brand in _HEIF_BRANDS:
            return Format.HEIF, "HEIF"
        if brand in _VIDEO_BRANDS:
            return Format.VIDEO, "MP4/MOV video"
        return Format.OTHER, f"ISO media ({brand.decode('latin-1').strip() or '?'})"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format.OTHER, "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format.OTHER, "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Format.VIDEO, "AVI video"
    if head[:2] == b"BM":
        return Format.OTHER, "BMP"
    if head[:4] == b"PK\x03\x04":
        return Format.OTHER, "ZIP archive"
    return Format.UNKNOWN, "unrecognised format"
