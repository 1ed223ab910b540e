"""Pure: gather what a PDF rewrite drops, as needles for the verifier (pikepdf, in memory).

The verifier must look for every identifying value the output should no longer hold:

- the values cut from the graph (``pdf_clean``) and every object the rewrite leaves behind
  because nothing kept refers to it any more (an old /Info after an incremental update, an
  attachment, an annotation's popup);
- the values of earlier revisions (deid.md rule 11): an incremental update may redefine an object
  under the same number, hiding its old value from the parser although its bytes are still in
  the file. Each earlier revision ends with its own ``%%EOF`` and opens as a PDF of its own; every
  string and XMP packet it holds that the output does not keep becomes a needle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from picsync.scrub.pdf_graph import object_needles, open_pdf, strings_in, walk

__all__ = [
    "KeptGraph",
    "dropped_needles",
    "earlier_revisions",
    "kept_graph",
    "unreferenced_objects",
]

_MAX_REVISIONS = 32
_EOF = re.compile(rb"%%EOF")


@dataclass(frozen=True, slots=True)
class KeptGraph:
    """The indirect objects the output will hold, and the strings in them."""

    objects: frozenset[tuple[int, int]]
    strings: frozenset[bytes]


def kept_graph(pdf: pikepdf.Pdf) -> KeptGraph:
    """What stays once the catalog has been cut down: everything reachable from it."""
    objects: set[tuple[int, int]] = set()
    strings: set[bytes] = set()
    for obj in walk(pdf.Root):
        if obj.is_indirect:
            objects.add(obj.objgen)
        strings |= strings_in(obj)
    return KeptGraph(frozenset(objects), frozenset(strings))


def dropped_needles(pdf: pikepdf.Pdf, dropped: list[pikepdf.Object], kept: KeptGraph) -> set[bytes]:
    """Needles from the dropped values and from every object nothing kept refers to.

    A dropped value that a kept object repeats stays a needle: the verifier then refuses the
    file rather than guess which copy is harmless.
    """
    needles: set[bytes] = set()
    for value in dropped:
        # Also when a kept object still refers to it (an /Info dictionary used as a resource):
        # then the verifier finds the value in the output and refuses the file.
        if isinstance(value, pikepdf.Object):
            needles |= object_needles(value)
    for obj in pdf.objects:
        if _is_container(obj) and obj.objgen not in kept.objects and not _is_xref_data(obj):
            needles |= object_needles(obj)
    return needles


def unreferenced_objects(pdf: pikepdf.Pdf) -> int:
    """How many objects of the file as it is (before cleaning) nothing refers to."""
    reachable = {obj.objgen for obj in walk(pdf.trailer) if obj.is_indirect}
    return sum(
        1
        for obj in pdf.objects
        if _is_container(obj) and obj.objgen not in reachable and not _is_xref_data(obj)
    )


def earlier_revisions(data: bytes, current: pikepdf.Pdf) -> tuple[set[bytes], int]:
    """Needles from what earlier revisions of the file hold differently from ``current`` (the
    latest revision, before any cleaning), and how many earlier revisions were found."""
    ends = [match.end() for match in _EOF.finditer(data)]
    needles: set[bytes] = set()
    revisions = 0
    for end in ends[:-1][-_MAX_REVISIONS:]:
        try:
            with open_pdf(data[:end]) as earlier:
                found = _revision_needles(earlier, current)
        except pikepdf.PdfError:
            continue  # "%%EOF" inside stream data, or not a complete revision
        needles |= found
        revisions += 1
    return needles, revisions


def _revision_needles(earlier: pikepdf.Pdf, current: pikepdf.Pdf) -> set[bytes]:
    needles: set[bytes] = set()
    for obj in earlier.objects:
        if _is_container(obj) and not _same_as_current(obj, current):
            needles |= object_needles(obj)
    return needles


def _same_as_current(obj: pikepdf.Object, current: pikepdf.Pdf) -> bool:
    try:
        now = current.get_object(obj.objgen)
    except (pikepdf.PdfError, ValueError):
        return False
    if now is None:
        return False
    if isinstance(obj, Stream):
        if not isinstance(now, Stream) or now.read_raw_bytes() != obj.read_raw_bytes():
            return False
        return bool(now.stream_dict.unparse() == obj.stream_dict.unparse())
    return bool(now.unparse() == obj.unparse())


def _is_xref_data(obj: pikepdf.Object) -> bool:
    """Object and cross-reference streams: the file's index, which qpdf writes afresh."""
    return isinstance(obj, Stream) and obj.get("/Type") in (Name.ObjStm, Name.XRef)


def _is_container(obj: object) -> bool:
    return isinstance(obj, Dictionary | Array | Stream)
