"""Tesseract in-process through ``tesserocr``: the model stays loaded between pages.

The ``tesseract`` engine reads pages through :func:`recognize_tsv` when the ``tesserocr``
wheel is installed (it bundles its own Tesseract and Leptonica; the language models are
the system's, :func:`tessdata_dir`), else through the ``tesseract`` program, one process
per call. Both give the same TSV (``GetTSVText`` is what the CLI's ``tsv`` output
writes, header aside), parsed by the same :func:`~ocrkit_plugins.engines.tesseract.
tsv_to_blocks`, so words, boxes and confidences have one contract.

Why: a process per page pays the program start, the model load and an image file
written and decoded again on every call; in-process, the page's pixels are handed over
as they are (``SetImageBytes``: no encoding) to an API object that already holds the
model. One API object per language set (``eng``, ``eng+deu``...) per process, at most
:data:`MAX_APIS` kept (least recently used ones are ended: each holds its models,
a few to tens of MB), and one per thread at a time (an API object is not thread-safe:
a second thread asking for the same languages gets its own object).

``OCRKIT_TESSERACT_BACKEND=cli`` forces the program (``tesserocr`` forces the wheel and
fails when it is absent; ``auto``, the default, prefers the wheel).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.errors import EngineUnavailable
from ocrkit.lang import script_of

from . import rawlines

if TYPE_CHECKING:
    from PIL import Image

MAX_APIS = 4
# Tesseract's C API defines these only when the legacy engine is compiled in (capi.cpp).
_LEGACY_ONLY = ("TessBaseAPIDetectOrientationScript", "TessBaseAPIAdaptToWordStr")
# The columns of Tesseract's TSV header (TessTsvRenderer::BeginDocumentHandler);
# GetTSVText returns the rows only.
TSV_HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\t"
    "left\ttop\twidth\theight\tconf\ttext\n"
)
_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


def backend_choice() -> str:
    """``auto``, ``cli`` or ``tesserocr`` (``OCRKIT_TESSERACT_BACKEND``)."""
    value = os.environ.get("OCRKIT_TESSERACT_BACKEND", "auto").strip().lower() or "auto"
    return value if value in ("auto", "cli", "tesserocr") else "auto"


@lru_cache(maxsize=1)
def _module() -> Any:
    try:
        import tesserocr
    except ImportError:
        return None
    return tesserocr


def in_process() -> bool:
    """Pages go through tesserocr (else the tesseract program)."""
    choice = backend_choice()
    if choice == "cli":
        return False
    if _module() is None:
        if choice == "tesserocr":
            raise EngineUnavailable(
                "OCRKIT_TESSERACT_BACKEND=tesserocr but the tesserocr package is not installed"
            )
        return False
    return tessdata_dir() is not None


def tessdata_dir() -> str | None:
    """The system's tessdata folder: ``TESSDATA_PREFIX``, a usual Debian/Ubuntu/Fedora
    location, else the one ``tesseract --list-langs`` names. Looked up once per value of
    ``TESSDATA_PREFIX``: a process that changes it (a test with a reduced tessdata, an
    embedding application) gets the folder it names, not the first one seen."""
    return _tessdata_dir(os.environ.get("TESSDATA_PREFIX", ""))


@lru_cache(maxsize=8)
def _tessdata_dir(prefix: str) -> str | None:
    candidates = [prefix, *_TESSDATA_DIRS]
    for c in candidates:
        if c and any(Path(c).glob("*.traineddata")):
            return str(Path(c))
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.splitlines()[0] if out else ""
    if '"' in first:
        path = first.split('"')[1]
        if Path(path).is_dir():
            return path
    return None


@lru_cache(maxsize=1)
def legacy_engine() -> bool | None:
    """Whether the libtesseract under tesserocr has the legacy engine compiled in (None: no
    tesserocr, or it cannot be told).

    The PyPI wheel's has; ``make install`` replaces it, where it can, with a build without
    it (scripts/tesserocr_nolegacy.sh): such a library builds no legacy start-up state for
    each language it loads (~9.5 MB per language, never used by LSTM-only models). Told by
    a function Tesseract's C API defines only with the legacy engine, looked up from the
    extension module (the lookup also searches the libraries it loaded)."""
    tess = _module()
    ext = getattr(getattr(tess, "tesserocr", None), "__file__", None)
    if not ext:
        return None
    try:
        lib = ctypes.CDLL(ext)
    except OSError:
        return None
    return any(hasattr(lib, name) for name in _LEGACY_ONLY)


def describe() -> str:
    """Which Tesseract reads pages here and its version (for ``ocrkit engines``)."""
    if in_process():
        tess = _module()
        version = tess.tesseract_version().split()[1] if tess else "?"
        lines = ", lines as raw pixels" if rawlines.install() else ""
        legacy = {True: ", legacy engine compiled in", False: ", no legacy engine"}.get(
            legacy_engine(), ""
        )
        return f"tesserocr {tess.__version__} in-process (Tesseract {version}{lines}{legacy})"
    exe = shutil.which("tesseract")
    if exe is None:
        return "tesseract program (not found)"
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        version = out.split()[1] if out.split() else "?"
    except (OSError, subprocess.SubprocessError):
        version = "?"
    return f"tesseract program {version} (a process per page)"


class _Pool:
    """Idle API objects by language set, least recently used first."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lock = threading.Lock()
        self.idle: OrderedDict[str, list[Any]] = OrderedDict()
        self.busy = 0

    @staticmethod
    def _key(lang: str) -> str:
        # API objects hold the models of the folder they were made from
        return f"{tessdata_dir() or ''}\0{lang}"

    def take(self, lang: str) -> Any:
        key = self._key(lang)
        with self.lock:
            stack = self.idle.get(key)
            if stack:
                self.idle.move_to_end(key)
                return stack.pop()
        tess = _module()
        # Text lines kept as raw pixels instead of a PNG round trip (:mod:`.rawlines`):
        # the same pixels for the LSTM, about a tenth less CPU on a scanned page.
        rawlines.install()
        try:
            return tess.PyTessBaseAPI(
                path=tessdata_dir(), lang=lang, psm=tess.PSM.AUTO, oem=tess.OEM.DEFAULT
            )
        except RuntimeError as exc:
            raise EngineUnavailable(f"tesserocr cannot load language {lang!r}: {exc}") from exc

    def give(self, lang: str, api: Any) -> None:
        api.Clear()  # drop the page's results and image; the models stay
        key = self._key(lang)
        ended: list[Any] = []
        with self.lock:
            self.idle.setdefault(key, []).append(api)
            self.idle.move_to_end(key)
            while sum(len(v) for v in self.idle.values()) > self.cap:
                old_lang, old = next(iter(self.idle.items()))
                ended.append(old.pop(0))
                if not old:
                    del self.idle[old_lang]
        for a in ended:
            a.End()

    def clear(self) -> None:
        with self.lock:
            apis = [a for stack in self.idle.values() for a in stack]
            self.idle.clear()
        for a in apis:
            a.End()


