"""Pure: what a TIFF's dropped metadata says: identifying values, capture time, report names.

Nothing here is written to the output. Every value the allowlist drops, on every page and in every
sub-directory, is read (up to a bounded size) so that the verifier can prove none of it reached
the directories picsync generated (deid.md rule 12). EXIF semantics are shared with JPEG and PNG:
each directory's dropped entries, with its Exif, GPS and Interop sub-directories, are re-laid as a
small standalone EXIF block and handed to ``exif.read_exif``, which yields the capture time and
the identifying values exactly as it does for a JPEG's APP1. Values ``read_exif`` does not look at
(text in BYTE fields such as DNG's OriginalRawFileName, XMP packets, IPTC and Photoshop blocks,
sub-directories of previews) are added here.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from picsync.errors import RefusedError
from picsync.scrub.exif import read_exif, read_xmp
from picsync.scrub.tiff_read import (
    ASCII,
    BYTE,
    IFD,
    IFD8,
    LONG,
    LONG8,
    SBYTE,
    UNDEFINED,
    Entry,
    Layout,
    TiffFile,
)
from picsync.scrub.tiff_tags import (
    EXIF_IFD,
    GPS_IFD,
    INTEROP_IFD,
    MAKE,
    UNIQUE_CAMERA_MODEL,
    XMP,
    dropped_name,
)
from picsync.scrub.tiff_write import OutEntry, OutIfd, serialize
from picsync.scrub.verify import markup_values, text_needles

__all__ = ["NEUTRAL_CAMERA_MODEL", "DroppedMetadata"]

NEUTRAL_CAMERA_MODEL = b"Generic Camera"  # DNG readers require UniqueCameraModel; this names none
_VALUE_LIMIT = 1 << 20  # bytes of one dropped value looked at
_TOTAL_LIMIT = 32 << 20  # bytes of dropped values looked at per file
_MAX_NEEDLE = 256
_POINTERS = (EXIF_IFD, GPS_IFD, INTEROP_IFD)
_CLASSIC_TYPES = frozenset(range(1, 14))  # what a classic-TIFF EXIF block can hold
_TEXT_TYPES = frozenset({ASCII, BYTE, SBYTE, UNDEFINED})
_SMALL_NUMBERS = 64  # bytes: GPS coordinates are 24


class DroppedMetadata:
    """Accumulates, over a whole file, what the dropped metadata held."""

    def __init__(self, tiff: TiffFile) -> None:
        self._tiff = tiff
        self._left = _TOTAL_LIMIT
        self._visited: set[int] = set()
        self.needles: set[bytes] = set()
        self.removed: list[str] = []
        self.capture_time: str | None = None
        self._xmp_time: str | None = None

    def best_capture_time(self) -> str | None:
        """EXIF's capture time (DateTimeOriginal, else DateTime) of the first page that has one,
        else XMP's."""
        return self.capture_time or self._xmp_time

    def add_directory(
        self, entries: Iterable[Entry], kept: Set[int], unnamed: Set[int] | None
    ) -> None:
        """Record a directory's entries whose tags are not in ``kept``, with their sub-directories.

        Each dropped tag is named in the report unless it is in ``unnamed`` (image structure that
        was rebuilt, or left behind with a dropped preview); ``unnamed=None`` names none (a
        directory dropped whole, which the caller names once).
        """
        dropped = [entry for entry in entries if entry.tag not in kept]
        values: dict[int, bytes] = {}
        for entry in dropped:
            if unnamed is not None and entry.tag not in unnamed:
                self.removed.append(dropped_name(entry.tag))
            value = self._look(entry)
            if value is not None:
                values[id(entry)] = value
                self._add_value(entry, value)
        mirror = OutIfd(_mirror_entries(dropped, values))
        for entry in dropped:
            if entry.tag in (EXIF_IFD, GPS_IFD):
                child = self._sub_directory(entry, depth=0)
                if child is not None:
                    mirror.children[entry.tag] = child
        self._read_as_exif(mirror)

    def _sub_directory(self, pointer: Entry, depth: int) -> OutIfd | None:
        """The Exif/GPS/Interop directory ``pointer`` leads to, as a mirror; None if unreadable.

        A damaged sub-directory is not a refusal: nothing of it is copied, and readers skip it.
        """
        if pointer.type not in (LONG, IFD, LONG8, IFD8) or pointer.count != 1 or depth > 2:
            return None
        try:
            offset = self._tiff.number(pointer)
            if offset in self._visited:
                return None
            self._visited.add(offset)
            entries, _ = self._tiff.ifd(offset)
        except RefusedError:
            return None
        values: dict[int, bytes] = {}
        for entry in entries:
            value = self._look(entry)
            if value is not None:
                values[id(entry)] = value
                self._add_value(entry, value)
        mirror = OutIfd(_mirror_entries(entries, values))
        for entry in entries:
            if entry.tag == INTEROP_IFD:
                child = self._sub_directory(entry, depth + 1)
                if child is not None:
                    mirror.children[INTEROP_IFD] = child
        return mirror

    def _look(self, entry: Entry) -> bytes | None:
        """Up to ``_VALUE_LIMIT`` bytes of a dropped value, within the per-file budget.

        Numbers are looked at only when small (orientation, GPS coordinates): a dropped
        preview's strip tables would spend the budget that text needs.
        """
        if entry.tag in _POINTERS or self._left <= 0:
            return None
        if entry.type not in _TEXT_TYPES and (entry.size or 0) > _SMALL_NUMBERS:
            return None
        value = self._tiff.value_prefix(entry, min(_VALUE_LIMIT, self._left))
        if value is not None:
            self._left -= len(value)
        return value

    def _add_value(self, entry: Entry, value: bytes) -> None:
        if entry.type == ASCII:
            if entry.tag == MAKE:
                return  # not a needle: vendor names recur in standard ICC copyright text
            for part in value.split(b"\x00"):
                part = part.strip()
                if part and not (entry.tag == UNIQUE_CAMERA_MODEL and part == NEUTRAL_CAMERA_MODEL):
                    self.needles.add(part[:_MAX_NEEDLE])
        elif entry.type in (BYTE, SBYTE, UNDEFINED):
            self.needles |= text_needles(value)
            if entry.tag == XMP:
                self.needles |= markup_values(value)
                self._xmp_time = self._xmp_time or read_xmp(value).capture_time

    def _read_as_exif(self, mirror: OutIfd) -> None:
        if not mirror.entries and not mirror.children:
            return
        block = serialize(Layout(self._tiff.layout.order, big=False), [mirror])
        try:
            info = read_exif(block)
        except RefusedError:
            return  # the mirror is well formed; this cannot happen, and its values are needles
        self.needles |= info.identifying - {NEUTRAL_CAMERA_MODEL}  # picsync's own value
        self.removed.extend(info.sections)
        self.capture_time = self.capture_time or info.capture_time


def _mirror_entries(entries: Iterable[Entry], values: dict[int, bytes]) -> list[OutEntry]:
    """The entries whose whole value was read, as entries of a classic-TIFF EXIF block."""
    mirrored: dict[int, OutEntry] = {}
    for entry in entries:
        value = values.get(id(entry))
        if value is None or entry.type not in _CLASSIC_TYPES or len(value) != entry.size:
            continue
        mirrored.setdefault(entry.tag, OutEntry(entry.tag, entry.type, entry.count, value))
    return list(mirrored.values())
