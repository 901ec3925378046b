"""Reading one page image with a cpu-tier engine: blank check, upright, right language.

:func:`read_page` is what the pipeline calls for ``cpu`` engines::

    ink? -- none --> no blocks (a blank page gives empty text, not noise)
    deskew (projection profile, a few degrees)
    first pass with the job's languages (language=auto: the default set, ``eng``)
    suspect? (length-weighted word confidence < GOOD_CONFIDENCE, words standing upright,
              or nothing read from a page with ink)
        -> Tesseract OSD: turn a quarter/half-turned page upright (re-deskew), and note
           the script (Cyrillic, Arabic, Han, ...)
    language=auto, an engine whose languages are separate models (Tesseract): the
        model is chosen by :mod:`ocrkit.page.autolang` (script from the image, language
        from the text, at most 3 model sets per page).
    drop noise (lines with no letter or digit, or a scrap read with low confidence)

An English page that the first pass reads well costs one ink check, one skew estimate
and one language identification on top of the recognition: no OSD and no second pass.

Engines whose one model reads all its languages (``multilingual = True``: RapidOCR's
PP-OCR) are never re-run for language; their text's languages are reported.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from ocrkit.hookspecs import Engine, PageResult
from ocrkit.lang import codes as languages
from ocrkit.page import orient
from ocrkit.page.autolang import MIN_SCRIPT_CONFIDENCE

if TYPE_CHECKING:
    from PIL import Image

# A page read upright with a fitting model scores >= 0.83 (length-weighted word
# confidence) on every printed page of the corpus; turned pages and pages in another
# script read with ``eng`` score <= 0.39.
from ocrkit.page.call import (  # noqa: F401  (re-exported: callers use ocrkit.page.read)
    GOOD_CONFIDENCE,
    OSD_MIN_CONFIDENCE,
    RERUN_SLACK,
    TRIAL_MAX_PIXELS,
    VERTICAL_SHARE,
    PageImage,
    Quality,
    Reading,
    _lines,
    assess,
    call_engine,
    detect_languages,
    tess_codes,
)

# OSD's turn is kept when the turned page reads at least as confidently as the page as
# given; when the turned reading is itself suspect (below the engine's upright
# confidence), it must read this much more confidently. Confidences that low differ by
# chance: a handwritten French line (tune half) read upside down by eng at 0.208 against
# 0.194 upright was turned (CER 0.75 -> 0.81; fra and Latin read it upright 0.06-0.07
# more confidently). Turned print reads at 0.83+ and is not concerned.
TURN_MARGIN = 0.05


def read_page(
    engine: Engine,
    image: Image.Image | PageImage,
    *,
    dpi: int,
    languages_: list[str],
    auto: bool,
    options: dict[str, Any] | None = None,
) -> Reading:
    """Read ``image`` upright, in the right language (see the module docstring).

    ``image`` a :class:`~ocrkit.page.call.PageImage` (the pipeline's): the page as given
    is dropped once the deskewed copy is made, and loaded again only if OSD turns the
    page."""
    opts = dict(options or {})
    source = image if isinstance(image, PageImage) else None
    if source is not None:
        image = source.get()
    assert not isinstance(image, PageImage)
    # a colour page converted to grey once for both checks (each used to convert it)
    grey = orient.grey(image)
    if orient.is_blank(grey, dpi):
        return Reading(PageResult(), image, languages=list(languages_), blank=True)
    langs = list(languages_)
    angle = orient.estimate_skew(grey, dpi)
    del grey  # not kept through recognition (a colour page's grey copy)
    work = orient.deskew(image, angle)
    if source is not None and work is not image:
        # Tesseract reads the deskewed copy: the page as given need not stay beside it
        source.drop()
        image = work  # no reference to the page as given is left here
    reading = Reading(PageResult(), work, deskew=angle, languages=langs)
    multilingual = bool(getattr(engine, "multilingual", False))
    res: PageResult | None
    if auto and not multilingual:
        from ocrkit.page import autolang

        res, langs, reading.passes = autolang.first_pass(engine, work, langs, dpi, opts)
    else:
        res = call_engine(engine, work, langs, dpi, opts)
        reading.passes = 1
    assert res is not None
    quality = assess(res)
    script: str | None = None
    osd_failed = False
    # the page as given, when OSD turns it for another script's model (autolang may
    # reject that model's reading, and with it the turn)
    as_given: tuple[PageResult, list[str], Image.Image, float] | None = None
    good = float(getattr(engine, "upright_confidence", GOOD_CONFIDENCE))
    if quality.suspect(good) and orient.osd_available():
        found = orient.osd(work, dpi)
        if found is None:
            osd_failed = True
        else:
            reading.extra["osd"] = {
                "rotate": found.rotate,
                "orientation_confidence": found.orientation_confidence,
                "script": found.script,
                "script_confidence": found.script_confidence,
            }
            script = found.script
            if found.rotate and found.orientation_confidence >= OSD_MIN_CONFIDENCE:
                given = source.get() if source is not None else image
                upright = orient.turn(given, found.rotate)
                del given
                if source is not None and angle:
                    source.drop()  # the page was deskewed: dropped again
                turned_angle = orient.estimate_skew(upright, dpi)
                turned = orient.deskew(upright, turned_angle)
                one_model = bool(getattr(engine, "multilingual", False))
                # OSD's script below autolang's MIN_SCRIPT_CONFIDENCE is not used (the
                # page keeps its models), so the readings compare as for Latin: a
                # handwritten French line, "Katakana, script confidence 0.0, upside
                # down (2.04)", was turned unchecked and read upside down (CER 1.71 ->
                # 2.13 with eng)
                weak_script = found.script_confidence < MIN_SCRIPT_CONFIDENCE
                if found.script in ("Latin", "Fraktur") or not auto or one_model or weak_script:
                    # Same models, so the readings compare: a turn that reads worse than
                    # the page as given was OSD misjudging a poor upright scan (unless
                    # the page as given was read sideways: words standing upright).
                    # An engine whose one model reads every script (RapidOCR) is always
                    # compared: OSD calls handwritten French lines "Katakana, upside
                    # down" (orientation confidence up to 6), and the turned page read
                    # nothing.
                    again = call_engine(engine, turned, langs, dpi, opts)
                    reading.passes += 1
                    after = assess(again)
                    sideways = quality.vertical > VERTICAL_SHARE >= after.vertical
                    # a turned reading that is itself suspect must beat the page as
                    # given by TURN_MARGIN (see there)
                    need = quality.confidence + (TURN_MARGIN if after.suspect(good) else 0.0)
                    if sideways or after.confidence >= need:
                        res, work, angle = again, turned, turned_angle
                        reading.turn = found.rotate
                    else:
                        reading.extra["osd_turn_rejected"] = found.rotate
                else:  # another script: read below with its model
                    as_given = (res, langs, work, angle)
                    work, angle, reading.turn, res = turned, turned_angle, found.rotate, None
                reading.deskew = angle
    if auto and not multilingual:
        from ocrkit.page import autolang

        res, langs = autolang.choose(
            engine,
            work,
            dpi,
            opts,
            res,
            langs,
            script,
            osd_failed,
            reading,
            list(languages_),
            as_given,
        )
        if as_given is not None and not reading.turn:  # the turn was rejected
            work, angle = as_given[2], as_given[3]
    else:
        if res is None:
            res = call_engine(engine, work, langs, dpi, opts)
            reading.passes += 1
        readable = engine.languages()
        if (
            script
            and script != "Latin"
            and readable
            and not orient.script_languages(script, readable)
        ):
            reading.warnings.append(
                f"the page looks like {script} script, which engine {engine.name!r} "
                "cannot read; try --engine tesseract"
            )
    res.blocks = drop_noise(res.blocks)
    found_langs = [code for code, _ in detect_languages(_lines(res))]
    if not found_langs and assess(res).letters:
        found_langs = [languages.to_iso(c) for c in langs]
    reading.result, reading.languages, reading.detected = res, langs, found_langs
    reading.image, reading.deskew = work, angle
    return reading


def _noise(text: str, confidence: float) -> bool:
    alnum = sum(unicodedata.category(ch)[0] in "LN" for ch in text)
    return (alnum == 0 and confidence < 0.6) or (alnum < 3 and confidence < 0.4)


def drop_noise(blocks: list[Any]) -> list[Any]:
    """Blocks that are scanner noise read as text: no letter or digit read with
    confidence below 0.6, or under three of them below 0.4 (specks read as ``i``, ``~``
    or ``.:``). A page number or a rule read with confidence stays."""
    return [b for b in blocks if not _noise(b.text, b.confidence)]
