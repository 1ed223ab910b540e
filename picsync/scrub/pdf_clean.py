"""Pure: cut a PDF's object graph down to what draws its pages (pikepdf, edits in memory).

deid.md §2.5 and rule 1 (allowlist). The trailer, the catalog, the page tree and every page
keep only the entries listed here; everything else goes: /Info, XMP, attachments and /AF,
JavaScript and other name trees, outlines, open actions and /AA, /PieceInfo, annotations, page
thumbnails, the structure tree, page labels, article threads, web-capture data, viewer settings.
In every dictionary that remains (resources, images, fonts, forms), the keys that carry metadata
rather than drawing (/Metadata, /PieceInfo, /LastModified, /AA, /AF, /OPI, /Thumb, ...) go too.
Optional-content layers keep their names and visibility, not their creator or usage details;
output intents keep their profile, not their free text.

Refused: interactive forms with fields (their values are what the form says, i.e. content, and
dropping their widgets would blank it; a person should flatten the form first), and streams whose
data lives in an external file. Names in ``removed`` are picsync's own, never a key read from the
file (a key name is file content and could be anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from picsync.errors import RefusedError
from picsync.scrub.pdf_graph import walk

__all__ = ["CATALOG_KEYS", "PAGE_KEYS", "Cleaning", "clean_structure"]

_TRAILER_KEYS = frozenset({"/Root", "/Size"})
# Written by qpdf itself from the new cross-reference data; never copied from the input.
_TRAILER_STRUCTURE = frozenset(
    {"/Prev", "/XRefStm", "/Type", "/W", "/Index", "/Filter", "/DecodeParms", "/Length"}
)
CATALOG_KEYS = frozenset(
    {"/Type", "/Version", "/Extensions", "/Pages", "/PageLayout", "/Lang", "/OCProperties"}
    | {"/OutputIntents"}
)
_PAGE_TREE_KEYS = frozenset(
    {"/Type", "/Parent", "/Kids", "/Count", "/Resources", "/MediaBox", "/CropBox", "/Rotate"}
)
PAGE_KEYS = frozenset(
    {"/Type", "/Parent", "/Resources", "/MediaBox", "/CropBox", "/BleedBox", "/TrimBox"}
    | {"/ArtBox", "/Rotate", "/Contents", "/Group", "/UserUnit", "/OutputIntents"}
)
# Keys removed from every dictionary that stays: none of them changes what a page draws.
_ANYWHERE = {
    "/Metadata": "XMP",
    "/PieceInfo": "private application data",
    "/LastModified": "modification dates",
    "/AA": "additional actions",
    "/AF": "associated files",
    "/OPI": "prepress file references",
    "/Thumb": "thumbnails",
    "/ID": "web capture data",
    "/StructParent": "structure tree",
    "/StructParents": "structure tree",
    "/PtData": "geospatial data",
}
_NAMED = {
    **_ANYWHERE,
    "/Info": "Info",
    "/Outlines": "outlines",
    "/OpenAction": "open action",
    "/Annots": "annotations",
    "/StructTreeRoot": "structure tree",
    "/MarkInfo": "structure tree",
    "/PageLabels": "page labels",
    "/Threads": "article threads",
    "/B": "article threads",
    "/Dests": "named destinations",
    "/SpiderInfo": "web capture data",
    "/URI": "links",
    "/Perms": "permissions",
    "/ViewerPreferences": "viewer settings",
    "/PageMode": "viewer settings",
    "/Collection": "portfolio",
    "/DSS": "signature data",
    "/VP": "geospatial data",
}
_NAME_TREES = {
    "/EmbeddedFiles": "attachments",
    "/JavaScript": "JavaScript",
    "/Dests": "named destinations",
}
_LAYER_KEYS = frozenset({"/Type", "/Name", "/Intent"})
_LAYER_CONFIG_KEYS = frozenset(
    {"/BaseState", "/ON", "/OFF", "/Intent", "/Order", "/ListMode", "/RBGroups", "/Locked"}
)
_OUTPUT_INTENT_KEYS = frozenset(
    {"/Type", "/S", "/OutputConditionIdentifier", "/RegistryName", "/DestOutputProfile"}
)
_MAX_PAGE_TREE = 1_000_000


@dataclass(slots=True)
class Cleaning:
    """What was cut: PHI-free names for the report, and the values themselves (the caller reads
    the identifiers out of them once it knows which objects the output still holds)."""

    removed: list[str] = field(default_factory=list)
    dropped: list[pikepdf.Object] = field(default_factory=list)

    def drop(self, holder: pikepdf.Object, key: str, name: str | None) -> None:
        value = holder.get(key)
        if value is not None:
            self.dropped.append(value)
        del holder[key]
        if name is not None:
            self.removed.append(name)

    def keep_only(self, holder: pikepdf.Object, allowed: frozenset[str], other: str) -> None:
        for key in list(holder.keys()):
            if key not in allowed:
                self.drop(holder, key, _NAMED.get(key, other))


def clean_structure(pdf: pikepdf.Pdf) -> Cleaning:
    """Cut ``pdf`` down in place; return what went. Raise ``RefusedError`` for forms."""
    cleaning = Cleaning()
    root = pdf.Root
    _refuse_forms(root, cleaning)
    _clean_trailer(pdf.trailer, cleaning)
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        for key in names.keys():  # noqa: SIM118 (typed as str keys only this way)
            cleaning.removed.append(_NAME_TREES.get(key, "other name trees"))
    if names is not None:
        cleaning.drop(root, "/Names", None)
    if _has_javascript_action(root.get("/OpenAction")):
        cleaning.removed.append("JavaScript")
    cleaning.keep_only(root, CATALOG_KEYS, "other catalog entries")
    _clean_page_tree(root.get("/Pages"), cleaning)
    for page in pdf.pages:
        cleaning.keep_only(page.obj, PAGE_KEYS, "other page entries")
    _clean_layers(root.get("/OCProperties"), cleaning)
    _clean_output_intents(pdf, cleaning)
    for obj in walk(root):
        if isinstance(obj, Dictionary | Stream):
            _clean_dictionary(obj, cleaning)
    return cleaning


def _refuse_forms(root: pikepdf.Object, cleaning: Cleaning) -> None:
    form = root.get("/AcroForm")
    if form is None:
        return
    if isinstance(form, Dictionary):
        fields = form.get("/Fields")
        if (isinstance(fields, Array) and len(fields) > 0) or form.get("/XFA") is not None:
            raise RefusedError(
                "PDF has interactive form fields: their values are content picsync cannot keep "
                "apart from identity; flatten the form (print it to PDF) before filing"
            )
    cleaning.drop(root, "/AcroForm", "empty form")


def _clean_trailer(trailer: pikepdf.Object, cleaning: Cleaning) -> None:
    allowed = _TRAILER_KEYS | _TRAILER_STRUCTURE | {"/ID"}
    cleaning.keep_only(trailer, allowed, "other trailer entries")
    if "/ID" in trailer:  # qpdf would keep the first half of the original /ID
        del trailer["/ID"]  # binary digests, no text: pdf_verify checks the new one differs
        cleaning.removed.append("document ID")


def _has_javascript_action(action: pikepdf.Object | None) -> bool:
    return isinstance(action, Dictionary) and action.get("/S") == Name.JavaScript


def _clean_page_tree(node: pikepdf.Object | None, cleaning: Cleaning) -> None:
    """Intermediate page tree nodes keep only their structure and inheritable attributes."""
    stack = [node]
    seen: set[tuple[int, int]] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, Dictionary) or current.get("/Type") != Name.Pages:
            continue
        if current.objgen in seen or len(seen) > _MAX_PAGE_TREE:
            continue
        seen.add(current.objgen)
        cleaning.keep_only(current, _PAGE_TREE_KEYS, "other page tree entries")
        kids = current.get("/Kids")
        if isinstance(kids, Array):
            stack.extend(kids.as_list())


def _clean_layers(properties: pikepdf.Object | None, cleaning: Cleaning) -> None:
    """Optional content: keep each layer's name and visibility, drop creator and usage data."""
    if not isinstance(properties, Dictionary):
        return
    layers = properties.get("/OCGs")
    for layer in layers.as_list() if isinstance(layers, Array) else []:
        if isinstance(layer, Dictionary):
            cleaning.keep_only(layer, _LAYER_KEYS, "layer details")
    configs = [properties.get("/D")]
    alternatives = properties.get("/Configs")
    if isinstance(alternatives, Array):
        configs.extend(alternatives.as_list())
    for config in configs:
        if isinstance(config, Dictionary):
            cleaning.keep_only(config, _LAYER_CONFIG_KEYS, "layer details")


def _clean_output_intents(pdf: pikepdf.Pdf, cleaning: Cleaning) -> None:
    """Output intents keep their colour profile and standard condition name, no free text."""
    holders = [pdf.Root, *(page.obj for page in pdf.pages)]
    for holder in holders:
        intents = holder.get("/OutputIntents")
        for intent in intents.as_list() if isinstance(intents, Array) else []:
            if isinstance(intent, Dictionary):
                cleaning.keep_only(intent, _OUTPUT_INTENT_KEYS, "output intent text")


def _clean_dictionary(obj: pikepdf.Object, cleaning: Cleaning) -> None:
    for key, name in _ANYWHERE.items():
        if key in obj:
            cleaning.drop(obj, key, name)
    measure = obj.get("/Measure")
    if isinstance(measure, Dictionary) and measure.get("/Subtype") != Name.RL:
        cleaning.drop(obj, "/Measure", "geospatial data")  # rectilinear scales stay: lesion size
    if isinstance(obj, Stream) and any(key in obj for key in ("/F", "/FFilter", "/FDecodeParms")):
        raise RefusedError("PDF stream refers to data in an external file")
