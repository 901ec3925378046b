"""The best cpu reader per page, when the caller named no engine.

Tesseract reads print well and fast; RapidOCR (PP-OCR) reads handwriting much better
but costs about four times Tesseract's CPU per page. So, for a page of a job that named
no engine (``engine_named`` is False in the job's options) on the cpu tier:

* **before reading**: the caller said the page is handwriting (the
  ``handwriting-to-text`` tool's preset, ``vlm_prompt="handwriting"``, running on the
  cpu tier because no model server is configured): RapidOCR reads it.
* **after Tesseract's reading** (:func:`after`): the page looks like handwriting to
  Tesseract's own reading, i.e. the reading that :mod:`ocrkit.page.read` settled on (upright, the
  right script's model) is unsure: its length-weighted word confidence is under
  :data:`HANDWRITING_CONFIDENCE` with some letters read. RapidOCR then reads the page
  too, and its reading replaces Tesseract's.

Either way only when RapidOCR is installed and reads every language of the reading
(its one model reads Latin scripts and Chinese; Arabic, Devanagari, Cyrillic pages stay
with Tesseract). The page's ``engine`` says which engine's reading it holds, and
``extra["engine_choice"]`` why.

Print (confidence 0.83+ on every printed, non-Latin and rotated page of the corpus)
never reaches RapidOCR, so an English document costs what Tesseract costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocrkit.hookspecs import Engine
    from ocrkit.page.read import Reading
    from ocrkit.plugins import Registry

# Tesseract's final word confidence (length-weighted) on the corpus: handwriting 0.07-0.43
# on the tuning half (even positions of the handwriting samples sorted by id), every
# printed, non-Latin, rotated and scanned-PDF page 0.83-0.96. The threshold sits between.
HANDWRITING_CONFIDENCE = 0.6
# A reading with fewer letters than this is too little to judge (a blank page, a speck).
MIN_LETTERS = 3
HANDWRITING_ENGINE = "rapidocr"


def applies(options: dict[str, Any], engine: Engine) -> bool:
    """Whether the page's engine is ocrkit's to choose: a cpu engine the caller did not
    name."""
    return options.get("engine_named") is False and engine.tier == "cpu"


def _handwriting_engine(reg: Registry, languages: list[str]) -> Engine | None:
    eng = reg.engines.get(HANDWRITING_ENGINE)
    if eng is None or not eng.availability()[0]:
        return None
    readable = set(eng.languages())
    if not languages or any(c not in readable for c in languages):
        return None
    return eng


def before(
    options: dict[str, Any], languages: list[str], reg: Registry
) -> tuple[Engine, str] | None:
    """The engine to read with instead of the default before any reading, and why."""
    if options.get("vlm_prompt") == "handwriting":
        eng = _handwriting_engine(reg, languages or ["eng"])
        if eng is not None:
            return eng, "handwriting (the handwriting-to-text tool)"
    return None


def after(reading: Reading, reg: Registry) -> tuple[Engine, str] | None:
    """The engine to read the page again with after the default engine's ``reading``,
    and why; None to keep the reading."""
    from ocrkit.page.read import assess

    if reading.blank:
        return None
    q = assess(reading.result)
    if q.letters < MIN_LETTERS or q.confidence >= HANDWRITING_CONFIDENCE:
        return None
    eng = _handwriting_engine(reg, list(reading.languages))
    if eng is None:
        return None
    return eng, f"looks handwritten (word confidence {q.confidence:.2f})"


def read(
    engine: Engine,
    image: Any,
    *,
    dpi: int,
    languages: list[str],
    auto: bool,
    options: dict[str, Any],
    reg: Registry,
) -> tuple[Reading, dict[str, str] | None]:
    """:func:`ocrkit.page.read.read_page` with the engine chosen for the page: the
    reading, and ``{"engine": name, "why": ...}`` when it is not ``engine``'s."""
    from ocrkit.page.read import assess, read_page

    pre = before(options, languages, reg)
    if pre is not None:
        eng, why = pre
        reading = read_page(
            eng, image, dpi=dpi, languages_=languages or ["eng"], auto=auto, options=options
        )
        return reading, {"engine": eng.name, "why": why}
    reading = read_page(engine, image, dpi=dpi, languages_=languages, auto=auto, options=options)
    alt = after(reading, reg)
    if alt is None:
        return reading, None
    eng, why = alt
    again = read_page(
        eng, image, dpi=dpi, languages_=list(reading.languages), auto=auto, options=options
    )
    if assess(again.result).letters < MIN_LETTERS:
        return reading, None  # it read nothing: Tesseract's reading stands
    again.passes += reading.passes
    return again, {"engine": eng.name, "why": why}
