"""The page pipeline: page tasks in, finished :class:`~ocrkit.models.Page` objects out.

The main process only enumerates small, picklable :class:`PageTask` objects (path,
type, page index, dpi, options). A worker opens the file itself and decodes or renders
just that page, so pages stream: at most ``in_flight`` pages exist at once. Per page:

    load -> upright image -> PDF text layer if usable, else engine.recognize
         -> layout -> tool.process_page -> save images_dir/page-{index}.png -> Page

For cpu engines, "engine.recognize" is :func:`ocrkit.page.read.read_page`: blank check,
deskew, quarter turns found by Tesseract OSD, and language=auto's script and language
detection with a second pass when the first used the wrong models.

Workers are processes (:func:`make_executor`); each sets ``OMP_THREAD_LIMIT=1`` (one
Tesseract thread per process is fastest when there is a process per core) and builds
its own registry. ``jobs=1`` runs the same function in the calling process.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import os
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ocrkit import lang
from ocrkit.errors import BadInput, EngineFailed, OcrkitError
from ocrkit.hookspecs import Engine, PageResult
from ocrkit.layout import page as layout
from ocrkit.models import Block, Page, Word
from ocrkit.page.call import PageImage, page_image
from ocrkit.page.inputs import (
    Limits,
    check_page_content,
    load_image_page,
    open_pdf,
    pdf_page_image,
    render_dpi,
)
from ocrkit.plugins import Registry, get_registry
from ocrkit.settings import Settings, using


@dataclass(frozen=True)
class PageTask:
    path: str
    kind: str
    index: int  # 0-based page index in the input
    dpi: int
    engine: str
    languages: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    password: str | None = None
    force_ocr: bool = False
    tool: str | None = None
    tool_options: tuple[tuple[str, Any], ...] = ()
    images_dir: str | None = None
    # language=auto: ``languages`` is only the first pass's set; the page's script and
    # text language choose the models (ocrkit.page.read).
    auto_language: bool = False
    # The caller's settings, in force while the page runs (model servers for vlm).
    settings: Settings | None = None
    # False: the caller's output never shows detected_languages (Exporter.
    # uses_detected_languages); pages kept from the text layer skip identifying them.
    detect_languages: bool = True


def _init_worker() -> None:
    from ocrkit.pipeline import worker

    worker.init()


# What the calling process imports before a one-job pool forks from it: the worker's
# start-up, then the pipeline itself (by name: the worker module does not import the
# pipeline). The fork server adds the language model (ocrkit.pipeline.preload).
PRELOAD = ["ocrkit.pipeline.worker", "ocrkit.pipeline.pages", "ocrkit.page.textlayer"]


def make_executor(
    n: int | None = None,
    *,
    fork_when_alone: bool = False,
    initializer: Callable[[], None] | None = None,
) -> ProcessPoolExecutor:
    """A pool of ``n`` page workers (default one per core), started with forkserver so
    it is safe to create from a threaded process (the server). The fork server imports
    :mod:`ocrkit.pipeline.worker` once; workers fork from it ready to work.

    ``fork_when_alone`` (one job's pool: the CLI, ``api.ocr``): when the calling process
    runs no other thread, it imports the same modules itself and the workers fork
    straight from it. No fork server and no resource-tracker process stay alive beside
    the workers: ``ocrkit ocr -j 2 -f pdf`` on 20 A4 scans peaked at 393 MB RSS summed
    over the process tree instead of 470 (the fork server held 75 MB, the tracker 13).

    ``initializer`` replaces the workers' start-up (:func:`ocrkit.pipeline.worker.init`);
    the server's runs a small made-up page too (:func:`ocrkit.jobs.pool.init_warm`)."""
    n = n or os.cpu_count() or 1
    if fork_when_alone and _alone():
        import importlib

        for name in PRELOAD:
            importlib.import_module(name)
        ctx: Any = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*PRELOAD, "ocrkit.pipeline.preload"])
    init = initializer or _init_worker
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=init)


def _alone() -> bool:
    """Forking is safe here: the platform has fork and no other Python thread runs (a
    thread holding a lock at the fork would leave it locked in every worker)."""
    import threading

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


# ---------------------------------------------------------------------- one page


