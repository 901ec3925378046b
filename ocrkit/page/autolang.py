"""``language=auto`` for engines whose languages are separate models (Tesseract): which
model reads a page, given a first reading (with the default ``eng``) and, when that
reading was suspect, OSD's script. At most :data:`MAX_MODELS` model sets are tried
per page, whatever is installed (issue 16; every Debian language is installed by
default, so "try each" is no longer an option).

    script from the image (OSD; a CJK page whose text stands in columns -> the
        script's vertical model, ``chi_sim_vert``)
    -> the script's first model (languages.py's table: Arabic -> ara)
    -> language from the text (fastText): read again with that language's model
       (ara -> fas for Persian, eng -> fra for French); a re-read in the same script is
       kept unless it is :data:`SAME_SCRIPT_SLACK` less confident (the models of one
       script are not comparable by confidence: fas reads Persian right at 0.05 below
       ara), in another script :data:`RERUN_SLACK`
    -> a Latin-script page whose language fastText cannot name (score below
       :data:`UNSURE_SCORE`: Vietnamese read by ``eng`` loses its diacritics) is read
       with Tesseract's ``Latin`` script model, which keeps them, and then with the
       language it names (``vie``)
    -> OSD could not tell (one word, a short line; or, on a line, OSD was unsure of the
       orientation, so its script is a guess too): one *script probe*, a read with the
       most used scripts' models together (Tesseract keeps each word's most confident
       model), names the script by the characters it read (kana -> Japanese, Hangul ->
       Korean, Han alone -> Chinese, ...); that script's model reads the page.
    -> a script's model (OSD's or the probe's) that reads the page less confidently
       than :data:`SCRIPT_MODEL_MIN`, or than the first pass, is not kept; when OSD
       had turned the page for that script, the turn goes too
    -> a Latin-script line still read unsurely (below :data:`UNSURE_LINE`: a
       handwritten line, whose language fastText cannot name from what eng reads) is
       read with Tesseract's ``Latin`` script model, as one line (:data:`LINE_PSM`),
       before the language step

Thresholds were chosen on the tune half of the made pages (tests/langpages.py, text
``a``) and the corpus's tune half (``python -m bench.languages``), never on the test
halves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocrkit.lang import codes as languages
from ocrkit.lang import detect as langdetect

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.hookspecs import Engine, PageResult

MAX_MODELS = 3
# A re-read for language is kept unless it is this much less confident than the one
# before: another script's model, or the same script's (see the module docstring). On
# the tune half, fas read Persian 0.04-0.06 less confidently than ara, and right.
RERUN_SLACK = 0.05
SAME_SCRIPT_SLACK = 0.1
# fastText's score for the page's text below which its language is unknown. Vietnamese
# read by eng: 0.11-0.22 (tune half); English pages read by eng score above 0.9.
UNSURE_SCORE = 0.4
# Below this (length-weighted word confidence) the text is too unreliable to name its
# language.
MIN_CONFIDENCE = 0.5
# A line-shaped image (:func:`line_shaped`) in Latin script read less confidently than
# this is read with Tesseract's ``Latin`` model whatever its language, confidence aside
# (handwriting: the models' confidences there say nothing of their CER). The corpus's
# handwritten lines of the tune half (French and English, eng's confidence 0.19-0.58):
# Latin read them as well as eng or better (mean CER 0.798 -> 0.745), where the
# language's own model could not be named; its handwritten *pages* read no better with
# Latin (0.751 -> 0.762), hence lines only. The suspect-reading bound (TRIAL_BELOW).
UNSURE_LINE = 0.6
# Tesseract's page segmentation mode for a single text line: the unsure line above is
# read in it (by ``Latin``, and by a language named from that reading) whatever its ink
# (the engine's own rule wants one band of ink, and a handwritten line cut by its box
# holds the tips of the lines above and below: page mode then reads it as scraps).
# The line crops' tune halves (bench.handwriting_line_crops, 161 new lines and the
# corpus's 61): see docs/languages.md. The user's own ``psm`` is kept. A line that line
# mode reads nothing of is read in page mode (4 of the first 38 new tune-half French
# lines came back empty, CER 1.0, where page mode had read some of their letters).
LINE_PSM = 7
# Scripts the probe reads with (one model each, together) when OSD cannot tell.
TRIAL_SCRIPTS = ("HanS", "Arabic", "Cyrillic", "Devanagari", "Japanese", "Hangul")
# The probe's text names a script when that script holds at least this share of its
# letters; kana from this share of the CJK letters make Han text Japanese (the made
# Japanese text of the tune half: 43-64 % kana per sentence; the tune half's Chinese
# line read by the probe: none). Set well clear of both rather than fitted.
PROBE_SCRIPT_SHARE = 0.5
KANA_SHARE = 0.1
# OSD's script is used from this script confidence on (tune half: a Chinese line taken
# for Korean at 0.11, a Korean line at 0.78, Arabic lines at 2.0).
MIN_SCRIPT_CONFIDENCE = 0.5
# Scripts are tried (OSD could not tell) while the reading is less confident than this.
TRIAL_BELOW = 0.6
# A script's model replaces the first pass only when it reads the page at least this
# confidently (tune half: printed non-Latin pages and lines 0.85-0.97 with their model;
# French handwriting read by jpn or ara 0.3-0.55, where eng was no worse in CER). It
# holds for each way a script is named: OSD's script, also when OSD turned the page
# for it (the turn is then undone), and the probe's (its script's model must reach it
# too, not only the probe's mixed reading). Handwritten French lines (tune half of
# bench.handwriting_line_crops) read by jpn at 0.51 and 0.56, ben at 0.22, were kept.
SCRIPT_MODEL_MIN = 0.6
# The probe is read only for images up to this many pixels.
TRIAL_MAX_PIXELS = 4_000_000
# A line (for OSD's orientation rule): at most this high, at least twice as wide.
LINE_MAX_HEIGHT = 400
# An image whose text stands in columns: empty columns outnumber empty rows this much.
VERTICAL_RATIO = 1.5
CJK_SCRIPTS = {"HanS", "HanT", "Japanese", "Hangul"}


@dataclass
class Budget:
    """The model sets tried on one page (each at most once, at most MAX_MODELS)."""

    tried: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, langs: list[str]) -> None:
        if tuple(langs) not in self.tried:
            self.tried.append(tuple(langs))

    def allows(self, langs: list[str]) -> bool:
        return tuple(langs) in self.tried or len(self.tried) < MAX_MODELS

    def fresh(self, langs: list[str]) -> bool:
        return tuple(langs) not in self.tried and len(self.tried) < MAX_MODELS


def line_options(engine: Engine, opts: dict[str, Any]) -> dict[str, Any]:
    """``opts`` asking ``engine`` to read the image as one line (:data:`LINE_PSM`), for an
    engine that takes a ``psm`` option; ``opts`` as they are for any other engine or when
    the user chose a ``psm``."""
    if not any(o.name == "psm" for o in getattr(engine, "engine_options", ())):
        return opts
    user = dict(opts.get("engine_options") or {})
    if "psm" in user:
        return opts
    return {**opts, "engine_options": {**user, "psm": LINE_PSM}}


def _script(langs: list[str]) -> str | None:
    return languages.script_of(langs[0]) if langs else None


def vertical_text(image: Image.Image) -> bool:
    """Text set in columns (vertical CJK): within the inked area, more empty pixel
    columns than empty rows by :data:`VERTICAL_RATIO` (lines leave empty rows between
    them, columns empty columns)."""
    import numpy as np

    from ocrkit.page.orient import grey

    gray = grey(image)  # a grey page as it is: convert("L") copied it (8.7 MB for A4)
    k = max(1, min(gray.size) // 600)
    if k > 1:
        gray = gray.reduce(k)
    ink = np.asarray(gray) < 128
    rows: Any = ink.any(axis=1)
    cols: Any = ink.any(axis=0)
    if rows.sum() < 10 or cols.sum() < 10:
        return False
    r0, r1 = np.flatnonzero(rows)[[0, -1]]
    c0, c1 = np.flatnonzero(cols)[[0, -1]]
    if (r1 - r0) < 0.5 * (c1 - c0):
        return False  # a wide strip: a horizontal line (or lines), not columns
    empty_rows = float((~rows[r0 : r1 + 1]).mean())
    empty_cols = float((~cols[c0 : c1 + 1]).mean())
    return empty_cols > VERTICAL_RATIO * max(empty_rows, 0.05)


def vertical_model(langs: list[str], installed: list[str]) -> list[str]:
    """``chi_sim`` -> ``chi_sim_vert`` where installed (each code; [] if none has one)."""
    out = [f"{c}_vert" for c in langs if f"{c}_vert" in installed]
    return out if len(out) == len(langs) else []


def _confidence(res: PageResult) -> float:
    from ocrkit.page.call import assess

    return assess(res).confidence


def _lines(res: PageResult) -> list[str]:
    return [b.text for b in res.blocks if b.text.strip()]


def _wanted(res: PageResult, installed: list[str], vertical: bool) -> tuple[list[str], float]:
    """The installed models of the text's languages, and fastText's score for the page."""
    from ocrkit.page.call import detect_languages, tess_codes

    lines = _lines(res)
    found = [c for c, _ in detect_languages(lines)]
    top = langdetect.top(" ".join(lines), k=1)
    score = top[0][1] if top else 0.0
    if top and score >= UNSURE_SCORE and top[0][0] not in found:
        # the whole page names a language its sentences did not (Persian read by ara:
        # sentences say ar, the page says fa): the page's guess wins
        found = [top[0][0]]
    wanted = tess_codes(found)
    if vertical:
        wanted = [f"{c}_vert" if f"{c}_vert" in installed else c for c in wanted]
    return wanted, score


def _missing_warning(reading: Any, wanted: list[str], installed: list[str]) -> None:
    for code in wanted:
        if code in installed:
            continue
        msg = (
            f"the text looks like {languages.to_iso(code)} but Tesseract has no {code} "
            f"model (apt-get install {languages.apt_package(code)})"
        )
        if msg not in reading.warnings:
            reading.warnings.append(msg)


def choose(
    engine: Engine,
    image: Image.Image,
    dpi: int,
    opts: dict[str, Any],
    res: PageResult | None,
    langs: list[str],
    script: str | None,
    osd_failed: bool,
    reading: Any,
    first: list[str],
    as_given: tuple[PageResult, list[str], Image.Image, float] | None = None,
) -> tuple[PageResult, list[str]]:
    """The reading and models ``auto`` settles on (see the module docstring).

    ``res`` is the reading with ``langs`` so far (None when the page was turned or its
    script wants another model); ``first`` the first pass's models (already tried).
    ``as_given``: when OSD turned the page for another script, the page as given (its
    reading, models, image and deskew angle); if that script's model reads the turned
    page no better than the page as given was read, or poorly, the turn is undone
    (``reading.turn`` set to 0, and the caller goes back to that image)."""
    from ocrkit.page.call import OSD_MIN_CONFIDENCE, call_engine

    installed = engine.languages()
    budget = Budget()
    budget.add(first)
    if res is not None:
        budget.add(langs)  # the first pass's probe named the language (first_pass)

    def read(
        models: list[str], picture: Image.Image | None = None, *, line: bool = False
    ) -> PageResult:
        budget.add(models)
        reading.passes += 1
        options = line_options(engine, opts) if line else opts
        found = call_engine(engine, picture or image, models, dpi, options)
        if options is not opts and not _lines(found):
            # line mode read nothing (Tesseract gives up on some handwritten lines in
            # it, where page mode reads their letters): the same model in page mode
            reading.passes += 1
            found = call_engine(engine, picture or image, models, dpi, opts)
        return found

    vertical = False
    osd = reading.extra.get("osd") or {}
    if script and float(osd.get("script_confidence", 99)) < MIN_SCRIPT_CONFIDENCE:
        script, osd_failed = None, True  # OSD's guess is too weak: try scripts instead
    if (
        script
        and _line(image)
        and float(osd.get("orientation_confidence", 99)) < OSD_MIN_CONFIDENCE
    ):
        # OSD unsure how a line stands has seen too few characters to know its script
        # either (a made Korean line: "Cyrillic, 6.67", orientation confidence 0.62)
        script, osd_failed = None, True
        reading.extra["osd_script_unsure"] = osd.get("script")
    if script and script != "Latin":
        want = languages.script_languages(script, installed)
        canon = languages.canonical_script(script)
        if want and canon in CJK_SCRIPTS and vertical_text(image):
            vert = vertical_model(want, installed)
            if vert:
                want, vertical = vert, True
        if want and want != langs:
            prev, prev_langs = res, langs
            langs, res = want, read(want)
            conf = _confidence(res)
            if (
                not vertical  # columns of CJK: eng cannot be the better reading
                and prev is not None
                and prev.blocks
                and (conf < _confidence(prev) or conf < SCRIPT_MODEL_MIN)
            ):
                # OSD named a script whose model reads the page no better than the
                # first pass, or poorly: handwriting OSD took for Arabic or Japanese
                res, langs = prev, prev_langs
                reading.extra["osd_script_rejected"] = script
            elif (
                not vertical
                and prev is None
                and as_given is not None
                and (conf < _confidence(as_given[0]) or conf < SCRIPT_MODEL_MIN)
            ):
                # the same test for a page OSD turned for this script: the script was
                # wrong, and so the turn (handwritten French lines, tune half of the
                # line crops: "Japanese, 1.67, upside down (2.04)" read by jpn at 0.51,
                # CER 0.89; "Bengali, 2.0, a quarter turn (1.97)" by ben at 0.22, CER
                # 1.45; read as given, with the Latin model: 0.77 and 1.12)
                res, langs, image = as_given[0], as_given[1], as_given[2]
                reading.extra["osd_script_rejected"] = script
                reading.extra["osd_turn_rejected"] = reading.turn
                reading.turn = 0
        elif not want and (need := languages.missing_script_language(script)):
            reading.warnings.append(
                f"the page looks like {script} script but no Tesseract model for it is "
                f"installed (apt-get install {languages.apt_package(need)})"
            )
    if res is None:
        res = read(langs)
    if osd_failed and res.blocks and _confidence(res) < TRIAL_BELOW:
        res, langs = _trial(image, res, langs, installed, budget, read, reading)
    res, langs = _by_language(res, langs, installed, vertical, budget, read, reading, image)
    reading.extra["models_tried"] = ["+".join(t) for t in budget.tried]
    return res, langs


def _by_language(
    res: PageResult,
    langs: list[str],
    installed: list[str],
    vertical: bool,
    budget: Budget,
    read: Any,
    reading: Any,
    image: Image.Image | None = None,
) -> tuple[PageResult, list[str]]:
    """Read again while the text's languages are not all among the models used."""
    line = False  # read as one line from here on (an unsure line: see LINE_PSM)
    if (
        image is not None
        and _script(langs) == "Latin"
        and _confidence(res) < UNSURE_LINE
        and line_shaped(image)
        and "Latin" in installed
        and budget.fresh(["Latin"])
    ):
        # a line read this unsurely (a handwritten one): too few letters, too badly
        # read, for fastText to name its language (a French line read by eng: "it",
        # 0.95); Tesseract's Latin script model, which knows every Latin-script
        # language's letters, reads it instead (see :data:`UNSURE_LINE`), as one line
        # (see :data:`LINE_PSM`), and its reading is named as any other below
        line = True
        res, langs = read(["Latin"], line=True), ["Latin"]
    for _ in range(MAX_MODELS):
        conf = _confidence(res)
        if conf < MIN_CONFIDENCE:
            break  # the text is too unreliable to name its language
        wanted, score = _wanted(res, installed, vertical)
        _missing_warning(reading, wanted, installed)
        usable = [c for c in wanted if c in installed]
        # one language named with a weak page score (a mixed page's sentences name
        # several, each surely, while the page as a whole scores low: not unsure)
        unsure = not usable or (len(usable) == 1 and score < UNSURE_SCORE)
        if not unsure and set(usable) <= set(langs):
            break  # read with the right models already
        if unsure and _script(langs) == "Latin":
            # Latin text whose language fastText cannot name: the Latin script model
            # keeps the diacritics that name it (Vietnamese read by eng has none).
            if "Latin" not in installed or not budget.fresh(["Latin"]):
                break
            latin = read(["Latin"])
            wanted, score = _wanted(latin, installed, vertical)
            usable = [c for c in wanted if c in installed]
            unsure = not usable or (len(usable) == 1 and score < UNSURE_SCORE)
            if unsure or set(usable) <= set(langs):
                if _confidence(latin) > conf:  # still better read than by eng
                    res, langs = latin, ["Latin"]
                break
        if not usable or not budget.fresh(usable):
            break
        if (
            image is not None
            and len(usable) > 1
            and _script(langs) == "Latin"
            and all(languages.script_of(c) == "Latin" for c in usable)
        ):
            # a page in several Latin-script languages: only the words the first
            # model was unsure of are read again (see :func:`_reread_words`), by one
            # set holding the named languages and the runners-up (:func:`latin_set`);
            # again if the words read now name one more language, budget permitting
            models = latin_set(res, langs, usable, installed)
            if not budget.fresh(models):
                break
            res, langs = _reread_words(res, langs, models, image, read, reading), models
            continue
        new = read(usable, line=line)
        same = _script(usable) == _script(langs) or _script(langs) is None
        slack = SAME_SCRIPT_SLACK if same else RERUN_SLACK
        if _confidence(new) + slack < conf:
            break
        res, langs = new, usable
    return res, langs


