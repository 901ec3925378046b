"""The ``vlm`` engine: a vision-language model on an OpenAI-compatible server.

Configured by ``OCRKIT_VLM_BASE_URL`` and ``OCRKIT_VLM_MODEL`` (plus ``_API_KEY``,
``_TIMEOUT``, ``_MAX_CONCURRENCY``, ``_RETRIES``, ``_MAX_TOKENS``; or an ``OCRKIT_CONFIG``
TOML file); unconfigured, :meth:`VlmEngine.availability` says so and ``tier=vlm``
follows ``OCRKIT_VLM_FALLBACK``. Per page:

1. Blank check: a page with (almost) no ink is not sent; the page is empty, with a
   warning.
2. The page image, scaled so its longest side is :data:`MAX_SIDE` px, goes to the model
   with a prompt asking for faithful Markdown (:data:`PAGE_PROMPT`; the
   ``handwriting-to-text`` tool uses :data:`HANDWRITING_PROMPT`). Meanwhile the cpu
   engine (Tesseract) reads the same page for word boxes.
3. Guards: a refusal (typical phrases in a short answer) or text in the wrong script
   falls back to the cpu engine's lines with a warning; a repetition loop is retried once
   at temperature 0.7, then cut, with a warning; ``finish_reason=length`` keeps the text
   with the warning ``truncated``.
4. The answer becomes the page's ``markdown``; its plain text (Markdown marks removed)
   the page's ``text``; one block per non-empty line, each aligned to the cpu words
   (:mod:`ocrkit.layout.align`): a matched line gets the union box of its words, an unmatched one
   ``bbox=None`` and the flag ``unaligned`` (no invented boxes). Block ``words`` are
   empty (the boxes are the cpu engine's, the text the model's).
5. Confidence: from token log-probabilities when the server returns them (per line, the
   geometric mean token probability; ``page.extra["vlm"]["confidence"] == "logprobs"``),
   else the line's alignment score (``"alignment"``; 0 for an unaligned line).
"""

from __future__ import annotations

import math
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.errors import EngineFailed
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.models import Block

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

    from ocrkit.llm import Completion, ModelClient

MAX_SIDE = 1600
PAGE_PROMPT = (
    "You are an OCR engine. Transcribe all text on this page image exactly as written, in "
    "reading order, as Markdown. Do not summarise, translate, correct, explain or add "
    "anything. Write one output line per line of text on the page. Use # for headings, "
    "- for list items, Markdown tables for tables and LaTeX ($...$, $$...$$) for math. "
    "Output only the transcription; if the page has no text, output nothing."
)
HANDWRITING_PROMPT = (
    "You are an OCR engine for handwriting. Transcribe the handwritten (and printed) text "
    "on this page image exactly as written, line by line in reading order: one output line "
    "per written line. Keep spelling as written; do not correct, summarise or translate. "
    "Write [illegible] for a word you cannot read. Output plain text only."
)
PROMPTS = {"page": PAGE_PROMPT, "handwriting": HANDWRITING_PROMPT}

LOOP_RETRY_TEMPERATURE = 0.7
_REFUSAL = re.compile(
    r"\b(i'?m sorry|i am sorry|i can(?:'|no)t (?:help|assist|transcribe|read|process|comply)"
    r"|i cannot (?:help|assist|transcribe|read|process|comply)|i'?m (?:not able|unable) to"
    r"|i am (?:not able|unable) to|unable to (?:transcribe|read|process|assist)"
    r"|as an ai\b|cannot assist with)",
    re.IGNORECASE,
)
_REPEAT_RUN = re.compile(r"(.{3,80}?)(?:\s*\1){7,}", re.DOTALL)


