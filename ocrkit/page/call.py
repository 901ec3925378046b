"""Calling an engine on a page image, and judging what it read: the primitives that
:mod:`ocrkit.page.read` (the cpu reading strategy) and :mod:`ocrkit.page.autolang`
(language=auto's model choice) share."""

from __future__ import annotations

from collections.abc import Callable
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


class PageImage:
    """A page image handed down to :func:`~ocrkit.page.read.read_page` by callers that
    keep no other reference to it, with a way to load it again (the same pixels).

    ``read_page`` deskews the page into a copy and reads that; the page as loaded is
    needed again only when OSD turns the page (the turn starts from it) or when a second
    engine reads the page (:func:`ocrkit.pipeline.engine_choice.read`). So it drops the
    page as loaded once it has the deskewed copy, and :meth:`get` loads it again in
    those cases: one page image beside Tesseract's during recognition instead of two
    (8.7 MB for a grey A4 page at 300 dpi, at each page worker's peak)."""

    def __init__(self, image: Image.Image, load: Callable[[], Image.Image]) -> None:
        self._image: Image.Image | None = image
        self._load = load
        self.loads = 0  # times the page was loaded again

    def get(self) -> Image.Image:
        if self._image is None:
            self._image = self._load()
            self.loads += 1
        return self._image

    def drop(self) -> None:
        """Forget the page image (the next :meth:`get` loads it again)."""
        self._image = None

    @property
    def held(self) -> bool:
        return self._image is not None


def page_image(image: Image.Image | PageImage) -> Image.Image:
    """The image itself, from a :class:`PageImage` or as given."""
    return image.get() if isinstance(image, PageImage) else image


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
