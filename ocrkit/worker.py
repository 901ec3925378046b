"""Page-worker process start-up (imported once in the fork server; workers fork from it).

Importing this module prepares a process that only decodes, renders and reads pages:

* ``OMP_THREAD_LIMIT=1``: one Tesseract thread per process, since the pool already
  runs one process per core;
* PyMuPDF without ``pymupdf.layout``: PyMuPDF 2 imports that ONNX layout model on
  ``import pymupdf`` (seconds per process), and only ``Page.get_layout()`` uses it;
  rendering and text extraction are identical without it. Its "install the layout
  package" hint is switched off too, so a worker never prints to the CLI's stdout;
* the heavy imports (PyMuPDF, Pillow, the pipeline) happen here once, before forking.
"""

from __future__ import annotations

import os
import sys

os.environ["OMP_THREAD_LIMIT"] = "1"
os.environ.setdefault("PYMUPDF_SUGGEST_LAYOUT_ANALYZER", "0")
if "pymupdf" not in sys.modules:
    sys.modules.setdefault("pymupdf.layout", None)  # type: ignore[arg-type]

import pymupdf  # noqa: E402,F401
from PIL import Image  # noqa: E402,F401

import ocrkit.pipeline  # noqa: E402,F401
import ocrkit.textlayer  # noqa: E402,F401


def init() -> None:
    """Pool initializer: build this worker's registry (plugins load here too)."""
    from ocrkit.plugins import get_registry

    os.environ["OMP_THREAD_LIMIT"] = "1"
    get_registry()
