"""Issue 20: what an outside probe of ``ocrkit serve`` found, each case rerun as a test
against a real ``ocrkit serve`` (uvicorn) process over real HTTP.

Concurrent bursts are really concurrent: every request of a burst is sent by its own
thread on its own connection, released together by a barrier. Each burst uses its own
client address (``X-Forwarded-For`` from the loopback proxy the module's server trusts),
so the bursts do not share limiter buckets.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from ocrkit.settings import load_settings
from ocrkit.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import Server, _free_port  # noqa: E402
from test_server import png  # noqa: E402

pytestmark = pytest.mark.slow

CSRF = "c" * 32
STRONG = "correct horse battery staple 42"


def _accounts(data: Path, *names: str) -> dict[str, str]:
    store = Store.open(load_settings(env={}, data_dir=data))
    tokens = {}
    for name in names:
        store.create_account(name, "paid")
        store.credit(name, 10_000)
        tokens[name] = str(store.create_token(name)[1])
    store.close()
    return tokens


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """Sign-up open, the loopback proxy trusted (so X-Forwarded-For picks the address),
    a 2 s header timeout."""
    data = tmp_path_factory.mktemp("security") / "data"
    tokens = _accounts(data, "alice", "bob")
    srv = Server(
        data,
        OCRKIT_SIGNUP="open",
        OCRKIT_TRUSTED_PROXIES="127.0.0.1",
        OCRKIT_ANON_DAILY_PAGES="100000",
        OCRKIT_HEADER_TIMEOUT="2",
    ).start()
    try:
        yield srv, tokens
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def done_job(live: tuple[Server, dict[str, str]]) -> str:
    srv, tokens = live
    r = srv.post(png(["Invoice 42"]), token=tokens["bob"])
    assert r.status_code in (200, 202), r.text
    uuid = r.json()["uuid"]
    srv.poll(uuid, tokens["bob"], lambda j: j["status"] in ("done", "failed"))
    return str(uuid)


def burst(n: int, send: Callable[[int], requests.Response]) -> Counter[int]:
    """Send ``n`` requests at once (one thread and connection each); status counts."""
    barrier = threading.Barrier(n)

    def one(i: int) -> int:
        barrier.wait()
        return send(i).status_code

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(one, range(n)))


def form_post(srv: Server, path: str, ip: str, **fields: str) -> requests.Response:
    return requests.post(
        srv.url + path,
        data={"csrf": CSRF, **fields},
        cookies={"ocrkit_csrf": CSRF},
        headers={"X-Forwarded-For": ip},
        allow_redirects=False,
        timeout=120,
    )


# -- 1. limiters count before the expensive check --------------------------------------


def test_parallel_wrong_passwords_respect_the_per_address_limit(live: Any) -> None:
    srv, _ = live
    r = form_post(srv, "/signup", "10.1.0.1", email="victim@example.com", password=STRONG)
    assert r.status_code == 201, r.text
    got = burst(
        40,
        lambda i: form_post(
            srv, "/signin", "10.1.0.2", email="victim@example.com", password=f"wrong {i}!x"
        ),
    )
    assert got == Counter({401: 5, 429: 35})


def test_parallel_sign_ups_respect_the_hourly_limit(live: Any) -> None:
    srv, _ = live
    got = burst(
        15,
        lambda i: form_post(srv, "/signup", "10.1.0.3", email=f"u{i}@example.com", password=STRONG),
    )
    assert got == Counter({201: 10, 429: 5})


def test_parallel_bad_tokens_respect_the_per_minute_limit(live: Any) -> None:
    srv, _ = live

    def send(i: int) -> requests.Response:
        headers = {"Authorization": f"Bearer bad-token-{i}", "X-Forwarded-For": "10.1.0.4"}
        return requests.get(srv.url + "/api/v1/usage/", headers=headers, timeout=60)

    assert burst(60, send) == Counter({401: 30, 429: 30})


def test_password_checks_run_a_few_at_a_time_so_memory_stays_bounded(live: Any) -> None:
    """16 sign-ins from 16 addresses at once: argon2 takes 64 MiB each; a small semaphore
    keeps the server's peak far below 16 x 64 MiB."""
    srv, _ = live
    assert srv.proc is not None
    proc = psutil.Process(srv.proc.pid)
    base = proc.memory_info().rss
    peak = base
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        got = burst(
            16,
            lambda i: form_post(
                srv, "/signin", f"10.2.0.{i}", email=f"nobody{i}@example.com", password=STRONG
            ),
        )
    finally:
        stop.set()
        watcher.join()
    assert got == Counter({401: 16})
    grown = (peak - base) / 2**20
    print(f"\npeak server RSS growth during 16 parallel sign-ins: {grown:.0f} MiB")
    assert grown < 350, f"server memory grew by {grown:.0f} MiB during the burst"