def process_page(task: PageTask, registry: Registry | None = None) -> Page:
    """Run one page through the pipeline (in a worker or in-process). The page carries
    the wall-clock seconds it took as the attribute ``wall_seconds`` (not a field: it is
    not part of the page's JSON; the server's metrics read it)."""
    start = time.perf_counter()
    with using(task.settings):
        page = _process_page(task, registry)
    page.wall_seconds = time.perf_counter() - start  # type: ignore[attr-defined]
    return page


def _process_page(task: PageTask, registry: Registry | None = None) -> Page:
    reg = registry or get_registry()
    if task.kind == "pdf":
        try:
            page, image = _pdf_page(task, reg)
        except OcrkitError:
            raise
        except Exception as exc:  # MuPDF failing on a damaged page
            raise BadInput(f"page {task.index + 1} of the PDF cannot be read: {exc}") from exc
    else:
        page, image = _image_page(task, reg)
    if task.tool:
        page = reg.tools[task.tool].process_page(page, image, dict(task.tool_options))
    if task.images_dir and image is not None:
        out = Path(task.images_dir) / f"page-{task.index}.png"
        tmp = out.with_suffix(".tmp")
        image.save(tmp, format="PNG", compress_level=_png_level(image))
        tmp.replace(out)
    return page


def _png_level(image: Image.Image) -> int:
    """zlib level for saved page images: 3 takes half the time of Pillow's default 6;
    very large pages (posters, > 30 Mpx) get 1, which is faster again."""
    return 1 if image.width * image.height > 30_000_000 else 3


def _needs_image(task: PageTask) -> bool:
    return bool(task.images_dir or task.tool)


def _pdf_page(task: PageTask, reg: Registry) -> tuple[Page, Image.Image | None]:
    import pymupdf

    from ocrkit.page.textlayer import read_text_layer, unmapped_words

    with open_pdf(Path(task.path), task.password) as doc:
        pp = doc[task.index]
        page, dpi = _new_pdf_page(task, pp)
        # Before anything interprets the page: reading the text layer builds the page's
        # display list, which for a content bomb is millions of operators (seconds).
        check_page_content(pp, task.limits)
        layer = None if task.force_ocr else read_text_layer(pp, dpi)
        bad_words = unmapped_words(layer.blocks) if layer is not None and layer.usable else []
        image = (
            pdf_page_image(pp, dpi, task.limits, checked=True)
            if (layer is None or not layer.usable or _needs_image(task) or bad_words)
            else None
        )
    # MuPDF keeps decoded page images in its store (up to 256 MB per process) for a
    # document that is closed now and reopened per page, so nothing would ever hit the
    # cache: a 100-page scanned PDF grew each page worker by ~8 MB per page.
    pymupdf.TOOLS.store_shrink(100)
    if layer is not None and layer.usable:
        if bad_words and image is not None:
            page.blocks = layer.blocks
            layer.stats["ocr_words"] = _ocr_words(task, reg, page, image, bad_words)
        return _text_layer_page(page, layer, task.detect_languages), image
    if layer is not None:
        page.extra["text_layer"] = {"reason": layer.reason, **layer.stats}
    assert image is not None
    # handed down with no reference kept here: read_page drops it once deskewed
    source = PageImage(image, lambda: _pdf_image_again(task, dpi))
    del image
    return _ocr(task, reg, page, source)


def _pdf_image_again(task: PageTask, dpi: int) -> Image.Image:
    """The page image :func:`_pdf_page` read, decoded or rendered again (the same
    pixels), for a :class:`~ocrkit.page.call.PageImage` that dropped it."""
    import pymupdf

    with open_pdf(Path(task.path), task.password) as doc:
        image = pdf_page_image(doc[task.index], dpi, task.limits, checked=True)
    pymupdf.TOOLS.store_shrink(100)
    return image


def _new_pdf_page(task: PageTask, pp: Any) -> tuple[Page, int]:
    """The Page of a PDF page at the dpi it is read at (lower for a huge page)."""
    import pymupdf

    dpi, warning = render_dpi((pp.rect.width, pp.rect.height), task.dpi, task.limits)
    size = (pp.rect * pymupdf.Matrix(dpi / 72, dpi / 72)).irect
    page = Page(task.index, size.width, size.height, dpi, rotation=pp.rotation % 360)
    if warning:
        page.warnings.append(warning)
    return page, dpi


