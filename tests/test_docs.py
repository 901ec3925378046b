"""Meta-tests: the manual in docs/ documents every hook, command, exit code and setting,
and every hook is exercised by a test (the datasette habit)."""

from __future__ import annotations

import inspect
import re
import types
from dataclasses import fields
from pathlib import Path

import click
import pytest

from ocrkit import hookspecs
from ocrkit.cli import LAZY_COMMANDS, cli
from ocrkit.errors import ExitCode
from ocrkit.settings import _ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
TESTS = Path(__file__).resolve().parent
PAGES = sorted(p.stem for p in DOCS.glob("*.md"))


def page(name: str) -> str:
    """The text of docs/<name>.md."""
    path = DOCS / f"{name}.md"
    assert path.is_file(), f"docs/{name}.md is missing"
    return path.read_text()


def section(name: str, title: str) -> str:
    text = page(name)
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/{name}.md has no '## {title}' section"
    return match.group(1)


HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, "ocrkit_spec")
)


def test_hooks_found() -> None:
    assert HOOKS == [
        "register_commands",
        "register_engines",
        "register_exporters",
        "register_routes",
        "register_services",
        "register_tools",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc) > 40


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented_with_signature(hook: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    plugins = page("plugins")
    assert f"`{hook}`" in plugins
    assert re.search(rf"{hook}\({params}\b", plugins), f"{hook}({params}...) not in docs/plugins.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    """Some test other than this file names the hook in a test function."""
    for path in TESTS.glob("test_*.py"):
        if path.name == "test_docs.py":
            continue
        if re.search(rf"def test_\w*{hook}\w*\(", path.read_text()):
            return
    pytest.fail(f"no test_*{hook}* function in tests/")


def cli_commands() -> list[str]:
    ctx = click.Context(cli)
    return [n for n in cli.list_commands(ctx) if not n.startswith("example-")]


def test_every_command_is_in_the_readme() -> None:
    names = set(cli_commands()) | set(LAZY_COMMANDS)
    assert {"ocr", "export", "plugins", "engines", "formats", "tools"} <= names
    missing = [n for n in sorted(names) if f"`ocrkit {n}" not in page("cli")]
    assert not missing, f"commands not documented in docs/cli.md: {missing}"


def test_every_ocr_option_is_in_the_readme() -> None:
    ocr = cli.get_command(click.Context(cli), "ocr")
    assert ocr is not None
    longs = [o for p in ocr.params for o in p.opts if o.startswith("--") and o != "--help"]
    missing = [o for o in longs if f"`{o}" not in page("cli")]
    assert not missing, f"ocr options not in docs/cli.md: {missing}"


@pytest.mark.parametrize("code", list(ExitCode), ids=lambda c: c.name)
def test_exit_code_documented(code: ExitCode) -> None:
    assert f"| {int(code)} | {code.name} |" in section("cli", "Exit codes")


@pytest.mark.parametrize("field", [f.name for f in fields(Settings)])
def test_setting_documented(field: str) -> None:
    env = _ENV_NAMES.get(field, "OCRKIT_" + field.upper())
    assert f"`{env}`" in page("configuration")


def test_readme_plugin_example_is_a_working_plugin() -> None:
    from ocrkit.plugins import build_registry, get_plugin_manager

    code = re.search(r"```python\n(# my_package/plugin\.py\n.*?)```", page("plugins"), re.S)
    assert code, "docs/plugins.md: plugin example not found"
    module = types.ModuleType("readme_plugin")
    exec(compile(code.group(1), "docs/plugins.md", "exec"), module.__dict__)
    reg = build_registry(get_plugin_manager(extra_plugins=[module]))
    assert "upper" in reg.engines and "word-count" in reg.tools and "shout" in reg.exporters
    assert not [f for f in reg.failures if f.name == "readme_plugin"]


def test_readme_has_placeholders_for_others() -> None:
    for name in ("http-api", "benchmarks"):
        assert page(name).split("\n", 1)[1].strip()


MANUAL = [
    "cli",
    "python-api",
    "plugins",
    "formats",
    "configuration",
    "http-api",
    "scale-out",
    "security",
    "chat",
    "web",
    "tables",
    "vlm",
    "benchmarks",
    "architecture",
]


def test_docs_has_every_manual_page() -> None:
    assert set(MANUAL) <= set(PAGES)


@pytest.mark.parametrize("name", PAGES)
def test_readme_links_every_docs_page(name: str) -> None:
    assert f"](docs/{name}.md)" in README, f"README does not link docs/{name}.md"


@pytest.mark.parametrize("name", PAGES)
def test_docs_relative_links_resolve(name: str) -> None:
    """Every relative link in a docs page points at a file that exists."""
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page(name)):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (DOCS / target).exists(), f"docs/{name}.md links {target}, which does not exist"


def test_readme_is_a_front_page() -> None:
    """The README is a front page (about 200 lines), with the two commands."""
    assert len(README.splitlines()) <= 250
    assert "make serve" in README and "make test" in README


def test_benchmarks_link_the_latest_run_instead_of_pasting_it() -> None:
    bench = page("benchmarks")
    assert "](../bench/results/latest.md)" in bench
    assert "| target | goal | measured | met |" not in bench
