"""The in-process Tesseract's words come from one walk over its result iterator
(:func:`tesserocr_backend.word_rows`), not from ``GetTSVText``, whose per-word questions
re-walk the page from its start (issue 14: 0.10 of 1.36 CPU s per bench page). The
words, boxes, confidences and block/paragraph/line numbers must be ``GetTSVText``'s."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocrkit_plugins.engines.tesseract import tesserocr_backend, tsv_to_blocks
from PIL import Image

from ocrkit.page import inputs
from ocrkit.page.inputs import load_image_page

pytestmark = pytest.mark.skipif(
    tesserocr_backend._module() is None, reason="tesserocr not installed"
)


def _tesseract_tsv(image: Image.Image, lang: str) -> str:
    """``GetTSVText`` of a fresh API object (what the CLI's tsv output prints)."""
    tess = tesserocr_backend._module()
    with tess.PyTessBaseAPI(path=tesserocr_backend.tessdata_dir(), lang=lang) as api:
        api.SetVariable("user_defined_dpi", "300")
        api.SetImage(image)
        api.SetSourceResolution(300)
        api.Recognize()
        return tesserocr_backend.TSV_HEADER + api.GetTSVText(0)


def _rows(tsv: str, level: str) -> list[str]:
    return [r for r in tsv.splitlines()[1:] if r.split("\t", 1)[0] == level]


@pytest.mark.parametrize(
    ("sample", "lang"),
    [
        ("printed/tess_phototest.tif", "eng"),  # several blocks and paragraphs
        ("nonlatin/udhr_ru_corp_page.jpg", "rus"),
        ("nonlatin/udhr_ja_corp_page.jpg", "jpn"),
    ],
)
def test_word_rows_are_tesseracts_tsv_words(corpus: Path, sample: str, lang: str) -> None:
    image = load_image_page(corpus / sample, 0, inputs.Limits()).image
    want = _tesseract_tsv(image, lang)
    got = tesserocr_backend.recognize_tsv(image, [lang], 3, 300)
    words = _rows(want, "5")
    assert len(words) > 20
    assert len({tuple(r.split("\t")[2:4]) for r in words}) > 1  # blocks/paragraphs vary
    assert _rows(got, "5") == words  # numbers, boxes, confidences and text
    # only the word rows: the page/block/paragraph/line rows were GetTSVText's questions
    assert [r.split("\t", 1)[0] for r in got.splitlines()[1:]] == ["5"] * len(words)


def test_right_to_left_pages_keep_tesseracts_tsv(corpus: Path) -> None:
    # Arabic words read one at a time carry bidi marks GetTSVText's text leaves out:
    # those pages keep GetTSVText.
    assert not tesserocr_backend.left_to_right(["ara"])
    assert not tesserocr_backend.left_to_right(["eng", "heb"])
    assert tesserocr_backend.left_to_right(["eng", "chi_sim"])
    image = load_image_page(corpus / "nonlatin" / "udhr_ar_corp_page.jpg", 0, inputs.Limits()).image
    got = tesserocr_backend.recognize_tsv(image, ["ara"], 3, 300)
    assert got == _tesseract_tsv(image, "ara")
    assert [w.text for b in tsv_to_blocks(got) for w in b.words]
