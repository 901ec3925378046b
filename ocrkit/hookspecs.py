"""Hook specifications and the plugin base classes.

Every hook is ``register_<things>(register)``: ocrkit calls it once per plugin with a
callback, and the plugin calls ``register(obj)`` for each thing it adds. This keeps
plugins free of return-value conventions and lets one plugin add several things.

A plugin is a module (or object) with functions decorated by :data:`ocrkit.hookimpl`,
listed in the ``ocrkit`` entry-point group of its distribution::

    [project.entry-points.ocrkit]
    my_engine = "my_package.my_engine"

The base classes below are what ``register`` accepts. Subclass them; override what the
docstrings say to override.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pluggy

if TYPE_CHECKING:
    import click
    from PIL import Image
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute

    from ocrkit.engine_options import EngineOption
    from ocrkit.models import Job, Page

hookspec = pluggy.HookspecMarker("ocrkit")
hookimpl = pluggy.HookimplMarker("ocrkit")


# --------------------------------------------------------------------------- hooks


@hookspec
def register_engines(register: Callable[[Engine], None]) -> None:
    """Register OCR engines.

    Call ``register(engine)`` with an :class:`Engine` instance for each engine the plugin
    provides. Its ``name`` is what ``--engine NAME`` and the API select; a later plugin
    with the same name replaces an earlier one (third-party plugins load after the
    built-ins, so they can override them).
    """


@hookspec
def register_tools(register: Callable[[Tool], None]) -> None:
    """Register tools: named presets plus page/job post-processing.

    Call ``register(tool)`` with a :class:`Tool` instance. Its ``name`` is the slug that
    ``--tool`` and the API's ``tool`` field accept (``extract-tables``, ``translate``, ...).
    """


@hookspec
def register_exporters(register: Callable[[Exporter], None]) -> None:
    """Register output formats.

    Call ``register(exporter)`` with an :class:`Exporter` instance. Its ``name`` is the
    format that ``--format`` and the API's ``?format=`` accept.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``ocrkit`` command-line interface.

    ``cli`` is the top-level :class:`click.Group`; decorate new commands with
    ``@cli.command()`` or call ``cli.add_command(cmd)``.
    """


@hookspec
def register_routes(register: Callable[[BaseRoute], None]) -> None:
    """Add routes to the ``ocrkit serve`` web application.

    Call ``register(route)`` with a :class:`starlette.routing.Route` (or ``Mount``).
    Plugin routes are added before the core routes (as datasette does), so a plugin
    may answer a path the core also has.
    """


@hookspec
def register_services(register: Callable[[Service], None]) -> None:
    """Run background services for the lifetime of ``ocrkit serve``.

    Call ``register(service)`` with a :class:`Service` instance. The server enters each
    service's :meth:`Service.lifespan` once its own state is up (``app.state.ocrkit``:
    store, job service, page-worker pool) and leaves them, in reverse order, before it
    stops. A service whose lifespan fails to start is logged and skipped; the server
    still starts. The built-in watched folder (``serve --watch``) and the MCP endpoint's
    session manager (``/mcp``) are services.
    """


# --------------------------------------------------------------------- base classes


class Service:
    """Something that runs while ``ocrkit serve`` runs. Declare ``name`` and
    ``description``; override :meth:`lifespan`, an async context manager: start the
    work before ``yield`` (a thread, a task) and stop it after."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield


@dataclass
class PageResult:
    """What an engine returns for one page image.

    ``blocks`` are lines in reading order with bboxes in pixels of the image the engine
    was given. ``rotation`` is set when the engine itself turned the page upright
    (degrees clockwise); then the bboxes refer to the turned image.
    """

    blocks: list[Any] = field(default_factory=list)  # list[ocrkit.models.Block]
    rotation: int = 0
    detected_languages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # An engine that reads the page as a whole (the vlm engine) may give the page's text
    # and Markdown itself; they then replace what layout derives from the blocks.
    text: str | None = None
    markdown: str | None = None
    # Merged into ``Page.extra`` (JSON-serialisable).
    extra: dict[str, Any] = field(default_factory=dict)
    # The engine that actually produced the blocks when not this one (the vlm engine
    # falling back to the cpu engine's lines on a refusal): becomes ``Page.engine``.
    engine: str | None = None


