"""The ``translate`` tool: recognise, then translate each page with the text model.

``translate_to`` (any spelling :func:`ocrkit.lang.codes.resolve` accepts, one language)
is required. The text model is ``OCRKIT_LLM_*`` (defaulting to ``OCRKIT_VLM_*``); without
one the tool is unavailable, so the job is refused before any page runs (400 at submit,
CLI exit 6) with a message naming the settings.

Per page, in the page worker after recognition, the page's Markdown (its text when it
has no Markdown) goes to the model in one text-only call with a prompt that asks to keep
the structure (lines, headings, lists, tables, math, numbers) and translate nothing
else. Then ``page.markdown`` and ``page.text`` hold the translation and
``page.original_markdown`` / ``page.original_text`` the recognised original; the job's
``text``/``markdown`` are built from the translated pages. Blocks (and their boxes) keep
the original text: they describe what is printed on the page, so the searchable PDF's
text layer stays the original. A page the model fails on keeps its original text with a
warning (``page.extra["translate"]["ok"]`` is false).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocrkit import hookimpl
from ocrkit.errors import BadOption
from ocrkit.hookspecs import Tool

if TYPE_CHECKING:
    from PIL import Image

    from ocrkit.models import Job, Page

_NAMES = {
    "eng": "English",
    "fra": "French",
    "deu": "German",
    "spa": "Spanish",
    "ita": "Italian",
    "por": "Portuguese",
    "nld": "Dutch",
    "rus": "Russian",
    "ukr": "Ukrainian",
    "pol": "Polish",
    "ces": "Czech",
    "swe": "Swedish",
    "dan": "Danish",
    "nor": "Norwegian",
    "fin": "Finnish",
    "tur": "Turkish",
    "ell": "Greek",
    "ara": "Arabic",
    "heb": "Hebrew",
    "hin": "Hindi",
    "chi_sim": "Simplified Chinese",
    "chi_tra": "Traditional Chinese",
    "jpn": "Japanese",
    "kor": "Korean",
    "vie": "Vietnamese",
    "tha": "Thai",
    "ind": "Indonesian",
    "fas": "Persian",
    "ron": "Romanian",
    "hun": "Hungarian",
    "bul": "Bulgarian",
    "cat": "Catalan",
}
PROMPT = (
    "You are a translator. Translate the user's document, written in Markdown, into "
    "{name}. Keep the Markdown structure exactly: the same lines in the same order, "
    "headings, list items, tables (translate the cell text), LaTeX math, numbers, names, "
    "codes and URLs unchanged. Do not add notes or explanations and do not summarise. "
    "Output only the translated Markdown."
)


def target(translate_to: str | None) -> tuple[str, str]:
    """``(canonical code, English name)`` of the target language; BadOption if missing
    or not exactly one known language."""
    from ocrkit import lang as languages

    if not translate_to or not str(translate_to).strip():
        raise BadOption("the translate tool needs translate_to, the target language (e.g. fr)")
    codes = languages.resolve(str(translate_to))
    if len(codes) != 1:
        raise BadOption(f"translate_to must be one language, not {translate_to!r}")
    code = codes[0]
    return code, _NAMES.get(code, f"the language with ISO 639 code {languages.to_iso(code)!r}")


class TranslateTool(Tool):
    name = "translate"
    description = "Translate the recognised text with the text model (translate_to=LANG)"

    def availability(self) -> tuple[bool, str]:
        from ocrkit.llm import NOT_CONFIGURED_LLM, llm_config
        from ocrkit.settings import current

        if llm_config(current()) is None:
            return False, "translate needs a text model; " + NOT_CONFIGURED_LLM
        return True, ""

    def check_options(self, options: dict[str, Any]) -> None:
        target(options.get("translate_to"))

    def process_page(self, page: Page, image: Image.Image | None, options: dict[str, Any]) -> Page:
        from ocrkit.llm import ModelClient, ModelError, llm_config
        from ocrkit.settings import current

        code, name = target(options.get("translate_to"))
        source = page.markdown or page.text
        info: dict[str, Any] = {"to": code, "ok": True}
        page.original_text, page.original_markdown = page.text, page.markdown
        page.extra["translate"] = info
        if not source.strip():
            return page
        cfg = llm_config(current())
        if cfg is None:  # checked before the job started; the settings changed since
            info["ok"] = False
            page.warnings.append("not translated: no text model is configured")
            return page
        messages = [
            {"role": "system", "content": PROMPT.format(name=name)},
            {"role": "user", "content": source},
        ]
        try:
            with ModelClient(cfg) as client:
                comp = client.complete(messages, temperature=0.0)
        except ModelError as e:
            info["ok"] = False
            page.warnings.append(f"not translated (the original text is kept): {e.message}")
            return page
        translated = comp.text.strip()
        if translated.startswith("```") and translated.endswith("```"):
            translated = "\n".join(translated.splitlines()[1:-1]).strip()
        if not translated:
            info["ok"] = False
            page.warnings.append("not translated: the text model answered nothing")
            return page
        if comp.finish_reason == "length":
            info["truncated"] = True
            page.warnings.append(
                f"truncated: the translation stopped at max_tokens ({cfg.max_tokens}); the end "
                "of the page may be missing"
            )
        page.markdown = translated
        page.text = plain_text(translated)
        return page

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        code, _ = target(options.get("translate_to"))
        job.finish()  # text/markdown from the translated pages
        job.extra["translation"] = {
            "to": code,
            "pages_translated": sum(
                1 for p in job.pages if (p.extra.get("translate") or {}).get("ok")
            ),
            "original": "pages[].original_text and pages[].original_markdown",
        }
        return job


def plain_text(markdown: str) -> str:
    """The translation's plain text: the Markdown's lines without Markdown marks,
    paragraphs separated by a blank line (as the vlm engine does for page text)."""
    from ocrkit.layout import markdown_lines

    paras: list[list[str]] = []
    last = None
    for text, _kind, para in markdown_lines(markdown):
        if not paras or para != last:
            paras.append([])
        paras[-1].append(text)
        last = para
    return "\n\n".join("\n".join(p) for p in paras)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(TranslateTool())
