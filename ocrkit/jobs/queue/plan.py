"""A queued job's plan: :func:`ocrkit.pipeline.plan.plan` once at submit, kept as JSON.

The API server plans the job with the same function (and so the same checks and errors)
as the in-process path, stores the plan with the upload, and each page task turns it back
into a :class:`~ocrkit.pipeline.pages.PageTask`. The finishing task applies the job-level
steps (:func:`ocrkit.pipeline.plan.finish_job`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.page import inputs
from ocrkit.pipeline import plan as planning

if TYPE_CHECKING:
    from ocrkit.models import Job
    from ocrkit.pipeline.pages import PageTask
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings


def make_plan(
    registry: Registry,
    settings: Settings,
    upload: Path,
    kind: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The JSON plan of a submitted job (``options``: its stored request fields); raises
    the same OcrkitErrors as :func:`ocrkit.api.ocr`."""
    asked = planning.JobOptions.from_fields(options, dpi=settings.dpi)
    planned = planning.plan(asked, registry, settings)
    info = inputs.inspect(upload, kind, password=None, limits=inputs.Limits())
    return {
        **planned.to_dict(),
        "kind": kind,
        "input_warnings": list(info.warnings),
        "input_pages": info.page_count,
    }


def page_task(
    plan: dict[str, Any], path: Path, index: int, images_dir: Path, settings: Settings
) -> PageTask:
    return planning.Plan.from_dict(plan).page_task(
        path, plan["kind"], index=index, images_dir=images_dir, settings=settings
    )


def finish_job(job: Job, plan: dict[str, Any], registry: Registry, settings: Settings) -> Job:
    """The job-level steps of :func:`ocrkit.api.ocr` once every page is stored."""
    job.warnings.extend(plan.get("warnings") or [])
    job.warnings.extend(plan.get("input_warnings") or [])
    job.extra["input_pages"] = plan.get("input_pages", job.page_count)
    return planning.finish_job(job, planning.Plan.from_dict(plan), registry, settings)


@contextlib.contextmanager
def scratch_dir(parent: Path, name: str) -> Iterator[Path]:
    """A private directory under ``parent`` removed afterwards (page images of a task)."""
    import shutil

    path = parent / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