class VlmEngine(Engine):
    name = "vlm"
    tier = "vlm"
    description = "Vision-language model on an OpenAI-compatible server (OCRKIT_VLM_*)"
    accepts_options = True

    def __init__(self) -> None:
        self._client: ModelClient | None = None
        self._client_cfg: Any = None

    def availability(self) -> tuple[bool, str]:
        from ocrkit.llm import NOT_CONFIGURED_VLM, vlm_config
        from ocrkit.settings import current

        if vlm_config(current()) is None:
            return False, NOT_CONFIGURED_VLM
        return True, ""

    def info(self) -> dict[str, Any]:
        """Adds ``server``, ``model`` and ``reachable`` (a ``GET /models``, 2 s at most)."""
        from ocrkit.llm import ModelClient, ModelError, vlm_config
        from ocrkit.settings import current

        d = super().info()
        cfg = vlm_config(current())
        if cfg is None:
            d.update(server=None, model=None, reachable=False)
            return d
        d.update(server=cfg.base_url, model=cfg.model)
        with ModelClient(cfg) as client:
            try:
                models = client.list_models(timeout=2.0)
            except ModelError as e:
                d.update(reachable=False, reason=f"configured ({cfg.model}) but {e.message}")
                return d
        listed = "" if not models or cfg.model in models else f"; {cfg.model!r} not in its /models"
        d.update(reachable=True, reason=f"{cfg.model} at {cfg.base_url}: reachable{listed}")
        return d

    # ------------------------------------------------------------------ reading

    def _get_client(self) -> ModelClient:
        from ocrkit.errors import EngineUnavailable
        from ocrkit.llm import NOT_CONFIGURED_VLM, ModelClient, vlm_config
        from ocrkit.settings import current

        cfg = vlm_config(current())
        if cfg is None:
            raise EngineUnavailable(NOT_CONFIGURED_VLM)
        if self._client is None or self._client_cfg != cfg:
            if self._client is not None:
                self._client.close()
            self._client, self._client_cfg = ModelClient(cfg), cfg
        return self._client

    def recognize(
        self,
        image: Image.Image,
        *,
        languages: list[str],
        dpi: int,
        options: dict[str, Any] | None = None,
    ) -> PageResult:
        options = options or {}
        prompt = PROMPTS.get(str(options.get("vlm_prompt") or "page"), PAGE_PROMPT)
        info: dict[str, Any] = {"prompt": options.get("vlm_prompt") or "page"}
        from ocrkit.page import is_blank  # the pipeline's one blank-page test

        if is_blank(image, dpi):
            info["blank"] = True
            return PageResult(
                text="",
                markdown="",
                warnings=["blank page: no ink found, the model was not asked"],
                extra={"vlm": info},
            )
        client = self._get_client()
        with ThreadPoolExecutor(1) as pool:
            cpu_future = pool.submit(_cpu_blocks, image, languages, dpi)
            comp, warnings = self._ask(client, image, prompt, info)
            cpu_blocks, cpu_warning = cpu_future.result()
        if cpu_warning:
            warnings.append(cpu_warning)
        answer = comp.text
        cpu_words = sum(len(b.words) or len(b.text.split()) for b in cpu_blocks)
        if not answer.strip() and cpu_words >= 3:
            info["empty_answer"] = True
            return _cpu_result(
                cpu_blocks,
                [
                    *warnings,
                    f"the model answered nothing but the cpu engine read {cpu_words} words: "
                    "the cpu engine's text is used",
                ],
                info,
            )
        refusal = _refused(answer)
        if refusal:
            info["refusal"] = refusal
            return _cpu_result(
                cpu_blocks,
                warnings
                + [
                    f"the model refused to transcribe the page ({refusal!r}): the cpu engine's "
                    "text is used"
                ],
                info,
            )
        wrong = wrong_script(answer, languages, cpu_blocks)
        if wrong:
            info["wrong_script"] = wrong
            return _cpu_result(
                cpu_blocks,
                warnings
                + [
                    f"the model answered in the wrong script ({wrong}): the cpu engine's text "
                    "is used"
                ],
                info,
            )
        return build_result(answer, comp, cpu_blocks, warnings, info)

    def _ask(
        self, client: ModelClient, image: Image.Image, prompt: str, info: dict[str, Any]
    ) -> tuple[Completion, list[str]]:
        from ocrkit.llm import ModelError, image_part

        part = image_part(image, max_side=MAX_SIDE)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompt},
            {"role": "user", "content": [{"type": "text", "text": "Transcribe this page."}, part]},
        ]
        warnings: list[str] = []
        try:
            comp = client.complete(messages, temperature=0.0, logprobs=True)
            if find_loop(comp.text) is not None:
                info["loop_retry"] = True
                retry = client.complete(messages, temperature=LOOP_RETRY_TEMPERATURE, logprobs=True)
                comp = retry
        except ModelError as e:
            raise EngineFailed(f"vlm: {e.message}") from None
        loop = find_loop(comp.text)
        if loop is not None:
            comp.text = cut_loop(comp.text)
            comp.logprobs = None  # no longer line up with the text
            info["loop_cut"] = True
            warnings.append(
                f"repetition loop: the model repeated {loop!r} (also after a retry at "
                f"temperature {LOOP_RETRY_TEMPERATURE}); the repetition was cut"
            )
        elif info.get("loop_retry"):
            warnings.append(
                "repetition loop: the first answer looped; the retry at temperature "
                f"{LOOP_RETRY_TEMPERATURE} is used"
            )
        if comp.finish_reason == "length":
            info["truncated"] = True
            warnings.append(
                f"truncated: the model stopped at max_tokens ({client.cfg.max_tokens}); the end "
                "of the page may be missing (raise OCRKIT_VLM_MAX_TOKENS)"
            )
        return comp, warnings


