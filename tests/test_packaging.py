"""Packaging: what a user installs is what the code needs, and nothing is missing from it.

The fast tests read pyproject.toml and the source tree; ``test_wheel_in_a_fresh_venv``
builds the wheel, installs it into a new virtualenv (from the same package index a user
has) and runs ``ocrkit ocr`` and ``ocrkit serve`` from there.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import ocrkit

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
PROJECT = PYPROJECT["project"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _base_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


# -- licence and metadata ---------------------------------------------------------------


def test_licence_file_is_apache_2() -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT.get("license-files") == ["LICENSE"]


def test_version_lives_in_one_place() -> None:
    assert "version" not in PROJECT, "pyproject.toml repeats the version"
    assert "version" in PROJECT["dynamic"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "ocrkit.__version__"}
    assert metadata.version("ocrkit") == ocrkit.__version__


def test_test_and_bench_tools_are_not_user_extras() -> None:
    extras = PROJECT.get("optional-dependencies", {})
    assert not {"test", "bench", "dev"} & set(extras), sorted(extras)
    groups = PYPROJECT["dependency-groups"]
    names = {canonicalize_name(Requirement(r).name) for r in groups["test"] if isinstance(r, str)}
    assert {"pytest", "ruff", "mypy", "selenium", "schemathesis"} <= names
    assert "psutil" in {canonicalize_name(Requirement(r).name) for r in groups["bench"]}
    # make install still installs both groups (make test needs them)
    install = (ROOT / "Makefile").read_text("utf-8").split("\ninstall:", 1)[1].split("\n\n")[0]
    assert "--group test" in install and "--group bench" in install


# Versions below which the code as written does not work (or is unsafe to expose).
FLOORS = {
    # `import python_multipart` exists from 0.0.13; 0.0.18 fixes CVE-2024-53981 (a
    # denial of service through bytes before the first boundary).
    "python-multipart": "0.0.18",
    # `import pymupdf` (not fitz) from 1.24.
    "pymupdf": "1.24",
    # Starlette's TestClient and lifespan API as used; 0.40 fixes CVE-2024-47874.
    "starlette": "0.40",
    "prometheus-client": "0.20",
    "markdown-it-py": "3",
}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_dependency_floors_are_real(name: str) -> None:
    req = _base_requirements()[name]
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    assert floors and max(floors) >= Version(FLOORS[name]), f"{name}: {req.specifier}"
    assert Version(metadata.version(name)) >= Version(FLOORS[name])


# -- what the wheel contains ------------------------------------------------------------


def _packages_on_disk() -> set[str]:
    found = set()
    for base, name in ((ROOT / "ocrkit", "ocrkit"), (ROOT / "plugins", "ocrkit_plugins")):
        for init in base.rglob("*"):
            if init.is_dir() and "__pycache__" not in init.parts:
                rel = init.relative_to(base).parts
                found.add(".".join((name, *rel)))
        found.add(name)
    return found


def _setup_packages() -> set[str]:
    """The packages setup.py hands setuptools (run with ``setup`` captured)."""
    import setuptools

    captured: dict[str, Any] = {}
    real = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)  # type: ignore[assignment]
    cwd = Path.cwd()
    try:
        os.chdir(ROOT)
        exec(compile((ROOT / "setup.py").read_text(), "setup.py", "exec"), {})
    finally:
        os.chdir(cwd)
        setuptools.setup = real
    return set(captured["packages"])


def test_every_folder_and_data_file_is_packaged() -> None:
    packages = _setup_packages()
    assert _packages_on_disk() <= packages, sorted(_packages_on_disk() - packages)
    # every package-data pattern names files that exist, and every non-Python file in a
    # package is covered by one (so nothing the code reads is left out of the wheel)
    data = SETUPTOOLS["package-data"]
    for package, patterns in data.items():
        folder = _folder(package)
        for pattern in patterns:
            assert list(folder.glob(pattern)), f"{package}: {pattern} matches no file"
    for package in packages:
        folder = _folder(package)
        for f in folder.iterdir():
            if f.is_file() and f.suffix not in (".py", ".pyc"):
                pats = data.get(package, [])
                assert any(fnmatch.fnmatch(f.name, p) for p in pats), f"{package}: {f.name}"
    assert (ROOT / "ocrkit" / "py.typed").is_file()


def _folder(package: str) -> Path:
    head, *rest = package.split(".")
    return (ROOT / ("plugins" if head == "ocrkit_plugins" else "ocrkit")).joinpath(*rest)


# -- every import of a built-in plugin is installed, or the plugin says how ---------------

PLUGIN_FILES = sorted((ROOT / "plugins").rglob("*.py"))
OWN = {"ocrkit", "ocrkit_plugins", "plugins", "__future__"}


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names - OWN if n not in sys.stdlib_module_names}


def _not_in_base_install(module: str) -> bool:
    dists = metadata.packages_distributions().get(module, [])
    base = set(_base_requirements())
    deps_of_base = set()
    for name in base:  # a base requirement's own requirements come with it
        for r in metadata.requires(name) or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                deps_of_base.add(canonicalize_name(req.name))
    return not any(canonicalize_name(d) in base | deps_of_base for d in dists)


OPTIONAL = {
    p.relative_to(ROOT).as_posix(): sorted(
        m for m in _third_party_imports(p) if _not_in_base_install(m)
    )
    for p in PLUGIN_FILES
}
OPTIONAL = {k: v for k, v in OPTIONAL.items() if v}

_PROBE = r"""
import importlib.machinery, json, sys
blocked = set(sys.argv[1].split(","))
# As if not installed: the path finder does not see them (find_spec -> None, import fails).
_find = importlib.machinery.PathFinder.find_spec
def find_spec(name, path=None, target=None):
    return None if name.split(".")[0] in blocked else _find(name, path, target)
