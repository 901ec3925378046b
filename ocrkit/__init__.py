"""ocrkit: images and PDFs to text, Markdown, tables, JSON, DOCX and searchable PDF.

The public Python API is small::

    import ocrkit
    job = ocrkit.ocr("scan.pdf", language="en")      # -> ocrkit.Job
    print(job.text)
    data = ocrkit.export(job, "docx", source="scan.pdf")  # -> bytes

Heavy modules are imported lazily so ``import ocrkit`` (and ``ocrkit --help``) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocrkit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Job", "Page", "Block", "Word", "ocr", "export", "hookimpl", "__version__"]

if TYPE_CHECKING:
    from ocrkit.api import export, ocr
    from ocrkit.models import Block, Job, Page, Word


def __getattr__(name: str) -> Any:
    if name in ("ocr", "export"):
        from ocrkit import api

        return getattr(api, name)
    if name in ("Job", "Page", "Block", "Word"):
        from ocrkit import models

        return getattr(models, name)
    raise AttributeError(name)
