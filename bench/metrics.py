"""Accuracy metrics of the benchmark: CER, WER and table cell accuracy.

CER and WER are ``ocrkit.eval.textmetrics``'s (the test suite's metric), with its
``transcription_marks`` folds on: corpus truth marks line-end hyphens with '¬' and
superscripts with '^'.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ocrkit.eval import textmetrics


def normalise(text: str) -> str:
    return textmetrics.normalise(text, transcription_marks=True)


def cer(truth: str, hyp: str) -> float:
    return textmetrics.cer(truth, hyp, transcription_marks=True)


def wer(truth: str, hyp: str) -> float:
    return textmetrics.wer(truth, hyp, transcription_marks=True)


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


# ------------------------------------------------------------------------ tables

_FOLD = {"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "−": "-", "‐": "-"}


def cell_norm(text: str) -> str:
    """A cell's text for comparison: NFKC, typographic quotes and dashes folded to ASCII,
    all whitespace removed (OCR's spacing inside ``95 % CI`` is not table structure).
    The same folds as tests/table_eval.py."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text)
    for a, b in _FOLD.items():
        text = text.replace(a, b)
    return "".join(text.split())


def cell_text_f1(truth: list[list[str]], got: list[list[str]]) -> float:
    """F1 of the multiset of normalised non-empty cell texts of ``got`` against the
    truth grid's (position is ignored: a cell read right but put one column off still
    counts; a table merged with its neighbour loses precision)."""
    from collections import Counter

    t = Counter(k for row in truth for c in row if (k := cell_norm(c)))
    g = Counter(k for row in got for c in row if (k := cell_norm(c)))
    if not t and not g:
        return 1.0
    hit = sum((t & g).values())
    if not hit:
        return 0.0
    p, r = hit / sum(g.values()), hit / sum(t.values())
    return 2 * p * r / (p + r)


def best_table(truth: list[list[str]], grids: list[list[list[str]]]) -> tuple[float, float]:
    """(cell-text F1, cell accuracy) of the predicted grid that matches ``truth`` best by
    F1 (0, 0 when no table was found)."""
    if not grids:
        return 0.0, 0.0
    best = max(grids, key=lambda g: cell_text_f1(truth, g))
    return cell_text_f1(truth, best), cell_accuracy(truth, best)