# ---------------------------------------------------------------------- helpers


def _cpu_blocks(image: Image.Image, languages: list[str], dpi: int) -> tuple[list[Block], str]:
    """The cpu engine's lines (for word boxes), or [] and why not."""
    from ocrkit.plugins import get_engine

    try:
        eng = get_engine("tesseract")
        if eng is None or not eng.availability()[0]:
            return [], "no cpu engine (tesseract) for word boxes: every line is unaligned"
        have = set(eng.languages())
        langs = [c for c in languages if c in have] or (["eng"] if "eng" in have else [])
        return list(eng.recognize(image, languages=langs, dpi=dpi).blocks), ""
    except Exception as e:  # boxes are a bonus; the model's text stands without them
        return [], f"the cpu engine failed ({type(e).__name__}: {e}): every line is unaligned"


def _cpu_result(blocks: list[Block], warnings: list[str], info: dict[str, Any]) -> PageResult:
    info["source"] = "cpu"
    info["confidence"] = "cpu"
    return PageResult(blocks=blocks, warnings=warnings, extra={"vlm": info}, engine="tesseract")


def _refused(text: str) -> str | None:
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


# ---------------------------------------------------------------- answer -> page


def _line_confidences(comp: Completion, n_lines: int) -> list[float] | None:
    """Per answer line (non-empty lines of the raw text, in order) the geometric mean
    token probability, when the tokens' text adds up to the answer; else the whole
    answer's mean for every line; None without log-probabilities."""
    lps = comp.logprobs
    if not lps:
        return None
    overall = math.exp(sum(lps) / len(lps))
    content = (comp.raw.get("choices") or [{}])[0].get("logprobs", {}) or {}
    toks = content.get("content") if isinstance(content, dict) else None
    if not isinstance(toks, list) or "".join(str(t.get("token", "")) for t in toks) != comp.text:
        return [round(overall, 4)] * n_lines
    per_line: list[list[float]] = [[]]
    for t in toks:
        piece = str(t.get("token", ""))
        if piece.strip():
            per_line[-1].append(float(t["logprob"]))
        for _ in range(piece.count("\n")):
            per_line.append([])
    means = [math.exp(sum(v) / len(v)) for v in per_line if v]
    if len(means) != n_lines:
        return [round(overall, 4)] * n_lines
    return [round(m, 4) for m in means]


def build_result(
    answer: str,
    comp: Completion,
    cpu_blocks: list[Block],
    warnings: list[str],
    info: dict[str, Any],
) -> PageResult:
    from ocrkit.layout import align, markdown_lines

    markdown = answer.strip()
    if markdown.startswith("```") and markdown.endswith("```"):  # fenced whole answers
        markdown = "\n".join(markdown.splitlines()[1:-1]).strip()
    lines = markdown_lines(markdown)
    matches = align.align_lines([t for t, _, _ in lines], align.cpu_words(cpu_blocks))
    raw_lines = [ln for ln in markdown.splitlines() if ln.strip()]
    confs = _line_confidences(comp, len(raw_lines)) if len(raw_lines) == len(lines) else None
    if confs is None and comp.logprobs:
        overall = round(math.exp(sum(comp.logprobs) / len(comp.logprobs)), 4)
        confs = [overall] * len(lines)
    info["source"] = "vlm"
    info["confidence"] = "logprobs" if confs is not None else "alignment"
    blocks: list[Block] = []
    for i, ((text, kind, para), m) in enumerate(zip(lines, matches, strict=True)):
        conf = confs[i] if confs is not None else m.score
        flags = [] if m.bbox is not None else ["unaligned"]
        blocks.append(
            Block(text=text, bbox=m.bbox, confidence=conf, type=kind, paragraph=para, flags=flags)
        )
    info["lines"] = len(blocks)
    info["aligned"] = sum(b.bbox is not None for b in blocks)
    if blocks and not info["aligned"] and cpu_blocks:
        warnings.append("no line of the model's answer matched the cpu engine's words: no boxes")
    text = _plain_text(blocks)
    return PageResult(
        blocks=blocks, text=text, markdown=markdown, warnings=warnings, extra={"vlm": info}
    )


def _plain_text(blocks: list[Block]) -> str:
    paras: list[list[str]] = []
    last: int | None = None
    for b in blocks:
        if not paras or b.paragraph != last:
            paras.append([])
        paras[-1].append(b.text)
        last = b.paragraph
    return "\n\n".join("\n".join(p) for p in paras)


@hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(VlmEngine())
