"""Pure: build a new DICOM data set holding only what the image needs (pydicom, in memory).

deid.md §2.6, PS3.15 Annex E Basic Application Level Confidentiality Profile, done as an
allowlist rebuild rather than a list of removals: nothing of the input reaches the output unless
it is named here. Kept as they are: the image pixel module and the attributes that say how to
display the pixels (lossy compression, rescale, window, palette, colour space), the SOP class,
modality, laterality, patient orientation, pixel spacing, burned-in annotation and recognisable
features flags, the anatomic region codes (code values only, no free text) and the ICC profile
(sanitised). Present but empty (type 2, so the file stays valid): patient name, ID, birth date
and sex, study date and time, referring physician, study ID, accession number, series and instance
number, manufacturer. New: study, series, SOP instance and frame of reference UIDs
(``2.25.<uuid4>``, consistent within the file). Added: Patient Identity Removed = YES, the
de-identification method and its code (113100, Basic Application Confidentiality Profile), and
Longitudinal Temporal Information Modified = REMOVED (every date and time is gone). Everything
else goes: private tags, overlays, curves, dates, times, names, descriptions, other sequences.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from picsync.scrub.embedded_jpeg import icc_profile_needles
from picsync.scrub.icc import sanitise_icc
from picsync.scrub.verify import text_needles

__all__ = [
    "DEIDENTIFICATION_METHOD",
    "EMPTIED",
    "NEW_UIDS",
    "allowed_keywords",
    "dataset_needles",
    "new_uid",
    "rebuild",
]

DEIDENTIFICATION_METHOD = "picsync: PS3.15 Annex E basic profile, allowlist rebuild"
COPIED = (
    "SOPClassUID",
    "Modality",
    "ConversionType",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "FrameTime",
    "FrameTimeVector",
    "PixelAspectRatio",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "ColorSpace",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "PresentationLUTShape",
    "BurnedInAnnotation",
    "RecognizableVisualFeatures",
    "ImageLaterality",
    "Laterality",
    "PatientOrientation",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "NominalScannedPixelSpacing",
    "PixelSpacingCalibrationType",
    "PixelData",
)
EMPTIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "SeriesNumber",
    "InstanceNumber",
    "Manufacturer",
)
_ALWAYS_NEW = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_NEW_IF_PRESENT = ("FrameOfReferenceUID", "SynchronizationFrameOfReferenceUID")
NEW_UIDS = _ALWAYS_NEW + _NEW_IF_PRESENT
_CODE_SEQUENCES = {  # sequence -> the modifier sequence its items may hold
    "AnatomicRegionSequence": "AnatomicRegionModifierSequence",
    "PrimaryAnatomicStructureSequence": "PrimaryAnatomicStructureModifierSequence",
}
_CODE_KEYWORDS = (
    "CodeValue",
    "CodingSchemeDesignator",
    "CodingSchemeVersion",
    "LongCodeValue",
    "URNCodeValue",
)
_IMAGE_TYPE_VALUES = ({"ORIGINAL", "DERIVED"}, {"PRIMARY", "SECONDARY"})
_FRAME_POINTERS = frozenset({0x00181063, 0x00181065})  # FrameTime, FrameTimeVector
_VL_CLASSES_PREFIX = "1.2.840.10008.5.1.4.1.1.77.1."
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW"})


def new_uid() -> str:
    """A UID no one else will ever make: ``2.25.`` and a random UUID as one integer (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


def allowed_keywords() -> frozenset[str]:
    """Every top-level keyword ``rebuild`` may write."""
    return frozenset(
        {*COPIED, *EMPTIED, *NEW_UIDS, *_CODE_SEQUENCES, "ImageType", "FrameIncrementPointer"}
        | {"ICCProfile", "AcquisitionContextSequence", "PositionReferenceIndicator"}
        | {"PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence"}
        | {"LongitudinalTemporalInformationModified"}
    )


def rebuild(source: Dataset, uids: dict[str, str]) -> tuple[Dataset, list[str]]:
    """The new data set (pixel data as in ``source``; the caller replaces encapsulated frames)
    and PHI-free notes of what was changed. ``uids`` maps each old instance UID to its new one."""
    out = Dataset()
    notes: list[str] = []
    for keyword in COPIED:
        if keyword in source:
            out[keyword] = source[keyword]
    _copy_image_type(source, out)
    _copy_frame_pointer(source, out)
    for keyword in EMPTIED:
        setattr(out, keyword, "")
    for keyword in _ALWAYS_NEW:
        setattr(out, keyword, _replacement(source.get(keyword), uids))
    for keyword in _NEW_IF_PRESENT:
        if source.get(keyword):
            setattr(out, keyword, _replacement(source.get(keyword), uids))
    if "FrameOfReferenceUID" in out:
        out.PositionReferenceIndicator = ""
    if str(source.get("SOPClassUID", "")).startswith(_VL_CLASSES_PREFIX):
        out.AcquisitionContextSequence = Sequence()  # type 2 in the VL image IODs
    for keyword, modifier in _CODE_SEQUENCES.items():
        if keyword in source:
            setattr(out, keyword, _codes(source[keyword].value, modifier))
    if "ICCProfile" in source:
        profile = bytes(source.ICCProfile)
        out.ICCProfile = sanitise_icc(profile)
        if out.ICCProfile != profile:
            notes.append("ICC profile text")
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = Sequence([code])
    out.LongitudinalTemporalInformationModified = "REMOVED"
    return out, notes


def _replacement(old: object, uids: dict[str, str]) -> str:
    """The new UID for ``old``: the same one each time within a file, a fresh one if none."""
    if not old:
        return new_uid()
    return uids.setdefault(str(old), new_uid())


def _copy_image_type(source: Dataset, out: Dataset) -> None:
    """Image Type keeps only its standard first two values (the rest are vendor words)."""
    values = source.get("ImageType")
    if values is None:
        return
    items = list(values) if isinstance(values, MultiValue | list) else [values]
    kept = []
    for allowed, value in zip(_IMAGE_TYPE_VALUES, items, strict=False):
        if str(value) not in allowed:
            break
        kept.append(str(value))
    if kept:
        out.ImageType = kept


def _copy_frame_pointer(source: Dataset, out: Dataset) -> None:
    pointer = source.get("FrameIncrementPointer")
    if pointer is None:
        return
    targets = list(pointer) if isinstance(pointer, MultiValue | list) else [pointer]
    if targets and all(int(target) in _FRAME_POINTERS for target in targets):
        out.FrameIncrementPointer = pointer


def _codes(items: Sequence, modifier: str | None) -> Sequence:
    """Coded entries with their code values only (meanings are free text)."""
    kept = Sequence()
    for item in items:
        code = Dataset()
        for keyword in _CODE_KEYWORDS:
            if keyword in item:
                code[keyword] = item[keyword]
        if modifier and modifier in item:
            setattr(code, modifier, _codes(item[modifier].value, None))
        kept.append(code)
    return kept


def dataset_needles(dataset: Dataset) -> set[bytes]:
    """Every value in ``dataset`` (file meta and nested sequences included) that could
    identify someone, as needles: strings, name components, text inside binary values."""
    needles: set[bytes] = set()
    for element in _elements(dataset):
        needles |= _element_needles(element)
    return needles


def _elements(dataset: Dataset) -> Iterator[DataElement]:
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        yield from meta.iterall()
    yield from dataset.iterall()


def _element_needles(element: DataElement) -> set[bytes]:
    if element.tag == 0x7FE00010 or element.VR == "SQ" or element.value is None:
        return set()  # pixels are content; sequence items are walked on their own
    if element.tag == 0x00282000:
        return icc_profile_needles(bytes(element.value))
    values = element.value if isinstance(element.value, MultiValue | list) else [element.value]
    needles: set[bytes] = set()
    for value in values:
        if isinstance(value, bytes | bytearray):
            if element.VR in _BINARY_VRS or element.tag.is_private:
                needles |= text_needles(bytes(value))
            continue
        if element.VR not in _TEXT_VRS and not isinstance(value, str):
            continue
        text = str(value).strip()
        needles.add(text.encode("utf-8", "replace"))
        if isinstance(value, PersonName):
            needles |= {part.encode("utf-8", "replace") for part in _name_parts(text)}
    return needles


def _name_parts(name: str) -> list[str]:
    return [part for group in name.split("=") for part in group.split("^") if part.strip()]
