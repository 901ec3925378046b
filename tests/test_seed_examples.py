"""The seed's Python, Node and curl examples, run as written against `ocrkit serve`.

The code blocks are read from ``shared/spec/seed-ocr-chat-api.txt`` at run time; only the
base URL, the token and (for curl's later steps) the UUID placeholder are replaced. The
document they send, ``invoice.pdf``, is a generated image-only PDF written under that very
name in the directory the example runs in. A real uvicorn server runs in a subprocess
with a real SQLite store; Tesseract reads the pages. The 7-page document must be answered
``pending`` at once (from the server's access log: status 202 in under a second), so the
examples' poll loops really run.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(os.environ.get("OCRKIT_SPEC_DIR", ROOT.parent / "shared" / "spec"))
SEED = SPEC / "seed-ocr-chat-api.txt"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SEED_BASE = "https://ocr.chat"
SEED_TOKEN = "YOUR_API_TOKEN"

# ---------------------------------------------------------------------- the seed's code


def seed_text() -> str:
    if not SEED.is_file():
        pytest.fail(f"seed not found at {SEED}; set OCRKIT_SPEC_DIR")
    return SEED.read_text("utf-8")


def _from(lines: list[str], first: str) -> list[str]:
    for i, line in enumerate(lines):
        if line.strip() == first:
            return lines[i:]
    pytest.fail(f"the seed has no code block starting {first!r}")


def _until(lines: list[str], stop: str) -> list[str]:
    for i, line in enumerate(lines):
        if line.strip() == stop:
            return lines[:i]
    pytest.fail(f"the seed has no line {stop!r} after its block")


def python_block(text: str) -> str:
    lines = _until(_from(text.splitlines(), "import requests, time"), 'import fs from "fs";')
    return "\n".join(lines).strip() + "\n"


def node_block(text: str) -> str:
    lines = _until(_from(text.splitlines(), 'import fs from "fs";'), "# 1. Submit")
    return "\n".join(lines).strip() + "\n"


def curl_steps(text: str) -> list[str]:
    """The curl block, split at its ``# N.`` comments; it ends at the first line that is
    neither a comment, a curl command nor a continuation."""
    block: list[str] = []
    for line in _from(text.splitlines(), "# 1. Submit"):
        if line.strip() and not re.match(r"(#|curl\b|\s)", line):
            break
        block.append(line)
    steps: list[list[str]] = []
    for line in block:
        if re.match(r"# \d+\.", line):
            steps.append([])
        if line.strip():
            steps[-1].append(line)
    return ["\n".join(s) + "\n" for s in steps]


def adapt(code: str, base: str, token: str) -> str:
    """Replace only the base URL and the token (both must occur)."""
    assert SEED_BASE in code and SEED_TOKEN in code, "the seed example changed shape"
    return code.replace(SEED_BASE, base).replace(SEED_TOKEN, token)


def test_seed_blocks_are_found() -> None:
    text = seed_text()
    assert "job = requests.post(API" in python_block(text)
    assert "await fetch(API" in node_block(text)
    steps = curl_steps(text)
    assert len(steps) == 3 and "-X POST" in steps[0] and "UUID" in steps[1] + steps[2]


# ------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    token: str
    log: Path

    def log_lines(self) -> list[str]:
        return self.log.read_text("utf-8", "replace").splitlines()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from ocrkit.settings import load_settings
    from ocrkit.store import Store

    root = tmp_path_factory.mktemp("seed")
    data = root / "data"
    # The same settings the server will read (environment + --data-dir).
    with Store.open(load_settings(data_dir=data)) as store:
        store.create_account("seed-user", "paid")
        store.credit("seed-user", 10_000)
        token = store.create_token("seed-user")[1]
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "OCRKIT_DPI": "150", "OMP_THREAD_LIMIT": "1"}
    cmd = [sys.executable, "-m", "ocrkit", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data), "--workers", "2"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        import requests

        usage = requests.get(base + "/api/v1/usage/", params={"api_token": token}, timeout=10)
        assert usage.status_code == 200 and usage.json()["plan"] == "paid"
        # let the page workers start before latencies are measured
        time.sleep(2)
        yield Server(base=base, token=token, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    logged = log.read_text("utf-8", "replace")
    assert "GET /api/v1/usage/" in logged and token not in logged, "the token was logged"


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ocrkit serve exited: {log.read_text()}")
        try:
            if requests.get(base + "/api/v1/health", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"ocrkit serve did not become healthy: {log.read_text()}")


# ------------------------------------------------------------------------- documents


def invoice_pdf(path: Path, pages: int) -> list[str]:
    """Write an image-only PDF of ``pages`` small pages; return each page's words."""
    import pymupdf
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 30)
    doc = pymupdf.open()
    words = []
    for i in range(pages):
        word = f"INVOICE {1000 + i}"
        img = Image.new("L", (600, 225), 255)
        ImageDraw.Draw(img).text((30, 90), word, font=font, fill=0)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        page = doc.new_page(width=288, height=108)
        page.insert_image(page.rect, stream=buf.getvalue())
        words.append(word)
    doc.save(path, deflate=True)
    return words


