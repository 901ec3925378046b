"""What the server's page workers run besides pages: their warm start-up and the
searchable pdf of a job (see :class:`ocrkit.jobs.service.JobService`)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ocrkit.models import Job

log = logging.getLogger("ocrkit.server")


def write_pdf(job: Job, source: str, images_dir: str, dest: str) -> None:
    """The searchable pdf of a done job, written to ``dest`` (via a ``.part`` file): run
    by a page worker, or by the server when its pool is busy or cannot take it."""
    from ocrkit import api

    pdf = api.export(job, "pdf", source=Path(source), images_dir=Path(images_dir))
    tmp = Path(dest).with_suffix(".part")
    tmp.write_bytes(pdf)
    tmp.replace(dest)


# What the server's own process imports to make a searchable pdf (JobService._make_pdf
# makes it in the runner thread while other jobs run).
PDF_MODULES = ("pymupdf", "ocrkit_plugins.exporters.pdf.build")


def preload_pdf() -> None:
    """Import :data:`PDF_MODULES` in this process now, at the server's start, off the
    request path. The first pdf made while the server was busy imported them: ~150 ms
    CPU in the runner thread, holding the GIL while the event loop and the other runner
    waited, in the first seconds of load (at 8 clients, 32 jobs: ~5 ms a job). Cost:
    +34 MB RSS in the idle server's main process (its workers hold these already).
    Nothing here may stop the server: a missing exporter is reported by its first pdf."""
    import importlib

    for name in PDF_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:
            log.debug("preloading %s failed: %s", name, exc)
            return


def warm_page() -> None:
    """Read one small made-up page in this worker, in-process, and make its searchable
    pdf: the modules a page needs are imported and the engine's model for the default
    languages is loaded now, not on the worker's first real page (that page took 735 ms
    instead of ~230 here). Nothing here may stop a worker from starting."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        from ocrkit import api, lang

        image = Image.new("L", (900, 120), 255)
        font = ImageFont.load_default(size=40)
        ImageDraw.Draw(image).text((20, 30), "Warm up the page reader 1234", fill=0, font=font)
        with tempfile.TemporaryDirectory(prefix="ocrkit-warm-") as tmp:
            path = Path(tmp) / "warm.png"
            image.save(path, dpi=(300, 300))
            job = api.ocr(path, language="+".join(lang.default_languages()), jobs=1)
            api.export(job, "pdf", source=path)
    except Exception as exc:  # a missing model or engine: the first real page says so
        log.debug("page worker warm-up failed: %s", exc)


def init_warm() -> None:
    """Pool initializer of the server's page workers: the usual start-up
    (:func:`ocrkit.pipeline.worker.init`), then :func:`warm_page`."""
    from ocrkit.pipeline import worker

    worker.init()
    warm_page()