def _text_layer_page(page: Page, layer: Any, detect: bool = True) -> Page:
    page.source, page.engine, page.confidence = "text-layer", "pdf-text", 1.0
    page.blocks = layer.blocks
    page.extra["text_layer"] = layer.stats
    # No OSD or deskew here: the text layer is already in upright page space.
    if detect:
        # imported here: a job that identifies no language (txt) never loads it
        from ocrkit.page import read as readpage

        page.detected_languages = [
            c for c, _ in readpage.detect_languages([b.text for b in page.blocks])
        ]
    layout.finish_page(page, layer.sizes, layer.bold)
    return page


class OpenPdf:
    """The one PDF the calling process keeps open for a job's page tasks, opened on first
    use and again only when a task names another file or password."""

    def __init__(self) -> None:
        self._doc: Any = None
        self._key: tuple[str, str | None] | None = None
        self._stack = contextlib.ExitStack()

    def get(self, task: PageTask) -> Any:
        """The document of ``task`` (raises what opening it raises)."""
        if self._key != (task.path, task.password):
            self.close()
            self._doc = self._stack.enter_context(open_pdf(Path(task.path), task.password))
            self._key = (task.path, task.password)
        return self._doc

    def close(self) -> bool:
        """Close the document; whether one was open."""
        opened = self._doc is not None
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._doc = self._key = None
        return opened


class TextLayerFirst:
    """Born-digital PDF pages finished in the calling process, without a worker.

    Called with each task before it is sent to a worker: a PDF page whose text layer is
    usable (and that needs no page image: no tool, no saved images) becomes its Page
    here, from one document opened once for the whole input; anything else returns None
    and goes to a worker as before. Shipping a 20 ms page to a worker cost more than the
    page (pickling, a document opened per page, a pool started for nothing)."""

    def __init__(self) -> None:
        self.pdf = OpenPdf()

    @staticmethod
    def eligible(task: PageTask) -> bool:
        """A page this may finish (a PDF page, not forced to OCR, needing no image)."""
        return task.kind == "pdf" and not task.force_ocr and not _needs_image(task)

    def __call__(self, task: PageTask) -> Page | None:
        if not self.eligible(task):
            return None
        from ocrkit.page.textlayer import read_text_layer, unmapped_words

        with using(task.settings):
            try:
                pp = self.pdf.get(task)[task.index]
                page, dpi = _new_pdf_page(task, pp)
                check_page_content(pp, task.limits)  # before the display list is built
                layer = read_text_layer(pp, dpi)
            except Exception:  # a damaged page or a limit: the worker reports it as always
                return None
            if not layer.usable or unmapped_words(layer.blocks):
                return None  # OCR, or words to read from the page image: a worker
            return _text_layer_page(page, layer, task.detect_languages)

    def close(self) -> None:
        if self.pdf.close():
            # An import statement, not sys.modules: in a server another thread may be
            # importing pymupdf right now, and only the statement waits for it to finish
            # (reading TOOLS off the half-made module failed whole jobs under load).
            import pymupdf

            pymupdf.TOOLS.store_shrink(100)


# A worker's own TextLayerFirst (:func:`text_layer_page`): its document stays open
# from page to page, so the fonts are loaded once per worker, not once per page.
_WORKER_FIRST: TextLayerFirst | None = None


# A page's lines as plain tuples: (text, bbox, confidence, words, type, paragraph, flags,
# extra), each word (text, bbox, confidence).
_PackedBlocks = list[tuple[Any, ...]]


