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
   the page's ``text``; one block per non-empty line with a box from the cpu engine's
   words or, where they do not place it (handwriting), from the text lines detected on
   the page; confidence from log-probabilities or alignment (:mod:`.answer`).

The package: :mod:`.engine` (this), :mod:`.guards` (blank page, refusal, loop, wrong
script), :mod:`.answer` (answer -> blocks), :mod:`.align` (lines to cpu words),
:mod:`.detect` (text lines from the ink) and :mod:`.assign` (lines to detected lines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocrkit.errors import EngineFailed
from ocrkit.hookspecs import Engine, PageResult

# .answer (which imports ocrkit.layout) and .guards are imported where used: building
# the registry (every command, `ocrkit ocr --help` too) imports this module.

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.llm import Completion, ModelClient
    from ocrkit.models import Block

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
        from concurrent.futures import ThreadPoolExecutor

        from .answer import build_result
        from .guards import is_blank, refused, wrong_script

        options = options or {}
        prompt = PROMPTS.get(str(options.get("vlm_prompt") or "page"), PAGE_PROMPT)
        info: dict[str, Any] = {"prompt": options.get("vlm_prompt") or "page"}
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
        refusal = refused(answer)
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
        return build_result(answer, comp, cpu_blocks, warnings, info, image)

    def _ask(
        self, client: ModelClient, image: Image.Image, prompt: str, info: dict[str, Any]
    ) -> tuple[Completion, list[str]]:
        from ocrkit.llm import ModelError, image_part

        from .guards import cut_loop, find_loop

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
