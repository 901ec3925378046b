"""Chat recall in extractive mode (no model server): a question set made from documents
with known text, split by document into a tuning half and a test half.

Documents (:data:`DOCUMENTS`): born-digital PDFs rendered here with pymupdf from corpus
truth texts (one truth file per page; English, German, French, mixed), read back by
ocrkit's real pipeline through their text layer; and jobs built directly from corpus
truth pages (Chinese, Russian, Japanese, Hindi, Arabic), where rendering would need a
shaping engine. Each document is in ``half`` ``tuning`` or ``test``: thresholds are
chosen on the tuning half only; the test half is only measured.

Questions, generated with a fixed seed (:func:`make_questions`):

* ``rare``: one sentence of one page; its 3-4 rarest words (lowest document frequency
  over the document's pages, stopwords and numbers left out) in "What does the document
  say about a, b, c?" (the template in the document's language). Only word sets that
  occur together on that one page are asked. Right: a citation of that page whose
  snippet is verbatim on the page and holds at least half of the asked words.
* ``numeric``: a sentence with a number; its 3 rarest words in "How many ... ?" or the
  language's template. Right: a citation of that page whose snippet holds the number.
* ``none``: 3-4 rare words of a sentence of ANOTHER document, chosen so that at least
  three of them occur nowhere in this document. Right: no citation.
* ``paraphrase``: hand-written questions in :data:`PARAPHRASES` (reported separately).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 2017
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# id, language, build ("pdf": rendered and read through the pipeline; "truth": pages
# are the truth texts), truth files (one page each; form feeds split further), half.
DOCUMENTS: list[dict[str, Any]] = [
    {
        "id": "en-long",
        "lang": "en",
        "build": "pdf",
        "half": "test",
        "truth": [
            "printed/fondue_en_dracula_p51.gt.txt",
            "printed/fondue_en_dracula_p52.gt.txt",
            "printed/fondue_en_dracula_p53.gt.txt",
            "printed/fondue_en_udolpho_p27.gt.txt",
            "printed/fondue_en_udolpho_p28.gt.txt",
            "printed/fondue_en_udolpho_p29.gt.txt",
            "printed/fondue_en_udolpho_p30.gt.txt",
            "printed/fondue_en_udolpho_p31.gt.txt",
            "printed/ehri_en_bf-19380509b_en_01.gt.txt",
            "printed/ehri_en_et-yv3549264_03.gt.txt",
            "printed/unlv_8071_093.gt.txt",
            "pdf/docling_amt_handbook_sample.gt.txt",
            "pdf/docling_code_and_formula.gt.txt",
            "pdf/scan_fondue_dracula_p54-55.gt.txt",
            "handwriting/stanford1905_page_SC0033B_s4_b01_f14_i093.gt.txt",
            "printed/tess_phototest.gt.txt",
        ],
    },
    {
        "id": "en-word",
        "lang": "en",
        "build": "pdf",
        "half": "tuning",
        "truth": ["pdf/docling_multi_page.gt.txt"],
    },
    {
        "id": "en-udolpho",
        "lang": "en",
        "build": "truth",
        "half": "tuning",
        "truth": [
            "printed/fondue_en_udolpho_p27.gt.txt",
            "printed/fondue_en_udolpho_p28.gt.txt",
            "printed/fondue_en_udolpho_p29.gt.txt",
            "printed/fondue_en_udolpho_p30.gt.txt",
            "printed/fondue_en_udolpho_p31.gt.txt",
        ],
    },
    {
        "id": "en-mixed",
        "lang": "en",
        "build": "pdf",
        "half": "tuning",
        "truth": [
            "printed/ehri_en_bf-19380509b_en_01.gt.txt",
            "printed/unlv_8071_093.gt.txt",
            "pdf/docling_amt_handbook_sample.gt.txt",
            "printed/fondue_en_dracula_p51.gt.txt",
            "printed/fondue_en_dracula_p52.gt.txt",
        ],
    },
    {
        "id": "de-ehri",
        "lang": "de",
        "build": "pdf",
        "half": "test",
        "truth": [
            "printed/ehri_de_et-wl1375b189_02.gt.txt",
            "printed/ehri_de_et-wl16560158_05.gt.txt",
            "printed/ehri_de_nisko-19391112_de_01.gt.txt",
        ],
    },
    {
        "id": "de-ehri-2",
        "lang": "de",
        "build": "truth",
        "half": "tuning",
        "truth": [
            "printed/ehri_de_nisko-19391112_de_01.gt.txt",
            "printed/ehri_de_et-wl1375b189_02.gt.txt",
        ],
    },
    {
        "id": "fr-kovalewsky",
        "lang": "fr",
        "build": "pdf",
        "half": "tuning",
        "truth": [
            "printed/kovalewsky_fr_p69.gt.txt",
            "printed/kovalewsky_fr_p70.gt.txt",
            "printed/kovalewsky_fr_p71.gt.txt",
        ],
    },
    {
        "id": "fr-poilus",
        "lang": "fr",
        "build": "pdf",
        "half": "test",
        "truth": [
            "handwriting/poilus_page_AD78_0063-0.gt.txt",
            "handwriting/poilus_page_AN_0001-0.gt.txt",
            "handwriting/poilus_page_AN_0057-0.gt.txt",
            "handwriting/poilus_page_AN_0218-0.gt.txt",
            "handwriting/poilus_page_AN_0232-0.gt.txt",
            "printed/kovalewsky_fr_p70.gt.txt",
        ],
    },
    {
        "id": "ar",
        "lang": "ar",
        "build": "truth",
        "half": "test",
        "truth": ["pdf/docling_right_to_left_01.gt.txt", "nonlatin/udhr_ar_corp_page.gt.txt"],
    },
    {
        "id": "udhr-ru-hi",
        "lang": "ru",
        "build": "truth",
        "half": "tuning",
        "truth": ["nonlatin/udhr_ru_corp_page.gt.txt", "nonlatin/udhr_hi_corp_page.gt.txt"],
    },
    {
        "id": "multi-eurotext",
        "lang": "en",
        "build": "pdf",
        "half": "test",
        "truth": [
            "printed/tess_eurotext.gt.txt",
            "printed/ehri_en_et-yv3549264_03.gt.txt",
            "printed/kovalewsky_fr_p71.gt.txt",
            "printed/ehri_de_et-wl16560158_05.gt.txt",
        ],
    },
]

TEMPLATES = {
    "en": ("What does the document say about {}?", "How many {}?"),
    "de": ("Was steht im Dokument über {}?", "Wie viele {}?"),
    "fr": ("Que dit le document sur {} ?", "Combien de {} ?"),
    "ar": ("ماذا يقول المستند عن {}؟", "كم {}؟"),
    "ru": ("Что говорится в документе о {}?", "Сколько {}?"),
}

# Hand-written paraphrases: (document, page, question, a phrase the cited page holds).
PARAPHRASES: list[tuple[str, int, str, str]] = [
    # test half
    ("en-long", 11, "How old was the girl who was sad about being in love?", "six years old"),
    ("en-long", 10, "How many people who were not Jewish had been moved out of the town?", "7,000"),
    ("en-long", 12, "Which two kinds of self-locking nuts are in common use?", "all-metal type"),
    ("de-ehri", 2, "Um wie viel Uhr bekamen die Gefangenen Brot?", "6 Uhr abend"),
    (
        "fr-poilus",
        4,
        "Combien d'argent la filleule recevra-t-elle pour son mariage ?",
        "quatre mille",
    ),
    ("fr-poilus", 6, "Qui possédait la terre à l'origine ?", "vrais possesseurs"),
    ("multi-eurotext", 2, "Who killed Archduke Franz Ferdinand?", "Principe"),
    # tuning half
    ("en-word", 1, "Who invented the typewriter and in which year?", "Christopher Latham Sholes"),
    ("en-word", 1, "When did IBM bring out its electric typewriter?", "1935"),
    ("en-mixed", 2, "Who is Kathleen Kilpatrick?", "special assistant"),
    ("en-mixed", 3, "Which two kinds of self-locking nuts are in common use?", "all-metal type"),
    ("fr-kovalewsky", 2, "Qui possédait la terre à l'origine ?", "vrais possesseurs"),
]


@dataclass
class Question:
    doc: str
    kind: str  # rare, numeric, none, paraphrase
    q: str
    page: int | None
    words: list[str]
    number: str | None = None


def clean(text: str) -> str:
    """A truth text as running text: the corpus's line-end hyphen mark joins the word,
    superscript marks go, lines of a paragraph are joined, blank lines kept."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"¬\s*\n\s*", "", text)
    text = text.replace("^", "")
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p)


