"""The Python API: :func:`ocr` turns an image or PDF into a done :class:`Job`;
:func:`export` turns a job into bytes of a format.

The CLI and the server are thin layers over these two functions. Everything a caller
can get wrong raises an :class:`~ocrkit.errors.OcrkitError` subclass with a message
for people, before any page is processed where that is possible (type, password,
page range, limits, engine, languages).

Page indices: ``Page.index`` is the 0-based index of the page in the *input* (so
``pages="3"`` yields one page with index 2), and ``page_count`` is the number of pages
processed; ``job.extra["input_pages"]`` holds the input's total.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ocrkit.errors import BadOption
from ocrkit.hookspecs import ExportContext
from ocrkit.models import Job, Page
from ocrkit.page import inputs
from ocrkit.plugins import Registry, get_registry
from ocrkit.settings import Settings, load_settings

if TYPE_CHECKING:  # Pillow is imported only when pages are read
    from PIL import Image

Source = str | os.PathLike[str] | bytes | IO[bytes]
TIERS = ("cpu", "vlm")
# Without an explicit ``jobs``, inputs of at most this many pages run in-process.
SMALL_JOB_PAGES = 2
# From this many pages, the job's own workers read born-digital pages too (a pool
# started for them costs ~80 ms of CPU; each shared page saves half its ~11 ms).
SHARE_TEXT_PAGES = 16


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ocr(
    source: Source,
    *,
    engine: str | None = None,
    tier: str = "cpu",
    language: str = "auto",
    tool: str | None = None,
    translate_to: str | None = None,
    pages: str | None = None,
    dpi: int = 300,
    force_ocr: bool = False,
    jobs: int | None = None,
    password: str | None = None,
    limits: inputs.Limits | None = None,
    images_dir: Path | None = None,
    on_page: Callable[[Page], None] | None = None,
    progress: bool = False,
    executor: Executor | None = None,
    registry: Registry | None = None,
    filename: str | None = None,
    settings: Settings | None = None,
    engine_options: Sequence[str] | Mapping[str, Any] | None = None,
    on_start: Callable[[int], None] | None = None,
    detect_languages: bool = True,
) -> Job:
    """OCR ``source`` (a path, bytes or a binary stream) and return the done job.

    ``engine_options`` are the chosen engine's own options (``["psm=6"]`` or
    ``{"psm": 6}``; see :mod:`ocrkit.engine_options`). ``on_start`` gets the number of
    pages to read once it is known (before the first page), ``on_page`` each page.
    ``detect_languages=False``: pages kept from a PDF's text layer get no
    ``detected_languages`` (for a caller whose output never shows them: the CLI's txt).

    With a process pool (``executor``, or ``jobs`` > 1), page workers use the default
    registry (installed plugins); ``registry`` is used in this process and for
    ``jobs=1``."""
    from ocrkit.pipeline.plan import JobOptions, finish_job, plan

    reg = registry or get_registry()
    limits = limits or inputs.Limits()
    settings = settings or load_settings()
    if jobs is not None and jobs < 1:
        raise BadOption(f"jobs must be at least 1, not {jobs}")
    asked = JobOptions.from_call(
        engine=engine,
        tier=tier,
        language=language,
        tool=tool,
        translate_to=translate_to,
        dpi=dpi,
        force_ocr=force_ocr,
        engine_options=engine_options,
    )
    p = plan(asked, reg, settings)
    if filename is None and isinstance(source, str | os.PathLike):
        filename = Path(source).name
    job = Job(
        tier=tier,
        language=language,
        tool=tool,
        translate_to=translate_to,
        filename=filename,
        dpi=int(p.options.dpi or dpi),
        created_at=_now(),
        status="processing",
    )
    job.warnings.extend(p.warnings)
    if images_dir is not None:
        Path(images_dir).mkdir(parents=True, exist_ok=True)
    with inputs.open_source(source, limits) as path:
        kind = inputs.sniff_file(path)
        info = inputs.inspect(path, kind, password=password, limits=limits)
        indices = inputs.parse_page_ranges(pages, info.page_count)
        inputs.check_page_count(len(indices), limits)
        job.input_type, job.page_count = kind, len(indices)
        if on_start is not None:
            on_start(len(indices))
        job.extra["input_pages"] = info.page_count
        job.warnings.extend(info.warnings)
        template = p.page_task(
            path,
            kind,
            limits=limits,
            password=password,
            images_dir=images_dir,
            settings=settings,
        )
        if not detect_languages:
            template = replace(template, detect_languages=False)
        tasks = (replace(template, index=i) for i in indices)
        job.pages = _run(tasks, len(indices), jobs, executor, reg, on_page, progress, filename)
    job = finish_job(job, p, reg, settings)
    job.status, job.finished_at = "done", _now()
    return job


def _run(
    tasks: Any,
    n: int,
    jobs: int | None,
    executor: Executor | None,
    reg: Registry,
    on_page: Callable[[Page], None] | None,
    progress: bool,
    filename: str | None,
) -> list[Page]:
    from ocrkit.pipeline import pages as pipeline

    workers = min(jobs or os.cpu_count() or 1, max(n, 1))
    if jobs is None and n <= SMALL_JOB_PAGES:
        workers = 1  # starting worker processes costs more than it saves here
    own = None
    if executor is None and workers > 1:
        # started on the first page that needs a worker (born-digital pages need none)
        executor = own = pipeline.LazyPool(workers)
    in_flight = 2 * (getattr(executor, "_max_workers", None) or workers)
    callbacks = [on_page] if on_page else []
    bar = None
    if progress and sys.stderr.isatty():
        from ocrkit.pipeline.progress import Progress  # rich, imported only when drawn

        bar = Progress(enabled=True).__enter__()
        bar.start(filename or "input")
        callbacks.append(bar.page_done)

    def each(page: Page) -> None:
        for cb in callbacks:
            cb(page)

    first = pipeline.TextLayerFirst()
    try:
        return pipeline.run_pages(
            tasks,
            executor=executor,
            in_flight=in_flight,
            registry=None if executor else reg,
            on_page=each,
            first=first,
            share=own is not None and n >= SHARE_TEXT_PAGES,
            # a core left free by the pool: this process reads pages too
            read_here=workers < (os.cpu_count() or 1),
        )
    finally:
        first.close()
        if bar is not None:
            bar.__exit__(None, None, None)
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------- export


def export(
    job: Job,
    format: str,
    *,
    source: Path | None = None,
    images_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    registry: Registry | None = None,
) -> bytes:
    """``job`` as bytes of ``format`` (txt, md, json, csv, docx, pdf, hocr, plugins...)."""
    reg = registry or get_registry()
    exporter = reg.exporter(format)
    ctx = ExportContext(
        source=Path(source) if source is not None else None,
        page_image=_page_images(job, source, images_dir, (options or {}).get("password")),
        options=dict(options or {}),
    )
    return exporter.export(job, ctx)


def _page_images(
    job: Job, source: Path | None, images_dir: Path | None, password: str | None = None
) -> Callable[[int], Image.Image] | None:
    if images_dir is None and source is None:
        return None

    def page_image(index: int) -> Image.Image:
        from PIL import Image

        if images_dir is not None:
            path = Path(images_dir) / f"page-{index}.png"
            if path.is_file():
                im = Image.open(path)
                im.load()  # reads the pixels and closes the file
                return im
        if source is None:
            raise FileNotFoundError(f"no image for page {index} in {images_dir}")
        return render_source_page(job, Path(source), index, password=password)

    return page_image


def render_source_page(
    job: Job, source: Path, index: int, *, password: str | None = None
) -> Image.Image:
    """The upright page image of page ``index`` of ``source`` as the pipeline saw it
    (a password-protected PDF needs ``password``, passed to :func:`export` in
    ``options["password"]``)."""
    page = next((p for p in job.pages if p.index == index), None)
    kind = inputs.sniff_file(source)
    if kind == "pdf":
        dpi = page.dpi if page is not None else job.dpi
        with inputs.open_pdf(source, password) as doc:
            img = inputs.pdf_page_image(doc[index], dpi)
    else:
        img = inputs.load_image_page(source, index, inputs.Limits()).image
    turn = int(page.extra.get("engine_rotation", 0)) if page is not None else 0
    img = img.rotate(-turn, expand=True) if turn else img
    angle = float(page.extra.get("deskew", 0.0) or 0.0) if page is not None else 0.0
    if angle:  # the pipeline's deskew (ocrkit.page.orient): boxes refer to the levelled image
        from ocrkit.page.orient import deskew

        img = deskew(img, angle)
    return img
