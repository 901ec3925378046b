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
    -> OSD could not tell (one word): the most used scripts' models, within the budget.

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
# Scripts tried, in this order, when OSD cannot tell (a lone word or a short line).
TRIAL_SCRIPTS = ("HanS", "Arabic", "Cyrillic", "Devanagari", "Japanese", "Hangul")
# OSD's script is used from this script confidence on (tune half: a Chinese line taken
# for Korean at 0.11, a Korean line at 0.78, Arabic lines at 2.0).
MIN_SCRIPT_CONFIDENCE = 0.5
# Scripts are tried (OSD could not tell) while the reading is less confident than this.
TRIAL_BELOW = 0.6
# Trying scripts is done only for images up to this many pixels.
TRIAL_MAX_PIXELS = 4_000_000
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


def _script(langs: list[str]) -> str | None:
    return languages.script_of(langs[0]) if langs else None


def vertical_text(image: Image.Image) -> bool:
    """Text set in columns (vertical CJK): within the inked area, more empty pixel
    columns than empty rows by :data:`VERTICAL_RATIO` (lines leave empty rows between
    them, columns empty columns)."""
    import numpy as np

    gray = image.convert("L")
    k = max(1, min(gray.size) // 600)
    if k > 1:
        gray = gray.reduce(k)
    ink = np.asarray(gray) < 128
    rows, cols = ink.any(axis=1), ink.any(axis=0)
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
) -> tuple[PageResult, list[str]]:
    """The reading and models ``auto`` settles on (see the module docstring).

    ``res`` is the reading with ``langs`` so far (None when the page was turned or its
    script wants another model); ``first`` the first pass's models (already tried)."""
    from ocrkit.page.call import call_engine

    installed = engine.languages()
    budget = Budget()
    budget.add(first)

    def read(models: list[str]) -> PageResult:
        budget.add(models)
        reading.passes += 1
        return call_engine(engine, image, models, dpi, opts)

    vertical = False
    osd = reading.extra.get("osd") or {}
    if script and float(osd.get("script_confidence", 99)) < MIN_SCRIPT_CONFIDENCE:
        script, osd_failed = None, True  # OSD's guess is too weak: try scripts instead
    if script and script != "Latin":
        want = languages.script_languages(script, installed)
        canon = languages.canonical_script(script)
        if want and canon in CJK_SCRIPTS and vertical_text(image):
            vert = vertical_model(want, installed)
            if vert:
                want, vertical = vert, True
        if want and want != langs:
            langs, res = want, None
        elif not want and (need := languages.missing_script_language(script)):
            reading.warnings.append(
                f"the page looks like {script} script but no Tesseract model for it is "
                f"installed (apt-get install {languages.apt_package(need)})"
            )
    if res is None:
        res = read(langs)
    if osd_failed and res.blocks and _confidence(res) < TRIAL_BELOW:
        res, langs = _trial(image, res, langs, installed, budget, read, reading)
    res, langs = _by_language(res, langs, installed, vertical, budget, read, reading)
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
) -> tuple[PageResult, list[str]]:
    """Read again while the text's languages are not all among the models used."""
    for _ in range(MAX_MODELS):
        conf = _confidence(res)
        if conf < MIN_CONFIDENCE:
            break  # the text is too unreliable to name its language
        wanted, score = _wanted(res, installed, vertical)
        _missing_warning(reading, wanted, installed)
        usable = [c for c in wanted if c in installed]
        unsure = not usable or score < UNSURE_SCORE
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
            if not usable or score < UNSURE_SCORE or set(usable) <= set(langs):
                if _confidence(latin) > conf:  # still better read than by eng
                    res, langs = latin, ["Latin"]
                break
        if not usable or not budget.fresh(usable):
            break
        new = read(usable)
        same = _script(usable) == _script(langs) or _script(langs) is None
        slack = SAME_SCRIPT_SLACK if same else RERUN_SLACK
        if _confidence(new) + slack < conf:
            break
        res, langs = new, usable
    return res, langs


def _trial(
    image: Image.Image,
    res: PageResult,
    langs: list[str],
    installed: list[str],
    budget: Budget,
    read: Any,
    reading: Any,
) -> tuple[PageResult, list[str]]:
    """OSD could not tell the script (a word or a short line): read it with the most
    used scripts' models while the budget lasts and keep the most confident reading."""
    if image.width * image.height > TRIAL_MAX_PIXELS:
        return res, langs
    best, best_langs, best_conf = res, langs, _confidence(res)
    for script in TRIAL_SCRIPTS:
        cand = languages.script_languages(script, installed)
        if not cand or tuple(cand) in budget.tried:
            continue
        if not budget.fresh(cand):
            break
        new = read(cand)
        conf = _confidence(new)
        if conf > best_conf:
            best, best_langs, best_conf = new, cand, conf
        if best_conf >= TRIAL_BELOW:
            break  # read well: leave the budget for the language's own model
    reading.extra["script_trial"] = best_langs
    return best, best_langs
