"""Text helpers for chat: whitespace normalisation, a multilingual tokenizer, sentences.

The tokenizer is script-aware and language-neutral: Unicode letters, digits and
combining marks form words (so Devanagari vowel signs stay inside their word), text is
NFKC-normalised and case-folded, and Han, Kana, Hangul and Thai runs (no spaces between
words) become single characters plus character bigrams. There is no stemmer: English
suffix rules break other languages. Long alphabetic words also yield a 6-character prefix
token, a crude language-neutral stem (``typewriters`` and ``typewriter`` share
``typewr``) that costs little precision because BM25 weighs both.
"""

from __future__ import annotations

import re
import unicodedata

PREFIX = 4

# A small stopword list: question and function words of the corpus languages (en, fr,
# de, es, it, pt, ru, ar, hi; zh/ja question-word bigrams). Removing them from *queries* only
# keeps "what is the ... of the ..." from matching every passage; passages keep them.
# Words that ask about the document rather than name its content ("Was steht im Dokument
# über ...", "Что говорится в документе о ...") are stopwords too: a question word absent
# from every page would otherwise pull the question's coverage below the bar.
_STOPWORDS_TEXT = """a an the and or of to in on at by for from with about as into than then
    that this
    these those there their they them it its is are was were be been being do does did
    done has have had having what which who whom whose when where why how can could would
    should will shall may might must i you he she we me my your his her our us not no
    yes so if but also any some all each more most other such only own same too very s t
    just don't doesn't didn't tell say said give mention mentioned document text page
    according describe explain name list please
    le la les un une des du de et ou est sont qui que quoi quel quelle quels quelles où
    dans sur pour par avec au aux ce cette ces il elle ils elles se sa son ses leur
    der die das den dem des ein eine einer und oder ist sind war wer was wie wo wann
    warum welche welcher im in zu mit von auf für
    el los las una unos y o es son qué quién cuál cuándo dónde cómo por para con del
    il lo gli che chi di da e è sono
    o os as um uma é são quem
    и в во на с со по для не что как где когда кто какой какая какие чем это ли от до из
    ما ماذا هو هي في من على إلى عن هذا هذه ذلك التي الذي كيف متى أين لماذا هل كم و
    क्या है हैं में का की के को कौन कब कहाँ कैसे और
    什么 哪个 哪里 为什么 怎么 多少 是否 的是 是什
    何か 何を 何が 何で どこ いつ だれ なぜ どう ですか ますか
    many much
    dit document documents dites
    dokument dokuments dokumente dokumenten steht stehen sagt über wieviel viele
    documento dice dicen diz sobre cuántos cuántas quanti quante quantos quantas
    документ документе документа говорится сказано о об сколько
    يقول تقول المستند الوثيقة النص عن
    दस्तावेज़ दस्तावेज"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_SPACE = re.compile(r"\s+")
_NOSPACE_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


def normalise(text: str) -> str:
    """NFKC with whitespace runs collapsed to one space: how snippets are matched."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def _is_word_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LNM"


def _no_space_script(ch: str) -> bool:
    if ch.isascii():
        return False
    name = unicodedata.name(ch, "")
    return name.startswith(_NOSPACE_SCRIPTS) or "IDEOGRAPH" in name


def words(text: str) -> list[str]:
    """Runs of word characters (letters, digits, marks); no-space scripts kept as runs."""
    out: list[str] = []
    cur: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if _is_word_char(ch):
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def _split_scripts(word: str) -> list[tuple[str, bool]]:
    """Split a word into runs of no-space-script and other characters."""
    runs: list[tuple[str, bool]] = []
    for ch in word:
        ns = _no_space_script(ch)
        if runs and runs[-1][1] == ns:
            runs[-1] = (runs[-1][0] + ch, ns)
        else:
            runs.append((ch, ns))
    return runs


def tokenize(text: str, *, query: bool = False) -> list[str]:
    """Tokens for BM25. ``query=True`` drops stopwords (when something else remains)."""
    out: list[str] = []
    for word in words(text):
        for run, no_space in _split_scripts(word):
            if no_space:
                chars = [c for c in run if _is_word_char(c)]
                out.extend(chars)
                out.extend(a + b for a, b in zip(chars, chars[1:], strict=False))
                continue
            if query and run in STOPWORDS:
                continue
            out.append(run)
            if len(run) >= PREFIX and run.isalpha():
                out.append(run[:PREFIX] + "~")
    if query and not out:  # a question made only of stopwords still asks something
        return [w for w in words(text)]
    return out


# Sentence ends: . ! ? and their full-width, Arabic, Devanagari and Ethiopic forms.
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？；።؟।॥])\s*")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Prof|Mt|vs|etc|e\.g|i\.e|No|Fig|p|pp)\.|\b[A-Z]\.)$")


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph (whitespace-normalised), at most ~60 words each."""
    text = normalise(text)
    if not text:
        return []
    parts = [p for p in _SENT_END.split(text) if p and p.strip()]
    merged: list[str] = []
    for part in parts:
        part = part.strip()
        if merged and (_ABBREV.search(merged[-1]) or len(merged[-1]) < 3):
            merged[-1] = merged[-1] + " " + part
        else:
            merged.append(part)
    out: list[str] = []
    for s in merged:  # a run-on "sentence" (a table, a list) is cut into pieces
        ws = s.split(" ")
        if len(ws) <= 60:
            out.append(s)
        else:
            out.extend(" ".join(ws[i : i + 40]) for i in range(0, len(ws), 40))
    return out
