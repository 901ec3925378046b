"""The CLI as users of OCRmyPDF and llm expect it: -V, -v, engine options, a progress
bar with pages and time left, sorted listings, documented completion."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pymupdf
import pytest

import ocrkit
from tests.test_server import png

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess:
    full = {**os.environ, "OMP_THREAD_LIMIT": "1", "OCRKIT_LOAD_PLUGINS": "", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ocrkit", *args],
        capture_output=True, text=True, env=full, timeout=180, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_short_version_flag() -> None:
    for flag in ("-V", "--version"):
        out = run(flag)
        assert out.returncode == 0
        assert out.stdout.strip() == f"ocrkit {ocrkit.__version__}"


def test_listings_are_sorted() -> None:
    for cmd in ("engines", "formats", "tools"):
        rows = json.loads(run(cmd, "--json").stdout)
        names = [r["name"] for r in rows]
        assert names == sorted(names), (cmd, names)
        table = run(cmd).stdout.splitlines()[1:]
        assert [ln.split()[0] for ln in table] == sorted(names), cmd
    plugins = [p["name"] for p in json.loads(run("plugins").stdout)]
    assert plugins == sorted(plugins)


def test_verbose_flag_logs_what_happens(tmp_path: Path) -> None:
    page = tmp_path / "p.png"
    page.write_bytes(png(["Verbose run"]))
    quiet = run("ocr", str(page), "-l", "eng", "-j", "1")
    assert quiet.returncode == 0 and "info" not in quiet.stderr
    loud = run("-v", "ocr", str(page), "-l", "eng", "-j", "1")
    assert loud.returncode == 0 and "Verbose run" in loud.stdout
    assert "ocrkit: info: p.png: page 1: engine tesseract" in loud.stderr, loud.stderr
    debug = run("-vv", "ocr", str(page), "-l", "eng", "-j", "1")
    assert "ocrkit: debug:" in debug.stderr
    assert run("--verbose", "ocr", str(page), "-l", "eng", "-j", "1").stderr == loud.stderr


def test_engine_options_reach_tesseract(tmp_path: Path) -> None:
    page = tmp_path / "p.png"
    page.write_bytes(png(["Invoice 4711 total 99"]))
    plain = run("ocr", str(page), "-l", "eng", "-j", "1", "--engine", "tesseract")
    assert "Invoice" in plain.stdout, plain.stderr
    digits = run(
        "ocr", str(page), "-l", "eng", "-j", "1", "--engine", "tesseract",
        "--engine-option", "c=tessedit_char_whitelist=0123456789 ",
        "--engine-option", "psm=6",
    )  # fmt: skip
    assert digits.returncode == 0, digits.stderr
    assert "Invoice" not in digits.stdout and "4711" in digits.stdout
    bad = run("ocr", str(page), "--engine", "tesseract", "--engine-option", "speed=11")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "ocrkit: error: engine 'tesseract' has no option 'speed'; it takes: c, psm"
    )
    bad = run("ocr", str(page), "--engine", "tesseract", "--engine-option", "psm=99")
    assert bad.returncode == 2 and "psm" in bad.stderr and "0 and 13" in bad.stderr
    bad = run("ocr", str(page), "--engine-option", "novalue")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_engine_options_are_listed_per_engine() -> None:
    rows = {r["name"]: r for r in json.loads(run("engines", "--json").stdout)}
    opts = {o["name"]: o for o in rows["tesseract"]["options"]}
    assert set(opts) == {"psm", "c"}
    assert opts["psm"]["type"] == "int" and opts["c"]["repeatable"] is True
    assert all(o["help"] for o in opts.values())
    assert rows["rapidocr"]["options"] == []


def test_engine_option_form_field_on_the_api(tmp_path: Path) -> None:
    from ocrkit.server.app import create_app
    from tests.test_server import TestClient, make_settings

    with TestClient(create_app(make_settings(tmp_path / "d"))) as client:
        files = {"file": ("p.png", png(["Invoice 4711 total 99"]))}
        data = {
            "language": "eng",
            "engine": "tesseract",
            "engine_option": ["c=tessedit_char_whitelist=0123456789 ", "psm=6"],
        }
        r = client.post("/api/v1/ocr/", files=files, data=data)
        assert r.status_code == 200, r.text
        text = r.json()["text"]
        assert "4711" in text and "Invoice" not in text
        data["engine_option"] = ["psm=x"]
        bad = client.post("/api/v1/ocr/", files=files, data=data)
        assert bad.status_code == 400 and "psm" in bad.json()["detail"]
        doc = client.get("/openapi.json").json()
        form = doc["paths"]["/api/v1/ocr/"]["post"]["requestBody"]["content"]
        prop = form["multipart/form-data"]["schema"]["properties"]["engine_option"]
        assert prop["type"] == "array"


def _pdf(tmp_path: Path, n: int) -> Path:
    doc = pymupdf.open()
    for i in range(n):
        page = doc.new_page(width=300, height=120)
        page.insert_image(page.rect, stream=png([f"Page number {i + 1}"], size=(600, 240)))
    path = tmp_path / "three.pdf"
    doc.save(path)
    return path


def test_progress_bar_on_a_terminal_shows_pages_and_time_left(tmp_path: Path) -> None:
    """A real pseudo-terminal on stderr: the bar counts pages done of the total and
    estimates the time left; stdout (a pipe) holds only the text."""
    pdf = _pdf(tmp_path, 3)
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocrkit", "ocr", str(pdf), "-l", "eng", "-j", "1"],
        stdout=subprocess.PIPE, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 0
    assert "Page number 3" in out and "\x1b" not in out
    screen = seen.decode("utf-8", "replace")
    assert "three.pdf" in screen
    # every page done is drawn at once (not only at the bar's timer ticks)
    assert "1/3" in screen and "2/3" in screen and "3/3" in screen, screen[-800:]
    assert re.search(r"\d+:\d\d:\d\d\S* left", screen), screen[-800:]  # a time once a page is done


def test_completion_works_and_is_documented(tmp_path: Path) -> None:
    out = run(env={"_OCRKIT_COMPLETE": "bash_source"})
    assert "_ocrkit_completion" in out.stdout
    docs = "\n".join(p.read_text("utf-8") for p in (ROOT / "docs").glob("*.md"))
    for shell in ("bash", "zsh", "fish"):
        assert f"_OCRKIT_COMPLETE={shell}_source ocrkit" in docs, shell


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_top_level_help_lists_the_new_flags(flag: str) -> None:
    out = run(flag).stdout
    assert "-V, --version" in out and "-v, --verbose" in out