def text_layer_page(task: PageTask) -> tuple[Page, _PackedBlocks]:
    """:class:`TextLayerFirst` in a worker (a pool of one job, :func:`run_pages` with
    ``share``), then :func:`process_page` when the page needs more than its text layer.
    The worker's document is closed when the pool ends (with the job).

    The page comes back with its lines as tuples (:func:`_unpack` makes them Blocks
    again): the caller unpickles a page of text in about half the CPU time (the 346
    Word objects of a page are pickled field by field otherwise), and its CPU time is
    what limits a born-digital PDF on two workers."""
    global _WORKER_FIRST
    if _WORKER_FIRST is None:
        _WORKER_FIRST = TextLayerFirst()
    page = _WORKER_FIRST(task) or process_page(task)
    blocks, page.blocks = page.blocks, []
    return page, [
        (
            b.text,
            b.bbox,
            b.confidence,
            [(w.text, w.bbox, w.confidence) for w in b.words],
            b.type,
            b.paragraph,
            b.flags,
            b.extra,
        )
        for b in blocks
    ]


def _unpack(packed: tuple[Page, _PackedBlocks]) -> Page:
    page, blocks = packed
    page.blocks = [
        Block(text, bbox, conf, [Word(*w) for w in words], type_, paragraph, flags, extra)
        for text, bbox, conf, words, type_, paragraph, flags, extra in blocks
    ]
    return page


class LazyPool(Executor):
    """A :func:`make_executor` pool started on the first submitted page, so an input
    whose pages all finish in the calling process (:class:`TextLayerFirst`) starts
    no worker at all."""

    def __init__(self, n: int) -> None:
        self._n = self._max_workers = n
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._pool is None:
            self._pool = make_executor(self._n, fork_when_alone=True)
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _ocr_words(
    task: PageTask, reg: Registry, page: Page, image: Image.Image, where: list[tuple[int, int]]
) -> int:
    """Words of a kept text layer holding unmapped glyphs (U+FFFD, private use) are read
    from the page image by the cpu engine; a word it cannot read loses the unmapped
    glyphs. Returns how many words OCR replaced."""
    from ocrkit.page import read as readpage
    from ocrkit.page.textlayer import unmapped

    engine: Engine | None = None
    for name in (task.engine, None):  # the job's engine if it reads images, else cpu's
        try:
            cand = reg.engine(name or reg.default_engine("cpu"))
        except OcrkitError:
            continue
        if cand.tier == "cpu":
            engine = cand
            break
    have = engine.languages() if engine is not None else []
    langs = [c for c in task.languages if c in have]
    if task.auto_language or not langs:
        found = readpage.detect_languages([b.text for b in page.blocks])
        langs = [c for c in readpage.tess_codes([c for c, _ in found]) if c in have][:2]
    langs = langs or [c for c in lang.default_languages() if c in have] or have[:1]
    replaced = 0
    for bi, wi in where:
        block = page.blocks[bi]
        word = block.words[wi]
        text = ""
        if engine is not None and langs:
            x0, y0, x1, y1 = word.bbox
            pad = max(4.0, (y1 - y0) * 0.3)
            box = (
                max(0, int(x0 - pad)),
                max(0, int(y0 - pad)),
                min(image.width, int(x1 + pad + 1)),
                min(image.height, int(y1 + pad + 1)),
            )
            if box[2] > box[0] and box[3] > box[1]:
                try:
                    res = engine.recognize(image.crop(box), languages=langs, dpi=page.dpi)
                    text = " ".join(b.text.strip() for b in res.blocks if b.text.strip())
                except OcrkitError:
                    text = ""
        if text:
            replaced += 1
        else:
            text = "".join(c for c in word.text if not unmapped(c))
        word.text = text
        block.text = " ".join(w.text for w in block.words if w.text)
    return replaced


def _image_page(task: PageTask, reg: Registry) -> tuple[Page, Image.Image]:
    loaded = load_image_page(Path(task.path), task.index, task.limits)
    img = loaded.image
    page = Page(task.index, img.width, img.height, loaded.dpi, rotation=loaded.rotation)
    page.warnings.extend(loaded.warnings)
    # handed down with no reference kept here: read_page drops it once deskewed
    source = PageImage(img, lambda: load_image_page(Path(task.path), task.index, task.limits).image)
    del img, loaded
    return _ocr(task, reg, page, source)


