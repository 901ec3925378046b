"""Give a vision model's lines real boxes: align them with the words a cpu engine found.

A vlm answers text without coordinates. :func:`align_lines` matches the model's lines
to the cpu engine's words (Tesseract's, with boxes) on the same page:

1. Both sides are tokenised (NFKC, casefolded, punctuation and Markdown marks dropped).
2. Token similarity is rapidfuzz's normalised Indel ratio; pairs under ``min_token``
   (0.6) cannot match.
3. A monotonic alignment (the maximum-weight common subsequence, weight = similarity x
   token length, computed row by row with numpy) pairs model tokens with cpu words in
   reading order, so a word that occurs on several lines goes to the right one.
4. A line is aligned when its matched tokens cover at least ``min_line`` (0.5) of its
   characters (weighted by similarity). Its box is the union of its matched words' boxes,
   restricted to the cpu line holding most of the matched weight and its neighbours
   (a stray match far away does not stretch the box). Otherwise the line gets no box.

The line's ``score`` (0..1, the weighted coverage) is the confidence the vlm engine uses
when the server gives no token log-probabilities.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ocrkit.models import BBox, Block

MIN_TOKEN = 0.6
MIN_LINE = 0.5

_STRIP = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Comparable tokens of ``text``: NFKC, casefolded, outer punctuation stripped."""
    out = []
    for raw in unicodedata.normalize("NFKC", text).casefold().split():
        t = _STRIP.sub("", raw)
        if t:
            out.append(t)
    return out


@dataclass
class CpuWord:
    token: str
    bbox: BBox
    line: int  # index of the cpu line (block) holding the word


@dataclass
class LineMatch:
    bbox: BBox | None
    score: float
    words: list[CpuWord] = field(default_factory=list)


def cpu_words(blocks: list[Block]) -> list[CpuWord]:
    """The cpu engine's words in reading order, one :class:`CpuWord` per token."""
    out: list[CpuWord] = []
    for li, b in enumerate(blocks):
        words = b.words
        if not words and b.bbox is not None:
            for t in tokens(b.text):
                out.append(CpuWord(t, list(b.bbox), li))
            continue
        for w in words:
            for t in tokens(w.text):
                out.append(CpuWord(t, list(w.bbox), li))
    return out


def align_lines(
    lines: list[str],
    words: list[CpuWord],
    *,
    min_token: float = MIN_TOKEN,
    min_line: float = MIN_LINE,
) -> list[LineMatch]:
    """One :class:`LineMatch` per line of ``lines`` (see the module docstring)."""
    line_toks = [tokens(line) for line in lines]
    results = [LineMatch(None, 0.0) for _ in lines]
    if not words:
        return results
    active = [i for i, toks in enumerate(line_toks) if toks]
    # Two passes: a line that ends up unaligned may have taken a word a real line needs
    # (a "the"), so the second pass aligns without the lines the first one rejected.
    for _ in range(2):
        taken = _match([line_toks[i] for i in active], words, min_token)
        rejected = []
        for k, li in enumerate(active):
            results[li] = _line_match(line_toks[li], taken[k], words, min_line)
            if results[li].bbox is None:
                rejected.append(li)
        if not rejected:
            break
        active = [li for li in active if li not in rejected]
    return results


def _match(
    line_toks: list[list[str]], words: list[CpuWord], min_token: float
) -> list[list[tuple[CpuWord, float]]]:
    """Per line, the cpu words its tokens took and their weights (similarity x length)."""
    import numpy as np
    from rapidfuzz import fuzz, process

    flat = [t for toks in line_toks for t in toks]
    out: list[list[tuple[CpuWord, float]]] = [[] for _ in line_toks]
    if not flat:
        return out
    sim = process.cdist(flat, [w.token for w in words], scorer=fuzz.ratio, dtype=np.float32)
    sim = sim / 100.0
    sim[sim < min_token] = 0.0
    weight = sim * np.array([len(t) for t in flat], dtype=np.float32)[:, None]
    n, m = weight.shape
    dp = np.zeros((n + 1, m + 1), dtype=np.float32)
    for i in range(1, n + 1):
        prev = dp[i - 1]
        cand = np.maximum(prev[1:], prev[:-1] + weight[i - 1])
        dp[i, 1:] = np.maximum.accumulate(cand)
    taken: dict[int, int] = {}
    i, j = n, m
    while i > 0 and j > 0:
        if dp[i, j] == dp[i - 1, j]:
            i -= 1
        elif dp[i, j] == dp[i, j - 1]:
            j -= 1
        else:
            taken[i - 1] = j - 1
            i, j = i - 1, j - 1
    pos = 0
    for li, toks in enumerate(line_toks):
        for k in range(pos, pos + len(toks)):
            if k in taken:
                out[li].append((words[taken[k]], float(weight[k, taken[k]])))
        pos += len(toks)
    return out


def _line_match(
    toks: list[str], got: list[tuple[CpuWord, float]], words: list[CpuWord], min_line: float
) -> LineMatch:
    total = sum(len(t) for t in toks)
    score = sum(g for _, g in got) / total if total else 0.0
    if not got or score < min_line:
        return LineMatch(None, round(score, 4))
    # Keep the cpu line with most matched weight and its direct neighbours.
    by_line: dict[int, float] = {}
    for w, g in got:
        by_line[w.line] = by_line.get(w.line, 0.0) + g
    core = max(by_line, key=lambda k: by_line[k])
    kept = [w for w, _ in got if abs(w.line - core) <= 1]
    kept_score = sum(g for w, g in got if abs(w.line - core) <= 1) / total
    if kept_score < min_line:
        return LineMatch(None, round(score, 4))
    box = [
        min(w.bbox[0] for w in kept),
        min(w.bbox[1] for w in kept),
        max(w.bbox[2] for w in kept),
        max(w.bbox[3] for w in kept),
    ]
    return LineMatch(box, round(min(1.0, kept_score), 4), kept)


def iou(a: BBox, b: BBox) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
