"""One planning path: what a caller asked for becomes what every page of the job runs.

:class:`JobOptions` is the request (Python keyword arguments, CLI flags, HTTP form fields,
a queued job's stored options); :func:`plan` checks it against the registry and the
settings and returns a :class:`Plan`: the engine, the language set, the tool and its
options, warnings, and the template of the job's page tasks. :func:`ocrkit.api.ocr` (and
so the CLI and the server's in-process jobs), the HTTP submit and the Celery planner all
call :func:`plan`, so a bad request gets the same error everywhere:

* an unknown tier, engine, tool, language code or a bad dpi: :class:`~ocrkit.errors.BadOption`
  (HTTP 400, exit code 2);
* an engine or tool that is not installed or cannot run now (no vlm server with
  ``OCRKIT_VLM_FALLBACK=off``): :class:`~ocrkit.errors.EngineUnavailable` (HTTP 400, exit 6).

A language without an installed model is no error: pages kept from a PDF's text layer
need none, and a page that needs OCR is read with ``auto`` and a warning (the pipeline).

:func:`finish_job` is the job-level end of the pipeline, after every page: page warnings,
layout across pages (running headers), the job's fields, the tool's ``process_job``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit import lang, layout
from ocrkit.errors import BadOption, EngineUnavailable
from ocrkit.lang import codes as languages
from ocrkit.page.inputs import Limits
from ocrkit.pipeline.pages import PageTask
from ocrkit.settings import using

if TYPE_CHECKING:
    from ocrkit.hookspecs import Tool
    from ocrkit.models import Job
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings

TIERS = ("cpu", "vlm")
# The request fields of the HTTP API (and of a job's stored options).
FIELDS = ("tier", "language", "tool", "translate_to", "engine", "engine_option")
# Defaults of the options a tool's preset may set; any other preset key is a tool option.
DEFAULTS: dict[str, Any] = {
    "engine": None,
    "tier": "cpu",
    "language": "auto",
    "dpi": 300,
    "force_ocr": False,
}


@dataclass
class JobOptions:
    """What a caller asked for. ``None`` means "not given": a tool's preset may fill it,
    else :data:`DEFAULTS` do."""

    engine: str | None = None
    tier: str | None = None
    language: str | None = None
    tool: str | None = None
    translate_to: str | None = None
    dpi: int | None = None
    force_ocr: bool | None = None
    # The engine's own options (["psm=6"] or {"psm": 6}; see ocrkit.engine_options).
    engine_options: Sequence[str] | Mapping[str, Any] | None = None

    @classmethod
    def from_call(cls, **kw: Any) -> JobOptions:
        """From keyword arguments that have defaults (:func:`ocrkit.api.ocr`, the CLI):
        such a caller cannot tell an explicit default from an omitted one, so a value
        equal to its default counts as not given (a tool's preset may replace it)."""
        opts = cls(**kw)
        for key, default in DEFAULTS.items():
            if getattr(opts, key) == default:
                setattr(opts, key, None)
        return opts

    @classmethod
    def from_fields(
        cls,
        data: Mapping[str, Any],
        *,
        dpi: int | None = None,
        engine_option: Sequence[str] | None = None,
    ) -> JobOptions:
        """From text fields (an HTTP form, a stored job's options): absent or blank means
        not given; fields this API does not define are ignored. ``engine_option`` holds
        every value of the repeatable ``engine_option`` form field (a stored job keeps
        the checked ``engine_options`` mapping instead)."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return (str(value).strip() or None) if value is not None else None

        tier = text("tier")
        return cls(
            engine=text("engine"),
            tier=tier.lower() if tier else None,
            language=text("language"),
            tool=text("tool"),
            translate_to=text("translate_to"),
            dpi=dpi,
            engine_options=engine_option or data.get("engine_options") or None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The request fields, as a job's stored options keep them."""
        out = {name: getattr(self, name) for name in FIELDS if name != "engine_option"}
        if self.engine_options:
            out["engine_options"] = dict(self.engine_options)  # type: ignore[arg-type]  # checked by plan()
        return out


@dataclass
class Plan:
    """A checked request: what every page task of the job runs."""

    options: JobOptions  # after the tool's preset and the defaults; engine as asked
    engine: str  # the engine that runs
    engine_tier: str  # its tier (what a page is billed as)
    languages: list[str]
    auto_language: bool
    tool: str | None
    tool_options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def tier(self) -> str:
        """The tier asked for, after the preset (what the job records)."""
        return str(self.options.tier)

    @property
    def language(self) -> str:
        """``auto`` or the language spec as asked (what the job records)."""
        return str(self.options.language)

    def page_task(
        self,
        path: str | Path,
        kind: str,
        *,
        index: int = 0,
        limits: Limits | None = None,
        password: str | None = None,
        images_dir: str | Path | None = None,
        settings: Settings | None = None,
    ) -> PageTask:
        """The task of page ``index`` of the input at ``path`` (``kind`` as sniffed)."""
        return PageTask(
            path=str(path),
            kind=kind,
            index=index,
            dpi=int(self.options.dpi or DEFAULTS["dpi"]),
            engine=self.engine,
            languages=tuple(self.languages),
            auto_language=self.auto_language,
            limits=limits if limits is not None else Limits(),
            password=password,
            force_ocr=bool(self.options.force_ocr),
            tool=self.tool,
            tool_options=tuple(self.tool_options.items()),
            images_dir=str(images_dir) if images_dir is not None else None,
            settings=settings,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON for a queued job (the workers rebuild page tasks from it)."""
        return {
            "options": {f.name: getattr(self.options, f.name) for f in fields(JobOptions)},
            "engine": self.engine,
            "engine_tier": self.engine_tier,
            "languages": list(self.languages),
            "auto_language": self.auto_language,
            "tool": self.tool,
            "tool_options": dict(self.tool_options),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            options=JobOptions(**dict(d.get("options") or {})),
            engine=d.get("engine") or "",
            engine_tier=d.get("engine_tier") or "cpu",
            languages=list(d.get("languages") or []),
            auto_language=bool(d.get("auto_language")),
            tool=d.get("tool"),
            tool_options=dict(d.get("tool_options") or {}),
            warnings=list(d.get("warnings") or []),
        )


def plan(options: JobOptions, registry: Registry, settings: Settings) -> Plan:
    """Check ``options`` and decide what the job runs (see the module docstring for the
    errors). Plugins' ``availability()`` and ``check_options`` run with ``settings`` in
    force."""
    with using(settings):  # engines' and tools' availability() read settings.current()
        return _plan(options, registry, settings)


def _plan(asked: JobOptions, registry: Registry, settings: Settings) -> Plan:
    tool = _tool(registry, asked.tool)
    opts = replace(asked)
    # Whether the caller chose the engine (extract-tables then keeps its words; else the
    # pipeline chooses the cpu reader per page: ocrkit.pipeline.engine_choice).
    tool_options: dict[str, Any] = {"engine_named": asked.engine is not None}
    for key, value in (tool.preset if tool is not None else {}).items():
        if key in DEFAULTS:
            if getattr(opts, key) is None:
                setattr(opts, key, value)
        else:
            tool_options[key] = value
    for key, default in DEFAULTS.items():
        if getattr(opts, key) is None:
            setattr(opts, key, default)
    if opts.tier not in TIERS:
        raise BadOption(f"tier must be one of {', '.join(TIERS)}, not {opts.tier!r}")
    if not isinstance(opts.dpi, int) or isinstance(opts.dpi, bool) or not 36 <= opts.dpi <= 1200:
        raise BadOption(f"dpi must be an integer between 36 and 1200, not {opts.dpi!r}")
    language = str(opts.language).strip() or "auto"
    auto = language.lower() == "auto"
    opts.language = "auto" if auto else language
    codes = lang.default_languages() if auto else languages.resolve(language)
    if opts.translate_to is not None:
        languages.resolve(opts.translate_to)  # an unknown code: BadOption
    engine, warnings = _choose_engine(registry, opts, settings)
    from ocrkit import engine_options as eo

    checked = eo.check(registry.engine(engine), opts.engine_options)
    opts.engine_options = checked or None
    if tool is not None:
        tool.check_options(
            {
                **tool_options,
                "translate_to": opts.translate_to,
                "tier": opts.tier,
                "languages": codes,
            }
        )
    tool_options.update(translate_to=opts.translate_to, languages=codes, tier=opts.tier)
    if checked:  # the engine reads them from its options
        tool_options["engine_options"] = checked
    return Plan(
        options=opts,
        engine=engine,
        engine_tier=registry.engines[engine].tier,
        languages=codes,
        auto_language=auto,
        tool=opts.tool,
        tool_options=tool_options,
        warnings=warnings,
    )


def _tool(registry: Registry, name: str | None) -> Tool | None:
    if not name:
        return None
    tool = registry.tool(name)  # unknown: BadOption
    ok, reason = tool.availability()
    if not ok:
        raise EngineUnavailable(f"tool {name!r} is not available: {reason}")
    return tool


def _choose_engine(
    registry: Registry, opts: JobOptions, settings: Settings
) -> tuple[str, list[str]]:
    """The engine to run and any warnings (the vlm tier's cpu fallback)."""
    if opts.engine:
        registry.engine(opts.engine)  # unknown: BadOption; unavailable: EngineUnavailable
        return opts.engine, []
    tier = str(opts.tier)
    if tier != "vlm":
        return registry.default_engine(tier), []
    try:
        return registry.default_engine("vlm"), []
    except EngineUnavailable:
        if settings.vlm_fallback == "off":
            raise EngineUnavailable(
                "tier=vlm needs a model server: set OCRKIT_VLM_BASE_URL (and OCRKIT_VLM_MODEL, "
                "OCRKIT_VLM_API_KEY) to an OpenAI-compatible endpoint, or use tier=cpu"
            ) from None
    name = registry.default_engine("cpu")
    return name, [
        f"no vlm model server is configured (OCRKIT_VLM_BASE_URL): the page(s) were read "
        f"by the cpu tier instead (engine {name!r}, or the reader each page's engine names)"
    ]


def finish_job(job: Job, plan: Plan, registry: Registry, settings: Settings) -> Job:
    """The job-level steps once every page is in ``job.pages``: each page's warnings on
    the job, layout across pages (running headers and footers), the job's fields from
    its pages, then the tool's ``process_job``."""
    job.pages.sort(key=lambda p: p.index)
    for p in job.pages:
        job.warnings.extend(f"page {p.index + 1}: {w}" for w in p.warnings)
    layout.finish_job(job)
    job.finish()
    if plan.tool:
        with using(settings):
            job = registry.tool(plan.tool).process_job(job, dict(plan.tool_options))
    return job
