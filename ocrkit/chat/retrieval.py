"""Passages of a job and BM25 ranking over them (bm25s).

A page is cut into paragraphs (``Block.paragraph`` groups lines; without it, blank lines
in the page text), paragraphs into sentences, and sentences into passages of at most
:data:`PASSAGE_WORDS` words. A short heading-like paragraph is joined to the paragraph
after it, so "Future of Word Processing" helps find the text under it. Every sentence is
a whitespace-normalised substring of its page's text: a snippet quoted from it is really
on that page. Page numbers are 1-based, as in chat citations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import groupby

from ocrkit.chat.text import PREFIX, STOPWORDS, normalise, sentences, tokenize
from ocrkit.models import Job, Page

PASSAGE_WORDS = 80
HEADING_WORDS = 12


@dataclass
class Passage:
    page: int  # 1-based
    sentences: list[str]
    tokens: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _paragraphs(page: Page) -> list[str]:
    """The page's paragraphs, each a whitespace-normalised substring of its text."""
    page_text = normalise(page.text)
    if not page_text:
        return []
    blocks = [b for b in page.blocks if b.text.strip() and b.type != "furniture"]
    if blocks and any(b.paragraph is not None for b in blocks):
        paras = [
            normalise(" ".join(b.text for b in group))
            for _, group in groupby(blocks, key=lambda b: b.paragraph)
        ]
        if all(p in page_text for p in paras):
            return _rejoin([p for p in paras if p], page_text)
    import re

    paras = [normalise(p) for p in re.split(r"\n\s*\n", page.text)]
    return [p for p in paras if p]


def _rejoin(paras: list[str], page_text: str) -> list[str]:
    """Join a paragraph to the one before when that one stops mid-sentence and this one
    goes on in lower case (a list item's second line counted as a new paragraph)."""
    out: list[str] = []
    for p in paras:
        if (
            out
            and p[:1].islower()
            and not out[-1].endswith(_ENDS)
            and f"{out[-1]} {p}" in page_text
        ):
            out[-1] = f"{out[-1]} {p}"
        else:
            out.append(p)
    return out


_ENDS = (".", "!", "?", ":", ";", "。", "！", "？")


def _is_heading(para: str) -> bool:
    n = len(para.split())
    return n <= HEADING_WORDS and not para.rstrip().endswith((".", "!", "?", "。", "！", "？"))


def page_passages(page: Page, number: int) -> list[Passage]:
    out: list[Passage] = []
    carry: list[str] = []  # a heading waiting for its paragraph
    for para in _paragraphs(page):
        sents = sentences(para)
        if not sents:
            continue
        if _is_heading(para) and len(sents) == 1:
            carry.extend(sents)
            continue
        window: list[str] = list(carry)
        carry = []
        count = sum(len(s.split()) for s in window)
        for s in sents:
            n = len(s.split())
            if window and count + n > PASSAGE_WORDS and count > len(" ".join(window[:1]).split()):
                out.append(Passage(number, window))
                window = [window[-1]]  # one sentence of overlap keeps context
                count = len(window[0].split())
            window.append(s)
            count += n
        if window:
            out.append(Passage(number, window))
    if carry:
        out.append(Passage(number, carry))
    return out


def job_passages(job: Job) -> list[Passage]:
    out: list[Passage] = []
    for i, page in enumerate(sorted(job.pages, key=lambda p: p.index)):
        out.extend(page_passages(page, i + 1))
    for p in out:
        p.tokens = tokenize(p.text)
    return out


def query_units(text: str) -> list[tuple[str, ...]]:
    """What a question asks for, as units a passage can match: a word (or its prefix
    token) for spaced scripts, a character bigram (or single character) for CJK."""
    toks = tokenize(text, query=True)
    units: list[tuple[str, ...]] = []
    seen: set[str] = set()
    i = 0
    while i < len(toks):
        t = toks[i]
        if i + 1 < len(toks) and toks[i + 1] == t[:PREFIX] + "~" and len(t) >= PREFIX:
            unit: tuple[str, ...] = (t, toks[i + 1])
            i += 2
        else:
            unit = (t,)
            i += 1
        if unit[0] not in seen:
            seen.add(unit[0])
            units.append(unit)

    # CJK: bigrams carry the meaning, not single characters. Kana-only bigrams are mostly
    # particles and endings ("こと", "する"), question words ("什么") ask rather than say
    # what about, and particles (的, 了, ...) glue junk bigrams ("布了"): all left out.
    # Single characters only count when no bigram is left.
    def cjk(u: tuple[str, ...]) -> bool:
        return all(_cjk(c) for c in u[0])

    def weak(u: tuple[str, ...]) -> bool:
        return u[0] in STOPWORDS or any(_hiragana(c) or c in _CJK_STOP for c in u[0])

    bigrams = [u for u in units if cjk(u) and len(u[0]) == 2 and not weak(u)]
    singles = [u for u in units if cjk(u) and len(u[0]) == 1]
    keep = set(bigrams) or set([u for u in singles if not weak(u)] or singles)
    return [u for u in units if not cjk(u) or u in keep]