def doc_pages(corpus: Path, doc: dict[str, Any]) -> list[str]:
    pages: list[str] = []
    for t in doc["truth"]:
        pages += [clean(p) for p in (corpus / t).read_text("utf-8").split("\f") if p.strip()]
    return pages


def render_pdf(pages: list[str], path: Path) -> Path:
    """One A4 page per text, DejaVu Sans, the largest size (11 pt down) that fits."""
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        rect = pymupdf.Rect(50, 50, 545, 792)
        size = 11.0
        while size > 4:
            rc = page.insert_textbox(rect, text, fontsize=size, fontname="dejavu", fontfile=FONT)
            if rc >= 0:
                break
            size -= 0.5
    doc.save(path)
    return path


def build_job(corpus: Path, doc: dict[str, Any], work: Path) -> Any:
    from ocrkit.models import Job, Page

    pages = doc_pages(corpus, doc)
    if doc["build"] == "pdf":
        from ocrkit import api

        pdf = render_pdf(pages, work / f"chat_{doc['id']}.pdf")
        return api.ocr(pdf, jobs=1, language="eng")
    return Job(
        status="done",
        pages=[
            Page(index=i, width=2480, height=3508, dpi=300, text=t) for i, t in enumerate(pages)
        ],
    )


# ------------------------------------------------------------------------- questions

