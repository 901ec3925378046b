"""Plain-text formats: ``txt`` (the job's text), ``md`` (its Markdown), ``json`` (the job).

All three are UTF-8 and end with a newline. ``json`` is the job itself, exactly as the
API returns it; :meth:`ocrkit.models.Job.from_dict` reads it back losslessly, so a saved
job can be exported to any other format later without running OCR again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import ExportContext, Exporter
from ocrkit.models import Job


def _with_newline(text: str) -> bytes:
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


class TextExporter(Exporter):
    name: ClassVar[str] = "txt"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"
    extension: ClassVar[str] = "txt"
    description: ClassVar[str] = "Plain text, pages separated by form feeds"
    is_text: ClassVar[bool] = True
    uses_detected_languages: ClassVar[bool] = False

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        return _with_newline(job.text)


class MarkdownExporter(Exporter):
    name: ClassVar[str] = "md"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"
    extension: ClassVar[str] = "md"
    description: ClassVar[str] = "Markdown: headings, paragraphs, lists and tables"
    is_text: ClassVar[bool] = True
    uses_detected_languages: ClassVar[bool] = False

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        return _with_newline(job.markdown)


class JsonExporter(Exporter):
    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"
    extension: ClassVar[str] = "json"
    description: ClassVar[str] = "The job as JSON: pages, lines, words, boxes, confidences"
    is_text: ClassVar[bool] = True

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        return _with_newline(json.dumps(job.to_dict(), ensure_ascii=False, indent=2))


@hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    register(TextExporter())
    register(MarkdownExporter())
    register(JsonExporter())
