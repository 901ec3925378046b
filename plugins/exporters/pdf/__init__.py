"""``pdf``: a searchable PDF, the way OCRmyPDF makes one.

The plugin module stays light (it is imported by every ``ocrkit`` command, ``--help``
included); the work, with PyMuPDF and Pillow, lives in
:mod:`ocrkit_plugins.exporters.pdf_build`, imported on first export. Its docstring
describes how PDF and image inputs are handled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Job


class PdfExporter(Exporter):
    name: ClassVar[str] = "pdf"
    media_type: ClassVar[str] = "application/pdf"
    extension: ClassVar[str] = "pdf"
    description: ClassVar[str] = "Searchable PDF: the original pages with an invisible text layer"

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        from ocrkit_plugins.exporters.pdf import build as pdf_build

        return pdf_build.export(job, ctx)


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(PdfExporter())