# A sentence's second language by fastText joins the re-read of a page in several
# Latin-script languages from this score on. Tune half: eurotext's Portuguese sentence
# read by eng is "es" 0.42, "pt" 0.33 (its other sentences' runners-up: 0.02-0.17).
RUNNER_UP_SCORE = 0.3


def latin_set(
    res: PageResult, langs: list[str], usable: list[str], installed: list[str]
) -> list[str]:
    """The models re-reading a page in several Latin-script languages: the named ones
    (``usable``, most used first) and the installed Latin-script runners-up of its
    sentences (fastText's second language at :data:`RUNNER_UP_SCORE` or more), each
    runner-up right after the language its sentence was given to.

    One set instead of two: eurotext's Portuguese sentence read by ``eng`` was named
    Spanish (pt second); read again by the named five it named Portuguese, and a third
    set (the same five in another order, plus ``por``) was loaded for one sentence:
    ~70 MB and ~0.6 s of model loading per worker, and a second re-read (issue 14).
    Tesseract prefers a set's first models for a word; the order is the rule above,
    not fitted (the tune page's CER ranged 0.0024-0.0121 over six orders)."""
    from ocrkit.page.call import tess_codes

    counted = [
        s
        for s in langdetect.sentences(_lines(res))
        if sum(ch.isalpha() for ch in s) >= langdetect.MIN_LINE_LETTERS
    ]
    after: dict[str, list[str]] = {}
    for top in langdetect.top_many(counted, k=2):
        if len(top) < 2 or top[1][1] < RUNNER_UP_SCORE:
            continue
        second = tess_codes([top[1][0]])
        if second and second[0] in installed and languages.script_of(second[0]) == "Latin":
            first = tess_codes([top[0][0]])
            after.setdefault(first[0] if first else "", []).append(second[0])
    out: list[str] = []
    for code in [*usable, ""]:
        for c in [code, *after.get(code, [])]:
            if c and c not in out:
                out.append(c)
    return out