_POOL = _Pool(MAX_APIS)


def loaded() -> list[str]:
    """The language sets with an idle API object in this process (tests, diagnostics)."""
    with _POOL.lock:
        return [key.split("\0", 1)[1] for key in _POOL.idle]


def clear() -> None:
    """End every idle API object (frees their models)."""
    _POOL.clear()


def _pixels(image: Image.Image) -> tuple[bytes, int]:
    """Raw pixel bytes and bytes per pixel: 8-bit grey or 24-bit RGB as they are. A
    grey page decoded from a PDF already is such bytes (:func:`~ocrkit.page.inputs.
    held_bytes`): handed over as they are, not copied (8.7 MB for an A4 page at 300
    dpi, alive beside Tesseract's own copies while it takes the image)."""
    from ocrkit.page import held_bytes

    held = held_bytes(image)
    if held is not None:
        return held, 1
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode not in ("1", "L", "LA", "I", "F") else "L")
    return image.tobytes(), (1 if image.mode == "L" else 3)


# Scripts written right to left: their words' text comes with bidi marks that
# ``GetTSVText``'s symbol-by-symbol text leaves out (Arabic corpus pages differ).
_RTL_SCRIPTS = frozenset({"Arabic", "Hebrew", "Syriac", "Thaana"})


def left_to_right(langs: list[str]) -> bool:
    """Every language's script is known and written left to right (:func:`word_rows`
    gives ``GetTSVText``'s words for them)."""
    scripts = [script_of(code) for code in langs]
    return all(s is not None and s not in _RTL_SCRIPTS for s in scripts)


