"""The ``ocrkit`` command line, run as users run it: real processes and real pipes."""

from __future__ import annotations

import json
import os
import pty
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ocrkit.cli import LAZY_COMMANDS
from ocrkit.errors import ExitCode

OCRKIT = [sys.executable, "-m", "ocrkit"]
SH_OCRKIT = f"{shlex.quote(sys.executable)} -m ocrkit"
LINES = ["Invoice number 4711", "Total amount due 99"]


def env(**extra: str) -> dict[str, str]:
    """The test environment: only the example plugin (no broken-plugin warning)."""
    e = dict(os.environ, OCRKIT_LOAD_PLUGINS="ocrkit-example-plugin", OMP_THREAD_LIMIT="1")
    e.pop("OCRKIT_DEBUG", None)
    e.update(extra)
    return e


def ocrkit(*args: str, input: bytes | None = None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*OCRKIT, *args], input=input, capture_output=True, env=env(**extra), timeout=120
    )


def shell(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, capture_output=True, env=env(), timeout=120
    )


@pytest.fixture
def page(render_page: Callable[..., Path]) -> Callable[..., Path]:
    """A small rendered page (fast to OCR) with known text."""

    def make(name: str = "page.png", lines: list[str] = LINES) -> Path:
        return render_page(lines, name=name, size=(1100, 400), font_size=40)

    return make


def assert_clean_error(proc: subprocess.CompletedProcess, code: int) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err and b"Traceback" not in proc.stdout
    assert "error" in err.lower()
    return err