def _missing_languages(task: PageTask, engine: Engine, page: Page) -> PageTask:
    """A page that needs OCR in a language the engine has no model for is read with
    ``auto`` instead, with a warning naming the missing model. Checked here, per page
    that needs OCR, and not when the job starts: pages kept from a PDF's text layer
    need no OCR language at all."""
    have = engine.languages()
    missing = [c for c in task.languages if have and c not in have]
    if not missing:
        return task
    from dataclasses import replace

    from ocrkit.lang import codes as languages

    present = [c for c in task.languages if c not in missing]
    hint = ""
    if engine.name == "tesseract":
        hint = " (apt-get install " + " ".join(languages.apt_package(c) for c in missing) + ")"
    page.warnings.append(
        f"engine {engine.name!r} has no model for {', '.join(missing)}{hint}: "
        "this page was read with language=auto"
    )
    return replace(
        task,
        languages=tuple(present or lang.default_languages()),
        auto_language=True,
    )


def _ocr(
    task: PageTask, reg: Registry, page: Page, source: Image.Image | PageImage
) -> tuple[Page, Image.Image]:
    from ocrkit.page import read as readpage

    engine = reg.engine(task.engine)
    task = _missing_languages(task, engine, page)
    if engine.tier == "cpu":
        return _ocr_cpu(task, engine, page, source, reg)
    image = page_image(source)
    # the job's options reach engines that take them (vlm prompts)
    result = readpage.call_engine(
        engine,
        image,
        list(task.languages),
        page.dpi,
        dict(task.tool_options),
        where=f" on page {task.index + 1}",
    )
    if not result.detected_languages:
        result.detected_languages = [
            c for c, _ in readpage.detect_languages([b.text for b in result.blocks])
        ]
    return _finish_ocr(task, page, image, result)


def _ocr_cpu(
    task: PageTask,
    engine: Engine,
    page: Page,
    image: Image.Image | PageImage,
    reg: Registry | None = None,
) -> tuple[Page, Image.Image]:
    """A cpu engine: blank check, upright and deskewed, language=auto (ocrkit.page.read);
    with no engine named, the engine best for the page (ocrkit.pipeline.engine_choice)."""
    from ocrkit.page import read as readpage
    from ocrkit.pipeline import engine_choice

    options = dict(task.tool_options)
    chosen = None
    try:
        # extract-tables picks the reader per table itself
        if (
            reg is not None
            and task.tool != "extract-tables"
            and engine_choice.applies(options, engine)
        ):
            reading, chosen = engine_choice.read(
                engine,
                image,
                dpi=page.dpi,
                languages=list(task.languages),
                auto=task.auto_language,
                options=options,
                reg=reg,
            )
        else:
            reading = readpage.read_page(
                engine,
                image,
                dpi=page.dpi,
                languages_=list(task.languages),
                auto=task.auto_language,
                options=options,
            )
    except EngineFailed as exc:
        raise EngineFailed(f"page {task.index + 1}: {exc}") from exc
    image = reading.image
    if reading.turn:
        page.width, page.height = image.size
        page.rotation = (page.rotation + reading.turn) % 360
        page.extra["engine_rotation"] = reading.turn
    if reading.deskew:
        page.extra["deskew"] = reading.deskew
    if reading.blank:
        page.extra["blank"] = True
    page.extra["ocr_languages"] = list(reading.languages)
    page.extra["ocr_passes"] = reading.passes
    page.extra.update(reading.extra)
    result = reading.result
    result.detected_languages = result.detected_languages or reading.detected
    result.warnings = [*result.warnings, *reading.warnings]
    if chosen is not None:
        page.extra["engine_choice"] = chosen
        result.engine = chosen["engine"]
    return _finish_ocr(task, page, image, result)


def _finish_ocr(
    task: PageTask, page: Page, image: Image.Image, result: PageResult
) -> tuple[Page, Image.Image]:
    turn = int(result.rotation or 0) % 360
    if turn:
        image = image.rotate(-turn, expand=True)  # PIL rotates counter-clockwise
        page.width, page.height = image.size
        page.rotation = (page.rotation + turn) % 360
        page.extra["engine_rotation"] = (int(page.extra.get("engine_rotation", 0)) + turn) % 360
    page.source, page.engine = "ocr", task.engine
    page.blocks = list(result.blocks)
    page.detected_languages = list(result.detected_languages)
    page.warnings.extend(result.warnings)
    confs = [b.confidence for b in page.blocks if b.text.strip()]
    page.confidence = round(sum(confs) / len(confs), 4) if confs else None
    page.extra.update(result.extra)  # before layout: "reading_order" is read there
    layout.finish_page(page, image=image)  # the image: bold headings (stroke width)
    # Engines that read whole pages (vlm) give their own text and Markdown.
    if result.text is not None:
        page.text = result.text
    if result.markdown is not None:  # a model's Markdown: no live HTML, image or link
        from ocrkit.mdescape import neutralise_markdown

        page.markdown = neutralise_markdown(result.markdown)
    page.engine = result.engine or page.engine
    return page, image


