"""Calling an engine on a page image, and judging what it read: the primitives that
:mod:`ocrkit.page.read` (the cpu reading strategy) and :mod:`ocrkit.page.autolang`
(language=auto's model choice) share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocrkit.errors import EngineFailed, OcrkitError, storage_error
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.lang import codes as languages
from ocrkit.lang import detect as langdetect

if TYPE_CHECKING:
    from PIL import Image


GOOD_CONFIDENCE = 0.6
# Words standing upright (taller than wide, 3+ characters) above this share: the page is
# turned by a quarter even when the engine read it.
VERTICAL_SHARE = 0.5
# OSD's turn is taken from this orientation confidence on.
OSD_MIN_CONFIDENCE = 1.5
# A re-read for language is kept unless it is less confident than this below the first.
RERUN_SLACK = 0.05
# Trying every installed script's model is done only for images up to this many pixels.
TRIAL_MAX_PIXELS = 4_000_000


@dataclass
class Reading:
    """The outcome of :func:`read_page`."""

    result: PageResult
    image: Image.Image  # the upright image the boxes refer to
    turn: int = 0  # clockwise quarter turns applied (degrees)
    deskew: float = 0.0  # clockwise degrees applied after the turn
    languages: list[str] = field(default_factory=list)  # the models of the final pass
    detected: list[str] = field(default_factory=list)  # ISO codes, most likely first
    blank: bool = False
    passes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quality:
    confidence: float  # length-weighted mean word confidence (0 without words)
    letters: int
    vertical: float

    def suspect(self, good: float = GOOD_CONFIDENCE) -> bool:
        return self.confidence < good or self.vertical > VERTICAL_SHARE or not self.letters


def assess(result: PageResult) -> Quality:
    total = weighted = 0.0
    letters = tall = counted = 0
    for block in result.blocks:
        words = block.words or [block]
        for w in words:
            n = len(w.text.strip())
            total += n
            weighted += n * w.confidence
            letters += sum(ch.isalnum() for ch in w.text)
            if n >= 3 and w.bbox is not None:
                counted += 1
                x0, y0, x1, y1 = w.bbox
                tall += (y1 - y0) > (x1 - x0)
    return Quality(weighted / total if total else 0.0, letters, tall / counted if counted else 0.0)


def call_engine(
    engine: Engine,
    image: Image.Image,
    langs: list[str],
    dpi: int,
    options: dict[str, Any],
    *,
    where: str = "",
) -> PageResult:
    """``engine.recognize`` with the job's options for engines that take them; anything
    but an OcrkitError becomes a full-disk error or EngineFailed (``where`` is added to
    its message, e.g. " on page 3")."""
    try:
        if getattr(engine, "accepts_options", False):
            return engine.recognize(  # type: ignore[call-arg]
                image, languages=list(langs), dpi=dpi, options=options
            )
        return engine.recognize(image, languages=list(langs), dpi=dpi)
    except OcrkitError:
        raise
    except Exception as exc:
        clear = storage_error(exc)  # a full disk while writing the engine's temp file
        if clear is not None:
            raise clear from exc
        raise EngineFailed(
            f"engine {engine.name!r} failed{where}: {type(exc).__name__}: {exc}"
        ) from exc


def _lines(result: PageResult) -> list[str]:
    return [b.text for b in result.blocks if b.text.strip()]


def detect_languages(lines: list[str]) -> list[tuple[str, float]]:
    """(ISO code, share) of the text's languages (see :mod:`ocrkit.lang.detect`)."""
    return langdetect.detect(lines)


def tess_codes(iso_codes: list[str]) -> list[str]:
    out: list[str] = []
    for code in iso_codes:
        try:
            tess = languages.resolve(code)[0]
        except OcrkitError:
            continue
        if tess not in out:
            out.append(tess)
    return out
