"""Checks made at submit time, before a job is queued: fields, type and page count.

Everything here is cheap (no OCR): the type is read from the file's first bytes, pages
are counted from the PDF's page tree or the image's frames. A problem is an
:class:`~ocrkit.errors.OcrkitError` (400) with a message the caller can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.errors import BadOption, OcrkitError

if TYPE_CHECKING:
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings

TIERS = ("cpu", "vlm")
FIELDS = ("tier", "language", "tool", "translate_to", "engine", "engine_option")


@dataclass
class Options:
    tier: str = "cpu"
    language: str = "auto"
    tool: str | None = None
    translate_to: str | None = None
    engine: str | None = None
    # The engine's own options (``engine_option`` fields, KEY=VALUE), validated.
    engine_options: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tier": self.tier,
            "language": self.language,
            "tool": self.tool,
            "translate_to": self.translate_to,
            "engine": self.engine,
        }
        if self.engine_options:
            out["engine_options"] = self.engine_options
        return out


def parse_options(
    fields: dict[str, str],
    registry: Registry,
    settings: Settings,
    engine_option: list[str] | None = None,
) -> Options:
    """Validate the submit fields against the registry (400 on a bad value; fields this
    API does not define are ignored, as most form handlers do). ``engine_option`` holds
    every value of the repeatable ``engine_option`` field."""
    from ocrkit.settings import using

    with using(settings):  # engines' and tools' availability() read settings.current()
        opts = _parse_options(fields, registry, settings)
        if engine_option:
            from ocrkit import engine_options

            name = opts.engine or _engine_name(opts, registry, settings)
            opts.engine_options = engine_options.check(registry.engine(name), engine_option)
        return opts


def _parse_options(fields: dict[str, str], registry: Registry, settings: Settings) -> Options:
    from ocrkit import languages

    opts = Options()
    tier = (fields.get("tier") or "cpu").strip().lower()
    if tier not in TIERS:
        raise BadOption(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
    opts.tier = tier
    tool = (fields.get("tool") or "").strip() or None
    if tool is not None:
        preset = registry.tool(tool).preset
        opts.tool = tool
        if "tier" not in fields and preset.get("tier") in TIERS:
            opts.tier = preset["tier"]
    engine = (fields.get("engine") or "").strip() or None
    if engine is not None:
        registry.engine(engine)
        opts.engine = engine
    language = (fields.get("language") or "auto").strip() or "auto"
    codes = (
        languages.default_languages() if language.lower() == "auto" else languages.resolve(language)
    )
    opts.language = "auto" if language.lower() == "auto" else language
    translate_to = (fields.get("translate_to") or "").strip() or None
    if translate_to is not None:
        languages.resolve(translate_to)
        opts.translate_to = translate_to
    _check_engine(opts, codes, registry, settings)
    if opts.tool is not None:
        tool_obj = registry.tool(opts.tool)
        ok, reason = tool_obj.availability()
        if not ok:
            raise BadOption(f"tool {opts.tool!r} is not available: {reason}")
        tool_obj.check_options({**opts.as_dict(), "languages": codes})
    return opts


def _check_engine(opts: Options, codes: list[str], registry: Registry, settings: Settings) -> None:
    """The engine that will run exists. A language without an installed model is no
    error: text-layer pages need none, and a page needing OCR is read with language=auto
    and a warning (ocrkit.pipeline)."""
    registry.engine(_engine_name(opts, registry, settings))
    del codes


def _engine_name(opts: Options, registry: Registry, settings: Settings) -> str:
    if opts.engine is not None:
        name = opts.engine
    else:
        try:
            name = registry.default_engine(opts.tier)
        except OcrkitError:
            if opts.tier != "vlm":
                raise
            if settings.vlm_fallback == "off":
                raise BadOption(
                    "no vlm model server is configured: set OCRKIT_VLM_BASE_URL and "
                    "OCRKIT_VLM_MODEL, or OCRKIT_VLM_FALLBACK=cpu to use the cpu pipeline"
                ) from None
            name = registry.default_engine("cpu")
    return name


def count_pages(path: Path, max_bytes: int) -> tuple[str, int]:
    """``(kind, pages)`` for an uploaded file, read the way the pipeline reads it (type
    from the bytes, PDF page tree, image frames); 400 when unreadable."""
    from ocrkit import inputs

    limits = inputs.Limits(max_bytes=max_bytes)
    kind = inputs.sniff_file(path)
    info = inputs.inspect(path, kind, password=None, limits=limits)
    return kind, info.page_count