def test_help_lists_commands_and_imports_nothing_heavy() -> None:
    proc = ocrkit("--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for name in ("ocr", "export", "plugins", "engines", "formats", "tools", "example-hello"):
        assert f"  {name} " in out
    code = (
        "import sys; from ocrkit.cli import run; run(['--help']); "
        "heavy = ['pymupdf', 'fitz', 'PIL', 'starlette', 'pytesseract', 'numpy', 'docx', "
        "'sqlalchemy', 'rich']; print([m for m in heavy if m in sys.modules], file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env())
    heavy = proc.stderr.decode().strip().splitlines()[-1]
    assert heavy == "[]", (
        f"`ocrkit --help` imported {heavy}: a plugin module (every one is imported to "
        "collect register_commands) imports them at module level; import them lazily "
        "(find it with: python -X importtime -m ocrkit --help)"
    )


def _imported_by(args: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` that ``ocrkit ARGS`` imported (run
    in a fresh interpreter, as the console script runs it)."""
    code = (
        "import sys; from ocrkit.cli import run; rc = run(sys.argv[1:]); "
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, env=env(), timeout=120
    )
    assert "Usage:" in proc.stdout.decode(), proc.stderr.decode()
    return list(json.loads(proc.stderr.decode().strip().splitlines()[-1].replace("'", '"')))


def test_top_level_help_imports_no_engine_exporter_or_server_module() -> None:
    """`ocrkit --help` lists the plugin commands (the example plugin's, `mcp`, `watch`)
    from the command plugins alone: no engine, exporter, tool, MCP server or vlm module."""
    out = ocrkit("--help").stdout.decode()
    for name in ("example-hello", "mcp", "watch"):
        assert f"  {name} " in out
    loaded = _imported_by(
        ["--help"],
        (
            "ocrkit_plugins.engines",
            "ocrkit_plugins.exporters",
            "ocrkit_plugins.tools",
            "ocrkit.mcp_server",
            "ocrkit.layout",
            "ocrkit.lang",
            "ocrkit.server",
            "mcp",
            "importlib.metadata",
        ),
    )
    assert loaded == [], f"`ocrkit --help` imported {loaded}"


def test_ocr_help_lists_every_engine_without_importing_their_heavy_parts() -> None:
    """`ocrkit ocr --help` lists engine, tool and format names, a third-party engine's
    too (loading the third-party plugins) but no module keeps its heavy imports eager."""
    out = ocrkit("ocr", "--help").stdout.decode()
    for name in ("tesseract", "vlm", "example-upper", "extract-tables", "alto", "docx"):
        assert name in out, name
    loaded = _imported_by(
        ["ocr", "--help"],
        (
            "ocrkit_plugins.engines.vlm.answer",
            "ocrkit_plugins.engines.vlm.guards",
            "ocrkit_plugins.tools.tables.ruled",
            "ocrkit.layout",
            "ocrkit.mcp_server",
            "xml.sax",
            "urllib.request",
            "statistics",
        ),
    )
    assert loaded == [], f"`ocrkit ocr --help` imported {loaded}"


def test_ocr_help_loads_no_builtin_plugin_module() -> None:
    """`ocrkit ocr --help` lists engine, tool and format names from the built-in
    plugins' names table and the third-party plugins alone: no built-in plugin module,
    nor what they import (the data model, the language table, the settings). No
    third-party plugin here: the example plugin imports ocrkit.models itself."""
    prefixes = (
        "ocrkit_plugins.engines",
        "ocrkit_plugins.exporters",
        "ocrkit_plugins.tools",
        "ocrkit.models",
        "ocrkit.lang",
        "ocrkit.settings",
        "ocrkit.engine_options",
        "tempfile",
        "subprocess",
        "ctypes",
    )
    code = (
        "import sys; from ocrkit.cli import run; rc = run(sys.argv[1:]); "
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "ocr", "--help"],
        capture_output=True,
        env=env(OCRKIT_LOAD_PLUGINS=""),
        timeout=120,
    )
    out = proc.stdout.decode()
    assert "Usage:" in out and "tesseract" in out and "xlsx" in out, proc.stderr.decode()
    loaded = proc.stderr.decode().strip().splitlines()[-1]
    assert loaded == "[]", f"`ocrkit ocr --help` imported {loaded}"


@pytest.mark.parametrize("load", ["ocrkit-example-plugin", "ocrkit-example-plugin,broken"])
def test_ocr_help_is_the_text_the_full_registry_gives(load: str) -> None:
    """The help text is the same as when every plugin is loaded first (as `ocr --help`
    did before it took the built-in names from a table): a third-party engine, tool and
    exporter listed, a broken plugin reported the same way."""
    code = (
        "import sys; from ocrkit.plugins import get_registry; get_registry(); "
        "from ocrkit.cli import run; run(sys.argv[1:])"
    )
    e = env(OCRKIT_LOAD_PLUGINS=load, COLUMNS="80")
    full = subprocess.run(
        [sys.executable, "-c", code, "ocr", "--help"], capture_output=True, env=e, timeout=120
    )
    lazy = subprocess.run([*OCRKIT, "ocr", "--help"], capture_output=True, env=e, timeout=120)
    assert full.returncode == lazy.returncode == 0, lazy.stderr.decode()
    assert "example-upper" in lazy.stdout.decode()
    assert lazy.stdout.decode() == full.stdout.decode()
    assert lazy.stderr.decode() == full.stderr.decode()


def test_lazy_commands_listed_only_when_their_module_exists() -> None:
    import importlib.util

    out = ocrkit("--help").stdout.decode()
    for name, (path, _) in LAZY_COMMANDS.items():
        module = path.split(":")[0]
        try:
            exists = importlib.util.find_spec(module) is not None
        except ImportError:
            exists = False
        assert (f"  {name} " in out) == exists, name


def test_pipe_image_through_stdin_to_grep(page: Callable[..., Path]) -> None:
    src = page()
    proc = shell(f"cat {src.name} | {SH_OCRKIT} ocr - --format md | grep Total", src.parent)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Total amount due 99" in proc.stdout.decode()


def test_pipe_pdf_through_stdin(tmp_path: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), "Grand Total 1234 EUR", fontsize=14)
    doc.save(tmp_path / "doc.pdf")
    proc = shell(f"cat doc.pdf | {SH_OCRKIT} ocr - --format md | grep Total", tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Grand Total 1234 EUR" in proc.stdout.decode()


def test_json_piped_into_export_docx(page: Callable[..., Path]) -> None:
    import docx

    src = page("scan.tif")
    proc = shell(
        f"{SH_OCRKIT} ocr scan.tif --format json | {SH_OCRKIT} export - --format docx -o out.docx",
        src.parent,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = "\n".join(p.text for p in docx.Document(str(src.parent / "out.docx")).paragraphs)
    assert "Invoice number 4711" in text and "Total amount due 99" in text


def test_format_from_output_extension_and_save_job(page: Callable[..., Path]) -> None:
    src = page()
    out, job = src.parent / "result.json", src.parent / "job.json"
    proc = ocrkit("ocr", str(src), "-o", str(out), "--save-job", str(job))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert "Total amount due 99" in json.loads(out.read_text())["text"]
    # The saved job re-exports without OCR.
    proc = ocrkit("export", str(job), "--format", "txt")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Invoice number 4711" in proc.stdout.decode()


def test_directory_with_a_bad_file_is_partial(page: Callable[..., Path], tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    good = page("good.png")
    good.rename(scans / "good.png")
    (scans / "empty.png").write_bytes(b"")
    (scans / "notes.txt").write_text("not an image")
    other = page("other.png", lines=["Second document here"])
    out = tmp_path / "out"
    proc = ocrkit("ocr", str(scans), str(other), "--format", "md", "-o", str(out))
    err = assert_clean_error(proc, ExitCode.partial)
    assert "empty.png" in err and "notes.txt" in err
    assert sorted(p.name for p in out.iterdir()) == ["good.md", "other.md"]
    assert "Total amount due 99" in (out / "good.md").read_text()
    assert "Second document" in (out / "other.md").read_text()


@pytest.mark.parametrize(
    ("setup", "args", "code", "needle"),
    [
        ("zero", [], ExitCode.input_file, "empty"),
        ("magic", [], ExitCode.input_file, ""),
        ("missing", [], ExitCode.input_file, "no such file"),
        ("page", ["--format", "nope"], ExitCode.bad_args, "unknown format 'nope'"),
        ("page", ["--engine", "nope"], ExitCode.bad_args, "unknown engine 'nope'"),
        ("page", ["--language", "xx-nope"], ExitCode.bad_args, "xx"),
        ("page", ["--tool", "nope"], ExitCode.bad_args, "unknown tool 'nope'"),
        ("page", ["-o", "out.weird"], ExitCode.bad_args, "cannot tell the format"),
    ],
)
def test_bad_input_or_option_exits_with_documented_code(
    page: Callable[..., Path], tmp_path: Path, setup: str, args: list[str], code: int, needle: str
) -> None:
    path = tmp_path / "input.png"
    if setup == "zero":
        path.write_bytes(b"")
    elif setup == "magic":
        path.write_bytes(b"GIF-but-not-really, just text\n" * 10)
    elif setup == "page":
        path = page()
    proc = subprocess.run(
        [*OCRKIT, "ocr", str(path), *args], capture_output=True, env=env(), cwd=tmp_path
    )
    err = assert_clean_error(proc, code)
    assert err.splitlines()[-1].startswith("ocrkit: error: ")
    assert needle in err
    assert proc.stdout == b""


def test_empty_stdin_and_bad_job_json() -> None:
    assert_clean_error(ocrkit("ocr", "-", input=b""), ExitCode.input_file)
    err = assert_clean_error(ocrkit("export", "-", input=b"{not json"), ExitCode.input_file)
    assert "not a saved ocrkit job" in err


def test_several_inputs_need_an_output_directory(page: Callable[..., Path]) -> None:
    a, b = page("a.png"), page("b.png")
    err = assert_clean_error(ocrkit("ocr", str(a), str(b)), ExitCode.bad_args)
    assert "-o DIR" in err


def test_binary_format_to_a_terminal_is_refused(page: Callable[..., Path]) -> None:
    src = page()
    primary, replica = pty.openpty()
    try:
        proc = subprocess.run(
            [*OCRKIT, "ocr", str(src), "--format", "docx"],
            stdout=replica,
            stderr=subprocess.PIPE,
            env=env(),
            timeout=60,
        )
    finally:
        os.close(replica)
        os.close(primary)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.output, err
    assert "terminal" in err and "Traceback" not in err


def test_stdout_polluter_cannot_corrupt_piped_documents(
    render_page: Callable[..., Path], tmp_path: Path
) -> None:
    """A plugin printing to stdout (print and raw fd 1, in the main process and in page
    workers) must not end up in the document written to stdout."""
    import docx
    from PIL import Image

    first = Image.open(render_page(LINES, name="a.png", size=(1100, 400)))
    second = Image.open(render_page(["Second page text"], name="b.png", size=(1100, 400)))
    tif = tmp_path / "two.tif"
    first.save(tif, save_all=True, append_images=[second], dpi=(200, 200))
    common = ["ocr", str(tif), "--tool", "stdout-polluter", "--jobs", "2", "-o", "-"]

    proc = ocrkit(*common, "--format", "json", OCRKIT_EXAMPLE_POLLUTE="1")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "stdout polluter" in proc.stderr.decode()
    job = json.loads(proc.stdout)
    assert len(job["pages"]) == 2 and "Second page" in job["text"]

    proc = ocrkit(*common, "--format", "docx", OCRKIT_EXAMPLE_POLLUTE="1")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"stdout polluter" not in proc.stdout
    out = tmp_path / "out.docx"
    out.write_bytes(proc.stdout)
    assert "Invoice number 4711" in "\n".join(p.text for p in docx.Document(str(out)).paragraphs)


@pytest.mark.skipif(
    "pdf"
    not in json.dumps(
        subprocess.run(
            [*OCRKIT, "formats", "--json"], capture_output=True, env=env()
        ).stdout.decode()
    ),
    reason="the pdf exporter is not installed yet",
)
def test_searchable_pdf_through_a_pipe_keeps_the_text(page: Callable[..., Path]) -> None:
    import pymupdf

    src = page()
    proc = shell(f"cat {src.name} | {SH_OCRKIT} ocr - -f pdf -o - > out.pdf", src.parent)
    assert proc.returncode == 0, proc.stderr.decode()
    with pymupdf.open(src.parent / "out.pdf") as doc:
        assert "Total amount due 99" in doc[0].get_text()


def test_info_commands(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """In-process (``ocrkit.cli.run``), which also checks the CLI works without a real
    stdout file descriptor (as under a test runner's capture)."""
    from ocrkit.cli import run

    monkeypatch.setenv("OCRKIT_LOAD_PLUGINS", "ocrkit-example-plugin")
    monkeypatch.setattr("ocrkit.plugins._default", None)  # rebuilt now, forgotten after

    def call(*args: str) -> str:
        assert run(list(args)) == 0
        return capsys.readouterr().out

    engines = json.loads(call("engines", "--json"))
    tess = next(e for e in engines if e["name"] == "tesseract")
    assert tess["tier"] == "cpu" and tess["available"] is True and "eng" in tess["languages"]
    assert {"name", "tier", "available", "reason", "languages"} <= set(tess)
    assert call("engines").splitlines()[0].split()[:3] == ["name", "tier", "available"]
    formats = {f["name"] for f in json.loads(call("formats", "--json"))}
    assert {"txt", "md", "json", "csv", "docx", "example-fmt"} <= formats
    tools = {t["name"] for t in json.loads(call("tools", "--json"))}
    assert "example-tool" in tools


def test_unexpected_error_is_one_line_without_traceback_unless_debug(
    page: Callable[..., Path],
) -> None:
    src = page()  # the example plugin's `example-crash` exporter has a bug
    proc = ocrkit("ocr", str(src), "-f", "example-crash")
    err = assert_clean_error(proc, ExitCode.other_error)
    assert err.splitlines() == [
        "ocrkit: error: unexpected ZeroDivisionError: division by zero "
        "(rerun with --debug for the traceback)"
    ]
    proc = ocrkit("--debug", "ocr", str(src), "-f", "example-crash")
    assert proc.returncode == ExitCode.other_error
    assert "Traceback" in proc.stderr.decode() and "ZeroDivisionError" in proc.stderr.decode()
    proc = ocrkit("ocr", str(src), "-f", "example-crash", OCRKIT_DEBUG="1")
    assert "Traceback" in proc.stderr.decode()


def test_progress_on_stderr_only_when_it_is_a_terminal(page: Callable[..., Path]) -> None:
    src = page()
    out = src.parent / "out.txt"
    primary, replica = pty.openpty()
    proc = subprocess.Popen([*OCRKIT, "ocr", str(src), "-o", str(out)], stderr=replica, env=env())
    os.close(replica)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0
    assert b"page.png" in seen  # the progress line names the input
    assert "Total amount due 99" in out.read_text()
    # Not a terminal: nothing on stderr at all.
    proc2 = ocrkit("ocr", str(src), "-o", str(out))
    assert proc2.returncode == 0 and proc2.stderr == b""


def test_encrypted_pdf_needs_its_password(tmp_path: Path) -> None:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page().insert_text((72, 100), "Secret total 77", fontsize=14)
    path = tmp_path / "locked.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="pw", owner_pw="owner")
    assert "password" in assert_clean_error(ocrkit("ocr", str(path)), ExitCode.encrypted)
    assert_clean_error(ocrkit("ocr", str(path), "--password", "nope"), ExitCode.encrypted)
    proc = ocrkit("ocr", str(path), "--password", "pw")
    assert proc.returncode == 0 and "Secret total 77" in proc.stdout.decode()


def test_page_range_outside_the_input_is_a_usage_error(page: Callable[..., Path]) -> None:
    err = assert_clean_error(ocrkit("ocr", str(page()), "--pages", "9"), ExitCode.bad_args)
    assert "page 9" in err


def test_unavailable_engine_exits_with_engine_code(page: Callable[..., Path]) -> None:
    engines = json.loads(ocrkit("engines", "--json").stdout)
    missing = [e for e in engines if not e["available"]]
    if not missing:
        pytest.skip("every installed engine is available on this machine")
    proc = ocrkit("ocr", str(page()), "--engine", missing[0]["name"])
    err = assert_clean_error(proc, ExitCode.engine)
    assert missing[0]["reason"] in err
