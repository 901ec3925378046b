"""Active content out of the searchable PDF (issue 20).

The searchable PDF keeps the input's pages; without this it also kept what the input
could *do* when opened: an ``/OpenAction`` or ``/AA`` (additional actions) running
JavaScript, ``javascript:`` links, Launch actions, embedded files and file-attachment
annotations, XFA forms. :func:`strip_active_content` removes them from the output (a
PDF reader opening our file runs nothing and finds nothing attached); ordinary links
(``http``, ``https``, ``mailto``, in-document) stay. ``--keep-active-content`` (CLI) or
the exporter option ``keep_active_content`` leaves the file as the input had it.
"""

from __future__ import annotations

import re

import pymupdf

# Action types that run something or reach outside the document.
_ACTIVE = {
    "/JavaScript",
    "/Launch",
    "/ImportData",
    "/SubmitForm",
    "/RichMediaExecute",
    "/Rendition",
}
_SAFE_SCHEMES = re.compile(r"(https?|mailto|ftp):", re.I)


def _uri_is_active(uri: str) -> bool:
    # A URI action with any scheme other than the plain ones (javascript:, vbscript:,
    # data:, file:) - control characters and spaces removed first, as readers do.
    cleaned = re.sub(r"[\x00-\x20]", "", uri.strip("()"))
    return bool(cleaned) and not cleaned.startswith("#") and not _SAFE_SCHEMES.match(cleaned)


def _pdf_string(doc: pymupdf.Document, xref: int, key: str) -> str:
    kind, value = doc.xref_get_key(xref, key)
    return value if kind in ("string", "name", "unicode") else ""


def _action_is_active(doc: pymupdf.Document, xref: int, key: str) -> bool:
    kind, _ = doc.xref_get_key(xref, key)
    if kind in ("null", "undefined"):
        return False
    if kind == "xref":
        target = int(doc.xref_get_key(xref, key)[1].split()[0])
        return _action_is_active(doc, target, "") if key else False
    path = f"{key}/" if key else ""
    s = doc.xref_get_key(xref, path + "S")[1]
    if s in _ACTIVE or doc.xref_get_key(xref, path + "JS")[0] != "null":
        return True
    if s == "/URI":
        return _uri_is_active(doc.xref_get_key(xref, path + "URI")[1])
    return doc.xref_get_key(xref, path + "Next")[0] != "null"  # chains: drop them whole


def strip_active_content(doc: pymupdf.Document) -> None:
    """Remove actions that run code, ``javascript:`` links and embedded files, in place."""
    cat = doc.pdf_catalog()
    for key in ("OpenAction", "AA", "Names/JavaScript", "Names/EmbeddedFiles", "AcroForm/XFA"):
        if doc.xref_get_key(cat, key)[0] != "null":
            doc.xref_set_key(cat, key, "null")
    for xref in range(1, doc.xref_length()):
        try:
            keys = doc.xref_get_keys(xref)
        except Exception:  # a free or broken object
            continue
        if "AA" in keys:
            doc.xref_set_key(xref, "AA", "null")
        if "OpenAction" in keys:
            doc.xref_set_key(xref, "OpenAction", "null")
        if "A" in keys and _action_is_active(doc, xref, "A"):
            doc.xref_set_key(xref, "A", "null")
        if "JS" in keys or (
            "S" in keys and doc.xref_get_key(xref, "S")[1] in _ACTIVE
        ):  # a free-standing action object
            doc.update_object(xref, "<< >>")
        if "EF" in keys:  # a file specification with an embedded file
            doc.xref_set_key(xref, "EF", "null")
    for page in doc:
        for annot in list(page.annots() or []):
            if annot.type[1] in ("FileAttachment", "Sound", "Movie", "RichMedia", "Screen"):
                page.delete_annot(annot)
        for link in page.get_links():
            kind = link.get("kind")
            uri = str(link.get("uri", ""))
            if kind == pymupdf.LINK_LAUNCH or (kind == pymupdf.LINK_URI and _uri_is_active(uri)):
                page.delete_link(link)