@pytest.fixture(params=[1, 7], ids=["1-page", "7-page"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, int, list[str]]:
    pages = int(request.param)
    words = invoice_pdf(tmp_path / "invoice.pdf", pages)
    return tmp_path, pages, words


def _requests_since(server: Server, mark: int) -> list[tuple[str, str, int, float]]:
    """(method, path, status, ms) of the access-log lines after line ``mark``."""
    out = []
    for line in server.log_lines()[mark:]:
        m = re.search(r'"(GET|POST|DELETE) (\S+)" (\d{3}) (\d+)ms', line)
        if m:
            out.append((m[1], m[2], int(m[3]), float(m[4])))
    return out


def _check_submit(server: Server, mark: int, pages: int) -> None:
    reqs = _requests_since(server, mark)
    posts = [r for r in reqs if r[0] == "POST" and r[1] == "/api/v1/ocr/"]
    assert len(posts) == 1, reqs
    polls = [r for r in reqs if r[0] == "GET" and re.fullmatch(r"/api/v1/ocr/[0-9a-f-]{36}/", r[1])]
    if pages == 7:
        assert posts[0][2] == 202, posts
        assert polls and all(p[2] == 200 for p in polls), "the poll loop did not run"
    else:
        assert posts[0][2] == 200, posts  # done inline: no polling needed


# ------------------------------------------------------------------------- examples


def test_python_example(server: Server, case: tuple[Path, int, list[str]]) -> None:
    cwd, pages, words = case
    code = adapt(python_block(seed_text()), server.base, server.token)
    (cwd / "example.py").write_text(code)
    mark = len(server.log_lines())
    run = subprocess.run(
        [sys.executable, "example.py"], cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    for word in words:
        assert word in run.stdout, (word, run.stdout)
    import docx

    text = "\n".join(p.text for p in docx.Document(str(cwd / "result.docx")).paragraphs)
    assert all(word in text for word in words), text
    _check_submit(server, mark, pages)


def test_node_example(server: Server, case: tuple[Path, int, list[str]]) -> None:
    node = shutil.which("node")
    assert node, "node (20+) is required for this test"
    cwd, pages, words = case
    code = adapt(node_block(seed_text()), server.base, server.token)
    (cwd / "example.mjs").write_text(code)
    mark = len(server.log_lines())
    run = subprocess.run(
        [node, "example.mjs"], cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    for word in words:
        assert word in run.stdout, (word, run.stdout)
    _check_submit(server, mark, pages)


def test_curl_example(server: Server, case: tuple[Path, int, list[str]]) -> None:
    cwd, pages, words = case
    submit, poll, download = (adapt(s, server.base, server.token) for s in curl_steps(seed_text()))

    def bash(script: str) -> str:
        run = subprocess.run(
            ["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    mark = len(server.log_lines())
    job = json.loads(bash(submit))
    assert job["status"] == ("done" if pages == 1 else "pending"), job
    uuid = job["uuid"]
    deadline = time.monotonic() + 120
    while job["status"] in ("pending", "processing"):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(1)
        job = json.loads(bash(poll.replace("UUID", uuid)))
    assert job["status"] == "done", job
    bash(download.replace("UUID", uuid))
    md = (cwd / "result.md").read_text("utf-8")
    assert all(word in md for word in words), md
    _check_submit(server, mark, pages)
