"""The HTTP API against a real app: TestClient with its lifespan, real SQLite, Tesseract.

One module-scoped server serves most tests (apps start page-worker processes, which
costs a few seconds); tests that need other settings (a single worker, a one-second
retention, a restart) start their own.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ocrkit import hookimpl
from ocrkit.errors import EngineFailed
from ocrkit.hookspecs import Tool
from ocrkit.models import Job
from ocrkit.settings import Settings, load_settings

with warnings.catch_warnings():  # starlette warns that httpx is deprecated for its client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MAX_UPLOAD = 1_000_000


# ----------------------------------------------------------------------------- inputs


def png(lines: list[str], size: tuple[int, int] = (700, 260)) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 30)
    for i, line in enumerate(lines):
        draw.text((30, 40 + 55 * i), line, font=font, fill=0)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def image_pdf(n: int, word: str = "Invoice") -> bytes:
    """An image-only PDF (so OCR runs) of ``n`` small pages (4 x 1.5 in)."""
    import pymupdf

    doc = pymupdf.open()
    for i in range(n):
        page = doc.new_page(width=288, height=108)
        page.insert_image(page.rect, stream=png([f"{word} page {i + 1}"], size=(600, 225)))
    return doc.tobytes(deflate=True)


# ----------------------------------------------------------------------------- servers


def make_settings(data_dir: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "workers": 2,
        "dpi": 150,
        "anon_daily_pages": 1000,
        "free_monthly_pages": 10,
        "max_upload_bytes": MAX_UPLOAD,
        "anon_max_file_pages": 8,
    }
    base.update(kw)
    return load_settings(env={}, **base)


@contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    from ocrkit.server.app import create_app

    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def store_of(client: TestClient) -> Any:
    return client.app.state.ocrkit.store  # type: ignore[attr-defined]


def account(client: TestClient, name: str, plan: str = "free", credits: int = 0) -> str:
    """Create an account and return a bearer token for it."""
    store = store_of(client)
    store.create_account(name, plan)
    if credits:
        store.credit(name, credits)
    return store.create_token(name)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def submit(client: TestClient, content: bytes, name: str = "doc.png", **kw: Any) -> Any:
    return client.post("/api/v1/ocr/", files={"file": (name, content)}, **kw)


def poll(client: TestClient, uuid: str, timeout: float = 60, **kw: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/v1/ocr/{uuid}/", **kw).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)


class ExplodingTool(Tool):
    """A tool whose job step fails: a job that breaks at run time, after submit."""

    name = "explode"
    description = "test: fails every job"

    def process_job(self, job: Job, options: dict[str, Any]) -> Job:
        raise EngineFailed("the explode tool failed on purpose")


class ServerTestPlugin:
    """Loaded the way a third-party plugin is: a tool and a route."""

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(ExplodingTool())

    @hookimpl
    def register_routes(self, register: Any) -> None:
        async def hello(request: Request) -> JSONResponse:
            return JSONResponse({"hello": "plugin"})

        register(Route("/api/v1/hello", hello, methods=["GET"]))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from ocrkit.plugins import build_registry, get_plugin_manager
    from ocrkit.server.app import create_app

    registry = build_registry(get_plugin_manager(extra_plugins=[ServerTestPlugin()]))
    settings = make_settings(tmp_path_factory.mktemp("srv") / "data")
    with TestClient(create_app(settings, registry), follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def done_job(client: TestClient) -> dict[str, Any]:
    r = submit(client, png(["Quarterly report", "Total 215 USD"]), name="report.png")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- tests


def test_inline_job_is_done_in_the_post(client: TestClient, done_job: dict[str, Any]) -> None:
    job = done_job
    assert job["status"] == "done", job
    for key in ("uuid", "tier", "language", "page_count", "mean_confidence", "text", "markdown"):
        assert key in job
    assert job["page_count"] == 1 and job["pages_done"] == 1
    assert "Quarterly" in job["text"] and "215" in job["text"]
    page = job["pages"][0]
    assert page["index"] == 0 and page["blocks"]
    assert all(0 <= b["confidence"] <= 1 and len(b["bbox"]) == 4 for b in page["blocks"])
    # The page image route serves the image the boxes refer to.
    r = client.get(f"/api/v1/ocr/{job['uuid']}/pages/0/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(r.content)).size == (page["width"], page["height"])
    assert client.get(f"/api/v1/ocr/{job['uuid']}/pages/3/image").status_code == 404


def test_upload_is_deleted_when_the_job_ends(client: TestClient, done_job: dict) -> None:
    uploads = client.app.state.ocrkit.settings.uploads_dir  # type: ignore[attr-defined]
    assert uploads.is_dir() and (uploads.stat().st_mode & 0o777) == 0o700
    r = submit(client, image_pdf(7))
    uuid = r.json()["uuid"]
    assert r.status_code == 202
    assert poll(client, uuid)["status"] == "done"
    # The upload goes once the searchable pdf is made, just after the job is stored done.
    client.app.state.ocrkit.jobs.wait_pdf(uuid)  # type: ignore[attr-defined]
    assert list(uploads.iterdir()) == []


def test_a_job_failing_at_run_time_is_failed_and_loses_its_upload(client: TestClient) -> None:
    uploads = client.app.state.ocrkit.settings.uploads_dir  # type: ignore[attr-defined]
    r = submit(client, png(["Doomed"]), data={"tool": "explode"})
    job = r.json()
    assert r.status_code == 200 and job["status"] == "failed", job
    assert job["error"] and job["text"] == "" and job["markdown"] == ""
    for key in ("uuid", "tier", "language", "page_count", "mean_confidence", "pages"):
        assert key in job
    assert list(uploads.iterdir()) == []
    r = client.get(f"/api/v1/ocr/{job['uuid']}/download/?format=txt")
    assert r.status_code == 409 and "failed" in r.json()["detail"]


def test_large_job_answers_pending_at_once_and_is_polled(client: TestClient) -> None:
    data = image_pdf(7)
    r = submit(client, data, name="seven.pdf")
    # 202 + "pending" is the promise that the POST did not wait for the OCR; how fast it
    # answers is the bench's to measure (speed lives in `make bench`, not in tests).
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "pending" and job["page_count"] == 7
    # Download before it is done: 409.
    early = client.get(f"/api/v1/ocr/{job['uuid']}/download/?format=txt")
    assert early.status_code == 409 and "detail" in early.json()
    seen = set()
    deadline = time.monotonic() + 90
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        # polled often: with the in-process engine a page of this size takes ~50 ms,
        # and at 0.1 s the first poll sometimes came after the seventh page
        time.sleep(0.01)
        job = client.get(f"/api/v1/ocr/{job['uuid']}").json()
        seen.add(job["pages_done"])
    assert job["status"] == "done", job
    assert job["pages_done"] == 7 and [p["index"] for p in job["pages"]] == list(range(7))
    assert "page 7" in job["text"]
    assert len(seen) > 1, "progress (pages_done) never moved while polling"


def test_every_download_format_reads_back(client: TestClient, done_job: dict) -> None:
    uuid = done_job["uuid"]
    formats = sorted(client.app.state.ocrkit.registry.exporters)  # type: ignore[attr-defined]
    assert {"txt", "md", "json", "csv", "docx", "pdf"} <= set(formats)
    if "example-crash" in formats:  # the example plugin's buggy exporter: a JSON 500
        formats.remove("example-crash")
        r = client.get(f"/api/v1/ocr/{uuid}/download/?format=example-crash")
        assert r.status_code == 500 and "example-crash" in r.json()["detail"]
    got: dict[str, bytes] = {}
    for fmt in formats:
        r = client.get(f"/api/v1/ocr/{uuid}/download/", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        exporter = client.app.state.ocrkit.registry.exporters[fmt]  # type: ignore[attr-defined]
        assert r.headers["content-type"].split(";")[0] == exporter.media_type.split(";")[0]
        ext = exporter.extension.lstrip(".") or fmt
        assert f'filename="report.{ext}"' in r.headers["content-disposition"]
        assert r.headers["content-disposition"].startswith("attachment")
        got[fmt] = r.content
    assert json.loads(got["json"])["uuid"] == uuid
    assert "Quarterly" in got["txt"].decode()
    assert "Quarterly" in got["md"].decode()
    rows = list(csv.reader(io.StringIO(got["csv"].decode())))
    assert any("Quarterly" in cell for row in rows for cell in row)
    import docx

    text = "\n".join(p.text for p in docx.Document(io.BytesIO(got["docx"])).paragraphs)
    assert "Quarterly" in text
    import pymupdf

    with pymupdf.open(stream=got["pdf"], filetype="pdf") as pdf:
        assert "Quarterly" in pdf[0].get_text()
    bad = client.get(f"/api/v1/ocr/{uuid}/download/?format=nope")
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]


def test_pdf_download_keeps_the_original_pdf_pages(client: TestClient) -> None:
    r = submit(client, image_pdf(2, word="Receipt"), name="two.pdf")
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    out = client.get(f"/api/v1/ocr/{r.json()['uuid']}/download?format=pdf")
    assert out.status_code == 200
    import pymupdf

    with pymupdf.open(stream=out.content, filetype="pdf") as pdf:
        assert pdf.page_count == 2
        assert (round(pdf[0].rect.width), round(pdf[0].rect.height)) == (288, 108)
        assert "Receipt" in pdf[1].get_text()


def test_per_file_page_cap_is_400(client: TestClient) -> None:
    import pymupdf

    doc = pymupdf.open()
    for i in range(9):
        doc.new_page(width=200, height=100).insert_text((20, 50), f"page {i}")
    r = submit(client, doc.tobytes(), name="nine.pdf")  # anonymous cap: 8 pages per file
    assert r.status_code == 400 and "8" in r.json()["detail"], r.text


def test_concurrent_submits_never_overspend(client: TestClient) -> None:
    token = account(client, "capped", "free")  # free_monthly_pages=10
    data = png(["one page"])
    results: list[Any] = []
    lock = threading.Lock()

    def go() -> None:
        r = submit(client, data, headers=bearer(token))
        with lock:
            results.append(r)

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 10 and codes.count(402) == 10, codes
    for r in results:
        if r.status_code == 402:
            body = r.json()
            assert body["cap"] == 10 and body["used"] >= 1 and body["detail"]
    usage = client.get("/api/v1/usage/", headers=bearer(token)).json()
    assert usage["used"] == 10 and usage["cap"] == 10 and usage["unit"] == "pages"


def test_jobs_belong_to_their_account(client: TestClient) -> None:
    alice = account(client, "alice", "paid", credits=100)
    bob = account(client, "bob", "free")
    r = submit(client, png(["Alice private"]), headers=bearer(alice))
    assert r.status_code == 200
    uuid = r.json()["uuid"]
    for path in (f"/api/v1/ocr/{uuid}/", f"/api/v1/ocr/{uuid}/download/?format=txt"):
        assert client.get(path, headers=bearer(bob)).status_code == 404
        assert client.get(path).status_code == 404  # anonymous
        assert client.get(path, headers=bearer(alice)).status_code == 200
    assert client.get(f"/api/v1/ocr/{uuid}/pages/0/image", headers=bearer(bob)).status_code == 404
    assert client.delete(f"/api/v1/ocr/{uuid}/", headers=bearer(bob)).status_code == 404
    listed = client.get("/api/v1/ocr/", headers=bearer(alice)).json()
    assert [j["uuid"] for j in listed["jobs"]] == [uuid] and "pages" not in listed["jobs"][0]
    assert client.get("/api/v1/ocr", headers=bearer(bob)).json()["jobs"] == []
    # ?api_token= works the same as the header
    assert client.get(f"/api/v1/ocr/{uuid}/?api_token={alice}").status_code == 200
    usage = client.get("/api/v1/usage", params={"api_token": alice}).json()
    assert usage["plan"] == "paid" and usage["unit"] == "credits" and usage["used"] == 1


def test_vlm_without_a_model_server_is_read_and_billed_as_cpu(client: TestClient) -> None:
    token = account(client, "vlm-user", "paid", credits=100)
    r = submit(client, png(["Handwritten maybe"]), data={"tier": "vlm"}, headers=bearer(token))
    job = r.json()
    assert r.status_code == 200 and job["status"] == "done", job
    assert job["tier"] == "vlm" and job["engine"] == "tesseract" and job["warnings"]
    usage = client.get("/api/v1/usage/", headers=bearer(token)).json()
    assert usage["unit"] == "credits" and usage["used"] == 1  # cost_cpu, not cost_vlm


def test_anonymous_jobs_are_reachable_by_uuid(client: TestClient) -> None:
    r = submit(client, png(["Anyone with the link"]))
    uuid = r.json()["uuid"]
    other = account(client, "carol", "free")
    assert client.get(f"/api/v1/ocr/{uuid}/", headers=bearer(other)).status_code == 200
    assert client.get("/api/v1/ocr/").json()["jobs"] == []  # never listed


def test_bad_tokens_are_401_never_anonymous(client: TestClient) -> None:
    token = account(client, "dave", "free")
    store = store_of(client)
    token_id = store.list_tokens("dave")[0].id
    store.revoke_token(token_id)
    data = png(["x"])
    for headers, params in (
        (bearer("not-a-token"), {}),
        (bearer(token), {}),  # revoked
        ({}, {"api_token": "nope"}),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}),
        ({"Authorization": "Bearer"}, {}),
    ):
        for r in (
            client.get("/api/v1/usage/", headers=headers, params=params),
            client.post(
                "/api/v1/ocr/", headers=headers, params=params, files={"file": ("a.png", data)}
            ),
        ):
            assert r.status_code == 401, (headers, params, r.text)
            assert r.json()["detail"]


def test_delete_removes_job_and_files(client: TestClient) -> None:
    r = submit(client, png(["Delete me"]))
    uuid = r.json()["uuid"]
    results = client.app.state.ocrkit.jobs.result_dir(uuid)  # type: ignore[attr-defined]
    assert results.is_dir()
    assert client.delete(f"/api/v1/ocr/{uuid}").status_code == 204
    assert client.get(f"/api/v1/ocr/{uuid}/").status_code == 404
    assert not results.exists()


def test_paths_answer_with_and_without_slash(client: TestClient, done_job: dict) -> None:
    uuid = done_job["uuid"]
    for path in (
        "/api/v1/usage",
        "/api/v1/usage/",
        "/api/v1/health",
        "/api/v1/health/",
        "/metrics",
        "/metrics/",
        f"/api/v1/ocr/{uuid}",
        f"/api/v1/ocr/{uuid}/",
        f"/api/v1/ocr/{uuid}/download?format=md",
        f"/api/v1/ocr/{uuid}/download/?format=md",
        f"/api/v1/ocr/{uuid}/pages/0/image/",
        "/api/v1/ocr",
        "/api/v1/ocr/",
        "/api/v1/docs",
    ):
        assert client.get(path).status_code == 200, path


def test_plugin_routes_come_first(client: TestClient) -> None:
    assert client.get("/api/v1/hello").json() == {"hello": "plugin"}
    paths = [getattr(r, "path", "") for r in client.app.routes]
    assert paths.index("/api/v1/hello") < paths.index("/api/v1/ocr/")


def test_health_metrics_docs(client: TestClient, done_job: dict) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    text = client.get("/metrics").text
    # prometheus_client writes every value as a float ("0.0")
    assert 'ocrkit_jobs{status="done"}' in text and "ocrkit_queue_depth 0.0" in text
    done = next(ln for ln in text.splitlines() if ln.startswith('ocrkit_jobs{status="done"}'))
    assert float(done.split()[-1]) >= 1
    assert 'ocrkit_pages{source="ocr"}' in text
    html = client.get("/api/v1/docs").text
    # Swagger UI from this server (tests/test_ops_server.py checks it): no inline script
    assert "/api/v1/openapi.json" in html and "<script>" not in html and "http" not in html


def test_openapi_document_matches_the_routes(client: TestClient, done_job: dict) -> None:
    from ocrkit.server.openapi import canonical, iter_routes

    doc = client.get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    # what the routes return carries what the document says is always there
    assert set(schemas["Job"]["required"]) <= set(done_job)
    assert set(schemas["Page"]["required"]) <= set(done_job["pages"][0])
    assert set(schemas["Block"]["required"]) <= set(done_job["pages"][0]["blocks"][0])
    assert set(schemas["Usage"]["required"]) <= set(client.get("/api/v1/usage/").json())
    assert set(schemas["JobList"]["required"]) <= set(client.get("/api/v1/ocr/").json())
    assert doc["openapi"].startswith("3.1")
    documented = {(canonical(p), m) for p, ops in doc["paths"].items() for m in ops}
    served = {(canonical(p), m) for p, ms in iter_routes(client.app.routes) for m in ms}
    assert documented == served
    # every declared response code of the core routes is one the API table allows
    for ops in doc["paths"].values():
        for op in ops.values():
            allowed = {"200", "202", "204", "400", "401", "402", "404", "409", "429", "503"}
            assert set(op["responses"]) <= allowed
    fmt = doc["paths"]["/api/v1/ocr/{uuid}/download/"]["get"]["parameters"][1]
    assert set(fmt["schema"]["enum"]) == set(client.app.state.ocrkit.registry.exporters)  # type: ignore[attr-defined]
    # the submit fields the route reads are the ones documented
    from ocrkit.pipeline.plan import FIELDS

    body = doc["paths"]["/api/v1/ocr/"]["post"]["requestBody"]["content"]
    assert set(body["multipart/form-data"]["schema"]["properties"]) == {"file", *FIELDS}


def _multipart(parts: bytes, boundary: str = "XyZ") -> dict[str, Any]:
    return {
        "content": parts,
        "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    }


def test_malformed_requests_are_4xx_json_never_500(client: TestClient, done_job: dict) -> None:
    uuid = done_job["uuid"]
    ok_png = png(["fine"])
    truncated = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        + ok_png[:100]
    )
    no_boundary = {"Content-Type": "multipart/form-data"}

    def with_png(**data: str) -> dict[str, Any]:
        return {"files": {"file": ("a.png", ok_png)}, "data": data}

    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/api/v1/ocr/", {}, 400),  # no body at all
        ("POST", "/api/v1/ocr/", {"json": {"file": "x"}}, 400),  # not multipart
        ("POST", "/api/v1/ocr/", {"content": b"\x00" * 50}, 400),
        ("POST", "/api/v1/ocr/", {"data": {"tier": "cpu"}}, 400),  # no file
        ("POST", "/api/v1/ocr/", {"data": {"file": "not a file"}}, 400),
        ("POST", "/api/v1/ocr/", {"files": {"file": ("e.png", b"")}}, 400),  # empty
        ("POST", "/api/v1/ocr/", {"files": {"file": ("a.txt", b"hello world" * 10)}}, 400),
        ("POST", "/api/v1/ocr/", {"files": {"file": ("a.pdf", b"%PDF-1.7\n garbage")}}, 400),
        ("POST", "/api/v1/ocr/", {"files": {"file": ("a.png", ok_png[:40])}}, 400),
        ("POST", "/api/v1/ocr/", {"files": {"file": ("a.png", b"\0" * (MAX_UPLOAD + 1))}}, 400),
        ("POST", "/api/v1/ocr/", {"files": {"tier": ("t", b"cpu"), "file": ("a", ok_png)}}, 400),
        ("POST", "/api/v1/ocr/", with_png(tier="gpu"), 400),
        ("POST", "/api/v1/ocr/", with_png(language="xx1"), 400),
        ("POST", "/api/v1/ocr/", with_png(tool="nope"), 400),
        ("POST", "/api/v1/ocr/", with_png(engine="nope"), 400),
        ("POST", "/api/v1/ocr/", with_png(translate_to="q9"), 400),
        ("POST", "/api/v1/ocr/", _multipart(b"garbage without boundaries"), 400),
        ("POST", "/api/v1/ocr/", _multipart(truncated), 400),
        ("POST", "/api/v1/ocr/", {"content": b"x", "headers": no_boundary}, 400),
        ("PUT", "/api/v1/ocr/", {}, 405),
        ("GET", "/api/v1/ocr/not-a-uuid/", {}, 404),
        ("GET", "/api/v1/ocr/00000000-0000-0000-0000-000000000000/", {}, 404),
        ("DELETE", "/api/v1/ocr/../../etc/", {}, 404),
        ("GET", "/api/v1/ocr/not-a-uuid/download/?format=txt", {}, 404),
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=", {}, 200),  # empty: json
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=exe", {}, 400),
        ("GET", f"/api/v1/ocr/{uuid}/download/?format=csv&table=x", {}, 400),
        ("GET", f"/api/v1/ocr/{uuid}/pages/x/image", {}, 404),
        ("GET", "/api/v1/ocr/?limit=abc", {}, 400),
        ("GET", "/api/v1/ocr/?limit=0", {}, 400),
        ("GET", "/nowhere", {}, 404),
    ]  # fmt: skip
    uploads = client.app.state.ocrkit.settings.uploads_dir  # type: ignore[attr-defined]
    for method, path, kw, want in cases:
        r = client.request(method, path, **kw)
        assert r.status_code == want, (method, path, list(kw), r.status_code, r.text[:200])
        if want != 200:
            assert r.headers["content-type"].startswith("application/json"), path
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert list(uploads.iterdir()) == [], "a refused upload was left behind"


# ----------------------------------------------------------------------------- own servers


def test_paid_job_overtakes_queued_free_jobs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", workers=1, inline_max_pages=0)
    with serving(settings) as c:
        free = account(c, "freebie", "free")
        paid = account(c, "payer", "paid", credits=50)
        free_jobs = [submit(c, image_pdf(2), headers=bearer(free)).json()["uuid"] for _ in range(3)]
        paid_job = submit(c, image_pdf(1), headers=bearer(paid)).json()["uuid"]
        order: list[str] = []
        pending = {u: bearer(free) for u in free_jobs} | {paid_job: bearer(paid)}
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for u, h in list(pending.items()):
                if c.get(f"/api/v1/ocr/{u}/", headers=h).json()["status"] == "done":
                    order.append(u)
                    del pending[u]
            time.sleep(0.05)
        assert not pending, "jobs did not finish"
        assert order.index(paid_job) < order.index(free_jobs[-1]), order


def test_restart_recovers_or_fails_unfinished_jobs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", workers=1, inline_max_pages=0)
    with serving(settings) as c:
        r = submit(c, image_pdf(7), name="restart.pdf")
        uuid = r.json()["uuid"]
        assert r.status_code == 202
    # The app stopped mid-job: the job is still unfinished and its upload kept.
    from ocrkit.store import Caller, Store

    store = Store.open(settings)
    stored = store.get_job(uuid)
    assert stored is not None and stored.job.status in ("pending", "processing")
    assert stored.upload_path and Path(stored.upload_path).exists()
    # A second unfinished job whose upload vanished (e.g. a wiped temp dir).
    lost = Job(status="processing", page_count=1, created_at="2026-01-01T00:00:00Z")
    store.create_job(
        lost,
        caller=Caller(account=None, ip="127.0.0.1"),
        priority=0,
        upload_path=str(settings.uploads_dir / "gone.upload"),
        options={"tier": "cpu", "language": "auto"},
    )
    stray = settings.uploads_dir / "stray.part"
    stray.write_bytes(b"left over")
    orphan = settings.results_dir / "0f0f0f0f-0000-4000-8000-000000000000"
    (orphan / "images").mkdir(parents=True)
    store.close()
    with serving(settings) as c:
        job = poll(c, uuid)
        assert job["status"] == "done" and job["page_count"] == 7, job
        c.app.state.ocrkit.jobs.wait_pdf(uuid)  # type: ignore[attr-defined]
        assert not Path(stored.upload_path).exists()
        failed = c.get(f"/api/v1/ocr/{lost.uuid}/").json()
        assert failed["status"] == "failed" and "restart" in failed["error"]
        assert not stray.exists() and not orphan.exists()


def test_retention_removes_results_images_and_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", retention_seconds=1, sweep_interval_seconds=0.2)
    with serving(settings) as c:
        r = submit(c, png(["Short lived"]))
        uuid = r.json()["uuid"]
        jobs = c.app.state.ocrkit.jobs  # type: ignore[attr-defined]
        results = jobs.result_dir(uuid)
        assert (results / "images" / "page-0.png").exists()
        jobs.wait_pdf(uuid)  # the pdf is made just after the inline answer
        assert (results / "result.pdf").exists()
        deadline = time.monotonic() + 10
        while c.get(f"/api/v1/ocr/{uuid}/").status_code == 200:
            assert time.monotonic() < deadline, "the job outlived its retention"
            time.sleep(0.2)
        assert c.get(f"/api/v1/ocr/{uuid}/").status_code == 404
        assert not results.exists()
        assert store_of(c).get_job(uuid) is None


def test_unknown_language_is_400_naming_the_nearest(client: TestClient) -> None:
    """Issue 16: a misspelt code is a 400 whose detail names the nearest valid codes;
    BCP 47 tags and ISO 639-3 codes are accepted."""
    r = submit(client, png(["Hello"]), data={"language": "englsh"})
    assert r.status_code == 400
    assert "nearest: english (eng)" in r.json()["detail"], r.json()
    r = submit(client, png(["Hello world"]), data={"language": "en-GB+zh-Hant"})
    assert r.status_code in (200, 202), r.text