_CJK_STOP = frozenset("的了吗呢么什哪谁是在和与及也都就而")


def _hiragana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u309f"


def _cjk(ch: str) -> bool:
    from ocrkit.chat.text import _no_space_script

    return _no_space_script(ch)


class Index:
    """BM25 over a job's passages, plus IDF-weighted coverage of the question."""

    def __init__(self, passages: list[Passage]) -> None:
        import bm25s

        self.passages = passages
        self.n = len(passages)
        self.sets = [set(p.tokens) for p in passages]
        df: dict[str, int] = {}
        for s in self.sets:
            for t in s:
                df[t] = df.get(t, 0) + 1
        self.df = df
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75) if passages else None
        if self.bm25 is not None:
            self.bm25.index([p.tokens or ["\u2205"] for p in passages], show_progress=False)

    def idf(self, token: str) -> float:
        d = self.df.get(token, 0)
        return math.log(1 + (self.n - d + 0.5) / (d + 0.5))

    def scores(self, tokens: list[str]) -> list[float]:
        if self.bm25 is None or not tokens:
            return [0.0] * self.n
        known = sorted({t for t in tokens if t in self.df})
        if not known:
            return [0.0] * self.n
        return [float(x) for x in self.bm25.get_scores(known)]

    def coverage(
        self, units: list[tuple[str, ...]], weights: list[float], tokens: set[str]
    ) -> float:
        """The IDF-weighted share of the question's units found in ``tokens`` (a prefix
        match counts 0.7)."""
        total = got = 0.0
        for unit, w in zip(units, weights, strict=True):
            weight = w * self.idf(unit[0])
            total += weight
            if unit[0] in tokens:
                got += weight
            elif len(unit) > 1 and unit[1] in tokens:
                got += 0.7 * weight
        return got / total if total else 0.0


@dataclass
class Hit:
    passage: Passage
    score: float  # BM25, question + half the previous question
    coverage: float  # 0..1


def search(
    index: Index, question: str, previous: str | None = None, k: int = 5
) -> tuple[list[Hit], list[tuple[str, ...]], list[float]]:
    """The ``k`` best passages for the question (a follow-up also uses the previous
    question at half weight), with the units and weights used for coverage."""
    units = query_units(question)
    if previous and all(u[0] in STOPWORDS for u in units):
        units = []  # "And when?": only the previous question says what about
    weights = [1.0] * len(units)
    q_tokens = [t for u in units for t in u]
    scores = index.scores(q_tokens)
    if previous:
        prev_units = [u for u in query_units(previous) if u[0] not in {x[0] for x in units}]
        units += prev_units
        weights += [0.5] * len(prev_units)
        prev = index.scores([t for u in prev_units for t in u])
        scores = [a + 0.5 * b for a, b in zip(scores, prev, strict=True)]
    if not index.n:
        return [], units, weights
    # Every passage's coverage, not only BM25's best: a passage holding all the rare
    # terms of the question must be found even when common words of the question make
    # longer passages score higher. A passage and the next one on its page also count
    # as one (a sentence cut at a passage boundary).
    covs = [index.coverage(units, weights, st) for st in index.sets]
    top = max(scores) or 1.0
    cands: list[tuple[float, Passage, float, float]] = []
    for i in range(index.n):
        if scores[i] <= 0:
            continue
        passage, cov, score = index.passages[i], covs[i], scores[i]
        j = i + 1
        if j < index.n and index.passages[j].page == passage.page and scores[j] > 0:
            both = index.coverage(units, weights, index.sets[i] | index.sets[j])
            if both >= max(cov, covs[j]) + WINDOW_GAIN:
                passage, cov, score = (
                    _joined(passage, index.passages[j]),
                    both,
                    scores[i] + scores[j],
                )
        cands.append((score / top + COVERAGE_RANK * cov, passage, score, cov))
    cands.sort(key=lambda c: -c[0])
    hits = [Hit(p, sc, cov) for _, p, sc, cov in cands[:k]]
    return hits, units, weights


# Ranking: BM25 (scaled to the best passage's) plus this times the coverage.
COVERAGE_RANK = 1.0
# Two neighbouring passages are one hit when together they cover this much more.
WINDOW_GAIN = 0.2


def _joined(a: Passage, b: Passage) -> Passage:
    """Two neighbouring passages of a page as one (their shared sentence once)."""
    rest = b.sentences[1:] if b.sentences[:1] == a.sentences[-1:] else b.sentences
    return Passage(a.page, a.sentences + rest, a.tokens + b.tokens)


__all__ = ["Hit", "Index", "Passage", "job_passages", "query_units", "search"]
