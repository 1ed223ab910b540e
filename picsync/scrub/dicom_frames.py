"""Pure: clean the frames of encapsulated DICOM pixel data without re-encoding them (pydicom).

deid.md §2.6: a camera's JPEG inside a DICOM file still carries its APP1 EXIF (GPS, serial,
owner). For the JPEG transfer syntaxes (baseline, extended, lossless) every frame loses its
APPn/COM segments (``embedded_jpeg``: the scan data is proven unchanged) and the frames are
encapsulated again, one fragment per frame with a fresh basic offset table. JPEG 2000 frames
lose their comments and boxes (``jpeg2000``). RLE frames hold no metadata and are copied as they
are. Any other encapsulated syntax (JPEG-LS, video, deflate) is refused: picsync cannot prove
what its frames carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    JPEG2000TransferSyntaxes,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    RLELossless,
)

from picsync.errors import RefusedError
from picsync.scrub.embedded_jpeg import clean_jpeg, metadata_end
from picsync.scrub.jpeg2000 import clean_jpx

__all__ = [
    "ENCAPSULATED_SYNTAXES",
    "NATIVE_SYNTAXES",
    "CleanFrames",
    "clean_frames",
    "frame_metadata",
    "split_frames",
]

NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})  # implicit, explicit LE
_JPEG = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1})
_JPEG2000 = frozenset(JPEG2000TransferSyntaxes)
ENCAPSULATED_SYNTAXES = _JPEG | _JPEG2000 | {RLELossless}
_MAX_FRAMES = 100_000


@dataclass(frozen=True, slots=True)
class CleanFrames:
    """Cleaned frames (unpadded), their encapsulation, the needles found, whether any changed."""

    frames: tuple[bytes, ...]
    encapsulated: bytes
    needles: frozenset[bytes]
    changed: bool


def split_frames(pixel_data: bytes, number_of_frames: int) -> list[bytes]:
    """The frames of encapsulated pixel data; refuse if they cannot be told apart."""
    if not 1 <= number_of_frames <= _MAX_FRAMES:
        raise RefusedError("DICOM file has an impossible number of frames")
    try:
        frames = list(generate_frames(pixel_data, number_of_frames=number_of_frames))
    except (ValueError, KeyError, IndexError) as exc:
        raise RefusedError("DICOM encapsulated pixel data does not split into its frames") from exc
    if len(frames) != number_of_frames:
        raise RefusedError("DICOM encapsulated pixel data holds the wrong number of frames")
    return frames


def clean_frames(syntax: str, pixel_data: bytes, number_of_frames: int) -> CleanFrames:
    """Clean every frame of encapsulated ``pixel_data`` in transfer syntax ``syntax``."""
    frames = split_frames(pixel_data, number_of_frames)
    needles: set[bytes] = set()
    cleaned: list[bytes] = []
    if syntax in _JPEG:
        for frame in frames:
            result = clean_jpeg(frame)
            needles |= result.needles
            cleaned.append(result.data)
    elif syntax in _JPEG2000:
        for frame in frames:
            jpx = clean_jpx(_unpad(frame))
            needles |= jpx.needles
            cleaned.append(jpx.data)
    elif syntax == RLELossless:
        return CleanFrames(tuple(frames), pixel_data, frozenset(), False)
    else:
        raise RefusedError("DICOM transfer syntax is not one picsync can clean")
    changed = [new for new, old in zip(cleaned, frames, strict=True) if new != _unpad(old)]
    return CleanFrames(tuple(cleaned), encapsulate(cleaned), frozenset(needles), bool(changed))


def _unpad(frame: bytes) -> bytes:
    """A frame without the zero byte that pads it to even length (the cleaners drop it too)."""
    return frame[:-1] if frame.endswith(b"\xff\xd9\x00") else frame


def frame_metadata(syntax: str, frame: bytes) -> int:
    """How many leading bytes of a cleaned frame hold metadata rather than coded pixels."""
    if syntax in _JPEG:
        return metadata_end(frame)
    if syntax in _JPEG2000:
        sot = frame.find(b"\xff\x90")  # the main header ends at the first tile-part
        return sot if sot > 0 else len(frame)
    return min(len(frame), 64)  # RLE: the segment offset header
