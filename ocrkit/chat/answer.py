"""Answers grounded in a job's text, with page citations that are checked.

Offline (the default): the best matching sentences of the best passages, quoted
verbatim, each cited with its page. When the question's words are not found in the
document (IDF-weighted coverage under :data:`MIN_COVERAGE`), the answer is
:data:`NO_ANSWER` with no citation: nothing is invented.

With a model (``OCRKIT_LLM_*``, else the vlm settings): the model sees the retrieved
passages only, the conversation so far, and is asked for JSON with quotes per page.
Every citation is then verified against the job's text: a quote must occur on the page
it names (after whitespace normalisation); one found on another page is moved there; one
that paraphrases a retrieved sentence closely is replaced by that sentence; anything else
is dropped. An answer left with no citation is marked ``grounded: false``.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocrkit.chat.retrieval import Hit, Index, Passage, job_passages, search
from ocrkit.chat.text import normalise, tokenize
from ocrkit.models import Job

if TYPE_CHECKING:
    from ocrkit.llm import ModelClient

log = logging.getLogger("ocrkit.chat")

NO_ANSWER = "The document does not answer this."
# Share of the question's (IDF-weighted) words that the best passage must contain.
MIN_COVERAGE = 0.5
# Model path: passages sent, and the least coverage worth asking a model about.
MODEL_PASSAGES = 6
MODEL_MIN_COVERAGE = 0.25
MAX_SENTENCES = 3


@dataclass
class Citation:
    page: int
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.page, "snippet": self.snippet}


@dataclass
class Answer:
    content: str
    citations: list[Citation] = field(default_factory=list)
    answered: bool = True
    grounded: bool = True
    mode: str = "extractive"  # or "model"
    warnings: list[str] = field(default_factory=list)

    def message(self) -> dict[str, Any]:
        """The assistant message as the API returns it."""
        msg: dict[str, Any] = {
            "role": "assistant",
            "content": self.content,
            "citations": [c.to_dict() for c in self.citations],
            "grounded": self.grounded,
            "answered": self.answered,
            "mode": self.mode,
        }
        if self.warnings:
            msg["warnings"] = list(self.warnings)
        return msg


def no_answer(mode: str = "extractive", warnings: list[str] | None = None) -> Answer:
    return Answer(NO_ANSWER, [], answered=False, grounded=True, mode=mode, warnings=warnings or [])


class DocumentIndex:
    """A done job's passages and BM25 index, built once and asked many times."""

    def __init__(self, job: Job) -> None:
        self.passages: list[Passage] = job_passages(job)
        self.index = Index(self.passages)
        pages = sorted(job.pages, key=lambda p: p.index)
        self.page_texts = {i + 1: normalise(p.text) for i, p in enumerate(pages)}

    # -- retrieval ------------------------------------------------------------------
    def search(self, question: str, previous: str | None = None, k: int = 5) -> list[Hit]:
        return search(self.index, question, previous, k)[0]

    def _sentence_rank(
        self, hits: list[Hit], units: list[tuple[str, ...]], weights: list[float]
    ) -> list[tuple[float, int, str, set[str]]]:
        """(score, page, sentence, its tokens) of the best passages' sentences, best first."""
        top = max(h.score for h in hits)
        ranked: dict[tuple[int, str], tuple[float, set[str]]] = {}
        for rank, hit in enumerate(hits[:3]):
            for s in hit.passage.sentences:
                toks = set(tokenize(s))
                cov = self.index.coverage(units, weights, toks)
                score = cov + 0.3 * hit.score / top + 0.2 * hit.coverage - 0.05 * rank
                if len(s.split()) < 5:  # a heading or a fragment usually says little
                    score -= 0.2
                key = (hit.passage.page, s)
                if key not in ranked or score > ranked[key][0]:
                    ranked[key] = (score, toks)
        out = [(v[0], k[0], k[1], v[1]) for k, v in ranked.items()]
        return sorted(out, key=lambda x: -x[0])

    # -- offline answer -------------------------------------------------------------
    def extractive(self, question: str, previous: str | None = None) -> Answer:
        hits, units, weights = search(self.index, question, previous)
        if not hits or max(h.coverage for h in hits) < MIN_COVERAGE:
            return no_answer()
        ranked = self._sentence_rank(hits, units, weights)
        best = ranked[0]
        chosen = [best]
        covered = set(best[3])
        base = self.index.coverage(units, weights, covered)
        # More sentences only when they answer more of the question ("the total and the
        # due date" may sit on two lines), or are nearly as good as the best one.
        for cand in ranked[1:]:
            if len(chosen) >= MAX_SENTENCES or cand[0] < 0.5 * best[0]:
                break
            gain = self.index.coverage(units, weights, covered | cand[3]) - base
            if gain >= 0.15 or (cand[0] >= 0.85 * best[0] and cand[1] == best[1]):
                chosen.append(cand)
                covered |= cand[3]
                base += max(0.0, gain)
        # in reading order
        order = {s: i for i, s in enumerate(p for h in hits for p in h.passage.sentences)}
        chosen.sort(key=lambda c: (c[1], order.get(c[2], 0)))
        cites = [Citation(page, s) for _, page, s, _ in chosen]
        pages = sorted({c.page for c in cites})
        where = ", ".join(f"p. {p}" for p in pages)
        content = ""
        for c in cites:  # lines without a full stop (a form, an invoice) get a separator
            if content:
                content += " " if content.endswith((".", "!", "?", "。", "！", "？")) else "; "
            content += c.snippet
        return Answer(f"{content} ({where})", cites)

    # -- model answer ---------------------------------------------------------------
    def with_model(
        self,
        client: ModelClient,
        question: str,
        history: Sequence[dict[str, Any]] = (),
        previous: str | None = None,
    ) -> Answer:
        hits, _, _ = search(self.index, question, previous, k=MODEL_PASSAGES)
        hits = [h for h in hits if h.coverage >= MODEL_MIN_COVERAGE] or hits[:1]
        if not hits or max(h.coverage for h in hits) < MODEL_MIN_COVERAGE:
            return no_answer("model")
        completion = client.complete(build_messages(hits, question, history), temperature=0.0)
        answer_text, raw_cites = parse_model_answer(completion.text)
        if answer_text is None:
            return no_answer("model")
        cites = self.verify(raw_cites, hits)
        if not cites:
            return Answer(
                answer_text,
                [],
                grounded=False,
                mode="model",
                warnings=["no citation of the answer could be found in the document"],
            )
        return Answer(answer_text, cites, mode="model")

    # -- citation checks ------------------------------------------------------------
    def verify(self, raw: list[tuple[int | None, str]], hits: list[Hit]) -> list[Citation]:
        """Keep citations whose snippet is on their page; correct or drop the others."""
        out: list[Citation] = []
        for page, quote in raw:
            c = self._verify_one(page, quote, hits)
            if c is not None and all((c.page, c.snippet) != (o.page, o.snippet) for o in out):
                out.append(c)
        return out

    def _verify_one(self, page: int | None, quote: str, hits: list[Hit]) -> Citation | None:
        q = normalise(quote).strip(" \"'“”‘’«»").removesuffix("...").removesuffix("…")
        q = q.removeprefix("...").removeprefix("…").strip()
        if not q:
            # A bare page marker: the passage that page contributed, if it was retrieved.
            for h in hits:
                if h.passage.page == page:
                    return Citation(page, max(h.passage.sentences, key=len))
            return None
        if page in self.page_texts and q in self.page_texts[page]:
            return Citation(page, q)
        folded = q.casefold()
        if page in self.page_texts:
            text = self.page_texts[page]
            at = text.casefold().find(folded)
            if at >= 0 and len(text.casefold()) == len(text):
                return Citation(page, text[at : at + len(q)])
        # On another page: the page it came from.
        for p, text in self.page_texts.items():
            if q in text:
                return Citation(p, q)
        # A close paraphrase of one retrieved sentence: that sentence.
        q_tokens = set(tokenize(q))
        if len(q.split()) < 4 and len(q) < 12:
            return None
        best: tuple[float, Passage | None, str] = (0.0, None, "")
        for h in hits:
            for s in h.passage.sentences:
                s_tokens = set(tokenize(s))
                overlap = len(q_tokens & s_tokens) / max(1, len(q_tokens))
                ratio = difflib.SequenceMatcher(None, q.casefold(), s.casefold()).ratio()
                score = min(overlap, ratio + 0.1)
                if score > best[0]:
                    best = (score, h.passage, s)
        if best[1] is not None and best[0] >= 0.8:
            return Citation(best[1].page, best[2])
        return None