_SCRIPT_RANGES = (
    ("Hangul", ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F))),
    ("Kana", ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))),
    ("HanS", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))),
    ("Arabic", ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),
    ("Cyrillic", ((0x0400, 0x052F),)),
    ("Devanagari", ((0x0900, 0x097F),)),
)


def text_script(text: str) -> str | None:
    """The script most of ``text``'s letters are in, by Unicode block, for the probe's
    scripts (``Japanese`` for Han with kana); None when no script holds
    :data:`PROBE_SCRIPT_SHARE` of the letters (Latin, or a mix)."""
    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        o = ord(ch)
        for name, ranges in _SCRIPT_RANGES:
            if any(a <= o <= b for a, b in ranges):
                counts[name] = counts.get(name, 0) + 1
                break
    if not letters:
        return None
    kana = counts.pop("Kana", 0)
    han = counts.get("HanS", 0)
    if kana:
        counts["HanS"] = han + kana
    if not counts:
        return None
    best = max(counts, key=lambda k: counts[k])
    if counts[best] < PROBE_SCRIPT_SHARE * letters:
        return None
    if best == "HanS" and kana >= KANA_SHARE * (han + kana):
        return "Japanese"
    return best


def line_shaped(image: Image.Image) -> bool:
    """An image shaped like a line crop: at most :data:`LINE_MAX_HEIGHT` high and at
    least twice as wide (whatever its ink: a handwritten line cropped by its box holds
    the tips of the lines above and below, not one band of ink)."""
    return image.height <= LINE_MAX_HEIGHT and image.width >= 2 * image.height