# -- 4. body limits before reading ------------------------------------------------------


def _raw(srv: Server, request: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes, return what the server answers within ``wait`` seconds."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=wait) as s:
        s.sendall(request)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while b"\r\n\r\n" not in out:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out


def test_chat_body_over_the_limit_is_refused_on_its_content_length(
    live: Any, done_job: str
) -> None:
    srv, tokens = live
    head = (
        f"POST /api/v1/chat/{done_job}/ HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {tokens['bob']}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\n\r\n"
    ).encode()
    answer = _raw(srv, head + b'{"message": "')
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_chat_body_over_the_limit_is_refused_on_the_stream(live: Any, done_job: str) -> None:
    srv, tokens = live

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(40):
            yield b"a" * 16384
        yield b'"}'

    r = requests.post(
        f"{srv.url}/api/v1/chat/{done_job}/",
        data=chunks(),  # chunked: no Content-Length
        headers={"Authorization": f"Bearer {tokens['bob']}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413, r.text
    assert "detail" in r.json()


def test_form_body_over_the_limit_is_refused_on_its_content_length(live: Any) -> None:
    srv, _ = live
    head = (
        b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    answer = _raw(srv, head + b"email=a")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# -- 5. client addresses: one proxy layer, trust nobody by default -----------------------


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("untrusting") / "data"
    srv = Server(data, OCRKIT_SIGNUP="open", OCRKIT_ANON_DAILY_PAGES="5").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(untrusting: Server) -> None:
    srv = untrusting
    spoof = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}
    before = srv.get("/api/v1/usage/").json()["used"]
    r = requests.post(
        srv.url + "/api/v1/ocr/",
        files={"file": ("a.png", png(["Hello"]))},
        headers=spoof,
        timeout=120,
    )
    assert r.status_code in (200, 202), r.text
    # the page is charged to the socket's address (127.0.0.1), not to 6.6.6.6
    assert srv.get("/api/v1/usage/").json()["used"] == before + 1
    # and the access log names the socket's address
    time.sleep(0.3)
    log = srv.log.read_text()
    assert "6.6.6.6" not in log
    # X-Forwarded-Proto: https from an untrusted peer does not make cookies Secure
    page = requests.get(srv.url + "/signin", headers=spoof, timeout=30)
    assert "ocrkit_csrf" in page.headers["set-cookie"]
    assert "secure" not in page.headers["set-cookie"].lower()


def test_forwarded_for_from_a_trusted_proxy_is_the_client(live: Any) -> None:
    srv, _ = live
    r = requests.get(srv.url + "/api/v1/health", headers={"X-Forwarded-For": "7.7.7.7"}, timeout=30)
    assert r.status_code == 200
    time.sleep(0.3)
    assert '7.7.7.7 "GET /api/v1/health' in srv.log.read_text()


def _redis_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("redis-server") is None:
        from test_cluster import _apt_install

        _apt_install("redis-server")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis.from_url(url).ping():
                return proc, url
        time.sleep(0.1)
    proc.kill()
    pytest.fail("redis-server did not start")


def test_limits_are_shared_by_servers_through_redis(tmp_path: Path) -> None:
    """Two API servers with one OCRKIT_RATELIMIT_URL: 60 bad tokens, 30 to each, at once,
    get 30 401s between them (each server alone would allow 30)."""
    redis_proc, url = _redis_server(tmp_path)
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(Server(tmp_path / name / "data", OCRKIT_RATELIMIT_URL=url).start())

        def send(i: int) -> requests.Response:
            srv = servers[i % 2]
            headers = {"Authorization": f"Bearer bad-{i}"}
            return requests.get(srv.url + "/api/v1/usage/", headers=headers, timeout=60)

        assert burst(60, send) == Counter({401: 30, 429: 30})
    finally:
        for srv in servers:
            srv.stop()
        redis_proc.kill()
        redis_proc.wait(10)


# -- 6. no 500 on odd integers and deep JSON --------------------------------------------


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "1_0", "+5", "%EF%BC%95", "-1", ""])
def test_limit_takes_ascii_digits_only(live: Any, value: str) -> None:
    srv, tokens = live
    r = srv.get(f"/api/v1/ocr/?limit={value}", token=tokens["alice"])
    assert r.status_code == 400, r.text
    assert "limit" in r.json()["detail"]


@pytest.mark.parametrize("value", ["%C2%B2", "%D9%A3", "1_0", "0", "-1"])
def test_table_takes_ascii_digits_only(live: Any, done_job: str, value: str) -> None:
    srv, tokens = live
    r = srv.get(f"/api/v1/ocr/{done_job}/download?format=csv&table={value}", token=tokens["bob"])
    assert r.status_code == 400, r.text


def test_deeply_nested_chat_body_is_a_400(live: Any, done_job: str) -> None:
    srv, tokens = live
    body = '{"message": "hi", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    r = requests.post(
        f"{srv.url}/api/v1/chat/{done_job}/",
        data=body,
        headers={"Authorization": f"Bearer {tokens['bob']}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    assert "nest" in r.json()["detail"]


# -- 7. no server paths in answers ------------------------------------------------------


def test_errors_do_not_name_server_paths(live: Any) -> None:
    srv, _ = live
    broken = b"%PDF-1.7\n" + bytes(range(256)) * 2  # MuPDF cannot open it at all
    r = requests.post(
        srv.url + "/api/v1/ocr/",
        files={"file": ("broken.pdf", broken)},
        headers={"X-Forwarded-For": "10.7.0.1"},
        timeout=60,
    )
    assert r.status_code == 400, r.text
    for leak in (str(srv.data_dir), "/tmp", ".upload", str(Path.home())):
        assert leak not in r.text, r.text
    options = srv.get("/api/v1/options").text
    for leak in (str(srv.data_dir), str(Path.home())):
        assert leak not in options, leak


# -- 8. the page's headers on every HTML route -------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/signin", "/signup", "/api/v1/docs", "/api/v1/docs/", "/docs"]
)
def test_every_html_route_has_the_security_headers(live: Any, path: str) -> None:
    srv, _ = live
    r = srv.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", "")
    script_src = [d for d in r.headers["content-security-policy"].split(";") if "script-src" in d]
    assert script_src and "'unsafe-inline'" not in script_src[0]
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("x-content-type-options") == "nosniff"
    # no inline script (the CSP would block it): every <script> has a src
    import re

    for tag in re.findall(r"<script\b[^>]*>", r.text, flags=re.I):
        assert "src=" in tag, tag


# -- 9. before= is no oracle for other accounts' jobs ------------------------------------


def test_before_another_accounts_job_is_the_same_400_as_a_random_uuid(
    live: Any, done_job: str
) -> None:
    import uuid as uuidlib

    srv, tokens = live
    other = srv.get(f"/api/v1/ocr/?before={done_job}", token=tokens["alice"])
    random = str(uuidlib.uuid4())
    unknown = srv.get(f"/api/v1/ocr/?before={random}", token=tokens["alice"])
    assert unknown.status_code == 400
    assert other.status_code == 400, other.text
    assert other.json()["detail"].replace(done_job, "U") == unknown.json()["detail"].replace(
        random, "U"
    )
    own = srv.get(f"/api/v1/ocr/?before={done_job}", token=tokens["bob"])
    assert own.status_code == 200


# -- 10. the searchable PDF the API makes -----------------------------------------------


def test_api_searchable_pdf_has_no_active_content(live: Any, tmp_path: Path) -> None:
    from test_security_exports import _active, _hostile_pdf

    srv, tokens = live
    src = _hostile_pdf(tmp_path)
    r = srv.post(src.read_bytes(), token=tokens["alice"])
    assert r.status_code in (200, 202), r.text
    uuid = r.json()["uuid"]
    srv.poll(uuid, tokens["alice"], lambda j: j["status"] in ("done", "failed"))
    pdf = srv.get(f"/api/v1/ocr/{uuid}/download?format=pdf", token=tokens["alice"])
    assert pdf.status_code == 200 and pdf.content != src.read_bytes()
    out = tmp_path / "api.pdf"
    out.write_bytes(pdf.content)
    found = _active(out)
    assert not found["openaction"] and not found["javascript"] and not found["js_links"]
    assert found["embedded"] == 0 and found["file_annots"] == 0


# -- 11. common passwords ----------------------------------------------------------------


@pytest.mark.parametrize("password", ["12345678", "password", "Password1", "qwertyuiop"])
def test_sign_up_refuses_common_passwords(live: Any, password: str) -> None:
    srv, _ = live
    r = form_post(srv, "/signup", "10.11.0.1", email="common@example.com", password=password)
    assert r.status_code == 400, r.status_code
    assert "common" in r.text


# -- 12. slow headers ---------------------------------------------------------------------


def test_connections_sending_headers_slowly_are_closed(live: Any) -> None:
    """50 connections send a request line a byte every 0.25 s: with a 2 s header timeout
    the server closes each within a few seconds (it kept them open forever before)."""
    srv, _ = live
    socks = []
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.setblocking(False)
        socks.append(s)
    line = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    closed: set[int] = set()
    start = time.monotonic()
    for i in range(len(line)):
        if time.monotonic() - start > 8 or len(closed) == len(socks):
            break
        for n, s in enumerate(socks):
            if n in closed:
                continue
            try:
                s.send(line[i : i + 1])
                with contextlib.suppress(BlockingIOError):
                    if s.recv(1024) == b"":
                        closed.add(n)
            except (BrokenPipeError, ConnectionResetError):
                closed.add(n)
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    for s in socks:
        s.close()
    assert len(closed) == len(socks), f"{len(closed)} of 50 closed after {elapsed:.1f} s"
    assert elapsed < 6
    assert srv.get("/api/v1/health").status_code == 200


def test_oversized_headers_are_refused(live: Any) -> None:
    srv, _ = live
    answer = _raw(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert answer == b"" or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:100]


# -- 13. a bad client behind NAT does not lock out the others ----------------------------


def test_bad_tokens_from_an_address_do_not_lock_out_a_good_token(live: Any) -> None:
    srv, tokens = live
    office = {"X-Forwarded-For": "10.13.0.1"}

    def usage(token: str) -> requests.Response:
        headers = {**office, "Authorization": f"Bearer {token}"}
        return requests.get(srv.url + "/api/v1/usage/", headers=headers, timeout=30)

    assert usage(tokens["alice"]).status_code == 200
    statuses = Counter(usage(f"guess-{i}").status_code for i in range(35))
    assert statuses == Counter({401: 30, 429: 5})
    assert usage(tokens["alice"]).status_code == 200  # a colleague's token still works
    assert usage("guess-again").status_code == 429  # the guesser is still held


def test_server_log_has_no_traceback(live: Any) -> None:
    srv, _ = live
    assert "Traceback" not in srv.log.read_text()