# ------------------------------------------------------------------------ many pages


def run_pages(
    tasks: Iterable[PageTask],
    *,
    executor: Executor | None,
    in_flight: int,
    registry: Registry | None = None,
    on_page: Callable[[Page], None] | None = None,
    first: Callable[[PageTask], Page | None] | None = None,
    share: bool = False,
    read_here: bool = True,
) -> list[Page]:
    """Process ``tasks``; in the calling process when ``executor`` is None, else with at
    most ``in_flight`` pages submitted at once. Calls ``on_page`` as pages finish.
    ``first`` (e.g. :class:`TextLayerFirst`) may finish a task in this process.

    ``share`` (``executor`` is this job's own pool, ``first`` a TextLayerFirst): the
    workers take born-digital pages too, each keeping the document open
    (:func:`text_layer_page`), and this process finishes one itself only while every
    worker is busy; on two cores a text-layer PDF then runs on both. ``read_here=False``
    (the workers have every core): this process reads none itself, it only keeps the
    workers fed."""
    pages: list[Page] = []
    ordered = None
    if executor is not None:
        # the document TextLayerFirst keeps open serves the cost guess too
        pdf = first.pdf if isinstance(first, TextLayerFirst) else None
        tasks = ordered = costliest_first(tasks, LOOK_AHEAD, pdf)
    # closing(): when on_page raises (a cancelled job), pending pages are cancelled now.
    if share and executor is not None and isinstance(first, TextLayerFirst):
        it_ = _iter_shared(tasks, executor, max(1, in_flight), first if read_here else None)
    else:
        it_ = _iter_pages(tasks, executor, max(1, in_flight), registry, first)
    with contextlib.closing(it_) as it, contextlib.ExitStack() as stack:
        if ordered is not None:
            stack.callback(ordered.close)  # its document, when the job stops early
        for page in it:
            pages.append(page)
            if on_page is not None:
                on_page(page)
    pages.sort(key=lambda p: p.index)
    return pages


# How many of the next page tasks :func:`costliest_first` chooses from. Workers that
# finish at different times leave a core idle at the end of a job while the last page
# is read; sending the costliest pages first leaves the cheap ones for that tail.
LOOK_AHEAD = 8


def costliest_first(
    tasks: Iterable[PageTask], window: int, pdf: OpenPdf | None = None
) -> Generator[PageTask, None, None]:
    """``tasks`` reordered so that, of the next ``window`` tasks, the one whose page
    looks costliest to read goes first (:class:`PageCost`); equal costs keep their
    order, and image inputs (no estimate) keep theirs. At most ``window`` tasks are held
    back, so an input of any length streams as before. Pages still come out of
    :func:`run_pages` in page order; only the order they reach the workers changes.

    Two workers reading the bench's 20 scans in order finished 1.5-3 s apart (a 7-8 s
    page started near the end); costliest first, the gap is the last cheap page."""
    cost = PageCost(pdf)
    held: list[tuple[float, int, PageTask]] = []
    try:
        for seq, task in enumerate(tasks):
            heapq.heappush(held, (-cost(task), seq, task))
            if len(held) >= window:
                yield heapq.heappop(held)[2]
        while held:
            yield heapq.heappop(held)[2]
    finally:
        cost.close()


