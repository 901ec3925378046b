"""Meta-tests: the README documents every hook, command, exit code and setting, and
every hook is exercised by a test (the datasette habit)."""

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
TESTS = Path(__file__).resolve().parent


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
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
    plugins = section("Writing a plugin")
    assert f"`{hook}`" in plugins
    assert re.search(rf"{hook}\({params}\b", plugins), f"{hook}({params}...) not in README"


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
    missing = [n for n in sorted(names) if f"`ocrkit {n}" not in README]
    assert not missing, f"commands not documented in README: {missing}"


def test_every_ocr_option_is_in_the_readme() -> None:
    ocr = cli.get_command(click.Context(cli), "ocr")
    assert ocr is not None
    longs = [o for p in ocr.params for o in p.opts if o.startswith("--") and o != "--help"]
    missing = [o for o in longs if f"`{o}" not in README]
    assert not missing, f"ocr options not in README: {missing}"


@pytest.mark.parametrize("code", list(ExitCode), ids=lambda c: c.name)
def test_exit_code_documented(code: ExitCode) -> None:
    assert f"| {int(code)} | {code.name} |" in section("Exit codes")


@pytest.mark.parametrize("field", [f.name for f in fields(Settings)])
def test_setting_documented(field: str) -> None:
    env = _ENV_NAMES.get(field, "OCRKIT_" + field.upper())
    assert f"`{env}`" in section("Configuration")


def test_readme_plugin_example_is_a_working_plugin() -> None:
    from ocrkit.plugins import build_registry, get_plugin_manager

    code = re.search(r"```python\n(# my_package/plugin\.py\n.*?)```", README, re.S)
    assert code, "README plugin example not found"
    module = types.ModuleType("readme_plugin")
    exec(compile(code.group(1), "README.md", "exec"), module.__dict__)
    reg = build_registry(get_plugin_manager(extra_plugins=[module]))
    assert "upper" in reg.engines and "word-count" in reg.tools and "shout" in reg.exporters
    assert not [f for f in reg.failures if f.name == "readme_plugin"]


def test_readme_has_placeholders_for_others() -> None:
    for title in ("API", "Benchmarks"):
        assert section(title).strip()