_NUM = re.compile(r"\d[\d.,:/]*\d|\d")


def _content_words(sentence: str) -> list[str]:
    from ocrkit.chat.text import STOPWORDS, words

    out = []
    for w in words(sentence):
        if w in STOPWORDS or any(c.isdigit() for c in w) or len(w) < 3:
            continue
        out.append(w)
    return out


def _sentences(page: str) -> list[str]:
    from ocrkit.chat.text import sentences

    return [s for p in page.split("\n\n") for s in sentences(p)]


def _df(pages: list[str]) -> dict[str, int]:
    from ocrkit.chat.text import words

    df: dict[str, int] = {}
    for p in pages:
        for w in set(words(p)):
            df[w] = df.get(w, 0) + 1
    return df


def _rarest(ws: list[str], df: dict[str, int], n: int) -> list[str]:
    uniq = list(dict.fromkeys(ws))
    return sorted(uniq, key=lambda w: (df.get(w, 0), -len(w)))[:n]


def _only_on(words_: list[str], pages: list[str], want: int) -> bool:
    from ocrkit.chat.text import words

    sets = [set(words(p)) for p in pages]
    return [i for i, s in enumerate(sets) if all(w in s for w in words_)] == [want]


def make_questions(corpus: Path, per_page: int = 2) -> list[Question]:
    rng = random.Random(SEED)
    out: list[Question] = []
    all_pages = {d["id"]: doc_pages(corpus, d) for d in DOCUMENTS}
    for d in DOCUMENTS:
        pages = all_pages[d["id"]]
        df = _df(pages)
        tmpl_rare, tmpl_num = TEMPLATES.get(d["lang"], TEMPLATES["en"])
        for i, page in enumerate(pages):
            sents = [s for s in _sentences(page) if len(_content_words(s)) >= 5]
            rng.shuffle(sents)
            made = 0
            for s in sents:
                if made >= per_page:
                    break
                ws = _rarest(_content_words(s), df, rng.choice([3, 4]))
                if len(ws) < 3 or not _only_on(ws, pages, i):
                    continue
                out.append(Question(d["id"], "rare", tmpl_rare.format(", ".join(ws)), i + 1, ws))
                made += 1
            nums = [s for s in sents if _NUM.search(s) and len(_content_words(s)) >= 4]
            for s in nums[:1]:
                number = max(_NUM.findall(s), key=len)
                ws = _rarest(_content_words(s), df, 3)
                if len(ws) < 3 or not _only_on(ws, pages, i):
                    continue
                out.append(
                    Question(d["id"], "numeric", tmpl_num.format(" ".join(ws)), i + 1, ws, number)
                )
    # Unanswerable: rare words of another document's sentence that this one lacks.
    for d in DOCUMENTS:
        pages = all_pages[d["id"]]
        mine = set(_df(pages))
        tmpl_rare = TEMPLATES.get(d["lang"], TEMPLATES["en"])[0]
        others = [o for o in DOCUMENTS if o["id"] != d["id"] and o["lang"] == d["lang"]]
        others = others or [o for o in DOCUMENTS if o["id"] != d["id"]]
        made = 0
        tries = 0
        while made < max(3, len(pages)) and tries < 200:
            tries += 1
            o = rng.choice(others)
            opages = all_pages[o["id"]]
            s = rng.choice(_sentences(rng.choice(opages)))
            cw = _content_words(s)
            ws = _rarest(cw, _df(opages), rng.choice([3, 4]))
            if len(ws) < 3 or sum(w not in mine for w in ws) < 3:
                continue
            out.append(Question(d["id"], "none", tmpl_rare.format(", ".join(ws)), None, ws))
            made += 1
    for doc, page, q, phrase in PARAPHRASES:
        out.append(Question(doc, "paraphrase", q, page, [phrase]))
    return out