# -- prompt and parsing ------------------------------------------------------------------

SYSTEM_PROMPT = (
    "You answer questions about one document. Use ONLY the numbered passages given with "
    "the question; never use outside knowledge. Each passage starts with its page, like "
    "[p3]. Reply with one JSON object and nothing else: "
    '{"answer": "<the answer, citing pages as [p3]>", '
    '"citations": [{"page": 3, "quote": "<words copied exactly from that passage>"}]}. '
    "Every quote must be copied character for character from a passage of that page. "
    'If the passages do not contain the answer, reply {"answer": null, "citations": []}. '
    "Answer in the language of the question."
)


def build_messages(
    hits: list[Hit], question: str, history: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    passages = "\n\n".join(f"[p{h.passage.page}] {h.passage.text}" for h in hits)
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM_PROMPT}]
    for turn in history[-8:]:  # the conversation so far, oldest first
        if turn.get("role") in ("user", "assistant") and turn.get("content"):
            messages.append({"role": turn["role"], "content": str(turn["content"])})
    messages.append({"role": "user", "content": f"Passages:\n\n{passages}\n\nQuestion: {question}"})
    return messages


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
_MARKER = re.compile(r"\[\s*p(?:age)?\.?\s*(\d+)\s*\]", re.IGNORECASE)


def _first_json_object(text: str) -> Any:
    text = _FENCE.sub("", text.strip())
    start = text.find("{")
    while start >= 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            return obj
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None


def parse_model_answer(text: str) -> tuple[str | None, list[tuple[int | None, str]]]:
    """(answer or None for "not in the document", [(page, quote)]).

    JSON as asked; otherwise free text whose ``[pN]`` markers become page citations
    (verified later like any other)."""
    obj = _first_json_object(text)
    if isinstance(obj, dict) and "answer" in obj:
        answer = obj.get("answer")
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            return None, []
        cites: list[tuple[int | None, str]] = []
        for c in obj.get("citations") or []:
            if not isinstance(c, dict):
                continue
            page = c.get("page")
            try:
                page = int(page) if page is not None else None
            except (TypeError, ValueError):
                page = None
            quote = c.get("quote", c.get("snippet", ""))
            cites.append((page, str(quote or "")))
        answer = str(answer).strip()
        if not cites:  # no quotes given: the [pN] markers of the answer are its citations
            cites = [(int(m[1]), "") for m in _MARKER.finditer(answer)]
        return answer, cites
    plain = text.strip()
    if not plain:
        return None, []
    return plain, [(int(m[1]), "") for m in _MARKER.finditer(plain)]
