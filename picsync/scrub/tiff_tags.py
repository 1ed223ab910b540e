"""Pure: the TIFF and DNG tag allowlists, and PHI-free names for what is dropped. Stdlib only.

deid.md §2.4 and rule 1: a rebuilt directory holds only the tags listed here, each with the
field types (and, for single values, the count) a reader expects. A listed tag stored with any
other type is not copied: a resolution written as ASCII text would carry text past the allowlist.
Image-data tags (strip and tile offsets and byte counts, SubIFDs), JPEGTables, the ICC profile and
DNG's UniqueCameraModel are rebuilt by the scrubber rather than copied, so they are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from picsync.scrub.tiff_read import (
    BYTE,
    DOUBLE,
    FLOAT,
    LONG,
    RATIONAL,
    SBYTE,
    SHORT,
    SLONG,
    SRATIONAL,
    SSHORT,
    UNDEFINED,
)

__all__ = [
    "BASE_RULES",
    "DNG_RULES",
    "IMAGE_TAGS",
    "REQUIRED_NUMBERS",
    "Rule",
    "dropped_name",
]

NEW_SUBFILE_TYPE, SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH = 254, 255, 256, 257
BITS_PER_SAMPLE, COMPRESSION, PHOTOMETRIC, MAKE = 258, 259, 262, 271
STRIP_OFFSETS, ORIENTATION, SAMPLES_PER_PIXEL, ROWS_PER_STRIP = 273, 274, 277, 278
STRIP_BYTE_COUNTS, PLANAR_CONFIG, PREDICTOR = 279, 284, 317
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS = 322, 323, 324, 325
SUB_IFDS, JPEG_TABLES, YCBCR_SUBSAMPLING = 330, 347, 530
JPEG_INTERCHANGE, JPEG_INTERCHANGE_LENGTH = 513, 514
XMP, IPTC, PHOTOSHOP, EXIF_IFD, GPS_IFD, ICC_PROFILE = 700, 33723, 34377, 34665, 34853, 34675
INTEROP_IFD = 40965
DNG_VERSION, UNIQUE_CAMERA_MODEL = 50706, 50708
DATE_TIME_ORIGINAL = 36867


@dataclass(frozen=True, slots=True)
class Rule:
    """Field types a kept tag may have, and its count when it holds exactly that many values."""

    types: frozenset[int]
    count: int | None = None


def _rule(*types: int, count: int | None = None) -> Rule:
    return Rule(frozenset(types), count)


_INT = (SHORT, LONG)
_NUMERIC = (BYTE, SHORT, LONG, SBYTE, SSHORT, SLONG, FLOAT, DOUBLE, RATIONAL, SRATIONAL)

# Image structure, resolution, orientation and colour interpretation: what a reader needs to
# decode and display the pixels (TIFF 6.0 baseline and extensions, TIFF/EP).
BASE_RULES: dict[int, Rule] = {
    NEW_SUBFILE_TYPE: _rule(*_INT, count=1),
    IMAGE_WIDTH: _rule(*_INT, count=1),
    IMAGE_LENGTH: _rule(*_INT, count=1),
    BITS_PER_SAMPLE: _rule(SHORT),
    COMPRESSION: _rule(SHORT, count=1),
    PHOTOMETRIC: _rule(SHORT, count=1),
    266: _rule(SHORT, count=1),  # FillOrder
    ORIENTATION: _rule(SHORT, count=1),
    SAMPLES_PER_PIXEL: _rule(SHORT, count=1),
    ROWS_PER_STRIP: _rule(*_INT, count=1),
    282: _rule(RATIONAL, count=1),  # XResolution
    283: _rule(RATIONAL, count=1),  # YResolution
    PLANAR_CONFIG: _rule(SHORT, count=1),
    292: _rule(LONG, count=1),  # T4Options (CCITT fax)
    293: _rule(LONG, count=1),  # T6Options
    296: _rule(SHORT, count=1),  # ResolutionUnit
    297: _rule(SHORT, count=2),  # PageNumber
    301: _rule(SHORT),  # TransferFunction
    PREDICTOR: _rule(SHORT, count=1),
    318: _rule(RATIONAL, count=2),  # WhitePoint
    319: _rule(RATIONAL, count=6),  # PrimaryChromaticities
    320: _rule(SHORT),  # ColorMap
    TILE_WIDTH: _rule(*_INT, count=1),
    TILE_LENGTH: _rule(*_INT, count=1),
    332: _rule(SHORT, count=1),  # InkSet
    334: _rule(SHORT, count=1),  # NumberOfInks
    338: _rule(SHORT),  # ExtraSamples
    339: _rule(SHORT),  # SampleFormat
    340: _rule(*_NUMERIC),  # SMinSampleValue
    341: _rule(*_NUMERIC),  # SMaxSampleValue
    529: _rule(RATIONAL, count=3),  # YCbCrCoefficients
    512: _rule(SHORT, count=1),  # JPEGProc (old-style JPEG)
    515: _rule(SHORT, count=1),  # JPEGRestartInterval (old-style JPEG)
    YCBCR_SUBSAMPLING: _rule(SHORT, count=2),
    531: _rule(SHORT, count=1),  # YCbCrPositioning
    532: _rule(RATIONAL, count=6),  # ReferenceBlackWhite
}

# What a raw converter needs to develop a DNG (DNG 1.7 specification), and nothing that names the
# camera, the lens, the shot or the original file. Dropped on purpose: LocalizedCameraModel,
# CameraSerialNumber, LensInfo, DNGPrivateData, MakerNoteSafety, RawDataUniqueID,
# OriginalRawFileName/Data/Digest, RawImageDigest (links the output to the original raw), the
# as-shot/current ICC profiles, profile names, signatures and copyrights, preview settings,
# extra camera profiles (more directories), semantic masks and depth maps.
DNG_RULES: dict[int, Rule] = {
    33421: _rule(SHORT, count=2),  # CFARepeatPatternDim
    33422: _rule(BYTE),  # CFAPattern
    DNG_VERSION: _rule(BYTE, count=4),
    50707: _rule(BYTE, count=4),  # DNGBackwardVersion
    50710: _rule(BYTE),  # CFAPlaneColor
    50711: _rule(SHORT, count=1),  # CFALayout
    50712: _rule(SHORT),  # LinearizationTable
    50713: _rule(SHORT, count=2),  # BlackLevelRepeatDim
    50714: _rule(SHORT, LONG, RATIONAL),  # BlackLevel
    50715: _rule(SRATIONAL),  # BlackLevelDeltaH
    50716: _rule(SRATIONAL),  # BlackLevelDeltaV
    50717: _rule(*_INT),  # WhiteLevel
    50718: _rule(RATIONAL, count=2),  # DefaultScale
    50719: _rule(*_INT, RATIONAL, count=2),  # DefaultCropOrigin
    50720: _rule(*_INT, RATIONAL, count=2),  # DefaultCropSize
    50721: _rule(SRATIONAL),  # ColorMatrix1
    50722: _rule(SRATIONAL),  # ColorMatrix2
    50723: _rule(SRATIONAL),  # CameraCalibration1
    50724: _rule(SRATIONAL),  # CameraCalibration2
    50725: _rule(SRATIONAL),  # ReductionMatrix1
    50726: _rule(SRATIONAL),  # ReductionMatrix2
    50727: _rule(RATIONAL),  # AnalogBalance
    50728: _rule(SHORT, RATIONAL),  # AsShotNeutral
    50729: _rule(RATIONAL, count=2),  # AsShotWhiteXY
    50730: _rule(SRATIONAL, count=1),  # BaselineExposure
    50731: _rule(RATIONAL, count=1),  # BaselineNoise
    50732: _rule(RATIONAL, count=1),  # BaselineSharpness
    50733: _rule(LONG, count=1),  # BayerGreenSplit
    50734: _rule(RATIONAL, count=1),  # LinearResponseLimit
    50737: _rule(RATIONAL, count=1),  # ChromaBlurRadius
    50738: _rule(RATIONAL, count=1),  # AntiAliasStrength
    50739: _rule(RATIONAL, count=1),  # ShadowScale
    50778: _rule(SHORT, count=1),  # CalibrationIlluminant1
    50779: _rule(SHORT, count=1),  # CalibrationIlluminant2
    50780: _rule(RATIONAL, count=1),  # BestQualityScale
    50829: _rule(*_INT, count=4),  # ActiveArea
    50830: _rule(*_INT),  # MaskedAreas
    50879: _rule(SHORT, count=1),  # ColorimetricReference
    50935: _rule(RATIONAL, count=1),  # NoiseReductionApplied
    50937: _rule(LONG, count=3),  # ProfileHueSatMapDims
    50938: _rule(FLOAT),  # ProfileHueSatMapData1
    50939: _rule(FLOAT),  # ProfileHueSatMapData2
    50940: _rule(FLOAT),  # ProfileToneCurve
    50941: _rule(LONG, count=1),  # ProfileEmbedPolicy
    50964: _rule(SRATIONAL),  # ForwardMatrix1
    50965: _rule(SRATIONAL),  # ForwardMatrix2
    50974: _rule(*_INT, count=2),  # SubTileBlockSize
    50975: _rule(*_INT, count=1),  # RowInterleaveFactor
    50981: _rule(LONG, count=3),  # ProfileLookTableDims
    50982: _rule(FLOAT),  # ProfileLookTableData
    51008: _rule(UNDEFINED),  # OpcodeList1
    51009: _rule(UNDEFINED),  # OpcodeList2
    51022: _rule(UNDEFINED),  # OpcodeList3
    51041: _rule(DOUBLE),  # NoiseProfile
    51089: _rule(*_INT, count=2),  # OriginalDefaultFinalSize
    51090: _rule(*_INT, count=2),  # OriginalBestQualityFinalSize
    51091: _rule(*_INT, RATIONAL, count=2),  # OriginalDefaultCropSize
    51107: _rule(LONG, count=1),  # ProfileHueSatMapEncoding
    51108: _rule(LONG, count=1),  # ProfileLookTableEncoding
    51109: _rule(SRATIONAL, count=1),  # BaselineExposureOffset
    51110: _rule(LONG, count=1),  # DefaultBlackRender
    51125: _rule(RATIONAL, count=4),  # DefaultUserCrop
    52525: _rule(UNDEFINED),  # ProfileGainTableMap
    52529: _rule(SHORT, count=1),  # CalibrationIlluminant3
    52530: _rule(SRATIONAL),  # CameraCalibration3
    52531: _rule(SRATIONAL),  # ColorMatrix3
    52532: _rule(SRATIONAL),  # ForwardMatrix3
    52533: _rule(UNDEFINED),  # IlluminantData1
    52534: _rule(UNDEFINED),  # IlluminantData2
    52535: _rule(UNDEFINED),  # IlluminantData3
    52537: _rule(FLOAT),  # ProfileHueSatMapData3
    52538: _rule(SRATIONAL),  # ReductionMatrix3
    52543: _rule(UNDEFINED),  # RGBTables
    52544: _rule(UNDEFINED),  # ProfileGainTableMap2
    52547: _rule(*_INT, count=1),  # ColumnInterleaveFactor
    52551: _rule(UNDEFINED),  # ProfileDynamicRange
}

# Tags that describe one image's pixels. When DNG's raw image moves from a SubIFD into IFD0,
# these come from the raw image only, never from IFD0's preview.
IMAGE_TAGS = frozenset(
    {
        *(tag for tag in BASE_RULES if tag not in (ORIENTATION,)),
        STRIP_OFFSETS,
        STRIP_BYTE_COUNTS,
        TILE_OFFSETS,
        TILE_BYTE_COUNTS,
        JPEG_TABLES,
        ICC_PROFILE,
        33421,
        33422,
        *range(50710, 50718),  # CFA plane colour/layout, linearisation, black and white levels
        *range(50718, 50721),  # DefaultScale, DefaultCropOrigin/Size
        50733,
        50737,
        50738,
        50780,
        51008,
        51009,
        51022,
        51125,
        50829,
        50830,
        50974,
        50975,
        52547,
    }
)

# Tags without which the pixels cannot be located; a wrong type here is a refusal, not a drop.
REQUIRED_NUMBERS = frozenset(
    {IMAGE_WIDTH, IMAGE_LENGTH, COMPRESSION, SAMPLES_PER_PIXEL, ROWS_PER_STRIP, PLANAR_CONFIG}
    | {TILE_WIDTH, TILE_LENGTH, PHOTOMETRIC, BITS_PER_SAMPLE}
)

_NAMES: dict[int, str] = {
    269: "DocumentName",
    270: "ImageDescription",
    271: "Make/Model",
    272: "Make/Model",
    285: "PageName",
    305: "Software",
    306: "DateTime",
    315: "Artist",
    316: "HostComputer",
    33432: "Copyright",
    XMP: "XMP",
    IPTC: "IPTC",
    PHOTOSHOP: "Photoshop IRB",
    37724: "Photoshop layers",
    EXIF_IFD: "Exif IFD",
    GPS_IFD: "GPS",
    INTEROP_IFD: "Interop IFD",
    SUB_IFDS: "SubIFDs",
    JPEG_INTERCHANGE: "JPEG thumbnail",
    JPEG_INTERCHANGE_LENGTH: "JPEG thumbnail",
    37510: "UserComment",
    37500: "MakerNote",
    42016: "ImageUniqueID",
    50708: "UniqueCameraModel",
    50709: "LocalizedCameraModel",
    50735: "CameraSerialNumber",
    50736: "LensInfo",
    50740: "DNGPrivateData",
    50741: "MakerNoteSafety",
    50781: "RawDataUniqueID",
    50827: "OriginalRawFileName",
    50828: "OriginalRawFileData",
    50831: "DNG ICC profiles",
    50833: "DNG ICC profiles",
    50933: "DNG extra camera profiles",
    50972: "RawImageDigest",
    51111: "RawImageDigest",
    **dict.fromkeys(range(40091, 40096), "XP tags"),
    **dict.fromkeys((50931, 50932, 50934, 50936, 50942, 52552), "DNG profile names"),
    **dict.fromkeys(range(50966, 50972), "DNG preview settings"),
}


def dropped_name(tag: int) -> str:
    """A PHI-free name for a dropped tag (for ``ScrubReport.removed``)."""
    name = _NAMES.get(tag)
    if name is not None:
        return name
    return "private tags" if tag >= 32768 else "other tags"
