"""A job's page plan: what every page task of it runs, decided once at submit.

The API server computes it with the same registry and settings the in-process path uses
(:func:`ocrkit.api.ocr`'s engine, language and tool choices), stores it in the job's
options, and each page task turns it back into a :class:`~ocrkit.pipeline.PageTask`.
The finishing task applies the job-level steps of :func:`ocrkit.api.ocr` (warnings,
:meth:`~ocrkit.models.Job.finish`, the tool's ``process_job``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocrkit.models import Job
    from ocrkit.pipeline import PageTask
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings


def in_settings(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """``settings.using(settings)`` where this version of ocrkit has it (plugins read
    their configuration, e.g. a vlm model server, from it)."""
    from ocrkit import settings as settings_mod

    using = getattr(settings_mod, "using", None)
    return using(settings) if using is not None else contextlib.nullcontext()


def make_plan(
    registry: Registry,
    settings: Settings,
    upload: Path,
    kind: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The JSON plan of a submitted job (raises the same OcrkitErrors as ``api.ocr``)."""
    from ocrkit import api, inputs

    tool = options.get("tool")
    translate_to = options.get("translate_to")
    with in_settings(settings):
        tool_obj = api._tool(registry, tool)
        opts = api._Options(
            options.get("engine"),
            options.get("tier") or "cpu",
            options.get("language") or "auto",
            settings.dpi,
            False,
        )
        tool_options = api._apply_preset(tool_obj, opts)
        engine, warnings = api._choose_engine(registry, opts, settings)
        check = getattr(tool_obj, "check_options", None)
        if check is not None:
            check({**tool_options, "translate_to": translate_to})
        codes = api._languages(registry, engine, opts.language)
        from ocrkit import engine_options

        checked = engine_options.check(registry.engine(engine), options.get("engine_options"))
    tool_options.update(translate_to=translate_to, languages=codes, tier=opts.tier)
    if checked:  # as in api.ocr: the engine reads them from its options
        tool_options["engine_options"] = checked
    info = inputs.inspect(upload, kind, password=None, limits=inputs.Limits())
    return {
        "kind": kind,
        "dpi": opts.dpi,
        "engine": engine,
        "languages": list(codes),
        # language=auto: the page's script and text language choose the models, as in
        # api.ocr (ocrkit.readpage); ``languages`` is then only the first pass's set.
        "auto_language": opts.language.strip().lower() == "auto",
        "force_ocr": opts.force_ocr,
        "tool": tool,
        "tool_options": tool_options,
        "warnings": [*warnings, *info.warnings],
        "input_pages": info.page_count,
    }


def page_task(
    plan: dict[str, Any], path: Path, index: int, images_dir: Path, settings: Settings
) -> PageTask:
    from ocrkit import inputs
    from ocrkit.pipeline import PageTask

    kw: dict[str, Any] = {
        "path": str(path),
        "kind": plan["kind"],
        "index": index,
        "dpi": int(plan["dpi"]),
        "engine": plan["engine"],
        "languages": tuple(plan["languages"]),
        "limits": inputs.Limits(),
        "force_ocr": bool(plan.get("force_ocr")),
        "tool": plan.get("tool"),
        "tool_options": tuple((plan.get("tool_options") or {}).items()),
        "images_dir": str(images_dir),
        "auto_language": bool(plan.get("auto_language")),
    }
    if "settings" in {f.name for f in dataclasses.fields(PageTask)}:
        kw["settings"] = settings
    return PageTask(**kw)


def finish_job(job: Job, plan: dict[str, Any], registry: Registry, settings: Settings) -> Job:
    """The job-level steps of ``api.ocr`` once every page is stored."""
    job.warnings.extend(plan.get("warnings") or [])
    for p in sorted(job.pages, key=lambda p: p.index):
        job.warnings.extend(f"page {p.index + 1}: {w}" for w in p.warnings)
    job.extra["input_pages"] = plan.get("input_pages", job.page_count)
    job.finish()
    tool = plan.get("tool")
    if tool:
        with in_settings(settings):
            job = registry.tool(tool).process_job(job, dict(plan.get("tool_options") or {}))
    return job


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
