"""The ``tesseract`` engine: Tesseract 4/5 LSTM through one ``tesseract ... tsv`` call a page.

The page image is written once as a fast PNG (no lossy re-encoding) and read by one
``pytesseract.image_to_data`` call (``tesseract page.png stdout tsv``); the TSV's words
are grouped into line blocks by ``(block_num, par_num, line_num)``. Tesseract's OpenMP
threads are limited with ``OMP_THREAD_LIMIT=1`` (the pipeline parallelises across pages
instead): the variable is set in this process if unset, and the subprocess inherits it.

With the ``tesserocr`` wheel installed (a dependency), the same TSV comes from a
Tesseract kept loaded in the process instead (:mod:`ocrkit_plugins.engines.
tesserocr_backend`): no process start, no model load and no image file per page, about
a third less CPU per page here; the program stays the fallback when the wheel is absent,
with ``OCRKIT_TESSERACT_BACKEND=cli``, and for ``c`` engine options (Tesseract variables,
some of which only act when a model is loaded). ``ocrkit engines`` says which one runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.engine_options import EngineOption
from ocrkit.errors import EngineFailed, EngineUnavailable
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.lang import require_tesseract, script_of, tesseract_languages
from ocrkit.models import Block, Word

from . import tesserocr_backend, textsize

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

# Page segmentation mode 3 (fully automatic, no OSD) read the corpus's printed pages best:
# mean CER 0.022; 1 (with OSD) gave the same text, 4 and 6 0.061 and 0.066 (the UNLV
# magazine page falls apart). Rotation is the pipeline's business, not the engine's.
PSM = 3
# Images of at most this many pixels whose lines are under SMALL_TEXT_PX high (median)
# are read again at UPSCALE times their size. The corpus's PubTabNet crops (8-px text)
# went from almost nothing to readable text with a 3x copy.
SMALL_IMAGE_PIXELS = 3_000_000
TINY_PIXELS = 300_000
SMALL_TEXT_PX = 14
UNSURE = 0.6
UPSCALE = 3
# Working resolution, from the letters' height measured before reading
# (:func:`textsize.letter_height`, about the x-height of Latin print). Tuned on the
# printed corpus pages (the throughput set); the other categories are the held-out check.
# Under SMALL_XH (images up to SMALL_IMAGE_PIXELS): read once from the 2x (tiny: 3x)
# copy instead of as given and then again from the copy. The EHRI typescripts
# (8-10 px) read better from the 2x copy (CER 0.068 -> 0.028), the 14-px one worse.
SMALL_XH = 11
# Over BIG_XH, in alphabetic scripts: read a copy scaled to TARGET_XH (not below
# MIN_SCALE). Tesseract normalises every line to its own height anyway; what a larger
# image costs is layout and line finding. The Dracula pages (27 px) read at 0.59 give the
# same text for ~15% less CPU; 21-22 px pages read at 0.6 saved 5-10% and two of them
# (UNLV, an EHRI typescript) lost accuracy (CER 0.026 -> 0.030, 0.039 -> 0.070), hence 24.
# CJK and Devanagari are never scaled down (the measure is their whole character's
# height there, and they were not tuned).
BIG_XH = 24
TARGET_XH = 16
MIN_SCALE = 0.5
# ... and only regular letters (:attr:`textsize.Letters.spread`, upper over lower
# quartile of the letter heights, at most MAX_SPREAD): every printed, rotated and
# non-Latin corpus page measured 1.0-1.9, the Poilus handwriting 2.3-4.3. Handwriting
# read at half size lost what the scale was tuned to keep: the category's mean CER went
# 0.857 -> 0.864 (two line crops 0.58 -> 0.67 and 0.78 -> 0.94), and read as given it
# matches the baseline again. Tuned on alternate handwriting and printed samples; any
# bound between 1.62 and 2.3 splits both halves the same way.
MAX_SPREAD = 2.0
_ALPHABETIC = ("Latin", "Cyrillic", "Greek")
# When PSM 3 reads nothing (the pipeline only asks about pages with ink).
FALLBACK_PSM = 6
# A strip holding one line of text (a line crop): PSM 3 stopped half-way through the
# corpus's first Chinese line (CER 0.33); PSM 7 read it (0.02) and the other nine
# non-Latin lines exactly as PSM 3 did.
LINE_PSM = 7
# Unicode ranges of scripts written without spaces between words.
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x30FF),  # CJK punctuation, Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # fullwidth forms
    (0x20000, 0x3FFFF),  # CJK extensions B-H
)
# Below this, a dpi is most likely a screen default (72/96) written by a scanner or an
# editor, not the scan's resolution; 300 then read the corpus's 72/96-dpi-labelled pages
# better (mean CER 0.042) than either the label (0.052) or Tesseract's own estimate (0.045).
TRUSTED_DPI = 150


class TesseractEngine(Engine):
    name = "tesseract"
    tier = "cpu"
    description = "Tesseract LSTM (local, fast; printed text in 100+ languages)"
    accepts_options = True
    engine_options = (
        EngineOption(
            "psm",
            "int",
            "page segmentation mode, Tesseract's --psm (default: 3, a lone line 7, and 6 "
            "when 3 finds nothing); see `tesseract --help-psm`",
            minimum=0,
            maximum=13,
        ),
        EngineOption(
            "c",
            "str",
            "a Tesseract variable as VAR=VALUE, Tesseract's -c (repeatable), e.g. "
            "c=tessedit_char_whitelist=0123456789",
            repeatable=True,
            pattern=r"[A-Za-z_][A-Za-z0-9_]*=.*",
        ),
    )

    def languages(self) -> list[str]:
        return [c for c in tesseract_languages() if c != "osd"]

    def availability(self) -> tuple[bool, str]:
        if shutil.which("tesseract") is None:
            return False, "the tesseract program is not on PATH (apt-get install tesseract-ocr)"
        if not self.languages():
            return False, "tesseract has no language data (apt-get install tesseract-ocr-eng)"
        return True, ""

    def info(self) -> dict[str, Any]:
        # which Tesseract reads the pages: the resident tesserocr one or the program
        return {**super().info(), "backend": tesserocr_backend.describe()}

    def recognize(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: int,
        options: dict[str, Any] | None = None,
    ) -> PageResult:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        user = dict((options or {}).get("engine_options") or {})
        langs = languages or ["eng"]
        require_tesseract(langs)
        if image.mode not in ("1", "L", "RGB"):
            image = image.convert("RGB")
        from PIL.Image import Resampling

        pixels = image.width * image.height
        found = textsize.letters(image)
        xh = found.height if found else None
        k = working_scale(xh, pixels, langs, found.spread if found else None)
        blocks = _read(image, langs, dpi, user) if k == 1 else _read_at(image, k, langs, dpi, user)
        # The measure could not say (too few components), or a tiny image (a crop, a
        # word: cheap to read twice) read as given whose words came out small or unsure.
        tiny = pixels <= TINY_PIXELS
        if (
            k == 1
            and (xh is None or tiny)
            and pixels <= SMALL_IMAGE_PIXELS
            and _small_text(blocks, unsure=tiny)
        ):
            # Screen-resolution text (a screenshot, a web crop): Tesseract wants capitals
            # of 20+ px and reads 8-px text as noise. Read a larger copy too and keep the
            # better reading, its boxes scaled back to this image.
            k = UPSCALE if tiny else 2
            big = image.resize((image.width * k, image.height * k), Resampling.LANCZOS)
            upscaled = [_scaled(b, 1 / k, image.size) for b in _read(big, langs, dpi * k, user)]
            if _score(upscaled) > _score(blocks):
                blocks = upscaled
        return PageResult(blocks=blocks)


def working_scale(
    xh: float | None, pixels: int, langs: list[str], spread: float | None = None
) -> float:
    """The scale to read an image at, from its letters' height ``xh`` (px) and
    ``spread`` (:attr:`textsize.Letters.spread`): 2 or 3 for small text, below 1 for
    large regular alphabetic text, else 1."""
    if xh is None:
        return 1.0
    if xh < SMALL_XH and pixels <= SMALL_IMAGE_PIXELS:
        return float(UPSCALE if pixels <= TINY_PIXELS else 2)
    regular = spread is None or spread <= MAX_SPREAD
    if xh > BIG_XH and regular and all(script_of(code) in _ALPHABETIC for code in langs):
        return max(TARGET_XH / xh, MIN_SCALE)
    return 1.0


def _read_at(
    image: Image.Image, k: float, langs: list[str], dpi: int, user: dict[str, Any]
) -> list[Block]:
    """:func:`_read` of a copy ``k`` times the size (Tesseract told the copy's dpi),
    its boxes mapped back to ``image``'s pixels."""
    from PIL.Image import Resampling

    size = (max(1, round(image.width * k)), max(1, round(image.height * k)))
    # Upscaling: Lanczos (as the small-text re-read always did); downscaling: a box
    # filter, which averages every source pixel (no aliasing) and is the cheapest.
    copy = image.resize(size, Resampling.LANCZOS if k > 1 else Resampling.BOX)
    # The copy's dpi as the small-text re-read always gave it (a screen default of 96
    # becomes 192, trusted; Tesseract told 600 for it read the EHRI typescripts worse).
    blocks = _read(copy, langs, round(dpi * k), user)
    return [_scaled(b, 1 / k, image.size) for b in blocks]


def _read(
    image: Image.Image, langs: list[str], dpi: int, user: dict[str, Any] | None = None
) -> list[Block]:
    """Tesseract's lines; ``user`` holds the engine options (``psm``, ``c``)."""
    user = user or {}
    # In-process unless the user sets Tesseract variables (-c): some only take effect
    # when the model is loaded, and they would stay set on a shared API object.
    if not user.get("c") and tesserocr_backend.in_process():
        if "psm" in user:
            return _run_api(image, langs, int(user["psm"]), dpi)
        blocks = _run_api(image, langs, LINE_PSM if single_line(image) else PSM, dpi)
        if not blocks:
            blocks = _run_api(image, langs, FALLBACK_PSM, dpi)
        return blocks
    extra = " ".join(f"-c {shlex.quote(v)}" for v in user.get("c", []))
    with tempfile.TemporaryDirectory(prefix="ocrkit-tess-") as tmp:
        # Uncompressed PNM (PGM/PPM): Leptonica reads it directly, and it costs no zlib
        # work (a PNG of a colour A4 page took ~0.5 s to write).
        path = Path(tmp) / "page.pnm"
        image.save(path, format="PPM")
        if "psm" in user:  # the user's choice, no fallback
            return _run(path, langs, int(user["psm"]), dpi, extra)
        blocks = _run(path, langs, LINE_PSM if single_line(image) else PSM, dpi, extra)
        if not blocks:
            # PSM 3 finds no text block in a lone word or line with wide margins (the
            # corpus's 600x200 Arabic word); one uniform block (PSM 6) reads it.
            blocks = _run(path, langs, FALLBACK_PSM, dpi, extra)
    return blocks


def _small_text(blocks: list[Block], *, unsure: bool) -> bool:
    """Nothing read, words whose median height is under :data:`SMALL_TEXT_PX`, or (with
    ``unsure``, for tiny images) a reading too unsure to trust: 8-px text comes back as
    tall blobs of noise. Larger pages are often unsure for other reasons (typewriting,
    a poor scan) that a larger copy does not cure, at 4-9 times the cost."""
    words = [w for b in blocks for w in b.words if w.text.strip()]
    if not words:
        return True
    heights = sorted(w.bbox[3] - w.bbox[1] for w in words)
    chars = sum(len(w.text) for w in words)
    sure = sum(w.confidence * len(w.text) for w in words) / chars
    return heights[len(heights) // 2] < SMALL_TEXT_PX or (unsure and sure < UNSURE)


def _score(blocks: list[Block]) -> float:
    """Confident characters: how much a reading says, weighted by how sure it is."""
    return sum(b.confidence * len(b.text.strip()) for b in blocks)


def _scaled(block: Block, f: float, size: tuple[int, int]) -> Block:
    """``block``'s boxes times ``f``, kept inside an image of ``size``."""
    width, height = size

    def box(bb: list[float]) -> list[float]:
        x0, y0, x1, y1 = (round(v * f) for v in bb)
        xs = [min(max(x, 0), width) for x in (x0, x1)]
        ys = [min(max(y, 0), height) for y in (y0, y1)]
        return [xs[0], ys[0], xs[1], ys[1]]

    block.bbox = box(block.bbox) if block.bbox else block.bbox
    for w in block.words:
        w.bbox = box(w.bbox)
    return block


def single_line(image: Image.Image) -> bool:
    """An image at most 400 px high whose inked rows form one band, the ink 5 times as
    wide as that band is high (the ink's, not the image's: a made Korean line crop with
    wide margins, 843x240, was read by PSM 3 as four scraps, CER 0.92; PSM 7: 0.12)."""
    import numpy as np

    w, h = image.size
    if h > 400 or w < 2 * h:
        return False
    ink = np.asarray(image.convert("L")) < 128
    rows = ink.any(axis=1)
    bands = int(rows[0]) + int(np.count_nonzero(rows[1:] & ~rows[:-1]))
    if bands != 1:
        return False
    ys, xs = np.flatnonzero(rows), np.flatnonzero(ink.any(axis=0))
    return bool(xs[-1] - xs[0] + 1 >= 5 * (ys[-1] - ys[0] + 1))


def _run_api(image: Image.Image, langs: list[str], psm: int, dpi: int) -> list[Block]:
    """:func:`_run` in-process (tesserocr): same TSV, no image file, no process."""
    try:
        tsv = tesserocr_backend.recognize_tsv(image, langs, psm, dpi_hint(dpi))
    except RuntimeError as exc:
        raise EngineFailed(f"tesseract (tesserocr) failed: {exc}") from exc
    return tsv_to_blocks(tsv)


def _run(path: Path, langs: list[str], psm: int, dpi: int, extra: str = "") -> list[Block]:
    import pytesseract

    config = f"--psm {psm} --dpi {dpi_hint(dpi)} {extra}".strip()
    try:
        tsv = pytesseract.image_to_data(str(path), lang="+".join(langs), config=config)
    except pytesseract.TesseractNotFoundError as exc:
        raise EngineUnavailable("the tesseract program is not on PATH") from exc
    except pytesseract.TesseractError as exc:
        raise EngineFailed(f"tesseract failed: {exc.message or exc}") from exc
    return tsv_to_blocks(tsv)


def tsv_to_blocks(tsv: str) -> list[Block]:
    """Tesseract's TSV output -> one :class:`Block` per text line, in Tesseract's order.

    Parsed here rather than by pytesseract's dict output, which truncates confidences to
    integers and can shift columns when a row's text cell is missing."""
    rows = tsv.splitlines()
    if not rows:
        return []
    header = rows[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    lines: dict[tuple[int, int, int], list[Word]] = {}
    para_of: dict[tuple[int, int, int], int] = {}
    paragraphs: dict[tuple[int, int], int] = {}
    for row in rows[1:]:
        cells = row.split("\t", len(header) - 1)
        if len(cells) < len(header) or not cells[col["text"]].strip():
            continue
        conf = float(cells[col["conf"]])
        if conf < 0:
            continue
        key = (
            int(cells[col["block_num"]]),
            int(cells[col["par_num"]]),
            int(cells[col["line_num"]]),
        )
        x, y = int(cells[col["left"]]), int(cells[col["top"]])
        w, h = int(cells[col["width"]]), int(cells[col["height"]])
        word = Word(cells[col["text"]].strip(), [x, y, x + w, y + h], _unit(conf / 100))
        if key not in lines:
            lines[key] = []
            para_of[key] = paragraphs.setdefault(key[:2], len(paragraphs))
        lines[key].append(word)
    return [_block(words, para_of[key]) for key, words in lines.items()]


def _block(words: list[Word], paragraph: int) -> Block:
    x0, y0, x1, y1 = zip(*(w.bbox for w in words), strict=True)
    return Block(
        text=join_words([w.text for w in words]),
        bbox=[min(x0), min(y0), max(x1), max(y1)],
        confidence=_unit(sum(w.confidence for w in words) / len(words)),
        words=words,
        paragraph=paragraph,
    )


def _unspaced(ch: str) -> bool:
    """A character of a script written without spaces between words (CJK, Thai, ...)."""
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _UNSPACED)


def join_words(words: list[str]) -> str:
    """Words of a line joined as Tesseract's own text output does: with a space, except
    between two characters of scripts written without spaces (and punctuation next to
    them): TSV splits Chinese and Japanese lines into words that never had a space."""
    out = ""
    for word in words:
        if out:
            a, b = out[-1], word[0]
            glued = (_unspaced(a) or _punct(a)) and (_unspaced(b) or _punct(b))
            if not (glued and (_unspaced(a) or _unspaced(b))):
                out += " "
        out += word
    return out


def _punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def dpi_hint(dpi: int | None) -> int:
    """The ``--dpi`` to give Tesseract for an image said to be ``dpi``."""
    return int(dpi) if dpi and dpi >= TRUSTED_DPI else 300


def _unit(x: float) -> float:
    return round(min(max(x, 0.0), 1.0), 4)


@hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(TesseractEngine())
