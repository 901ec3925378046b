"""The plugin manager and the registry built from it.

Built-in plugins live in ``plugins/`` (installed as ``ocrkit_plugins``) and are found
through the ``ocrkit`` entry-point group of the ``ocrkit`` distribution itself; third-party
plugins through the same group in their own distributions. ``OCRKIT_LOAD_PLUGINS``
limits the third-party ones: unset loads all, empty loads none, ``a,b`` loads only the
distributions ``a`` and ``b``. A plugin that fails to import is recorded in
:attr:`Registry.failures` and reported by ``ocrkit plugins``; it never breaks a command.

Set ``OCRKIT_TRACE_HOOKS=1`` to log every hook call on stderr.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from ocrkit import hookspecs
from ocrkit.errors import BadOption, EngineUnavailable
from ocrkit.hookspecs import Engine, Exporter, Tool

if TYPE_CHECKING:
    from importlib import metadata

log = logging.getLogger("ocrkit.plugins")

GROUP = "ocrkit"
BUILTIN_DIST = "ocrkit"


@dataclass
class PluginFailure:
    name: str
    distribution: str
    error: str


@dataclass
class Registry:
    """Engines, tools and exporters by name, plus what failed to load."""

    pm: pluggy.PluginManager
    engines: dict[str, Engine] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    exporters: dict[str, Exporter] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    # -- lookups with clear errors -------------------------------------------------
    def engine(self, name: str) -> Engine:
        if name not in self.engines:
            raise BadOption(f"unknown engine {name!r}; choose from: {', '.join(self.engines)}")
        eng = self.engines[name]
        ok, reason = eng.availability()
        if not ok:
            raise EngineUnavailable(f"engine {name!r} is not available: {reason}")
        return eng

    def tool(self, name: str) -> Tool:
        if name not in self.tools:
            choices = ", ".join(self.tools) or "(none installed)"
            raise BadOption(f"unknown tool {name!r}; choose from: {choices}")
        return self.tools[name]

    def exporter(self, name: str) -> Exporter:
        if name not in self.exporters:
            raise BadOption(f"unknown format {name!r}; choose from: {', '.join(self.exporters)}")
        return self.exporters[name]

    def default_engine(self, tier: str = "cpu") -> str:
        """The first available engine of ``tier``, ``tesseract`` preferred on cpu."""
        order = sorted(self.engines.values(), key=lambda e: (e.name != "tesseract", e.name))
        for eng in order:
            if eng.tier == tier and eng.availability()[0]:
                return eng.name
        raise EngineUnavailable(f"no {tier} engine is available; see `ocrkit engines`")

    def plugins_info(self) -> list[dict[str, Any]]:
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if name is None or plugin is hookspecs:
                continue
            out.append(
                {
                    "name": name,
                    "distribution": _dist_name(name, plugin),
                    "version": _dist_version(name, plugin),
                    "hooks": sorted(h.name for h in self.pm.get_hookcallers(plugin) or []),
                    "status": "loaded",
                    "builtin": name in _builtin_names(),
                }
            )
        for f in self.failures:
            out.append(
                {
                    "name": f.name,
                    "distribution": f.distribution,
                    "version": None,
                    "hooks": [],
                    "status": "failed",
                    "error": f.error,
                }
            )
        return out


_DIST_OF: dict[str, tuple[str, str | None]] = {}


def _dist_name(name: str, plugin: object) -> str:
    return _DIST_OF.get(name, (getattr(plugin, "__name__", name), None))[0]


def _dist_version(name: str, plugin: object) -> str | None:
    return _DIST_OF.get(name, ("", None))[1]


@lru_cache(maxsize=1)
def _builtin_names() -> frozenset[str]:
    return frozenset(ep.name for ep in _entry_points() if _ep_dist(ep) == BUILTIN_DIST)


@dataclass(frozen=True)
class EntryPoint:
    """One ``ocrkit`` entry point of an installed distribution (what ocrkit reads of
    :class:`importlib.metadata.EntryPoint`)."""

    name: str
    value: str
    dist_name: str
    dist_version: str | None

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.split("[")[0].strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
        return obj


def _entry_points() -> list[EntryPoint]:
    """The ``ocrkit`` entry points of the installed distributions, first on sys.path
    first (one per distribution name, as importlib.metadata finds them).

    Read straight from the ``*.dist-info``/``*.egg-info`` folders on sys.path: importing
    importlib.metadata (email, zipfile, csv ...) and building every distribution's
    object cost ~25 ms of each ``ocrkit`` start. With a zip archive on sys.path, which
    this reader does not open, importlib.metadata is used instead."""
    found = _scan_entry_points()
    if found is not None:
        return found
    from importlib import metadata

    return [
        EntryPoint(ep.name, ep.value, ep.dist.name if ep.dist else "", _version(ep))
        for ep in metadata.entry_points(group=GROUP)
    ]


def _version(ep: metadata.EntryPoint) -> str | None:
    return ep.dist.version if ep.dist is not None else None


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _scan_entry_points() -> list[EntryPoint] | None:
    seen: set[str] = set()
    out: list[EntryPoint] = []
    for entry in sys.path:
        try:
            # Names, not Path objects, sorted (the same order for one folder): a Path per
            # site-packages entry and their sorting took ~4 ms of every start.
            names = sorted(os.listdir(entry or "."))  # noqa: PTH208 (see above)
        except NotADirectoryError:
            return None  # a zip archive: importlib.metadata reads those
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            path = Path(entry or ".") / name
            key = _norm_dist(path.stem.split("-")[0])
            if key in seen or not path.is_dir():
                continue
            seen.add(key)
            try:
                section = _ini_section((path / "entry_points.txt").read_text("utf-8"), GROUP)
            except OSError:
                continue
            if section:
                dist, version = _dist_meta(path)
                out += [EntryPoint(n, v, dist, version) for n, v in section]
    return out


def _ini_section(text: str, group: str) -> list[tuple[str, str]]:
    """``name = value`` lines of the ``[group]`` section of an entry_points.txt."""
    rows: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            rows.append((name.strip(), value.strip()))
    return rows


def _dist_meta(path: Path) -> tuple[str, str | None]:
    """(Name, Version) from a dist-info's METADATA or an egg-info's PKG-INFO."""
    name, version = "", None
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with (path / meta).open(encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    if key == "Name":
                        name = value.strip()
                    elif key == "Version":
                        version = value.strip()
            break
        except OSError:
            continue
    return name or path.stem.split("-")[0], version


def _ep_dist(ep: EntryPoint) -> str:
    return ep.dist_name


def _allowed_third_party() -> set[str] | None:
    raw = os.environ.get("OCRKIT_LOAD_PLUGINS")
    if raw is None:
        return None
    return {p.strip().lower().replace("_", "-") for p in raw.split(",") if p.strip()}


# The built-in plugins that implement ``register_commands``. Listing or running a plugin
# command loads only these and the third-party plugins (:func:`command_plugin_manager`),
# so ``ocrkit --help`` imports no engine or exporter module. tests/test_plugins.py checks
# this set against the modules.
BUILTIN_COMMAND_PLUGINS = frozenset({"mcp", "watch"})


# What each built-in plugin registers, by entry point name. Listings that need only the
# names (`ocrkit ocr --help`'s "[one of: ...]") take them from here instead of importing
# every built-in plugin module, and with them ocrkit.models, ocrkit.lang, tempfile,
# subprocess, ctypes...: that was ~60 of the command's ~180 ms CPU here (no bytecode
# cache). tests/test_plugins.py checks this table against what the plugins register.
BUILTIN_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "tesseract": {"engines": ("tesseract",)},
    "rapidocr": {"engines": ("rapidocr",)},
    "paddleocr": {"engines": ("paddleocr",)},
    "vlm": {"engines": ("vlm",)},
    "handwriting_tool": {"tools": ("handwriting-to-text",)},
    "translate_tool": {"tools": ("translate",)},
    "extract_tables": {"tools": ("extract-tables",)},
    "text_exporters": {"exporters": ("json", "md", "txt")},
    "csv_exporter": {"exporters": ("csv",)},
    "docx_exporter": {"exporters": ("docx",)},
    "pdf_exporter": {"exporters": ("pdf",)},
    "hocr_exporter": {"exporters": ("hocr",)},
    "alto_exporter": {"exporters": ("alto",)},
    "xlsx_exporter": {"exporters": ("xlsx",)},
    "watch": {},
    "mcp": {},
}


def get_plugin_manager(
    *,
    extra_plugins: Iterable[object] = (),
    builtins: Collection[str] | None = None,
    reserve_builtins: bool = False,
) -> pluggy.PluginManager:
    """A fresh plugin manager: built-ins first, then allowed third-party entry points,
    then ``extra_plugins`` (objects or module names), so later ones override earlier.
    ``builtins`` names the built-in entry points to load (default: all of them);
    ``reserve_builtins``: the others still take their names (an empty placeholder), so a
    third-party entry point of the same name is skipped as in the full registry."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    failures: list[PluginFailure] = []
    allowed = _allowed_third_party()
    eps = sorted(_entry_points(), key=lambda ep: (_ep_dist(ep) != BUILTIN_DIST, ep.name))
    for ep in eps:
        dist = _ep_dist(ep)
        builtin = dist == BUILTIN_DIST
        if not builtin and allowed is not None and dist.lower().replace("_", "-") not in allowed:
            continue
        if builtin and builtins is not None and ep.name not in builtins:
            if reserve_builtins and not pm.has_plugin(ep.name):
                pm.register(_Placeholder(), name=ep.name)
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            _DIST_OF[ep.name] = (dist, ep.dist_version)
        except Exception as exc:  # a broken plugin is reported, never fatal
            log.warning("plugin %s (%s) failed to load: %s", ep.name, dist, exc)
            failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
    for extra in extra_plugins:
        plugin = importlib.import_module(extra) if isinstance(extra, str) else extra
        pm.register(plugin)
    pm.check_pending()
    pm.ocrkit_failures = failures  # type: ignore[attr-defined]
    if os.environ.get("OCRKIT_TRACE_HOOKS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def build_registry(pm: pluggy.PluginManager) -> Registry:
    reg = Registry(pm=pm, failures=list(getattr(pm, "ocrkit_failures", [])))

    def collect(kind: str, store: dict[str, Any], base: type) -> Callable[[Any], None]:
        def register(obj: Any) -> None:
            name = getattr(obj, "name", "")
            if not isinstance(obj, base) or not name:
                raise TypeError(f"{kind}: expected a named {base.__name__}, got {obj!r}")
            store[name] = obj

        return register

    # pluggy calls implementations last-registered first; reverse so later plugins win.
    for hook, store, base in (
        (pm.hook.register_engines, reg.engines, Engine),
        (pm.hook.register_tools, reg.tools, Tool),
        (pm.hook.register_exporters, reg.exporters, Exporter),
    ):
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(register=collect(hook.name, store, base))
            except Exception as exc:
                name = impl.plugin_name
                log.warning("plugin %s failed in %s: %s", name, hook.name, exc)
                reg.failures.append(
                    PluginFailure(name, _dist_name(name, impl.plugin), f"{hook.name}: {exc}")
                )
    return reg


class _Placeholder:
    """A built-in plugin's name in a manager that does not load the plugin."""


_default: Registry | None = None
_commands_pm: pluggy.PluginManager | None = None
_third_party: Registry | None = None


def registry_names(kind: str) -> list[str]:
    """The sorted names of ``kind`` (``engines``, ``tools``, ``exporters``) in the default
    registry, without building it when it is not built yet: the built-in plugins' names
    from :data:`BUILTIN_NAMES`, the third-party plugins' from loading those alone (a
    built-in entry point missing from the table: the full registry)."""
    global _third_party
    if _default is not None:
        return sorted(getattr(_default, kind))
    builtins = [ep.name for ep in _entry_points() if _ep_dist(ep) == BUILTIN_DIST]
    if any(name not in BUILTIN_NAMES for name in builtins):
        return sorted(getattr(get_registry(), kind))
    if _third_party is None:
        pm = get_plugin_manager(builtins=frozenset(), reserve_builtins=True)
        _third_party = build_registry(pm)
    names = {n for b in builtins for n in BUILTIN_NAMES[b].get(kind, ())}
    return sorted(names | set(getattr(_third_party, kind)))


def get_registry() -> Registry:
    """The process-wide default registry (built once, on first use)."""
    global _default
    if _default is None:
        _default = build_registry(get_plugin_manager())
    return _default


def command_plugin_manager() -> pluggy.PluginManager:
    """The plugins that may add commands: the default registry's manager when it is
    already built, else one of :data:`BUILTIN_COMMAND_PLUGINS` and the allowed
    third-party plugins only (built once). A third-party plugin that fails to load here
    is reported by the commands that build the full registry, as before."""
    global _commands_pm
    if _default is not None:
        return _default.pm
    if _commands_pm is None:
        _commands_pm = get_plugin_manager(builtins=BUILTIN_COMMAND_PLUGINS)
    return _commands_pm


def get_engine(name: str) -> Engine | None:
    """The installed engine called ``name`` (of the default registry), or None. For
    plugins that use another engine: the vlm engine asks ``tesseract`` for word boxes.
    Check ``availability()`` before calling it."""
    return get_registry().engines.get(name)


def reset_registry() -> None:
    """Forget the cached default registry (tests change OCRKIT_LOAD_PLUGINS)."""
    global _default, _commands_pm, _third_party
    _default = None
    _commands_pm = None
    _third_party = None
