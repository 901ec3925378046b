"""Page-worker process start-up (imported once in the fork server; workers fork from it).

Importing this module prepares a process that only decodes, renders and reads pages:

* ``OMP_THREAD_LIMIT=1``: one Tesseract thread per process, since the pool already
  runs one process per core;
* the heavy imports (PyMuPDF, Pillow) and the language-identification model happen
  here once, before forking (the pool's fork server also preloads the pipeline's
  modules: :func:`ocrkit.pipeline.pages.make_executor`).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"

import pymupdf  # noqa: E402,F401
from PIL import Image  # noqa: E402,F401

from ocrkit.lang import detect as langdetect  # noqa: E402

langdetect.warm()  # fastText's language model (~0.4 s to load), once for every worker


def init() -> None:
    """Pool initializer: build this worker's registry (plugins load here too).

    Ctrl-C in a terminal reaches the whole process group; the parent (the CLI or the
    server) handles it and stops the pool, so a worker ignores SIGINT instead of
    printing a KeyboardInterrupt traceback of its own."""
    import signal

    from ocrkit.plugins import get_registry

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    get_registry()


def warm_page() -> None:
    """Read one small made-up page in this worker, in-process, and make its searchable
    pdf: the modules a page needs are imported and the engine's model for the default
    languages is loaded now, not on the worker's first real page (that page took 735 ms
    instead of ~230 here). The server's pool does this at start-up; nothing here may
    stop a worker from starting."""
    import logging
    import tempfile
    from pathlib import Path

    from PIL import ImageDraw, ImageFont

    try:
        from ocrkit import api, lang

        image = Image.new("L", (900, 120), 255)
        font = ImageFont.load_default(size=40)
        ImageDraw.Draw(image).text((20, 30), "Warm up the page reader 1234", fill=0, font=font)
        with tempfile.TemporaryDirectory(prefix="ocrkit-warm-") as tmp:
            path = Path(tmp) / "warm.png"
            image.save(path, dpi=(300, 300))
            job = api.ocr(path, language="+".join(lang.default_languages()), jobs=1)
            api.export(job, "pdf", source=path)  # the server's workers make its pdfs
    except Exception as exc:  # a missing model or engine: the first real page says so
        logging.getLogger("ocrkit.server").debug("page worker warm-up failed: %s", exc)


def init_warm() -> None:
    """Pool initializer of the server's page workers: :func:`init`, then a warm page."""
    init()
    warm_page()
