"""Guards of the vlm engine: what is wrong with a page or a model's answer.

* :func:`is_blank`: a page with (almost) no ink is not sent to the model (by the cpu
  tier's rule and by a rule relative to the paper's grey).
* :func:`refused`: a refusal (typical phrases in a short answer).
* :func:`find_loop` / :func:`cut_loop`: a repetition loop (a piece repeated 8+ times, or
  5+ identical lines) and the answer with each run kept once.
* :func:`wrong_script`: most letters in a script none of the page's languages use (and
  the cpu engine's words hardly use).

Only the standard library, Pillow and ocrkit's public :mod:`ocrkit.page`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.models import Block

# Fraction of pixels much darker than the most common grey under which a page holds no
# ink by this tier's own rule (a few specks of dust).
BLANK_INK = 0.0005
_REFUSAL = re.compile(
    r"\b(i'?m sorry|i am sorry|i can(?:'|no)t (?:help|assist|transcribe|read|process|comply)"
    r"|i cannot (?:help|assist|transcribe|read|process|comply)|i'?m (?:not able|unable) to"
    r"|i am (?:not able|unable) to|unable to (?:transcribe|read|process|assist)"
    r"|as an ai\b|cannot assist with)",
    re.IGNORECASE,
)
_REPEAT_RUN = re.compile(r"(.{3,80}?)(?:\s*\1){7,}", re.DOTALL)


def is_blank(image: Image.Image, dpi: int = 300) -> bool:
    """Nothing to read on the page: by the cpu tier's rule (:func:`ocrkit.page.is_blank`:
    almost no pixel darker than mid-grey at ~75 dpi) and by this tier's own (almost no
    pixel much darker than the page's most common grey, :data:`BLANK_INK`).

    Either rule alone loses writing: the cpu tier's misses faint pencil on white paper
    (lighter than mid-grey, much darker than the paper); this tier's, used alone until
    2026-12, took a scan's black frame for the page's background, so nothing was darker
    and a handwritten envelope (bench/data/poilus_fresh, AD78_0009-1) was never sent to
    the model: its four lines were lost. A page is blank only when both find no ink."""
    from PIL import ImageOps

    from ocrkit.page import is_blank as page_is_blank

    if not page_is_blank(image, dpi):
        return False
    factor = max(1, max(image.size) // 1000)
    small = image.reduce(factor) if factor > 1 and image.mode not in ("1", "P") else image
    g = ImageOps.grayscale(
        small.convert("RGB") if small.mode in ("P", "RGBA", "LA", "1") else small
    )
    hist = g.histogram()
    total = sum(hist)
    background = max(range(256), key=lambda v: hist[v])
    dark = sum(hist[: max(0, background - 80)])
    return dark / max(1, total) < BLANK_INK


def refused(text: str) -> str | None:
    t = text.strip()
    if not t or len(t) > 400:
        return None
    m = _REFUSAL.search(t[:200])
    return t[:120] if m else None


def find_loop(text: str) -> str | None:
    """The repeated unit when ``text`` contains a run of 8+ repetitions of one 3-80
    character piece, or 5+ identical consecutive non-blank lines; else None."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    run = 1
    for a, b in zip(lines, lines[1:], strict=False):
        run = run + 1 if a == b and not set(a) <= set("|-: ") else 1
        if run >= 5:
            return a[:60]
    for line in text.splitlines():
        m = _REPEAT_RUN.search(line)
        if m and len(set(m.group(1).strip())) > 1:
            return m.group(1)[:60]
    return None


def cut_loop(text: str) -> str:
    """``text`` with each run of repeated lines or pieces kept once."""
    out: list[str] = []
    for line in text.splitlines():
        if out and line.strip() and line.strip() == out[-1].strip():
            continue
        out.append(_REPEAT_RUN.sub(lambda m: m.group(1), line))
    return "\n".join(out)


# Scripts of the canonical (Tesseract) language codes the check knows; others are not
# checked against the language, only against the cpu engine's words.
_SCRIPT_OF = {
    **dict.fromkeys(
        [
            "eng",
            "fra",
            "deu",
            "spa",
            "ita",
            "por",
            "nld",
            "swe",
            "dan",
            "nor",
            "fin",
            "pol",
            "ces",
            "slk",
            "slv",
            "hrv",
            "hun",
            "ron",
            "tur",
            "vie",
            "ind",
            "msa",
            "cat",
            "eus",
            "glg",
            "lat",
            "lit",
            "lav",
            "est",
            "isl",
            "gle",
            "cym",
            "afr",
            "swa",
            "tgl",
            "aze",
            "uzb",
            "srp_latn",
        ],
        "LATIN",
    ),
    **dict.fromkeys(
        ["rus", "ukr", "bel", "bul", "mkd", "srp", "kaz", "kir", "mon", "tgk"], "CYRILLIC"
    ),
    "ell": "GREEK",
    **dict.fromkeys(["ara", "fas", "urd", "pus", "uig", "snd"], "ARABIC"),
    **dict.fromkeys(["heb", "yid"], "HEBREW"),
    **dict.fromkeys(["chi_sim", "chi_tra", "chi_sim_vert", "chi_tra_vert"], "CJK"),
    **dict.fromkeys(["jpn", "jpn_vert"], "CJK"),
    "kor": "HANGUL",
    **dict.fromkeys(["hin", "mar", "nep", "san"], "DEVANAGARI"),
    "tha": "THAI",
    "ben": "BENGALI",
    "tam": "TAMIL",
    "kat": "GEORGIAN",
    "hye": "ARMENIAN",
}
_SCRIPT_ALIASES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK"}


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        first = unicodedata.name(ch).split()[0]
    except ValueError:
        return None
    return _SCRIPT_ALIASES.get(first, first)


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ch in text:
        s = _script(ch)
        if s:
            counts[s] = counts.get(s, 0) + 1
    return counts


def wrong_script(answer: str, languages: list[str], cpu_blocks: list[Block]) -> str | None:
    """Why ``answer`` is in the wrong script, or None. Wrong means: most of its letters
    (at least 20) are in a script none of ``languages`` is written in (when they are all
    known) and the cpu engine's words hardly use it (under 20 %)."""
    counts = script_counts(answer)
    letters = sum(counts.values())
    if letters < 20:
        return None
    dominant = max(counts, key=lambda k: counts[k])
    share = counts[dominant] / letters
    expected = {_SCRIPT_OF.get(c) for c in languages}
    cpu = script_counts(" ".join(b.text for b in cpu_blocks))
    cpu_letters = sum(cpu.values())
    cpu_share = cpu.get(dominant, 0) / cpu_letters if cpu_letters else None
    if expected and None not in expected:
        if dominant in expected or share < 0.6:
            return None
        if cpu_share is not None and cpu_share >= 0.2:
            return None
        want = "/".join(sorted(str(e) for e in expected))
        return f"{dominant} text where {want} was expected"
    if cpu_letters >= 20 and cpu_share is not None and cpu_share < 0.05 and share >= 0.6:
        cpu_dom = max(cpu, key=lambda k: cpu[k])
        return f"{dominant} text where the cpu engine read {cpu_dom}"
    return None
