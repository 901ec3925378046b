"""Page-worker process start-up (imported once in the fork server; workers fork from it).

Importing this module prepares a process that only decodes, renders and reads pages:

* ``OMP_THREAD_LIMIT=1``: one Tesseract thread per process, since the pool already
  runs one process per core;
* the heavy imports (PyMuPDF, Pillow) happen here once, before forking (the pool's
  fork server also preloads the pipeline's modules and, through
  :mod:`ocrkit.pipeline.preload`, the language-identification model:
  :func:`ocrkit.pipeline.pages.make_executor`).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"

import pymupdf  # noqa: E402,F401
from PIL import Image  # noqa: E402,F401


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
