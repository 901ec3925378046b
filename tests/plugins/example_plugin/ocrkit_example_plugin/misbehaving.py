"""Badly behaved plugins for tests: a stdout polluter, a page-worker killer and an
exporter with a bug.

The polluter writes to stdout when ``OCRKIT_EXAMPLE_POLLUTE=1``.
It prints (and writes straight to file descriptor 1, as a C library would) whenever the
registry is built -- in the main process and in every page worker -- and from its
``stdout-polluter`` tool while pages are processed. ``ocrkit ocr ... -o -`` must still
write nothing but the document to stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import ocrkit
from ocrkit.hookspecs import ExportContext, Exporter, Tool
from ocrkit.models import Job, Page


def pollute(where: str) -> None:
    if os.environ.get("OCRKIT_EXAMPLE_POLLUTE") != "1":
        return
    print(f"stdout polluter: print() from {where}")
    sys.stdout.flush()
    os.write(1, f"stdout polluter: write to fd 1 from {where}\n".encode())


class PolluterTool(Tool):
    name = "stdout-polluter"
    description = "Test plugin: prints to stdout while working (OCRKIT_EXAMPLE_POLLUTE=1)"

    def process_page(self, page: Page, image: Any, options: dict[str, Any]) -> Page:
        pollute(f"process_page {page.index}")
        return page

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        pollute("process_job")
        return job


class WorkerKillerTool(Tool):
    """Kills the page-worker process it runs in (``os._exit``), as a segfaulting C
    extension or the OOM killer would. The job must fail cleanly and the pool recover."""

    name = "example-kill-worker"
    description = "Test plugin: the page worker dies while processing a page"

    def process_page(self, page: Page, image: Any, options: dict[str, Any]) -> Page:
        if os.getpid() != int(os.environ.get("OCRKIT_EXAMPLE_MAIN_PID", "0")):
            os._exit(70)
        return page


class CrashingExporter(Exporter):
    """Fails with an unexpected exception: what a bug in a plugin looks like."""

    name = "example-crash"
    extension = "crash"
    description = "Test plugin: always fails with ZeroDivisionError (a bug)"
    is_text = True

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        return str(len(job.pages) / 0).encode()


@ocrkit.hookimpl
def register_exporters(register: Callable[[Exporter], None]) -> None:
    pollute("register_exporters")
    register(CrashingExporter())


@ocrkit.hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(PolluterTool())
    register(WorkerKillerTool())
