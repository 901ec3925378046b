"""The package layout holds: no import cycles between ocrkit's modules, dependencies
that point one way (data model <- page stages <- pipeline <- jobs <- HTTP and CLI), and
plugins that use only the modules docs/plugins.md lists.

The import graph is read with ``ast`` from every import statement, those inside
functions included (a lazy import between our own modules that hides a cycle is a
cycle); ``if TYPE_CHECKING:`` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ocrkit"
PLUGINS = ROOT / "plugins"
EXAMPLE_PLUGINS = ROOT / "tests" / "plugins"


@dataclass(frozen=True)
class Import:
    module: str  # what the statement names, resolved to an absolute dotted name
    names: tuple[str, ...]  # for ``from X import a, b``; () for ``import X``
    line: int
    type_only: bool  # inside ``if TYPE_CHECKING:``


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, module: str) -> list[Import]:
    """Every import statement of the file (``module`` is its dotted name, for relative
    imports), anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for n in child.body:
                    visit_one(n, True)
                for n in child.orelse:
                    visit_one(n, type_only)
                continue
            visit_one(child, type_only)

    def visit_one(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Import(alias.name, (), node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names = tuple(a.name for a in node.names)
            out.append(Import(base, names, node.lineno, type_only))
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        visit(node, type_only)

    visit(tree, False)
    return out


def _modules(root: Path, prefix: str) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        found[".".join([prefix, *parts])] = path
    return found


MODULES = _modules(PACKAGE, "ocrkit")


def _known(name: str) -> str | None:
    """The ocrkit module ``name`` is, or is in (``ocrkit.x.attr`` -> ``ocrkit.x``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges(module: str) -> dict[str, int]:
    """The ocrkit modules ``module`` imports at run time -> the line of the first import.
    ``from pkg import sub`` names the submodule ``pkg.sub`` when there is one."""
    out: dict[str, int] = {}
    for imp in imports_of(MODULES[module], module):
        if imp.type_only or not imp.module.startswith("ocrkit"):
            continue
        targets = [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in MODULES]
        if len(targets) < len(imp.names) or not imp.names:
            targets.append(imp.module)
        for t in targets:
            known = _known(t) if t.startswith("ocrkit.") or t == "ocrkit" else None
            if known and known != module:
                out.setdefault(known, imp.line)
    return out


GRAPH = {m: edges(m) for m in MODULES}


def test_the_graph_sees_lazy_imports() -> None:
    """The reader finds imports inside functions and skips TYPE_CHECKING ones (so the
    other tests here can fail)."""
    assert "ocrkit.pipeline.pages" in GRAPH["ocrkit.api"]  # imported inside _run()
    assert "ocrkit.pipeline.plan" in GRAPH["ocrkit.api"]
    assert "ocrkit.server.app" in GRAPH["ocrkit.cli.serve"]  # inside serve()
    assert "ocrkit.jobs.service" not in GRAPH["ocrkit.server.context"]  # TYPE_CHECKING only
    assert len(GRAPH) > 60


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    detail = [" / ".join(f"{m} -> {sorted(set(GRAPH[m]) & set(c))}" for m in c) for c in cycles]
    assert not cycles, "import cycles between ocrkit modules:\n" + "\n".join(detail)


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [
        ["a", "b", "c"]
    ]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


# Layers, lowest first: a module may import its own layer and the layers below. The
# longest matching prefix decides. docs/architecture.md draws the same picture.
LAYERS: list[tuple[str, ...]] = [
    ("ocrkit.errors", "ocrkit.models", "ocrkit.lang.codes", "ocrkit.engine_options"),
    ("ocrkit.settings", "ocrkit.hookspecs"),
    ("ocrkit.lang", "ocrkit.llm", "ocrkit.plugins"),
    ("ocrkit.page", "ocrkit.layout"),
    ("ocrkit.pipeline",),
    ("ocrkit.api", "ocrkit.store"),
    ("ocrkit", "ocrkit.eval", "ocrkit.jobs", "ocrkit.chat", "ocrkit.watch"),
    # HTTP: what route modules may use, then the routes, then the app that mounts them
    ("ocrkit.server.apidoc", "ocrkit.server.auth", "ocrkit.server.context"),
    ("ocrkit.server.multipart", "ocrkit.server.schemas"),
    ("ocrkit.server", "ocrkit.chat.routes", "ocrkit.web"),
    ("ocrkit.server.app", "ocrkit.mcp_server"),
    ("ocrkit.cli", "ocrkit.__main__"),
]
# The core never imports these (nor the built-in plugins, ocrkit_plugins).
OUTER = (
    "ocrkit.server",
    "ocrkit.web",
    "ocrkit.chat",
    "ocrkit.jobs",
    "ocrkit.cli",
    "ocrkit.__main__",
    "ocrkit.mcp_server",
)


def layer(module: str) -> int:
    best, rank = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank >= 0, f"{module} is in no layer of LAYERS"
    return rank


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_module_has_a_layer() -> None:
    for m in MODULES:
        layer(m)


def test_no_upward_imports() -> None:
    upward = [
        f"{m}:{line} imports {t} (layer {layer(t)} above {layer(m)})"
        for m, targets in GRAPH.items()
        for t, line in targets.items()
        if layer(t) > layer(m)
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_core_never_imports_server_web_chat_jobs_cli_or_plugins() -> None:
    bad = []
    for m, path in MODULES.items():
        if _in(m, OUTER):
            continue
        for imp in imports_of(path, m):
            if imp.type_only:
                continue
            if imp.module.startswith("ocrkit_plugins") or _in(imp.module, OUTER):
                bad.append(f"{m}:{imp.line} imports {imp.module}")
    assert not bad, "\n".join(bad)


def test_the_layer_rules_can_fail() -> None:
    assert layer("ocrkit.models") < layer("ocrkit.layout.page") < layer("ocrkit.pipeline.plan")
    assert layer("ocrkit.pipeline.pages") < layer("ocrkit.jobs.service")
    assert layer("ocrkit.server.context") < layer("ocrkit.chat.routes") < layer("ocrkit.server.app")
    assert layer("ocrkit.web.routes") < layer("ocrkit.server.app") < layer("ocrkit.cli.serve")


def test_the_data_model_imports_no_behaviour() -> None:
    """models.py is pure data: it imports nothing of ocrkit (the pipeline finishes jobs)."""
    own = [i.module for i in imports_of(MODULES["ocrkit.models"], "ocrkit.models")]
    assert not [m for m in own if m.startswith("ocrkit")]


def test_route_modules_take_only_the_context_from_the_server() -> None:
    """chat's and the web page's routes reach the server through ocrkit.server.context
    (and describe their operations with ocrkit.server.apidoc)."""
    allowed = {"ocrkit.server.context", "ocrkit.server.apidoc"}
    bad = [
        f"{m} imports {t}"
        for m in GRAPH
        if _in(m, ("ocrkit.chat", "ocrkit.web"))
        for t in GRAPH[m]
        if _in(t, ("ocrkit.server",)) and t not in allowed
    ]
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ plugin boundary


def plugin_surface() -> dict[str, set[str] | None]:
    """docs/plugins.md's table of the modules plugins may import: module -> the names
    they may take from it (None: any name; ``__all__``: the module's own list)."""
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    m = re.search(r"^## Modules plugins may import\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "docs/plugins.md has no '## Modules plugins may import' section"
    surface: dict[str, set[str] | None] = {}
    for row in re.findall(r"^\| `(ocrkit[\w.]*)` \| ([^|]+) \|", m.group(1), re.M):
        module, names = row[0], row[1].strip()
        if names == "any":
            surface[module] = None
        elif names == "`__all__`":
            surface[module] = set(importlib.import_module(module).__all__)
        else:
            surface[module] = set(re.findall(r"`(\w+)`", names))
    return surface


SURFACE = plugin_surface()


def test_the_plugin_surface_is_documented_and_exists() -> None:
    assert {"ocrkit", "ocrkit.hookspecs", "ocrkit.models", "ocrkit.errors"} <= set(SURFACE)
    for module, names in SURFACE.items():
        mod = importlib.import_module(module)
        for name in names or ():
            assert hasattr(mod, name), f"docs/plugins.md lists {module}.{name}: not there"


def _plugin_files() -> list[tuple[Path, str, str]]:
    """(file, its module, its own plugin package) for every built-in plugin module and
    the example plugins in tests/plugins/."""
    out = []
    for module, path in _modules(PLUGINS, "ocrkit_plugins").items():
        parts = module.split(".")
        if len(parts) < 3:  # ocrkit_plugins, ocrkit_plugins.engines: package markers
            continue
        out.append((path, module, ".".join(parts[:3])))
    for dist in sorted(p for p in EXAMPLE_PLUGINS.iterdir() if p.is_dir()):
        for pkg in sorted(p for p in dist.iterdir() if (p / "__init__.py").is_file()):
            for module, path in _modules(pkg, pkg.name).items():
                out.append((path, module, pkg.name))
    return out


PLUGIN_FILES = _plugin_files()


def boundary_violations(path: Path, module: str, own: str) -> list[str]:
    bad = []
    for imp in imports_of(path, module):
        top = imp.module.split(".")[0]
        if imp.module == own or imp.module.startswith(own + "."):
            continue
        if top not in ("ocrkit", "ocrkit_plugins"):
            continue  # the standard library and third-party packages
        allowed = SURFACE.get(imp.module, "missing")
        if allowed == "missing":
            submodules = [n for n in imp.names if f"{imp.module}.{n}" in SURFACE]
            if imp.names and len(submodules) == len(imp.names):
                continue  # `from ocrkit.layout import align`: a listed module
            bad.append(f"{module}:{imp.line} imports {imp.module}")
        elif allowed is not None:
            extra = [
                n for n in imp.names if n not in allowed and f"{imp.module}.{n}" not in SURFACE
            ]
            if extra or not imp.names and imp.module != "ocrkit":
                bad.append(f"{module}:{imp.line} takes {extra or 'the module'} from {imp.module}")
    return bad


@pytest.mark.parametrize("path,module,own", PLUGIN_FILES, ids=[m for _, m, _ in PLUGIN_FILES])
def test_plugins_import_only_the_declared_surface(path: Path, module: str, own: str) -> None:
    bad = boundary_violations(path, module, own)
    assert not bad, "outside docs/plugins.md's list:\n" + "\n".join(bad)


def test_the_boundary_check_can_fail(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import json\nimport ocrkit\nfrom ocrkit.hookspecs import Engine\n"
        "def f():\n    from ocrkit.pipeline.pages import PageTask\n"
        "    from ocrkit.plugins import get_registry\n"
        "    from ocrkit_plugins.engines.vlm import VlmEngine\n"
    )
    bad = boundary_violations(sneaky, "ocrkit_plugins.tools.sneaky", "ocrkit_plugins.tools.sneaky")
    assert len(bad) == 3, bad
    assert any("ocrkit.pipeline.pages" in b for b in bad)
    assert any("get_registry" in b for b in bad)
    assert any("ocrkit_plugins.engines.vlm" in b for b in bad)


def test_every_plugin_module_is_checked() -> None:
    names = {m for _, m, _ in PLUGIN_FILES}
    assert {
        "ocrkit_plugins.engines.vlm",
        "ocrkit_plugins.tools.translate",
        "ocrkit_plugins.tools.tables",
        "ocrkit_plugins.exporters.pdf.build",
        "ocrkit_example_plugin",
    } <= names
