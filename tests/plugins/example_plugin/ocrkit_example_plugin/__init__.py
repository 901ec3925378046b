"""An example ocrkit plugin: one of each thing a plugin can add.

* engine ``example-upper``: Tesseract (through pytesseract) with every line upper-cased,
  so its output is recognisably its own;
* tool ``example-tool``: counts words per page and per job into ``extra``;
* exporter ``example-fmt``: one word per row as TSV, with its page, line, box and
  confidence;
* command ``ocrkit example-hello``;
* route ``GET /-/example-hello`` on ``ocrkit serve``.

The distribution lists this module in its ``ocrkit`` entry-point group (see
``pyproject.toml``); ocrkit finds it there. Heavy imports (pytesseract, starlette) stay
inside the functions that need them, so loading the plugin is cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

import ocrkit
from ocrkit.hookspecs import Engine, ExportContext, Exporter, PageResult, Tool
from ocrkit.models import Block, Job, Page, Word

if TYPE_CHECKING:
    from PIL import Image

__version__ = "0.1.0"


class UpperEngine(Engine):
    name = "example-upper"
    tier = "cpu"
    description = "Example plugin: Tesseract, upper-cased"

    def languages(self) -> list[str]:
        import pytesseract

        return [c for c in pytesseract.get_languages(config="") if c != "osd"]

    def availability(self) -> tuple[bool, str]:
        import shutil

        if shutil.which("tesseract") is None:
            return False, "the tesseract program is not on PATH"
        return True, ""

    def recognize(self, image: Image.Image, *, languages: list[str], dpi: int) -> PageResult:
        import pytesseract

        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        data = pytesseract.image_to_data(
            image.convert("RGB") if image.mode not in ("1", "L", "RGB") else image,
            lang="+".join(languages or ["eng"]),
            config=f"--psm 3 --dpi {max(int(dpi), 70)}",
            output_type=pytesseract.Output.DICT,
        )
        lines: dict[tuple[int, int, int], list[Word]] = {}
        for i, text in enumerate(data["text"]):
            conf = float(data["conf"][i])
            if not str(text).strip() or conf < 0:
                continue
            x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            word = Word(str(text).strip().upper(), [x, y, x + w, y + h], round(conf / 100, 4))
            lines.setdefault(key, []).append(word)
        blocks = []
        for words in lines.values():
            x0, y0, x1, y1 = zip(*(w.bbox for w in words), strict=True)
            blocks.append(
                Block(
                    text=" ".join(w.text for w in words),
                    bbox=[min(x0), min(y0), max(x1), max(y1)],
                    confidence=round(sum(w.confidence for w in words) / len(words), 4),
                    words=words,
                )
            )
        return PageResult(blocks=blocks)


class WordCountTool(Tool):
    name = "example-tool"
    description = "Example plugin: count words per page and per job (in extra)"

    def process_page(self, page: Page, image: Any, options: dict[str, Any]) -> Page:
        page.extra["example_words"] = sum(len(b.words) or len(b.text.split()) for b in page.blocks)
        return page

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        job.extra["example_words"] = sum(p.extra.get("example_words", 0) for p in job.pages)
        return job


class WordsTsvExporter(Exporter):
    name = "example-fmt"
    media_type = "text/tab-separated-values; charset=utf-8"
    extension = "tsv"
    description = "Example plugin: one word per row (page, line, word, confidence, box)"
    is_text = True

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        rows = ["page\tline\tword\tconfidence\tx0\ty0\tx1\ty1"]
        for page in job.pages:
            for n, block in enumerate(page.blocks, 1):
                for word in block.words:
                    box = "\t".join(str(round(v)) for v in word.bbox)
                    rows.append(f"{page.index + 1}\t{n}\t{word.text}\t{word.confidence}\t{box}")
        return ("\n".join(rows) + "\n").encode("utf-8")


@ocrkit.hookimpl
def register_engines(register: Callable[[Engine], None]) -> None:
    register(UpperEngine())


@ocrkit.hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(WordCountTool())


@ocrkit.hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(WordsTsvExporter())


@ocrkit.hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="example-hello")
    @click.argument("name", default="world")
    def example_hello(name: str) -> None:
        """Say hello (from the example plugin)."""
        click.echo(f"Hello, {name}, from ocrkit-example-plugin {__version__}")


@ocrkit.hookimpl
def register_routes(register: Callable[[Any], None]) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"Hello from ocrkit-example-plugin {__version__}\n")

    register(Route("/-/example-hello", hello, methods=["GET"]))
