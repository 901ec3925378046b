"""Third-party plugins, loaded the way users load them: installed distributions with
entry points (tests/plugins/example_plugin and tests/plugins/broken_plugin, both
installed by ``make install``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ocrkit.plugins import build_registry, get_plugin_manager

OCRKIT = [sys.executable, "-m", "ocrkit"]
EXAMPLE_HOOKS = [
    "register_commands",
    "register_engines",
    "register_exporters",
    "register_routes",
    "register_tools",
]


def ocrkit(*args: str, load: str | None = None) -> subprocess.CompletedProcess:
    """Run ocrkit with OCRKIT_LOAD_PLUGINS=load (None: unset, every plugin loads)."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    env.pop("OCRKIT_LOAD_PLUGINS", None)
    if load is not None:
        env["OCRKIT_LOAD_PLUGINS"] = load
    return subprocess.run([*OCRKIT, *args], capture_output=True, env=env, timeout=120)


@pytest.fixture
def page(render_page: Callable[..., Path]) -> Path:
    return render_page(["Hello plugin world", "second line"], size=(1000, 300))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OCRKIT_LOAD_PLUGINS", "ocrkit-example-plugin")
    return build_registry(get_plugin_manager())


def test_plugins_lists_loaded_and_failed_plugins() -> None:
    proc = ocrkit("plugins")
    assert proc.returncode == 0, proc.stderr.decode()
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    example = plugins["example"]
    assert example["status"] == "loaded"
    assert example["distribution"] == "ocrkit-example-plugin"
    assert example["version"] == "0.1.0"
    assert example["hooks"] == EXAMPLE_HOOKS
    broken = plugins["broken"]
    assert broken["status"] == "failed"
    assert broken["distribution"] == "ocrkit-broken-plugin"
    assert "ocrkit_example_missing_dependency" in broken["error"]
    assert plugins["tesseract"]["status"] == "loaded"
    assert plugins["tesseract"]["hooks"] == ["register_engines"]


def test_broken_plugin_does_not_break_other_commands(page: Path) -> None:
    proc = ocrkit("ocr", str(page))
    assert proc.returncode == 0
    assert "Hello plugin world" in proc.stdout.decode()
    err = proc.stderr.decode()
    assert "broken" in err and "ocrkit plugins" in err and "Traceback" not in err


def test_third_party_engine_is_selectable_by_name(page: Path) -> None:
    proc = ocrkit("ocr", str(page), "--engine", "example-upper", "-f", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    job = json.loads(proc.stdout)
    assert job["engine"] == "example-upper"
    assert "HELLO PLUGIN WORLD" in job["text"]
    assert job["pages"][0]["blocks"][0]["words"][0]["text"] == "HELLO"
    assert "example-upper" in ocrkit("ocr", "--help").stdout.decode()


def test_empty_load_plugins_hides_third_party_plugins(page: Path) -> None:
    plugins = {p["name"] for p in json.loads(ocrkit("plugins", load="").stdout)}
    assert "example" not in plugins and "broken" not in plugins
    assert "tesseract" in plugins  # built-ins always load
    engines = {e["name"] for e in json.loads(ocrkit("engines", "--json", load="").stdout)}
    assert "example-upper" not in engines and "tesseract" in engines
    proc = ocrkit("ocr", str(page), "--engine", "example-upper", load="")
    assert proc.returncode == 2
    assert "unknown engine 'example-upper'" in proc.stderr.decode()
    proc = ocrkit("example-hello", load="")
    assert proc.returncode == 2 and "No such command" in proc.stderr.decode()


def test_named_load_plugins_loads_only_that_distribution() -> None:
    plugins = {
        p["name"] for p in json.loads(ocrkit("plugins", load="ocrkit-example-plugin").stdout)
    }
    assert {"example", "misbehaving", "tesseract"} <= plugins
    assert "broken" not in plugins


def test_register_engines_adds_an_engine(registry) -> None:
    engine = registry.engine("example-upper")
    info = engine.info()
    assert info["tier"] == "cpu" and info["available"] is True and "eng" in info["languages"]


def test_register_tools_adds_a_tool_that_runs(page: Path) -> None:
    proc = ocrkit(
        "ocr", str(page), "--tool", "example-tool", "-f", "json", load="ocrkit-example-plugin"
    )
    assert proc.returncode == 0, proc.stderr.decode()
    job = json.loads(proc.stdout)
    assert job["pages"][0]["extra"]["example_words"] == 5
    assert job["extra"]["example_words"] == 5


def test_register_exporters_adds_a_format(page: Path, tmp_path: Path) -> None:
    out = tmp_path / "words.tsv"  # the format is chosen from the extension
    proc = ocrkit("ocr", str(page), "-o", str(out), load="ocrkit-example-plugin")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][:4] == ["page", "line", "word", "confidence"]
    assert [r[2] for r in rows[1:]] == ["Hello", "plugin", "world", "second", "line"]
    assert all(r[0] == "1" for r in rows[1:]) and rows[-1][1] == "2"


