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