# ------------------------------------------------------------------------- scoring


def judge(q: Question, message: dict[str, Any], page_texts: dict[int, str]) -> bool:
    """Whether the answer is right for the question (see the module docstring)."""
    from ocrkit.chat.text import normalise, words

    cites = message["citations"]
    if q.page is None:
        return not cites
    for c in cites:
        snippet = normalise(c["snippet"])
        if c["page"] != q.page or snippet not in page_texts.get(c["page"], ""):
            continue
        if q.kind == "numeric":
            if q.number and q.number in snippet:
                return True
        elif q.kind == "paraphrase":
            if normalise(q.words[0]).casefold() in snippet.casefold():
                return True
        else:
            have = set(words(snippet))
            if sum(w in have for w in q.words) * 2 >= len(q.words):
                return True
    return False


def evaluate(
    corpus: Path, work: Path, quick: bool = False, half: str | None = None
) -> dict[str, Any]:
    """Ask every question of the documents (of ``half`` only, when given; the questions
    are the same either way)."""
    from ocrkit.chat import DocumentIndex, ask

    questions = make_questions(corpus)
    docs = [d for d in DOCUMENTS if half is None or d["half"] == half]
    if quick:
        docs = [d for d in DOCUMENTS if d["id"] in ("en-word", "de-ehri")]
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for d in docs:
        job = build_job(corpus, d, work)
        index = DocumentIndex(job)
        for q in questions:
            if q.doc != d["id"]:
                continue
            msg = ask(index, q.q).message()
            ok = judge(q, msg, index.page_texts)
            rows.append(
                {
                    "doc": q.doc,
                    "half": d["half"],
                    "lang": d["lang"],
                    "kind": q.kind,
                    "q": q.q,
                    "page": q.page,
                    "ok": ok,
                    "cited": [c["page"] for c in msg["citations"]],
                }
            )
    summary: dict[str, Any] = {}
    for half in ("tuning", "test"):
        for kind in ("rare", "numeric", "rare+numeric", "none", "paraphrase"):
            kinds = kind.split("+")
            rs = [r for r in rows if r["half"] == half and r["kind"] in kinds]
            if rs:
                n_ok = sum(r["ok"] for r in rs)
                summary[f"{half}:{kind}"] = {
                    "n": len(rs),
                    "right": n_ok,
                    "rate": round(n_ok / len(rs), 4),
                }
    return {
        "documents": [
            {k: d[k] for k in ("id", "lang", "build", "half")} | {"pages": len(d["truth"])}
            for d in docs
        ],
        "summary": summary,
        "misses": [r for r in rows if not r["ok"]],
        "questions": len(rows),
    }


if __name__ == "__main__":
    import json
    import os
    import sys

    root = Path(__file__).resolve().parents[1]
    corpus = Path(os.environ.get("OCRKIT_CORPUS", root.parent / "shared" / "corpus"))
    res = evaluate(corpus, root / "bench" / "work" / "chat", "--quick" in sys.argv)
    print(json.dumps(res["summary"], indent=1))
    for m in res["misses"]:
        print(m)
