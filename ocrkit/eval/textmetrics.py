"""The one text-accuracy metric of ocrkit: the test suite, ``python -m ocrkit.eval.autobench``
and ``make bench`` all call these functions, so a CER quoted anywhere is the same number.

Normalisation, in order:

1. Unicode NFKC;
2. typographic quotes to ASCII (’ ‘ -> ', “ ” -> "), em/en dashes to '-';
3. only with ``transcription_marks=True`` (the bench, on corpus truth): '¬' (the
   Kovalewsky transcription's line-end hyphen) to '-', and '^' (the superscript marker
   of the Poilus and Stanford transcriptions) removed;
4. all whitespace runs (line breaks and PDF page breaks included) to one space.

CER = character edit distance / truth length; WER = word edit distance / truth words
(both as jiwer computes them; rapidfuzz does the edit distance). WER is meaningless for
Chinese and Japanese (no spaces): read CER there.
"""

from __future__ import annotations

import unicodedata

TYPOGRAPHIC_FOLDS = (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("—", "-"), ("–", "-"))
TRANSCRIPTION_FOLDS = (("¬", "-"), ("^", ""))


def normalise(text: str, *, transcription_marks: bool = False) -> str:
    text = unicodedata.normalize("NFKC", text)
    folds = TYPOGRAPHIC_FOLDS + (TRANSCRIPTION_FOLDS if transcription_marks else ())
    for a, b in folds:
        text = text.replace(a, b)
    return " ".join(text.split())


def cer(truth: str, hyp: str, *, transcription_marks: bool = False) -> float:
    from rapidfuzz.distance import Levenshtein

    t = normalise(truth, transcription_marks=transcription_marks)
    h = normalise(hyp, transcription_marks=transcription_marks)
    if not t:
        return float(bool(h))
    return Levenshtein.distance(t, h) / len(t)


def wer(truth: str, hyp: str, *, transcription_marks: bool = False) -> float:
    from rapidfuzz.distance import Levenshtein

    t = normalise(truth, transcription_marks=transcription_marks).split()
    h = normalise(hyp, transcription_marks=transcription_marks).split()
    if not t:
        return float(bool(h))
    return Levenshtein.distance(t, h) / len(t)
