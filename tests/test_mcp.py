"""``ocrkit mcp`` and ``/mcp``, driven by the official MCP SDK's own client.

- stdio: the SDK client launches ``python -m ocrkit mcp`` (local store in a temp dir)
  and talks to it over its pipes, as a desktop assistant does.
- HTTP: a real ``ocrkit serve`` (uvicorn subprocess in its own process group, killed in
  ``finally``) with ``--watch``; the SDK client connects to ``/mcp`` with a token.

Documents are rendered from known text (exact truth), so answers are checked exactly.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PAGES = [
    ["Harbour Report", "The lighthouse keeper counted 42 ships in March."],
    ["Second Page", "Fog closed the harbour for three days."],
    ["Third Page", "The new crane was delivered by rail."],
]


def page_image(lines: list[str]) -> Image.Image:
    img = Image.new("L", (1240, 700), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 36)
    for n, line in enumerate(lines):
        draw.text((80, 100 + n * 90), line, font=font, fill=0)
    return img


def scan_pdf(pages: list[list[str]] = PAGES) -> bytes:
    """An image-only PDF (a scan): every page must be OCR'd."""
    doc = pymupdf.open()
    for lines in pages:
        buf = io.BytesIO()
        page_image(lines).save(buf, format="PNG")
        p = doc.new_page(width=1240 * 72 / 150, height=700 * 72 / 150)
        p.insert_image(p.rect, stream=buf.getvalue())
    return doc.tobytes()


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def run(coro_fn: Any, *args: Any) -> Any:
    return anyio.run(coro_fn, *args)


# ----------------------------------------------------------------------------- stdio