importlib.machinery.PathFinder.find_spec = find_spec
from ocrkit.plugins import get_registry
reg = get_registry()
out = []
for kind in ("engines", "tools", "exporters"):
    for name, obj in getattr(reg, kind).items():
        mod = type(obj).__module__
        ok, reason = obj.availability() if hasattr(obj, "availability") else (True, "")
        out.append({"kind": kind, "name": name, "module": mod, "ok": ok, "reason": reason})
print(json.dumps({"plugins": out, "failures": [f.name for f in reg.failures]}))
"""


# Modules whose optional import only improves a plugin that works without it; the probe
# below runs the plugin's fallback with the import hidden instead.
FALLBACKS = {
    "plugins/engines/vlm/detect.py": (
        "from PIL import Image, ImageDraw, ImageFont\n"
        "from ocrkit_plugins.engines.vlm import detect\n"
        "im = Image.new('L', (900, 300), 255)\n"
        "d = ImageDraw.Draw(im)\n"
        "f = ImageFont.truetype('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', 40)\n"
        "d.text((40, 40), 'First line of writing', fill=0, font=f)\n"
        "d.text((40, 160), 'Second line here', fill=0, font=f)\n"
        "lines, how = detect.detect_lines(im)\n"
        "print(json.dumps({'fallback': [len(lines), how]}))\n"
    ),
    # the rough reading of detected pieces: without rapidocr there is none, and the
    # placement goes by shape alone
    "plugins/engines/vlm/read.py": (
        "from PIL import Image\n"
        "from ocrkit_plugins.engines.vlm import read\n"
        "im = Image.new('L', (300, 100), 255)\n"
        "got = read.read_boxes(im, [[0, 0, 200, 50]])\n"
        "print(json.dumps({'fallback': [read.available(), got]}))\n"
    ),
}
# What each fallback probe must print: the detector's lines by profile ("db" is
# RapidOCR's detector); no reading at all.
FALLBACK_OK = {
    "plugins/engines/vlm/detect.py": lambda got: got[0] >= 2 and got[1] == "profile",
    "plugins/engines/vlm/read.py": lambda got: got == [False, None],
}


# read.py reaches rapidocr through detect.py's loader: the same imports are hidden.
FALLBACK_VIA = {"plugins/engines/vlm/read.py": "plugins/engines/vlm/detect.py"}


@pytest.mark.parametrize("path", sorted(FALLBACKS))
def test_optional_import_with_a_fallback_works_without_it(path: str) -> None:
    blocked = ",".join(OPTIONAL[FALLBACK_VIA.get(path, path)])
    probe = _PROBE.split("from ocrkit.plugins import")[0] + FALLBACKS[path]
    out = subprocess.run(
        [sys.executable, "-c", probe, blocked], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])["fallback"]
    assert FALLBACK_OK[path](got), got


@pytest.mark.parametrize("path", sorted(set(OPTIONAL) - set(FALLBACKS)))
def test_plugin_without_its_optional_imports_says_how_to_install_them(path: str) -> None:
    """A plugin module that imports something a base install lacks must, without it,
    still load and report itself unavailable with the pip command that adds it."""
    module = "ocrkit_plugins." + path.removeprefix("plugins/").removesuffix(".py").replace("/", ".")
    blocked = ",".join(OPTIONAL[path])
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, blocked], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    mine = [p for p in report["plugins"] if p["module"] == module]
    assert mine, f"{module} registered nothing with {blocked} missing ({report['failures']})"
    for p in mine:
        assert not p["ok"], f"{p['name']} says it is available without {blocked}"
        assert "pip install" in p["reason"], p


def test_known_optional_imports() -> None:
    """The list the test above walks is not empty by accident."""
    assert "plugins/engines/rapidocr.py" in OPTIONAL, OPTIONAL


# -- a built wheel in a fresh virtualenv ------------------------------------------------


@pytest.mark.slow
def test_wheel_in_a_fresh_venv(tmp_path: Path, render_page) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
         "-w", str(dist), str(ROOT)],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = dist.glob("ocrkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "ocrkit/py.typed",
        "ocrkit/server/static/docs.html",
        "ocrkit/server/static/swagger/swagger-ui-bundle.js",
        "ocrkit/web/static/app.js",
        "ocrkit/store/migrations/env.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    meta = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert f"Version: {ocrkit.__version__}" in meta
    assert "License-File: LICENSE" in meta
    assert not re.search(r"Provides-Extra: (test|bench)\b", meta)
    built = time.monotonic() - t0

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=1200)
    installed = time.monotonic() - t0 - built
    exe = venv / "bin" / "ocrkit"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OMP_THREAD_LIMIT": "1",
        "OCRKIT_DATA_DIR": str(tmp_path / "data"),
        "OCRKIT_LOAD_PLUGINS": "",
    }
    page = render_page(["Packaged wheel works"])
    out = subprocess.run(
        [str(exe), "ocr", str(page), "-l", "eng", "-j", "1"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Packaged wheel works" in out.stdout
    # the server answers from the wheel's own files: API docs, the web page, migrations
    for path, needle in (
        ("/api/v1/health", '"ok"'),
        ("/docs", "swagger-ui-bundle.js"),
        ("/", "/web/app.js"),
        ("/web/app.js", "use strict"),
    ):
        got = subprocess.run(
            [str(exe), "serve", "--get", path],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert got.returncode == 0 and needle in got.stdout, (path, got.stderr[-500:])
    version = subprocess.run([str(exe), "-V"], capture_output=True, text=True, env=env)
    assert ocrkit.__version__ in version.stdout
    used = time.monotonic() - t0 - built - installed
    print(f"\nwheel: built {built:.1f}s, installed {installed:.1f}s, ran {used:.1f}s")
