"""Accuracy metrics of the benchmark: CER, WER and table cell accuracy.

Normalisation (applied to truth and hypothesis before CER/WER), the same as the test
suite's ``tests/conftest.py`` plus two corpus-specific folds:

1. Unicode NFKC;
2. typographic quotes to ASCII (’ ‘ -> ', “ ” -> "), em/en dashes to '-';
3. '¬' (the Kovalewsky transcription's line-end hyphen) to '-', and '^' (the
   superscript marker of the Poilus and Stanford transcriptions) removed;
4. all whitespace runs (line breaks and PDF page breaks included) to one space.

CER = character edit distance / truth length; WER = word edit distance / truth words
(jiwer). WER is meaningless for Chinese and Japanese (no spaces): read CER there.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

FOLDS = (
    ("’", "'"),
    ("‘", "'"),
    ("“", '"'),
    ("”", '"'),
    ("—", "-"),
    ("–", "-"),
    ("¬", "-"),
    ("^", ""),
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for a, b in FOLDS:
        text = text.replace(a, b)
    return " ".join(text.split())


def cer(truth: str, hyp: str) -> float:
    import jiwer

    t, h = normalise(truth), normalise(hyp)
    if not t:
        return float(bool(h))
    return float(jiwer.cer(t, h))


def wer(truth: str, hyp: str) -> float:
    import jiwer

    t, h = normalise(truth), normalise(hyp)
    if not t:
        return float(bool(h))
    if not h:
        return 1.0
    return float(jiwer.wer(t, h))


def read_grid(path: Path) -> list[list[str]]:
    """A dense cell grid from a corpus ``.gt.csv``."""
    return [list(row) for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8")))]


def cell_accuracy(truth: list[list[str]], got: list[list[str]]) -> float:
    """Share of the truth grid's positions whose normalised text equals the text at the
    same (row, col) of ``got`` (a missing row or column counts as wrong). Empty truth
    cells count too: a table that invents text where there is none loses points."""
    total = ok = 0
    for r, row in enumerate(truth):
        for c, want in enumerate(row):
            total += 1
            have = got[r][c] if r < len(got) and c < len(got[r]) else None
            if have is not None and normalise(have) == normalise(want):
                ok += 1
    return ok / total if total else 0.0