class Engine:
    """An OCR engine.

    Override :meth:`recognize`; declare ``name``, ``tier`` (``"cpu"`` or ``"vlm"``) and
    ``description``; override :meth:`languages` and :meth:`availability`.

    Engines run inside page-worker processes: an instance is created in the main
    process at registration, and again in each worker (plugins are loaded there too),
    so keep ``__init__`` cheap and load models lazily on first :meth:`recognize`.
    """

    name: ClassVar[str] = ""
    tier: ClassVar[str] = "cpu"
    description: ClassVar[str] = ""
    # True: recognize() also gets ``options=`` (the job's tool options: a tool preset's
    # extra keys such as ``vlm_prompt``, ``translate_to``, ``tier``, ``languages``).
    accepts_options: ClassVar[bool] = False
    # What ``--engine-option KEY=VALUE`` may set (see :mod:`ocrkit.engine_options`); an
    # engine that declares some also sets ``accepts_options`` and reads them from
    # ``options["engine_options"]`` (a dict, repeatable ones as lists).
    engine_options: ClassVar[tuple[EngineOption, ...]] = ()
    # True: one model reads every language in languages(), so language=auto never
    # re-reads a page with other models (RapidOCR); False: languages select models.
    multilingual: ClassVar[bool] = False
    # Below this length-weighted word confidence a cpu engine's first reading is suspect
    # and the pipeline asks Tesseract OSD whether the page is turned (ocrkit.page.read).
    upright_confidence: ClassVar[float] = 0.6

    def languages(self) -> list[str]:
        """Language codes this engine can read now (ocrkit canonical codes, see
        :mod:`ocrkit.lang.codes`). An empty list means "any": the engine decides."""
        return []

    def availability(self) -> tuple[bool, str]:
        """``(True, "")`` when usable now, else ``(False, reason a person can act on)``."""
        return True, ""

    def recognize(self, image: Image.Image, *, languages: list[str], dpi: int) -> PageResult:
        """Read one upright-or-not page image; return its lines as blocks."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        ok, reason = self.availability()
        return {
            "name": self.name,
            "tier": self.tier,
            "description": self.description,
            "available": ok,
            "reason": reason,
            "languages": self.languages() if ok else [],
            "options": [o.info() for o in self.engine_options],
        }


class Tool:
    """A named preset with optional post-processing.

    ``preset`` holds option overrides applied when the tool is chosen (for example
    ``{"tier": "vlm"}``). :meth:`process_page` runs in the page worker after the engine,
    with the upright page image; :meth:`process_job` runs once in the main process when
    all pages are done. Both may modify and must return what they were given.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    preset: ClassVar[dict[str, Any]] = {}

    def availability(self) -> tuple[bool, str]:
        return True, ""

    def check_options(self, options: dict[str, Any]) -> None:
        """Validate the job's options (``translate_to``, ``tier``, preset keys) before
        any page runs; raise :class:`~ocrkit.errors.BadOption` (or another
        ``OcrkitError``) with a message the caller can act on. Called by the API and
        at submit time by the server, with :func:`ocrkit.settings.current` in force."""

    def process_page(self, page: Page, image: Image.Image | None, options: dict[str, Any]) -> Page:
        return page

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        return job


@dataclass
class ExportContext:
    """What an exporter may need besides the job.

    ``source`` is the original input file when known (the searchable PDF keeps a PDF's
    own pages); ``page_image(index)`` returns the upright page image when available;
    ``options`` carries format options (``table="all"`` for csv, ...).
    """

    source: Path | None = None
    page_image: Callable[[int], Image.Image] | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Exporter:
    """An output format. Override :meth:`export` and declare ``name`` (the format),
    ``media_type``, ``extension`` and ``description``."""

    name: ClassVar[str] = ""
    media_type: ClassVar[str] = "application/octet-stream"
    extension: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # True when the output is text (written to a terminal without complaint).
    is_text: ClassVar[bool] = False
    # False when the output never shows a page's ``detected_languages``: the CLI then
    # skips language identification on pages kept from a PDF's text layer (~2 ms of a
    # ~12 ms page). True unless the exporter is known not to read them.
    uses_detected_languages: ClassVar[bool] = True

    def export(self, job: Job, ctx: ExportContext) -> bytes:
        raise NotImplementedError
