"""Faults (issue 9) against a real ``ocrkit serve`` process over real HTTP.

SIGKILL of the server mid-job and a restart; a page worker that dies (a plugin that
kills its process); a store locked by another process; a full disk (simulated with
RLIMIT_FSIZE, which makes every write past the limit fail with EFBIG as a full disk
does with ENOSPC). Nothing is lost, nothing is charged twice, the store stays sound.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from ocrkit.settings import load_settings
from ocrkit.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_server import image_pdf, png  # noqa: E402
from test_store import database_url  # noqa: E402,F401  (a fixture: SQLite and PostgreSQL)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"

    def start(self, preexec: Callable[[], None] | None = None) -> Server:
        env = {
            **os.environ,
            "OMP_THREAD_LIMIT": "1",
            "OCRKIT_DATA_DIR": str(self.data_dir),
            "OCRKIT_DPI": "150",
            "OCRKIT_LOAD_PLUGINS": "",
            **self.env,
        }
        cmd = [sys.executable, "-m", "ocrkit", "serve", "--port", str(self.port), "--workers", "2"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=log, start_new_session=True, preexec_fn=preexec
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(self.url + "/api/v1/health", timeout=5).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError("server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its page workers
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def post(self, data: bytes, token: str | None = None, **fields: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(
            self.url + "/api/v1/ocr/",
            files={"file": ("doc.pdf", data)},
            data=fields,
            headers=headers,
            timeout=120,
        )

    def get(self, path: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url + path, headers=headers, timeout=60)

    def poll(self, uuid: str, token: str | None, until: Callable[[dict[str, Any]], bool]) -> Any:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.get(f"/api/v1/ocr/{uuid}/", token).json()
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {uuid} never reached the state: {job}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(data_dir: Path | None = None, **env: str) -> Server:
        s = Server(data_dir or tmp_path / "data", **env)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def _account(data_dir: Path, name: str, url: str = "") -> str:
    store = Store.open(load_settings(env={}, data_dir=data_dir, database_url=url))
    try:
        store.create_account(name, "free")
        return str(store.create_token(name)[1])
    finally:
        store.close()


def _integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "ocrkit.db") as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_sigkill_mid_job_then_restart_loses_nothing_and_charges_once(
    tmp_path: Path,
    server: Callable[..., Server],
    database_url: str,  # noqa: F811 (the fixture imported from test_store)
) -> None:
    """On the SQLite file and on PostgreSQL (``database_url`` from test_store)."""
    data = tmp_path / "data"
    token = _account(data, "kim", database_url)
    env = {"OCRKIT_DATABASE_URL": database_url} if database_url else {}
    first = server(data, **env).start()
    r = first.post(image_pdf(8, "Killed"), token)
    assert r.status_code == 202, r.text
    uuid = r.json()["uuid"]
    first.poll(uuid, token, lambda j: j.get("pages_done", 0) >= 2 or j["status"] == "done")
    first.kill9()

    if not database_url:
        assert _integrity(data) == "ok"
    second = server(data, **env).start()
    job = second.poll(uuid, token, lambda j: j["status"] in ("done", "failed"))
    # the job's own error and the restarted server's log say why, if it failed
    assert job["status"] == "done", (job.get("error"), second.log.read_text()[-3000:])
    assert job["page_count"] == 8 and len(job["pages"]) == 8
    assert [p["index"] for p in job["pages"]] == list(range(8))
    assert all("killed" in p["text"].lower() for p in job["pages"])
    usage = second.get("/api/v1/usage/", token).json()
    assert usage["used"] == 8, usage  # every page charged exactly once
    # the upload went with the job, once its pdf was made (a pdf download waits for it)
    assert second.get(f"/api/v1/ocr/{uuid}/download/?format=pdf", token).status_code == 200
    assert not list((data / "uploads").iterdir())


def test_a_dying_page_worker_fails_its_job_and_the_pool_recovers(
    tmp_path: Path, server: Callable[..., Server]
) -> None:
    srv = server(
        tmp_path / "data",
        OCRKIT_LOAD_PLUGINS="ocrkit-example-plugin",
        OCRKIT_EXAMPLE_MAIN_PID="-1",
    ).start()
    r = srv.post(png(["Doomed page"]), tool="example-kill-worker")
    assert r.status_code in (200, 202), r.text
    job = srv.poll(r.json()["uuid"], None, lambda j: j["status"] in ("done", "failed"))
    assert job["status"] == "failed" and "worker" in job["error"], job
    for _ in range(3):  # the pool serves again, for every worker slot
        ok = srv.post(png(["Life goes on"]))
        assert ok.status_code == 200 and ok.json()["status"] == "done", ok.text
        assert "goes on" in ok.json()["text"].lower()
    assert srv.proc is not None and srv.proc.poll() is None


def test_a_locked_store_gives_a_clear_error_not_a_500(
    tmp_path: Path, server: Callable[..., Server]
) -> None:
    data = tmp_path / "data"
    srv = server(data, OCRKIT_STORE_BUSY_TIMEOUT="1").start()
    before = srv.post(png(["Written before the lock"])).json()
    locker = sqlite3.connect(data / "ocrkit.db", isolation_level=None, timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        r = srv.post(png(["Locked out"]))
        assert r.status_code == 503, r.text
        assert "store" in r.json()["detail"] and "Retry-After" in r.headers
        # readers never wait for a writer (WAL): jobs stay readable while locked
        read = srv.get(f"/api/v1/ocr/{before['uuid']}/")
        assert read.status_code == 200 and read.json()["text"] == before["text"]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    again = srv.post(png(["Unlocked again"]))
    assert again.status_code == 200 and "unlocked" in again.json()["text"].lower()
    srv.stop()
    assert _integrity(data) == "ok"


def test_a_full_disk_gives_a_clear_error_and_no_corrupt_store(
    tmp_path: Path, server: Callable[..., Server]
) -> None:
    data = tmp_path / "data"
    warm = server(data).start()  # create the store first
    assert warm.post(png(["Before the disk filled"])).status_code == 200
    warm.stop()
    limit = 96 * 1024  # no file may grow past 96 KiB: uploads, page images, the store's WAL

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    srv = server(data).start(preexec=small_disk)
    buf = io.BytesIO()  # a noisy photo: incompressible, larger than the limit
    Image.frombytes("RGB", (320, 320), os.urandom(320 * 320 * 3)).save(buf, "PNG")
    too_big = buf.getvalue()
    assert len(too_big) > limit
    r = srv.post(too_big)  # the upload itself cannot be written
    assert r.status_code == 507, r.text
    assert "space" in r.json()["detail"]
    # Small jobs until the store or a page image hits the limit: every answer is a job or
    # a clear "no space"; the jobs that answered done stay readable afterwards.
    done: dict[str, str] = {}
    waiting: list[str] = []  # accepted, but the store could not even mark them running
    full = 0
    for i in range(40):
        r = srv.post(png([f"Small job number {i}"]))
        if r.status_code == 200 and r.json()["status"] == "done":
            done[r.json()["uuid"]] = r.json()["text"]
            continue
        full += 1
        body = r.json()
        if r.status_code == 200:
            assert body["status"] == "failed" and "space" in body["error"], body
        elif r.status_code == 202:
            waiting.append(body["uuid"])
        else:
            assert r.status_code in (503, 507) and body["detail"], body
        if full >= 3:
            break
    assert full, "the file-size limit was never reached"
    srv.stop()
    assert _integrity(data) == "ok"
    healthy = server(data).start()  # with room again the store opens and works
    assert healthy.post(png(["After the disk was emptied"])).status_code == 200
    for uuid, text in done.items():
        assert healthy.get(f"/api/v1/ocr/{uuid}/").json()["text"] == text
    for uuid in waiting:  # not lost: recovered at the restart and finished
        job = healthy.poll(uuid, None, lambda j: j["status"] in ("done", "failed"))
        assert job["status"] == "done" or job.get("error"), job
