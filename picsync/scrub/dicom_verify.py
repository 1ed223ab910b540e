"""Pure: prove a de-identified DICOM file is clean before a byte of it is written (rule 12).

``verify_dicom`` walks the output's bytes (``dicom_structure``) and re-reads it with pydicom, then
checks: a zero preamble; a file meta group holding only what picsync writes, naming the same SOP
instance as the data set; only allowlisted attributes, no private tag at any depth; identity
attributes empty; Patient Identity Removed = YES; instance UIDs well formed and new; the same
pixel data (byte for byte when native, frame for frame when encapsulated). Last,
``verify.ensure_clean`` runs over every byte of the file except the coded pixels (native samples;
the tables and scans of JPEG frames, the tiles of JPEG 2000 frames, RLE segments), which are the
image itself and proven unchanged: scanning megabytes of samples finds names only by chance.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset

from picsync.errors import RefusedError
from picsync.scrub.dicom_allowlist import EMPTIED, NEW_UIDS, allowed_keywords
from picsync.scrub.dicom_frames import NATIVE_SYNTAXES, frame_metadata, split_frames
from picsync.scrub.dicom_structure import PREAMBLE, check_structure, pixel_data_value
from picsync.scrub.verify import ensure_clean

__all__ = ["ExpectedDicom", "verify_dicom"]

_META_KEYWORDS = frozenset(
    {"FileMetaInformationGroupLength", "FileMetaInformationVersion", "MediaStorageSOPClassUID"}
    | {"MediaStorageSOPInstanceUID", "TransferSyntaxUID", "ImplementationClassUID"}
    | {"ImplementationVersionName"}
)
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_IMPLICIT = "1.2.840.10008.1.2"
_REQUIRED_UIDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})


@dataclass(frozen=True, slots=True)
class ExpectedDicom:
    """What the output must hold: its transfer syntax and pixels, and no UID of the input."""

    syntax: str
    pixels: bytes | None  # native pixel data, or None when encapsulated
    frames: tuple[bytes, ...]  # cleaned frames when encapsulated
    old_uids: frozenset[str]


def verify_dicom(output: bytes, expected: ExpectedDicom, needles: set[bytes]) -> None:
    """Raise ``RefusedError`` unless ``output`` passes every check in the module docstring."""
    explicit = expected.syntax != _IMPLICIT
    check_structure(output, explicit)
    if output[:PREAMBLE] != bytes(PREAMBLE):
        raise RefusedError("de-identified DICOM file has a non-zero preamble")
    try:
        dataset = pydicom.dcmread(io.BytesIO(output), force=False)
        for element in dataset.iterall():
            _ = element.value  # convert every raw element now
    except Exception as exc:  # pydicom raises many kinds; any of them means "does not parse"
        raise RefusedError("de-identified DICOM file does not re-read") from exc
    _check_meta(dataset, expected)
    _check_attributes(dataset, expected)
    location = pixel_data_value(output, explicit)
    if location is None:
        raise RefusedError("de-identified DICOM file has no pixel data")
    start, length = location
    kept = [output[:start], output[start + length :]]
    if expected.pixels is not None:
        if bytes(dataset.PixelData) != expected.pixels:
            raise RefusedError("de-identified DICOM pixel data differs from the input's")
    else:
        frames = split_frames(bytes(dataset.PixelData), len(expected.frames))
        if [_unpad(frame) for frame in frames] != [_unpad(frame) for frame in expected.frames]:
            raise RefusedError("de-identified DICOM frames differ from the cleaned frames")
        kept += [frame[: frame_metadata(expected.syntax, frame)] for frame in frames]
    ensure_clean(b"\n\x00\n".join(kept), needles)


def _unpad(frame: bytes) -> bytes:
    """A frame without the zero byte that pads it to even length in its fragment."""
    return frame[:-1] if len(frame) % 2 == 0 and frame.endswith(b"\x00") else frame


def _check_meta(dataset: Dataset, expected: ExpectedDicom) -> None:
    meta = dataset.file_meta
    if {element.keyword for element in meta} - _META_KEYWORDS:
        raise RefusedError("de-identified DICOM file meta holds more than it should")
    if str(meta.TransferSyntaxUID) != expected.syntax:
        raise RefusedError("de-identified DICOM file changed its transfer syntax")
    if meta.MediaStorageSOPInstanceUID != dataset.SOPInstanceUID:
        raise RefusedError("de-identified DICOM file meta names another instance")
    if meta.MediaStorageSOPClassUID != dataset.SOPClassUID:
        raise RefusedError("de-identified DICOM file meta names another SOP class")
    if expected.syntax not in NATIVE_SYNTAXES and expected.pixels is not None:
        raise RefusedError("de-identified DICOM pixel data is not encapsulated")


def _check_attributes(dataset: Dataset, expected: ExpectedDicom) -> None:
    allowed = allowed_keywords()
    for element in dataset:
        if element.tag.is_private or element.keyword not in allowed:
            raise RefusedError("de-identified DICOM file holds an attribute outside the allowlist")
    if any(element.tag.is_private for element in dataset.iterall()):
        raise RefusedError("de-identified DICOM file holds a private attribute")
    for keyword in EMPTIED:
        if dataset.get(keyword) not in ("", None):
            raise RefusedError("de-identified DICOM file holds an identity attribute")
    if dataset.get("PatientIdentityRemoved") != "YES" or not dataset.get("DeidentificationMethod"):
        raise RefusedError("de-identified DICOM file does not say it was de-identified")
    for keyword in NEW_UIDS:
        value = dataset.get(keyword)
        if value is None and keyword not in _REQUIRED_UIDS:
            continue
        uid = str(value or "")
        if not _UID.fullmatch(uid) or len(uid) > 64 or uid in expected.old_uids:
            raise RefusedError("de-identified DICOM file has an invalid or reused instance UID")