@pytest.mark.slow
def test_stdio_local(tmp_path: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    src = tmp_path / "harbour.pdf"
    src.write_bytes(scan_pdf())
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "OCRKIT_DPI": "150"}
    env["OCRKIT_DEFAULT_LANGUAGE"] = "eng"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ocrkit", "mcp", "--data-dir", str(tmp_path / "data"), "-j", "1"],
        env=env,
    )

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Client(params, read_timeout_seconds=300) as c:
            listed = {t.name: t for t in (await c.list_tools()).tools}
            out["tools"] = listed
            events: list[tuple[float, float | None, str | None]] = []

            async def progress(p: float, total: float | None, message: str | None) -> None:
                events.append((p, total, message))

            r = await c.call_tool(
                "read_document", {"path": str(src), "output": "text"}, progress_callback=progress
            )
            out["read"], out["events"] = r, events
            uuid = r.structured_content["uuid"]
            out["get"] = await c.call_tool("get_job", {"uuid": uuid})
            out["alto"] = await c.call_tool("export_job", {"uuid": uuid, "format": "alto"})
            out["docx"] = await c.call_tool("export_job", {"uuid": uuid, "format": "docx"})
            out["plugin_fmt"] = await c.call_tool(
                "export_job", {"uuid": uuid, "format": "example-fmt"}
            )
            out["ask"] = await c.call_tool(
                "ask_job", {"uuid": uuid, "question": "How long did fog close the harbour?"}
            )
            out["formats"] = await c.call_tool("list_formats", {})
            out["engines"] = await c.call_tool("list_engines", {})
            out["languages"] = await c.call_tool("list_languages", {})
            out["missing"] = await c.call_tool("read_document", {"path": str(tmp_path / "no.pdf")})
            out["badfmt"] = await c.call_tool("export_job", {"uuid": uuid, "format": "nosuch"})
            out["nojob"] = await c.call_tool(
                "get_job", {"uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12}
            )
            bad = tmp_path / "bad.pdf"
            bad.write_bytes(b"%PDF-1.4 not really")
            out["bad"] = await c.call_tool("read_document", {"path": str(bad)})
            out["uuid"] = uuid
        return out

    out = run(main)
    tools = out["tools"]
    assert set(tools) == {
        "read_document",
        "get_job",
        "export_job",
        "ask_job",
        "list_engines",
        "list_languages",
        "list_formats",
    }
    # Schemas come from the registry: the example plugin's format and engine appear.
    fmt_schema = tools["export_job"].input_schema["properties"]["format"]
    assert {"alto", "pdf", "docx", "example-fmt"} <= set(fmt_schema["enum"])
    assert "ALTO 4.4" in fmt_schema["description"]
    assert "tesseract" in tools["read_document"].input_schema["properties"]["engine"]["enum"]
    assert "path" in tools["read_document"].input_schema["properties"]

    read = out["read"]
    assert not read.is_error, text_of(read)
    text = text_of(read)
    for n, lines in enumerate(PAGES, 1):
        section = text.split(f"--- page {n} ---")[1].split("--- page")[0]
        for line in lines:
            assert line in section, (n, line, section)
    # progress: a start, then one notification per page with the page count
    assert [e[0] for e in out["events"][1:]] == [1.0, 2.0, 3.0]
    assert all(e[1] == 3.0 for e in out["events"][1:])

    summary = json.loads(text_of(out["get"]))
    assert summary["status"] == "done" and [p["page"] for p in summary["pages"]] == [1, 2, 3]

    (alto,) = out["alto"].content
    assert alto.type == "resource" and alto.resource.uri.endswith(".xml")
    assert alto.resource.mime_type.startswith("application/alto+xml")
    assert "lighthouse" in alto.resource.text and "<alto" in alto.resource.text
    (docx_res,) = out["docx"].content
    import docx

    document = docx.Document(io.BytesIO(base64.b64decode(docx_res.resource.blob)))
    assert "crane" in "\n".join(p.text for p in document.paragraphs)
    assert not out["plugin_fmt"].is_error

    ask = out["ask"]
    assert not ask.is_error
    assert ask.structured_content["citations"][0]["page"] == 2
    assert "[p2]" in text_of(ask) and "three days" in text_of(ask)

    assert "alto" in {f["name"] for f in json.loads(text_of(out["formats"]))}
    assert "tesseract" in {e["name"] for e in json.loads(text_of(out["engines"]))}
    assert "eng" in {lang["code"] for lang in json.loads(text_of(out["languages"]))}

    # Errors are tool errors with the CLI's own messages.
    assert (
        out["missing"].is_error
        and text_of(out["missing"]) == f"{tmp_path / 'no.pdf'}: no such file"
    )
    assert out["badfmt"].is_error and text_of(out["badfmt"]).startswith("unknown format 'nosuch'")
    assert out["nojob"].is_error and "no job" in text_of(out["nojob"])
    cli = subprocess.run(
        [sys.executable, "-m", "ocrkit", "ocr", str(tmp_path / "bad.pdf")],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert out["bad"].is_error
    assert f"ocrkit: error: {text_of(out['bad'])}" in cli.stderr.decode().splitlines()

    # The job is in the local store: `ocrkit chat UUID` finds it too.
    chat = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrkit",
            "chat",
            out["uuid"],
            "What was delivered by rail?",
            "--data-dir",
            str(tmp_path / "data"),
            "--offline",
        ],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert chat.returncode == 0 and "[p3]" in chat.stdout.decode(), chat.stderr


# ------------------------------------------------------------------------------ HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    tokens: dict[str, str]
    log: Path
    watch_in: Path
    watch_out: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from ocrkit.settings import load_settings
    from ocrkit.store import Store

    root = tmp_path_factory.mktemp("mcp")
    data = root / "data"
    env = {
        **os.environ,
        "OMP_THREAD_LIMIT": "1",
        "OCRKIT_DPI": "150",
        "OCRKIT_DEFAULT_LANGUAGE": "eng",
        "OCRKIT_INLINE_MAX_PAGES": "1",  # 3 pages answer 202: progress comes from polling
        "OCRKIT_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
    }
    tokens = {}
    with Store.open(load_settings(data_dir=data)) as store:
        store.create_account("reader", "paid")
        store.credit("reader", 1000)
        tokens["paid"] = store.create_token("reader")[1]
        store.create_account("broke", "paid")  # no credits: 402
        tokens["broke"] = store.create_token("broke")[1]
    watch_in, watch_out = root / "scanner", root / "scanned"
    watch_in.mkdir()
    port = free_port()
    log = root / "server.log"
    cmd = [sys.executable, "-m", "ocrkit", "serve", "--port", str(port), "--data-dir", str(data)]
    cmd += ["--workers", "2", "--watch", f"{watch_in}:{watch_out}", "--watch-format", "txt"]
    cmd += ["--watch-format", "alto"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(base, tokens, log, watch_in, watch_out)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def _http_session(base: str, token: str | None, calls: list[tuple[str, dict]]) -> list[Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    results: list[Any] = []
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(300)) as http:
        transport = streamable_http_client(base + "/mcp", http_client=http)
        async with Client(transport, read_timeout_seconds=300) as c:
            for name, args in calls:
                if name == "__list__":
                    results.append((await c.list_tools()).tools)
                    continue
                events: list[tuple[float, float | None, str | None]] = []

                async def progress(
                    p: float, total: float | None, msg: str | None, events: list = events
                ) -> None:
                    events.append((p, total, msg))

                r = await c.call_tool(name, args, progress_callback=progress)
                results.append((r, events))
    return results


@pytest.mark.slow
def test_http_mcp_behind_rest_auth_and_limits(server: Server, tmp_path: Path) -> None:
    import requests

    pdf = base64.b64encode(scan_pdf()).decode()

    async def main() -> list[Any]:
        return await _http_session(
            server.base,
            server.tokens["paid"],
            [
                ("__list__", {}),
                ("read_document", {"content_base64": pdf, "filename": "harbour.pdf"}),
                ("read_document", {"path": "/etc/passwd"}),
                ("read_document", {"content_base64": "###"}),
                (
                    "read_document",
                    {"content_base64": base64.b64encode(os.urandom(9 * 1024 * 1024)).decode()},
                ),
            ],
        )

    tools, (read, events), (path, _), (bad64, _), (big, _) = anyio.run(main)
    props = {t.name: t for t in tools}["read_document"].input_schema["properties"]
    assert "path" not in props and "content_base64" in props
    assert not read.is_error, text_of(read)
    text = text_of(read)
    assert "<!-- page 3 -->" in text and "delivered by rail" in text
    pages_seen = [e[0] for e in events if e[1] == 3.0]
    assert pages_seen and pages_seen[-1] == 3.0, events  # polled progress up to 3 of 3
    assert path.is_error and "file paths are not accepted over HTTP" in text_of(path)
    assert bad64.is_error and "not valid base64" in text_of(bad64)
    # REST's own answer to an upload over OCRKIT_MAX_UPLOAD_BYTES, as a tool error
    assert big.is_error and text_of(big).startswith("file too large: the limit is 8388608")
    uuid = read.structured_content["uuid"]

    async def more() -> list[Any]:
        return await _http_session(
            server.base,
            server.tokens["paid"],
            [
                ("get_job", {"uuid": uuid}),
                ("export_job", {"uuid": uuid, "format": "pdf"}),
                ("ask_job", {"uuid": uuid, "question": "What did the lighthouse keeper count?"}),
            ],
        )

    (got, _), (exp, _), (ask, _) = anyio.run(more)
    assert json.loads(text_of(got))["page_count"] == 3
    (res,) = exp.content
    with pymupdf.open(stream=base64.b64decode(res.resource.blob), filetype="pdf") as doc:
        assert doc.page_count == 3 and "crane" in doc[2].get_text()
    assert ask.structured_content["citations"][0]["page"] == 1 and "42 ships" in text_of(ask)

    # The same job over REST: ?format=alto is the ALTO exporter's output.
    alto = requests.get(
        f"{server.base}/api/v1/ocr/{uuid}/download/",
        params={"format": "alto"},
        headers={"Authorization": f"Bearer {server.tokens['paid']}"},
        timeout=60,
    )
    assert alto.status_code == 200 and alto.headers["content-type"].startswith(
        "application/alto+xml"
    )
    assert b"lighthouse" in alto.content

    # Another account cannot see the job (REST's 404, as a tool error).
    async def other() -> list[Any]:
        return await _http_session(
            server.base,
            server.tokens["broke"],
            [
                ("get_job", {"uuid": uuid}),
                ("read_document", {"content_base64": pdf}),
            ],
        )

    (hidden, _), (broke, _) = anyio.run(other)
    assert hidden.is_error and text_of(hidden) == "job not found (HTTP 404)"
    assert broke.is_error and text_of(broke).startswith("Out of credits: this file needs 3")
    assert text_of(broke).endswith("(HTTP 402)"), text_of(broke)

    # Authentication is REST's: a bad token is a 401 before any MCP work.
    r = requests.post(
        server.base + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": "Bearer nope", "Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert r.status_code == 401 and r.json() == {"detail": "invalid or revoked API token"}


@pytest.mark.slow
def test_http_relay_from_stdio(server: Server, tmp_path: Path) -> None:
    """``ocrkit mcp --server URL --token T``: a local file is read by the remote server."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    src = tmp_path / "one.pdf"
    src.write_bytes(scan_pdf(PAGES[:1]))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ocrkit", "mcp", "--server", server.base, "--token", server.tokens["paid"]],
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )

    async def main() -> tuple[Any, Any]:
        async with Client(params, read_timeout_seconds=300) as c:
            r = await c.call_tool("read_document", {"path": str(src)})
            a = await c.call_tool(
                "ask_job", {"uuid": r.structured_content["uuid"], "question": "Who counted ships?"}
            )
            return r, a

    read, ask = anyio.run(main)
    assert not read.is_error and "42 ships" in text_of(read)
    assert "[p1]" in text_of(ask)
    usage = (
        __import__("requests")
        .get(
            server.base + "/api/v1/usage/",
            headers={"Authorization": f"Bearer {server.tokens['paid']}"},
            timeout=10,
        )
        .json()
    )
    assert usage["plan"] == "paid"


@pytest.mark.slow
def test_serve_watch_folder(server: Server) -> None:
    """``serve --watch``: a file dropped into the folder is read by the server."""
    (server.watch_in / "memo.png").write_bytes(_png(["Memo about the crane"]))
    deadline = time.monotonic() + 120
    out = server.watch_out / "memo.txt"
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.3)
    assert out.exists(), server.log.read_text()
    assert "crane" in out.read_text()
    assert (server.watch_out / "memo.xml").exists()
    assert (server.watch_in / "done" / "memo.png").exists()
    assert "done memo.png" in server.log.read_text()


def _png(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    page_image(lines).save(buf, format="PNG", dpi=(150, 150))
    return buf.getvalue()