class PageCost:
    """A guess, cheap to make in the calling process, at how long a page takes to read:
    for a PDF page, the stored bytes of the images it draws (more text, more bytes; a
    1-bit image's bytes count 8 times, as it stores a page of text in about an eighth
    of a grey one's), read from the document's object table without decoding anything
    (~0.1 ms a page). 0 for other inputs and for pages without images (text-layer pages,
    read in milliseconds), and for any page the guess fails on. ``pdf``: a document
    holder to share (:class:`TextLayerFirst`'s), left open by :meth:`close`."""

    def __init__(self, pdf: OpenPdf | None = None) -> None:
        self._own = pdf is None
        self._pdf = OpenPdf() if pdf is None else pdf

    def __call__(self, task: PageTask) -> float:
        if task.kind != "pdf":
            return 0.0
        try:
            doc = self._pdf.get(task)
            return float(sum(_image_bytes(doc, img) for img in doc.get_page_images(task.index)))
        except Exception:  # a damaged page: the worker reports it
            return 0.0

    def close(self) -> None:
        if self._own:
            self._pdf.close()


def _image_bytes(doc: Any, img: tuple[Any, ...]) -> int:
    xref, bpc = img[0], img[4]
    kind, value = doc.xref_get_key(xref, "Length")
    size = int(value) if kind == "int" else len(doc.xref_stream_raw(xref) or b"")
    return size * (8 if bpc == 1 else 1)


def _worker_result(fut: Future[Any]) -> Any:
    """A page worker's result; a dead worker is the job's EngineFailed."""
    try:
        return fut.result()
    except BrokenProcessPool as exc:
        raise EngineFailed(f"a page worker died ({exc}); see the log") from exc


def _iter_pages(
    tasks: Iterable[PageTask],
    executor: Executor | None,
    in_flight: int,
    reg: Registry | None,
    first: Callable[[PageTask], Page | None] | None = None,
) -> Generator[Page, None, None]:
    if executor is None:
        os.environ["OMP_THREAD_LIMIT"] = "1"
        for task in tasks:
            done_here = first(task) if first is not None else None
            yield done_here if done_here is not None else process_page(task, reg)
        return
    todo = iter(tasks)
    running: set[Future[Page]] = set()
    ready: list[Page] = []  # pages ``first`` finished here, to yield

    def submit_next() -> bool:
        """Submit the next task needing a worker (finishing cheap ones on the way)."""
        for task in todo:
            done_here = first(task) if first is not None else None
            if done_here is not None:
                ready.append(done_here)
                continue
            running.add(executor.submit(process_page, task))
            return True
        return False

    try:
        while len(running) < in_flight and submit_next():
            while ready:
                yield ready.pop(0)
        while ready:
            yield ready.pop(0)
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                yield _worker_result(fut)
                submit_next()
                while ready:
                    yield ready.pop(0)
    finally:
        for fut in running:
            fut.cancel()


def _iter_shared(
    tasks: Iterable[PageTask],
    executor: Executor,
    in_flight: int,
    first: TextLayerFirst | None,
) -> Generator[Page, None, None]:
    """:func:`run_pages` with ``share``. Pages finished here are not pickled; a page a
    worker finished costs this process its unpickling (~2 ms for a page of text), so
    the workers get pages only while they have room (``in_flight``).

    ``first`` None: this process reads no page itself and waits for room instead. With
    as many workers as cores, a page read here only shares a core three ways, and while
    this process reads one (a probed page takes 40-60 ms) the workers, having no new
    page, run dry: 'ocrkit ocr -f txt' on the bench's 207 born-digital pages, two
    workers on two cores, took less CPU and less wall time without it."""
    running: set[Future[Any]] = set()

    def harvest(block: bool) -> list[Page]:
        nonlocal running
        if not running:
            return []
        done, running = wait(running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            result = _worker_result(fut)
            out.append(result if isinstance(result, Page) else _unpack(result))
        return out

    try:
        for task in tasks:
            yield from harvest(False)
            if first is None:
                while len(running) >= in_flight:
                    yield from harvest(True)
            if len(running) < in_flight:
                fn = text_layer_page if TextLayerFirst.eligible(task) else process_page
                running.add(executor.submit(fn, task))
                continue
            assert first is not None
            page = first(task)  # every worker is busy: this process reads the page
            if page is not None:
                yield page
                continue
            while len(running) >= in_flight:
                yield from harvest(True)
            running.add(executor.submit(process_page, task))
        while running:
            yield from harvest(True)
    finally:
        for fut in running:
            fut.cancel()
