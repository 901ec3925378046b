"""``language=auto`` names a page's language from strips at its top before reading the
rest (issue 14: ``auto`` within 1.05x of ``eng`` on CPU): a French page is read whole
once with ``fra`` after a few lines with ``eng``, not once with each; an English page
is read once in all (its strips), as with ``eng``. Real Tesseract on corpus pages; what
is counted is the pixels each model was given, not time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from ocrkit.page import read
from ocrkit.plugins import get_engine


class Counting:
    """The real tesseract engine, noting the models and pixels of every call."""

    def __init__(self) -> None:
        engine = get_engine("tesseract")
        assert engine is not None and engine.availability()[0]
        self.engine = engine
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def recognize(self, image: Image.Image, **kw: Any) -> Any:
        self.calls.append(("+".join(kw["languages"]), image.width * image.height))
        return self.engine.recognize(image, **kw)

    def pixels(self, model: str) -> int:
        return sum(n for m, n in self.calls if m == model)


def _page(corpus: Path, name: str) -> Image.Image:
    im = Image.open(corpus / "printed" / name)
    im.load()
    return im if im.mode in ("L", "RGB") else im.convert("RGB")


def test_french_page_is_read_whole_once_with_fra(corpus: Path) -> None:
    image = _page(corpus, "kovalewsky_fr_p70.jpg")
    engine = Counting()
    reading = read.read_page(engine, image, dpi=300, languages_=["eng"], auto=True)
    page = image.width * image.height
    assert reading.languages == ["fra"], engine.calls
    assert engine.pixels("fra") == page, engine.calls  # the whole page, once
    # eng read only the strips that named the language, not the page (before: all of it)
    assert engine.pixels("eng") < 0.5 * page, engine.calls
    assert "fr" in reading.detected


def test_english_page_costs_one_read(corpus: Path) -> None:
    image = _page(corpus, "fondue_en_dracula_p52.png")
    engine = Counting()
    reading = read.read_page(engine, image, dpi=300, languages_=["eng"], auto=True)
    page = image.width * image.height
    assert reading.languages == ["eng"]
    assert len(engine.calls) >= 2, "the page was not read in strips"  # the probe ran
    # the strips cover the page once (plus their white margins): no second reading
    assert {m for m, _ in engine.calls} == {"eng"}
    assert engine.pixels("eng") <= 1.05 * page, engine.calls
    text = "\n".join(b.text for b in reading.result.blocks)
    assert "My dearest Mina" in text


def test_sure_language_named_from_the_first_strip(corpus: Path) -> None:
    # The Kovalewsky page's first strip (a running head and two lines) holds fewer than
    # PROBE_LETTERS letters, but fastText is sure they are French: the page is read with
    # fra after that one eng strip (before: a second eng strip first), ocr_passes 2.
    image = _page(corpus, "kovalewsky_fr_p70.jpg")
    engine = Counting()
    reading = read.read_page(engine, image, dpi=300, languages_=["eng"], auto=True)
    assert reading.languages == ["fra"], engine.calls
    assert [m for m, _ in engine.calls] == ["eng", "fra"], engine.calls
    assert reading.passes == 2
    assert reading.extra["models_tried"] == ["eng", "fra"]
