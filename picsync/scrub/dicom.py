"""Pure: DICOM de-identification by an allowlist rebuild with pydicom; pixels are never re-encoded.

deid.md §2.6. Accepted: photographic SOP classes (VL Photographic, Endoscopic, Microscopic,
Ophthalmic and Dermoscopic Photography, Secondary Capture single and multi-frame), in native
little endian (implicit or explicit VR), JPEG, JPEG 2000 or RLE transfer syntaxes. Refused:
other SOP classes and transfer syntaxes, Burned In Annotation = YES (picsync cannot clean
pixels), files that do not parse completely (``dicom_structure`` walks every byte first), native
pixel data of the wrong size, anything over ``MAX_DICOM`` bytes.

The output is a new file: a zero preamble, a new file meta group (same transfer syntax,
picsync's implementation UID, no application entity titles), and the data set ``dicom_allowlist``
builds, with encapsulated frames cleaned by ``dicom_frames``. ``dicom_verify`` re-reads and
re-scans it before any byte reaches ``dst``, looking for every value of the input that the
output does not keep. PatientID (and its issuer) go to the report's identifiers for the sealed
manifest; the capture time (acquisition date-time, else content, acquisition or study date and
time) to its capture time. Neither is written into the file.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime, timedelta, timezone
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from picsync.errors import RefusedError
from picsync.scrub.dicom_allowlist import NEW_UIDS, dataset_needles, rebuild
from picsync.scrub.dicom_frames import ENCAPSULATED_SYNTAXES, NATIVE_SYNTAXES, clean_frames
from picsync.scrub.dicom_structure import PREAMBLE, check_structure, transfer_syntax
from picsync.scrub.dicom_verify import ExpectedDicom, verify_dicom
from picsync.scrub.report import ScrubOptions, ScrubReport
from picsync.scrub.verify import text_needles

__all__ = ["ACCEPTED_CLASSES", "IMPLEMENTATION_CLASS_UID", "MAX_DICOM", "scrub"]

MAX_DICOM = 512 << 20
# picsync's own implementation class UID: a fixed UUID-derived UID (PS3.5 B.2), names no device.
IMPLEMENTATION_CLASS_UID = "2.25.203840155796394627519358218376212806203"
IMPLEMENTATION_VERSION_NAME = "PICSYNC_DEID"
ACCEPTED_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic Image
        "1.2.840.10008.5.1.4.1.1.77.1.1",  # VL Endoscopic Image
        "1.2.840.10008.5.1.4.1.1.77.1.2",  # VL Microscopic Image
        "1.2.840.10008.5.1.4.1.1.77.1.3",  # VL Slide-Coordinates Microscopic Image
        "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # Ophthalmic Photography 8 Bit Image
        "1.2.840.10008.5.1.4.1.1.77.1.5.2",  # Ophthalmic Photography 16 Bit Image
        "1.2.840.10008.5.1.4.1.1.77.1.7",  # Dermoscopic Photography Image
        "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
        "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
        "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture
    }
)
_IMPLICIT = "1.2.840.10008.1.2"
# pydicom converts values lazily: a damaged element only fails when it is first read, with
# whichever of these its converter raises (an unknown VR raises NotImplementedError).
_UNWRITABLE = (
    ValueError,
    TypeError,
    OverflowError,
    struct.error,
    NotImplementedError,
    KeyError,
    IndexError,
    AttributeError,
)
_CATEGORIES = (  # PHI-free report names for what the rebuild drops, by attribute keyword
    ("patient identity", ("Patient", "OtherPatient", "IssuerOfPatient", "Ethnic", "Military")),
    ("names", ("Physician", "Operator", "Performing", "Referring", "Requesting", "Reading")),
    ("institution and device", ("Institution", "Station", "Device", "Manufacturer", "Software")),
    ("descriptions and comments", ("Description", "Comments", "Protocol", "Reason")),
    ("study and request identifiers", ("Accession", "StudyID", "Request", "Admission", "Visit")),
)


def scrub(src: BinaryIO, dst: BinaryIO, options: ScrubOptions) -> ScrubReport:
    """Write the de-identified DICOM file to ``dst``; raise ``RefusedError`` if that cannot be done.

    ``options.keep_capture_date`` does not apply: every DICOM date is removed (PS3.15 basic
    profile); the capture time goes to the sealed manifest only.
    """
    del options
    data = src.read(MAX_DICOM + 1)
    if len(data) > MAX_DICOM:
        raise RefusedError(f"DICOM file is larger than {MAX_DICOM >> 20} MiB")
    source, syntax = _read(data)
    try:
        _check_acceptable(source)
        output, report = _rewrite(data, source, syntax)
    except _UNWRITABLE as exc:  # a value pydicom read but cannot write back as its VR says
        raise RefusedError("DICOM file holds values that do not parse completely") from exc
    dst.write(output)
    return report


def _rewrite(data: bytes, source: Dataset, syntax: str) -> tuple[bytes, ScrubReport]:
    uids: dict[str, str] = {}
    output_set, removed = rebuild(source, uids)
    needles = dataset_needles(source) | text_needles(data[:PREAMBLE])
    pixels: bytes | None = bytes(source.PixelData)
    frames: tuple[bytes, ...] = ()
    if syntax not in NATIVE_SYNTAXES:
        count = int(source.get("NumberOfFrames") or 1)
        cleaned = clean_frames(syntax, bytes(source.PixelData), count)
        needles |= cleaned.needles
        frames, pixels = cleaned.frames, None
        output_set.PixelData = cleaned.encapsulated
        output_set["PixelData"].VR = "OB"
        if cleaned.changed:
            removed.append("metadata in frames")
    output = _write(output_set, syntax)
    needles -= dataset_needles(output_set)  # what the output keeps on purpose (e.g. "RGB")
    old_uids = frozenset(str(source[k].value) for k in NEW_UIDS if source.get(k))
    verify_dicom(output, ExpectedDicom(syntax, pixels, frames, old_uids), needles)
    return output, ScrubReport(
        format="dicom",
        removed=tuple(dict.fromkeys([*_dropped(source, data), *removed])),
        capture_time=capture_time(source),
        identifiers=_identifiers(source),
    )


def _read(data: bytes) -> tuple[Dataset, str]:
    """Parse ``data`` completely, or refuse. Returns the data set and its transfer syntax."""
    syntax = transfer_syntax(data)
    if syntax not in NATIVE_SYNTAXES and syntax not in ENCAPSULATED_SYNTAXES:
        raise RefusedError("DICOM transfer syntax is not one picsync can clean")
    check_structure(data, explicit=syntax != _IMPLICIT)
    try:
        source = pydicom.dcmread(io.BytesIO(data), force=False)
        for element in source.iterall():
            _ = element.value  # convert every raw element now, so nothing fails later
    except Exception as exc:  # pydicom raises many kinds; any of them means "does not parse"
        raise RefusedError("DICOM file does not parse") from exc
    if str(source.file_meta.TransferSyntaxUID) != syntax:
        raise RefusedError("DICOM file does not parse")
    return source, syntax


def _check_acceptable(source: Dataset) -> None:
    if str(source.get("SOPClassUID", "")) not in ACCEPTED_CLASSES:
        raise RefusedError("DICOM SOP class is not a photographic image picsync accepts")
    if str(source.get("BurnedInAnnotation", "")).upper() == "YES":
        raise RefusedError("DICOM image has burned-in annotation; picsync cannot clean pixels")
    if "PixelData" not in source:
        raise RefusedError("DICOM file has no pixel data")
    syntax = str(source.file_meta.TransferSyntaxUID)
    if syntax in NATIVE_SYNTAXES and len(source.PixelData) != _native_size(source):
        raise RefusedError("DICOM pixel data does not match the image size")


def _native_size(source: Dataset) -> int:
    try:
        bits = int(source.Rows) * int(source.Columns) * int(source.SamplesPerPixel)
        bits *= int(source.get("NumberOfFrames") or 1) * int(source.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise RefusedError("DICOM image pixel description is incomplete") from exc
    size = (bits + 7) // 8
    return size + size % 2


def _write(dataset: Dataset, syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    dataset.file_meta = meta
    dataset.preamble = bytes(PREAMBLE)
    out = io.BytesIO()
    dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def _dropped(source: Dataset, data: bytes) -> list[str]:
    names = ["instance UIDs"]
    keywords = [element.keyword for element in source.iterall() if element.keyword]
    for name, stems in _CATEGORIES:
        if any(stem in keyword for keyword in keywords for stem in stems):
            names.append(name)
    if any(element.VR in ("DA", "DT", "TM") and element.value for element in source.iterall()):
        names.append("dates and times")
    if any(element.tag.is_private for element in source.iterall()):
        names.append("private tags")
    if any(0x6000 <= element.tag.group <= 0x60FF for element in source):
        names.append("overlays")
    if "IconImageSequence" in source:
        names.append("icon image")
    if any(data[:PREAMBLE]):
        names.append("preamble")
    meta = source.file_meta
    if any(k in meta for k in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle")):
        names.append("application entity titles")
    return names


def _identifiers(source: Dataset) -> dict[str, str]:
    found = {}
    for key, keyword in (
        ("patient_id", "PatientID"),
        ("issuer_of_patient_id", "IssuerOfPatientID"),
    ):
        value = str(source.get(keyword) or "").strip()
        if value:
            found[key] = value
    return found


def capture_time(source: Dataset) -> str | None:
    """When the image was taken, as ISO 8601, from the most specific attribute present."""
    offset = _offset(str(source.get("TimezoneOffsetFromUTC") or ""))
    stamp = str(source.get("AcquisitionDateTime") or "").strip()
    if stamp:
        moment = _parse(stamp[:8], stamp[8:14], _offset(stamp[-5:]) or offset)
        if moment is not None:
            return moment
    for date_key, time_key in (
        ("ContentDate", "ContentTime"),
        ("AcquisitionDate", "AcquisitionTime"),
        ("StudyDate", "StudyTime"),
    ):
        date = str(source.get(date_key) or "").strip()
        if date:
            moment = _parse(date, str(source.get(time_key) or "").strip(), offset)
            if moment is not None:
                return moment
    return None


def _parse(date: str, time: str, offset: timezone | None) -> str | None:
    digits = "".join(ch for ch in time.split(".")[0] if ch.isdigit())
    try:
        moment = datetime(
            int(date[:4]),
            int(date[4:6] or 1),
            int(date[6:8] or 1),
            int(digits[:2] or 0),
            int(digits[2:4] or 0),
            int(digits[4:6] or 0),
            tzinfo=offset,
        )
    except ValueError:
        return None
    return moment.isoformat()


def _offset(text: str) -> timezone | None:
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    delta = timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))
    return timezone(-delta if text[0] == "-" else delta)