def _line(image: Image.Image) -> bool:
    """One line of text: :func:`line_shaped`, and its inked rows one band (a three-line
    paragraph of the same size is not a line)."""
    import numpy as np

    if not line_shaped(image):
        return False
    rows: Any = (np.asarray(image.convert("L")) < 128).any(axis=1)
    return int(rows[0]) + int(np.count_nonzero(rows[1:] & ~rows[:-1])) == 1


def _trial(
    image: Image.Image,
    res: PageResult,
    langs: list[str],
    installed: list[str],
    budget: Budget,
    read: Any,
    reading: Any,
) -> tuple[PageResult, list[str]]:
    """OSD could not tell the script (a word or a short line): the script probe (see
    the module docstring), then the named script's model; the most confident reading
    from :data:`SCRIPT_MODEL_MIN` on replaces ``res``."""
    if image.width * image.height > TRIAL_MAX_PIXELS:
        return res, langs
    probe: list[str] = []
    for name in TRIAL_SCRIPTS:
        probe += [c for c in languages.script_languages(name, installed) if c not in probe]
    if not probe or not budget.fresh(probe):
        return res, langs
    best, best_langs, best_conf = res, langs, _confidence(res)
    found = read(probe)
    conf = _confidence(found)
    script = text_script(" ".join(_lines(found)))
    reading.extra["script_probe"] = script
    if script is None or conf < SCRIPT_MODEL_MIN or conf <= best_conf:
        return res, langs
    best, best_langs, best_conf = found, probe, conf
    model = languages.script_languages(script, installed)
    if model and budget.fresh(model):
        new = read(model)
        conf = _confidence(new)
        if conf < SCRIPT_MODEL_MIN:
            # the script's own model reads the page poorly: the probe's script is not
            # confirmed (a handwritten French line, tune half of the line crops: the
            # probe read "Japanese" at 0.63, jpn at 0.56, CER 0.94; eng 0.67)
            reading.extra["script_trial_rejected"] = model
            return res, langs
        # the script's own model is kept unless clearly less sure than the probe
        if conf + SAME_SCRIPT_SLACK >= best_conf:
            best, best_langs = new, model
    reading.extra["script_trial"] = best_langs
    return best, best_langs


