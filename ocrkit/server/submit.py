"""Checks made at submit time, before a job is queued, besides its options (those are
:func:`ocrkit.pipeline.plan.plan`'s): the file's type and page count.

Cheap (no OCR): the type is read from the file's first bytes, pages are counted from the
PDF's page tree or the image's frames. A problem is an
:class:`~ocrkit.errors.OcrkitError` (400) with a message the caller can act on.
"""

from __future__ import annotations

from pathlib import Path

from ocrkit.page import inputs


def count_pages(path: Path, max_bytes: int) -> tuple[str, int]:
    """``(kind, pages)`` for an uploaded file, read the way the pipeline reads it (type
    from the bytes, PDF page tree, image frames); 400 when unreadable."""
    limits = inputs.Limits(max_bytes=max_bytes)
    kind = inputs.sniff_file(path)
    info = inputs.inspect(path, kind, password=None, limits=limits)
    return kind, info.page_count