def test_register_commands_adds_a_command() -> None:
    proc = ocrkit("example-hello", "Ada", load="ocrkit-example-plugin")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode() == "Hello, Ada, from ocrkit-example-plugin 0.1.0\n"
    assert "example-hello" in ocrkit("--help", load="ocrkit-example-plugin").stdout.decode()


def test_register_routes_adds_a_route(registry) -> None:
    import asyncio

    import httpx
    from starlette.applications import Starlette

    routes: list = []
    registry.pm.hook.register_routes(register=routes.append)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=Starlette(routes=routes))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/-/example-hello")

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.text == "Hello from ocrkit-example-plugin 0.1.0\n"


def test_builtin_command_plugins_are_the_builtins_that_add_commands() -> None:
    """`ocrkit --help` loads only BUILTIN_COMMAND_PLUGINS of the built-ins to list plugin
    commands: the set must name exactly the built-in modules with register_commands."""
    import importlib.metadata

    from ocrkit.plugins import BUILTIN_COMMAND_PLUGINS, BUILTIN_DIST, GROUP

    with_commands = {
        ep.name
        for ep in importlib.metadata.entry_points(group=GROUP)
        if ep.dist is not None
        and ep.dist.name == BUILTIN_DIST
        and hasattr(ep.load(), "register_commands")
    }
    assert with_commands == set(BUILTIN_COMMAND_PLUGINS)


def test_builtin_names_table_is_what_the_builtin_plugins_register() -> None:
    """`ocrkit ocr --help` lists the built-in plugins' names from BUILTIN_NAMES without
    importing them: each entry must be exactly what its plugin registers."""
    from ocrkit.plugins import BUILTIN_DIST, BUILTIN_NAMES, _entry_points

    builtins = sorted(ep.name for ep in _entry_points() if ep.dist_name == BUILTIN_DIST)
    assert sorted(BUILTIN_NAMES) == builtins
    for name in builtins:
        reg = build_registry(get_plugin_manager(builtins={name}, extra_plugins=()))
        alone = build_registry(get_plugin_manager(builtins=frozenset()))  # third-party
        got = {
            kind: tuple(sorted(set(getattr(reg, kind)) - set(getattr(alone, kind))))
            for kind in ("engines", "tools", "exporters")
        }
        want = {kind: BUILTIN_NAMES[name].get(kind, ()) for kind in got}
        assert got == want, name


def test_registry_names_are_the_full_registry_names() -> None:
    from ocrkit import plugins

    plugins.reset_registry()
    try:
        lazy = {k: plugins.registry_names(k) for k in ("engines", "tools", "exporters")}
        assert plugins._default is None  # the names came without the full registry
        full = plugins.get_registry()
        assert lazy == {k: sorted(getattr(full, k)) for k in lazy}
    finally:
        plugins.reset_registry()


def test_broken_plugin_does_not_break_help() -> None:
    proc = ocrkit("--help")
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "  example-hello " in out and "  ocr " in out
    assert "Traceback" not in proc.stderr.decode()


def test_entry_point_reader_agrees_with_importlib_metadata() -> None:
    """ocrkit reads the ``ocrkit`` entry points from the dist-info folders itself (no
    importlib.metadata at start-up): the same names, targets, distributions and
    versions, the test plugins' included."""
    import importlib.metadata

    from ocrkit.plugins import GROUP, _entry_points

    ours = sorted((e.name, e.value, e.dist_name, e.dist_version) for e in _entry_points())
    theirs = sorted(
        (e.name, e.value, e.dist.name if e.dist else "", e.dist.version if e.dist else None)
        for e in importlib.metadata.entry_points(group=GROUP)
    )
    assert ours == theirs
    assert {"example", "broken", "tesseract"} <= {e[0] for e in ours}


def test_entry_point_reader_falls_back_for_a_zip_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    from ocrkit import plugins

    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_plugin-1.0.dist-info/METADATA", "Name: zipped-plugin\nVersion: 1.0\n")
        z.writestr("zipped_plugin-1.0.dist-info/entry_points.txt", "[ocrkit]\nzipped = zp\n")
    monkeypatch.syspath_prepend(str(archive))
    assert plugins._scan_entry_points() is None  # importlib.metadata reads zips
    found = {e.name: e for e in plugins._entry_points()}
    assert found["zipped"].dist_name == "zipped-plugin" and "tesseract" in found