def word_rows(api: Any) -> str:
    """The word rows (level 5) of ``api.GetTSVText(0)`` for the page just recognised,
    numbered as it numbers them, from one walk over the words.

    Why not ``GetTSVText``: it asks its ``ResultIterator`` six questions per word
    (``IsAtBeginningOf`` block, paragraph and line, ``IsAtFinalElement`` of each) and
    steps symbol by symbol; each question re-walks the page from its first word to the
    current line (``PAGE_RES_IT::restart_row``), about 30 walks per word. On the bench's
    20 scanned pages that was 0.10 CPU s of 1.36 per page; this walk asks one question
    per word (is it a line's first?) and the block and paragraph ones only at a line's
    start. The rows of levels 1-4 (page, block, paragraph, line boxes) are left out:
    :func:`~ocrkit_plugins.engines.tesseract.tsv_to_blocks` reads words only. The
    confidence is printed as ``GetTSVText`` prints it (``std::to_string``: ``%f``).
    Left-to-right scripts only (:func:`left_to_right`)."""
    tess = _module()
    ril = tess.RIL
    it = api.GetIterator()
    if it is None:
        return ""
    rows: list[str] = []
    block = para = line = word = 0
    while not it.Empty(ril.BLOCK):
        if it.Empty(ril.WORD):  # an image or separator block
            if not it.Next(ril.WORD):
                break
            continue
        if it.IsAtBeginningOf(ril.TEXTLINE):
            # a block or paragraph starts on a line's first word
            if it.IsAtBeginningOf(ril.BLOCK):
                block, para = block + 1, 0
            if it.IsAtBeginningOf(ril.PARA):
                para, line = para + 1, 0
            line, word = line + 1, 0
        left, top, right, bottom = it.BoundingBox(ril.WORD)
        word += 1
        text = it.GetUTF8Text(ril.WORD) or ""
        rows.append(
            f"5\t1\t{block}\t{para}\t{line}\t{word}\t{left}\t{top}\t{right - left}\t"
            f"{bottom - top}\t{it.Confidence(ril.WORD):f}\t{text}\n"
        )
        if not it.Next(ril.WORD):
            break
    return "".join(rows)


def recognize_tsv(image: Image.Image, langs: list[str], psm: int, dpi: int) -> str:
    """What ``tesseract IMAGE stdout --psm PSM --dpi DPI -l LANGS tsv`` prints, header
    included, read by a resident API object; in left-to-right scripts its word rows
    only (:func:`word_rows`)."""
    lang = "+".join(langs)
    data, bpp = _pixels(image)
    api = _POOL.take(lang)
    ok = False
    try:
        api.SetPageSegMode(psm)
        # The CLI's --dpi sets user_defined_dpi, which wins over the image's own.
        api.SetVariable("user_defined_dpi", str(int(dpi)))
        api.SetImageBytes(data, image.width, image.height, bpp, image.width * bpp)
        # Tesseract copied the pixels into its own image: our copy (a page's worth,
        # 8.7 MB for a grey A4 at 300 dpi) is freed before recognition, not after
        # (unless it is the page image's own pixels: held_bytes).
        del data
        api.SetSourceResolution(int(dpi))
        api.Recognize()
        rows = word_rows(api) if left_to_right(langs) else api.GetTSVText(0)
        ok = True
    finally:
        if ok:
            _POOL.give(lang, api)
        else:
            api.End()  # a failed object is not reused
    return TSV_HEADER + (rows or "")