# Words read with less confidence than this by the first (Latin) model are read again
# when the page is in several Latin-script languages (:func:`_reread_words`). Tuned on
# eurotext (tune half): 0.92 left "preguicoso" and "rapido" as eng read them (CER
# 0.0121, as the right codes read the page whole); 0.95: CER 0.0049.
WORD_RECHECK = 0.95


# White kept around the unsure words on the re-read canvas, px: the canvas is their
# bounding box grown by this much on every side (clipped to the page).
REREAD_MARGIN = 64


def _margin_box(
    boxes: list[tuple[int, int, int, int]], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The union of ``boxes`` grown by :data:`REREAD_MARGIN`, within an image of ``size``."""
    return (
        max(0, min(b[0] for b in boxes) - REREAD_MARGIN),
        max(0, min(b[1] for b in boxes) - REREAD_MARGIN),
        min(size[0], max(b[2] for b in boxes) + REREAD_MARGIN),
        min(size[1], max(b[3] for b in boxes) + REREAD_MARGIN),
    )


def _reread_words(
    res: PageResult,
    langs: list[str],
    models: list[str],
    image: Image.Image,
    read: Any,
    reading: Any,
) -> PageResult:
    """``res`` with its unsure words read again by ``models``: a white copy of the page
    holding only those words (at their places, so lines stay lines) is read once, and
    each word keeps the more confident of its two readings."""
    from PIL import Image as PILImage

    unsure = [
        (bi, wi, w)
        for bi, b in enumerate(res.blocks)
        for wi, w in enumerate(b.words)
        if w.confidence < WORD_RECHECK and w.bbox is not None
    ]
    reading.extra["words_reread"] = [len(unsure), sum(len(b.words) for b in res.blocks)]
    if not unsure:
        return res
    mode = image.mode if image.mode in ("L", "RGB") else "RGB"
    src = image if image.mode == mode else image.convert(mode)
    white = 255 if mode == "L" else (255, 255, 255)
    boxes = []
    for _, _, w in unsure:
        x0, y0, x1, y1 = (int(v) for v in w.bbox)
        pad = max(2, (y1 - y0) // 6)
        boxes.append(
            (
                max(0, x0 - pad),
                max(0, y0 - pad),
                min(src.width, x1 + pad),
                min(src.height, y1 + pad),
            )
        )
    # the canvas spans the unsure words and a white margin (:data:`REREAD_MARGIN`), not
    # the whole page: on a big page holding a small text it is a fraction of the page's
    # pixels, which Tesseract copies twice more (issue 14: -l auto's memory peak)
    ox, oy, ex, ey = _margin_box(boxes, src.size)
    canvas = PILImage.new(mode, (ex - ox, ey - oy), white)
    for box in boxes:
        canvas.paste(src.crop(box), (box[0] - ox, box[1] - oy))
    new = read(models, canvas)
    found = [
        (v, (v.bbox[0] + v.bbox[2]) / 2 + ox, (v.bbox[1] + v.bbox[3]) / 2 + oy)
        for b in new.blocks
        for v in b.words
        if v.bbox is not None
    ]
    for bi, wi, w in unsure:
        x0, y0, x1, y1 = w.bbox
        inside = [v for v, cx, cy in found if x0 - 2 <= cx <= x1 + 2 and y0 - 2 <= cy <= y1 + 2]
        if not inside:
            continue
        conf = sum(v.confidence * len(v.text) for v in inside) / max(
            1, sum(len(v.text) for v in inside)
        )
        if conf > w.confidence:
            inside.sort(key=lambda v: v.bbox[0])
            res.blocks[bi].words[wi] = type(w)(
                " ".join(v.text for v in inside), w.bbox, round(conf, 4)
            )
    for b in res.blocks:
        if b.words:
            b.text = " ".join(w.text for w in b.words)
            b.confidence = round(sum(w.confidence for w in b.words) / len(b.words), 4)
    return res


# ``auto``'s first pass on a page of many lines (:func:`first_pass`): bands at the top,
# each PROBE_LINES text lines (cut at white gaps across the page, down to at most
# PROBE_MAX_SHARE of its height; pages at least PROBE_MIN_HEIGHT px high), are read one
# by one with the job's default model until fastText names the bands' language (score
# at least PROBE_SCORE from at least PROBE_LETTERS letters read with at least
# PROBE_CONFIDENCE, or SURE_SCORE from SURE_LETTERS). When that is another Latin-script
# language, the page is read whole with its model (as when that language is asked for);
# else the rest of the page is read with the default model. A page in the default's
# language costs reads of its parts instead of one of the whole (the same text, in
# pieces); a German page a few lines more than its one read with ``deu``, instead of two
# whole reads.
PROBE_MIN_HEIGHT = 600
PROBE_LINES = 4
PROBE_MAX_SHARE = 0.4
PROBE_SCORE = 0.8
PROBE_CONFIDENCE = 0.6
PROBE_LETTERS = 100
# ... or from SURE_LETTERS letters when fastText's score is at least SURE_SCORE (issue 14:
# a book page's first strip, a running head and two lines, holds 72-80 letters;
# read with 100 letters needed, the Kovalewsky pages took a second strip before their
# fra read, ~0.06 CPU s each). The values were proposed in docs/benchmarks.md (i14auto2)
# before any run, not fitted; on the corpus and the made pages (99 samples, ``auto``)
# every text came out the same, and two French pages with one strip fewer.
SURE_LETTERS = 50
SURE_SCORE = 0.95
# Strips read with less than PROBE_CONFIDENCE from this many letters on: the page is
# read whole instead.
PROBE_UNSURE_LETTERS = 20
# White rows added above and below each strip read.
PROBE_PAD = 16
# A row of pixels is a text row when at least this share of it (at ~1000 px) is ink.
PROBE_ROW_INK = 0.005


def probe_cuts(image: Image.Image) -> list[int]:
    """The y (px) of white gaps across the page after every :data:`PROBE_LINES` text
    lines, down to :data:`PROBE_MAX_SHARE` of its height ([] for a short page)."""
    import numpy as np

    from ocrkit.layout import true_runs

    if image.height < PROBE_MIN_HEIGHT:
        return []
    from ocrkit.page.orient import grey

    gray = grey(image)  # a grey page as it is, not copied (only read, then reduced)
    k = max(1, min(gray.size) // 1000)
    if k > 1:
        gray = gray.reduce(k)
    arr = np.asarray(gray)
    h, w = arr.shape
    ink = arr[:, w // 20 : w - w // 20] < 128  # page borders are not text
    counts: Any = ink.sum(axis=1)
    rows: Any = counts > max(1, PROBE_ROW_INK * w)
    cuts: list[int] = []
    lines = 0
    runs = true_runs(rows)
    for i, (start, end) in enumerate(runs):
        if end - start >= 3:  # a speck row is not a line
            lines += 1
        if lines >= PROBE_LINES:
            y = runs[i + 1][0] if i + 1 < len(runs) else h  # the gap's end
            # the gap's emptiest row, nearest its middle (descenders and commas reach
            # into the gap: rows with a little ink are not text rows, nor the cut)
            gap = counts[end:y]
            low = np.flatnonzero(gap == gap.min()) if y > end else np.array([0])
            cut = (end + int(low[np.argmin(np.abs(low - (y - end) / 2))])) * k
            if y >= h or cut > PROBE_MAX_SHARE * image.height:
                break
            if y > end:
                cuts.append(cut)
                lines = 0
    return cuts


def _strip(image: Image.Image, y0: int, y1: int) -> Image.Image:
    """Rows ``y0:y1`` of ``image`` with :data:`PROBE_PAD` white rows above and below:
    a line cut close to an image's edge read worse (a Udolpho line next to the cut:
    "mornine. ... nassed")."""
    from PIL import Image as PILImage

    part = image.crop((0, y0, image.width, y1))
    fill: Any = 255 if image.mode in ("L", "1") else (255,) * len(image.getbands())
    out = PILImage.new(image.mode, (image.width, y1 - y0 + 2 * PROBE_PAD), fill)
    out.paste(part, (0, PROBE_PAD))
    return out


def _joined(parts: list[tuple[int, PageResult]]) -> PageResult:
    """The readings of strips (each from :func:`_strip` at ``y``) as one page: boxes
    moved to the page's pixels; a strip's first paragraph continues the one before (the
    layout breaks paragraphs by their geometry; a cut is no paragraph break)."""
    from ocrkit.hookspecs import PageResult

    blocks: list[Any] = []
    for y, part in parts:
        dy = y - PROBE_PAD
        last = next((b.paragraph for b in reversed(blocks) if b.paragraph is not None), None)
        first = next((b.paragraph for b in part.blocks if b.paragraph is not None), None)
        shift = 0 if last is None or first is None else last - first
        for b in part.blocks:
            if b.bbox is not None:
                b.bbox = [b.bbox[0], b.bbox[1] + dy, b.bbox[2], b.bbox[3] + dy]
            for w in b.words:
                w.bbox = [w.bbox[0], w.bbox[1] + dy, w.bbox[2], w.bbox[3] + dy]
            if b.paragraph is not None:
                b.paragraph += shift
        blocks += part.blocks
    return PageResult(blocks=blocks)


def first_pass(
    engine: Engine,
    image: Image.Image,
    langs: list[str],
    dpi: int,
    opts: dict[str, Any],
) -> tuple[PageResult, list[str], int]:
    """``auto``'s first reading of ``image`` (see :data:`PROBE_LINES`): the reading,
    its models and the number of engine calls."""
    from ocrkit.hookspecs import PageResult
    from ocrkit.page.call import assess, call_engine, tess_codes

    cuts = probe_cuts(image) if _script(langs) == "Latin" else []
    if not cuts:
        return call_engine(engine, image, langs, dpi, opts), langs, 1
    parts: list[tuple[int, PageResult]] = []
    calls = y = 0
    named: list[str] = []
    for cut in cuts:
        parts.append((y, call_engine(engine, _strip(image, y, cut), langs, dpi, opts)))
        calls, y = calls + 1, cut
        read = PageResult(blocks=[b for _, p in parts for b in p.blocks])
        quality = assess(read)
        if quality.confidence < PROBE_CONFIDENCE and quality.letters >= PROBE_UNSURE_LETTERS:
            # read unsurely (handwriting, a turned or non-Latin page): strips of such a
            # page read worse than the page whole (cut through its lines, a corpus
            # handwritten page went from CER 0.77 to 1.85), and the page needs the
            # whole reading's confidence for OSD and the choice of model
            return call_engine(engine, image, langs, dpi, opts), langs, calls + 1
        if quality.confidence < PROBE_CONFIDENCE or quality.letters < SURE_LETTERS:
            continue
        guess = langdetect.top(" ".join(_lines(read)), k=1)
        # from PROBE_LETTERS letters on a score of PROBE_SCORE names the language; from
        # SURE_LETTERS, only fastText's near-certainty does
        need = PROBE_SCORE if quality.letters >= PROBE_LETTERS else SURE_SCORE
        if guess and guess[0][1] >= need:
            named = tess_codes([guess[0][0]])
            break
    installed = engine.languages() if named else []
    if (
        named
        and named != langs
        and all(c in installed and languages.script_of(c) == "Latin" for c in named)
    ):
        # the page read whole by its language's model, as with that language asked for
        return call_engine(engine, image, named, dpi, opts), named, calls + 1
    parts.append((y, call_engine(engine, _strip(image, y, image.height), langs, dpi, opts)))
    joined = _joined(parts)
    if assess(joined).confidence < PROBE_CONFIDENCE:
        # unsure after all (strips too short to tell: a handwritten page's first
        # strips held a few letters): the page whole, as above
        return call_engine(engine, image, langs, dpi, opts), langs, calls + 2
    return joined, langs, calls + 1
