"""Operating ``ocrkit serve``: metrics, API docs, Allow headers, request ids, logs, the
source link and the web page's server-side Markdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.test_server import TestClient, make_settings, png, submit


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from ocrkit.server.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("ops") / "data")
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def done_job(client: TestClient) -> dict[str, Any]:
    r = submit(client, png(["Quarterly report", "Total 215 USD"]), name="report.png")
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return r.json()  # type: ignore[no-any-return]


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fam: Any, suffix: str = "", **labels: str) -> float:
    total = 0.0
    for s in fam.samples:
        if s.name == fam.name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


# -- /metrics ------------------------------------------------------------------------------


def test_metrics_are_prometheus_client_families(client: TestClient, done_job: dict) -> None:
    client.get("/api/v1/ocr/" + done_job["uuid"] + "/")
    client.get("/api/v1/ocr/00000000-0000-0000-0000-000000000000/")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    fams = _families(r.text)
    # every family has HELP text (the parser keeps it as documentation)
    assert all(f.documentation for f in fams.values()), [
        n for n, f in fams.items() if not f.documentation
    ]
    # the names API.md and the README document stay
    assert _value(fams["ocrkit_jobs"], status="done") >= 1
    assert _value(fams["ocrkit_pages"], source="ocr") >= 1
    assert fams["ocrkit_queue_depth"].type == "gauge"
    assert "ocrkit_pages_per_minute" in fams and "ocrkit_jobs_running" in fams
    # requests by route template (not the raw path) and status, with latency histograms
    req = fams["ocrkit_http_requests"]
    assert req.type == "counter"
    route = "/api/v1/ocr/{uuid}/"
    assert _value(req, "_total", route=route, method="GET", status="200") >= 1
    assert _value(req, "_total", route=route, method="GET", status="404") >= 1
    assert not [s for s in req.samples if done_job["uuid"] in str(s.labels)]
    lat = fams["ocrkit_http_request_duration_seconds"]
    assert lat.type == "histogram"
    assert _value(lat, "_count", route="/api/v1/ocr/", method="POST", status="200") >= 1
    # jobs and pages by tier, engine and outcome; page seconds
    assert _value(fams["ocrkit_jobs_finished"], "_total", tier="cpu", outcome="done") >= 1
    pages = fams["ocrkit_pages_processed"]
    assert _value(pages, "_total", tier="cpu", engine="tesseract", outcome="done") >= 1
    secs = fams["ocrkit_page_seconds"]
    n = _value(secs, "_count", engine="tesseract")
    assert secs.type == "histogram" and n >= 1 and _value(secs, "_sum", engine="tesseract") > 0
    # the counters are per process (other tests' apps add to them): check the structure
    assert _value(secs, "_bucket", engine="tesseract", le="+Inf") == n
    # process metrics
    assert "process_resident_memory_bytes" in fams and "process_cpu_seconds" in fams


def test_failed_jobs_are_counted_as_failed(client: TestClient) -> None:
    before = _families(client.get("/metrics").text)
    bad = submit(client, b"%PDF-1.4\n% not really a pdf\n", name="bad.pdf")
    assert bad.status_code in (200, 400), bad.text
    after = _families(client.get("/metrics").text)
    if bad.status_code == 200:
        fam = "ocrkit_jobs_finished"
        assert (
            _value(after[fam], "_total", outcome="failed")
            == _value(before.get(fam, after[fam]), "_total", outcome="failed") + 1
        )
    route = "/api/v1/ocr/"
    status = str(bad.status_code)
    req = "ocrkit_http_requests"
    assert _value(after[req], "_total", route=route, status=status) == (
        _value(before[req], "_total", route=route, status=status) + 1
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_metrics_add_up_across_several_uvicorn_processes(tmp_path: Path) -> None:
    """Two uvicorn worker processes behind one port: /metrics (answered by either) counts
    the requests both answered (prometheus_client's multiprocess mode)."""
    port = _free_port()
    env = {
        **os.environ,
        "OCRKIT_DATA_DIR": str(tmp_path / "data"),
        "OCRKIT_WORKERS": "1",
        "OCRKIT_LOAD_PLUGINS": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "ocrkit.server.app:create_app",
         "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)

        def health_count() -> float:
            with httpx.Client() as c:  # a new connection: either process may answer
                fams = _families(c.get(url + "/metrics").text)
            return _value(fams["ocrkit_http_requests"], "_total", route="/api/v1/health")

        before = health_count()

        def answered() -> set[str]:
            return {p.name for p in (tmp_path / "prom").glob("counter_*.db")}

        # 40 requests, and more until both processes have answered some: on a loaded
        # machine the second worker may still be starting when the first answers.
        n = 0
        deadline = time.monotonic() + 120
        while n < 40 or (len(answered()) < 2 and time.monotonic() < deadline):
            with httpx.Client() as c:
                assert c.get(url + "/api/v1/health").status_code == 200
            n += 1
        # whichever process answers the scrape, it reports both processes' requests
        assert [health_count() for _ in range(6)] == [before + n] * 6
        pids = answered()
        assert len(pids) == 2, pids  # both processes really answered some
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# -- API docs and method handling --------------------------------------------------------


class Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.refs.append(str(a[key]))
        if tag == "script" and not a.get("src"):
            self.inline_scripts += 1

    def handle_data(self, data: str) -> None:
        pass


def test_swagger_ui_is_served_from_this_server_under_a_csp(client: TestClient) -> None:
    for path in ("/api/v1/docs", "/api/v1/docs/", "/docs"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        parser = Refs()
        parser.feed(r.text)
        assert parser.inline_scripts == 0
        assert parser.refs and all(
            u.startswith("/") and not u.startswith("//") for u in parser.refs
        )
    assets = [u for u in parser.refs if u.endswith((".js", ".css"))]
    assert any(u.endswith("swagger-ui-bundle.js") for u in assets)
    for url in assets:
        f = client.get(url)
        assert f.status_code == 200 and len(f.content) > 100, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in f.headers["content-type"]
        assert f.headers["x-content-type-options"] == "nosniff"
    # Swagger UI is the real one from its npm package, with its licence
    bundle = client.get(next(u for u in assets if u.endswith("swagger-ui-bundle.js"))).text
    assert "SwaggerUIBundle" in bundle
    assert client.get("/api/v1/docs/LICENSE").status_code == 200
    assert client.get("/api/v1/docs/../routes_info.py").status_code == 404


def test_openapi_aliases_and_source_link(client: TestClient) -> None:
    main = client.get("/api/v1/openapi.json").json()
    assert client.get("/openapi.json").json() == main
    info = main["info"]
    assert info["license"]["identifier"] == "Apache-2.0"
    assert info["x-source"] == "/source"
    assert "AGPL" in info["description"] and "/source" in info["description"]


def test_source_offer_serves_the_running_code(client: TestClient) -> None:
    import io
    import tarfile

    r = client.get("/source")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
        got = tar.extractfile("ocrkit-source/ocrkit/server/app.py").read()  # type: ignore[union-attr]
    assert "ocrkit-source/ocrkit_plugins/engines/tesseract/__init__.py" in names
    assert "ocrkit-source/LICENSE" in names
    # the changes make install builds into Tesseract go with the code (a checkout here)
    repo = Path(__file__).resolve().parents[1]
    patches = sorted((repo / "scripts" / "tesseract_patches").glob("*.patch"))
    assert patches
    for patch in patches:
        assert f"ocrkit-source/tesseract_patches/{patch.name}" in names
    import ocrkit.server.app as app_module

    assert got == Path(app_module.__file__).read_bytes()
    # the web page links to it
    assert 'href="/source"' in client.get("/").text


def test_wrong_method_is_405_with_the_real_allowed_methods(client: TestClient) -> None:
    from ocrkit.server.openapi import canonical, iter_routes

    r = client.put("/api/v1/ocr/")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert r.json() == {"detail": "Method Not Allowed"}
    r = client.post("/api/v1/ocr/11111111-1111-1111-1111-111111111111")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "DELETE"}
    # every documented path: a method it does not serve lists exactly the ones it does
    by_path: dict[str, set[str]] = {}
    for path, methods in iter_routes(client.app.routes):
        by_path.setdefault(canonical(path), set()).update(m.upper() for m in methods)
    for path, methods in by_path.items():
        if "{" in path:
            continue
        unused = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in methods)
        r = client.request(unused, path)
        assert r.status_code == 405, (path, unused)
        allowed = set(r.headers["allow"].replace(" ", "").split(","))
        assert allowed - {"HEAD"} == methods, (path, allowed, methods)


# -- request ids and logs ------------------------------------------------------------------


def test_request_id_header(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    rid = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert client.get("/api/v1/health").headers["x-request-id"] != rid
    mine = client.get("/api/v1/health", headers={"X-Request-ID": "trace-abc.123"})
    assert mine.headers["x-request-id"] == "trace-abc.123"
    # something that could forge log lines is replaced, not echoed
    evil = client.get("/api/v1/health", headers={"X-Request-ID": "a\tb" + "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", evil.headers["x-request-id"])
    assert client.get("/nope").headers["x-request-id"]


@pytest.mark.slow
def test_one_json_log_format_with_request_ids(tmp_path: Path) -> None:
    """A real `ocrkit serve`: every stderr line is JSON (uvicorn's too), and every line a
    request logs carries its request id."""
    port = _free_port()
    env = {
        **os.environ,
        "OCRKIT_DATA_DIR": str(tmp_path / "data"),
        "OCRKIT_WORKERS": "1",
        "OCRKIT_LOAD_PLUGINS": "",
        "OCRKIT_LOG_FORMAT": "json",
        "OCRKIT_VLM_API_KEY": "sk-must-not-be-logged",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocrkit", "serve", "--port", str(port), "--log-level", "debug"],
        env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        r = httpx.post(
            url + "/api/v1/ocr/",
            files={"file": ("a.png", png(["Hello log"]))},
            headers={"X-Request-ID": "req-42"},
            timeout=60,
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-42"
        httpx.get(url + "/nope", headers={"X-Request-ID": "req-43"})
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    records = []
    for ln in lines:
        try:  # every line, uvicorn's included, is JSON
            records.append(json.loads(ln))
        except ValueError:
            raise AssertionError(f"not a JSON line: {ln!r}\n{err[-3000:]}") from None
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"].startswith("uvicorn") for r in records)
    # --log-level debug took effect: the settings are logged, the secret masked
    settings = [r for r in records if r["message"].startswith("settings: ")]
    assert settings and settings[0]["level"] == "debug"
    assert "vlm_api_key='***'" in settings[0]["message"]
    assert "sk-must-not-be-logged" not in err
    of_42 = [r for r in records if r.get("request_id") == "req-42"]
    assert {r["logger"] for r in of_42} >= {"ocrkit.access", "ocrkit.server.submit"}, of_42
    access = [r for r in records if r["logger"] == "ocrkit.access"]
    assert all(r.get("request_id") for r in access)
    assert [r for r in access if r.get("request_id") == "req-43" and "404" in r["message"]]


def test_an_internal_error_keeps_the_request_id(tmp_path: Path) -> None:
    """A 500 (a bug in a route) answers with X-Request-ID, and its error line has it."""
    import io

    from starlette.routing import Route

    from ocrkit import hookimpl
    from ocrkit.plugins import build_registry, get_plugin_manager
    from ocrkit.server import logs
    from ocrkit.server.app import create_app

    class Buggy:
        @hookimpl
        def register_routes(self, register: Any) -> None:
            async def boom(request: Any) -> Any:
                raise RuntimeError("a bug")

            register(Route("/-/boom", boom))

    registry = build_registry(get_plugin_manager(extra_plugins=[Buggy()]))
    app = create_app(make_settings(tmp_path / "d"), registry, warm_workers=False)
    stream = io.StringIO()
    undo = logs.configure(level="info", fmt="plain", stream=stream)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/-/boom", headers={"X-Request-ID": "bug-1"})
    finally:
        undo()
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert r.headers["x-request-id"] == "bug-1"
    lines = [ln for ln in stream.getvalue().splitlines() if "/-/boom" in ln]
    assert any("ERROR [bug-1] ocrkit.server: GET /-/boom failed" in ln for ln in lines), lines
    assert any("[bug-1] ocrkit.access" in ln and " 500 " in ln for ln in lines), lines


def test_plain_logs_carry_the_request_id(tmp_path: Path) -> None:
    import logging

    from ocrkit.server import logs

    stream = __import__("io").StringIO()
    undo = logs.configure(level="info", fmt="plain", stream=stream)
    try:
        token = logs.REQUEST_ID.set("rid-7")
        logging.getLogger("ocrkit.server").info("hello")
        logs.REQUEST_ID.reset(token)
        logging.getLogger("uvicorn.error").info("outside")
    finally:
        undo()
    first, second = stream.getvalue().splitlines()
    assert "[rid-7]" in first and first.endswith("ocrkit.server: hello")
    assert "[-]" in second and "uvicorn.error: outside" in second


def test_serve_log_level_option() -> None:
    from click.testing import CliRunner

    from ocrkit.cli.serve import serve

    out = CliRunner().invoke(serve, ["--help"])
    assert "--log-level" in out.output
    bad = CliRunner().invoke(serve, ["--log-level", "loud"])
    assert bad.exit_code == 2 and "loud" in bad.output


# -- the web page's Markdown, rendered on the server --------------------------------------


def test_markdown_is_rendered_on_the_server_sanitised() -> None:
    from ocrkit.web.markdown import render

    html = render(
        "## Totals\n\n<img src=x onerror=alert(1)> is **due**\n\n"
        "- one\n  - one.a\n  - one.b\n- two\n\n"
        "1. first\n2. second\n\n"
        "[click](javascript:alert(1)) and [site](https://example.com) ![i](http://x/y.png)\n\n"
        "| item | sum |\n|---|--:|\n| a \\| b | 3 |\n"
    )
    assert "<img" not in html and "onerror=alert(1)&gt;" in html.replace('"', "")
    assert "&lt;img src=x" in html
    assert "<h2>Totals</h2>" in html and "<strong>due</strong>" in html
    # nested lists stay nested
    assert re.search(r"<li>one\s*<ul>\s*<li>one\.a</li>\s*<li>one\.b</li>\s*</ul>\s*</li>", html)
    assert "<ol>" in html
    # links are text only: no javascript:, no request the user did not ask for
    assert "javascript:" not in html and "href" not in html and "<a " not in html
    assert "click" in html and "site" in html
    assert "<td>a | b</td>" in html
    assert "<table>" in html


def test_web_page_uses_server_markdown(client: TestClient, done_job: dict) -> None:
    page = client.get("/").text
    assert "/web/markdown.js" not in page
    assert client.get("/web/markdown.js").status_code == 404
    r = client.get(f"/web/render/{done_job['uuid']}/0")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Quarterly report" in r.text
    assert r.headers["content-security-policy"]
    assert client.get(f"/web/render/{done_job['uuid']}/7").status_code == 404
