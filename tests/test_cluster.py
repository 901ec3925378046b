"""Scale-out on real services: 2 API servers and 2 ``ocrkit worker`` processes (Celery)
sharing Redis and PostgreSQL, with a worker killed (SIGKILL) while it holds pages.

Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, trust auth, database ``test``)
run on the project's machines and CI. Where they do not answer, this module installs
them from Debian packages and starts its own on free ports, with data in a temp dir,
stopped at the end (PostgreSQL as the ``postgres`` user: it refuses to run as root).
Each run uses its own database, Redis db number and queue name, removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import FONT

pytest.importorskip("celery", reason="scale-out needs the 'scale' extra: pip install -e .[scale]")
pytest.importorskip("psycopg", reason="scale-out needs psycopg: pip install -e .[scale]")

import httpx  # noqa: E402
import leaks  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

PG_URL = os.environ.get(
    "OCRKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OCRKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A killed worker's pages come back after this many seconds (Redis visibility timeout).
VISIBILITY = 10
DPI = 150


# ----------------------------------------------------------------- the services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:
        return False


def _pg_answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _apt_install(*packages: str) -> str | None:
    """Install Debian packages; None on success, else why not."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"]).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        return "not root and no password-less sudo"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode == 0:
        return None
    subprocess.run([*prefix, "apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return None if done.returncode == 0 else f"apt-get install failed: {done.stderr[-500:]}"


@dataclass
class Services:
    redis_url: str
    pg_url: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)


def _own_redis(tmp: Path, svc: Services) -> str:
    if shutil.which("redis-server") is None:
        why = _apt_install("redis-server")
        if why or shutil.which("redis-server") is None:
            pytest.skip(f"Redis does not answer at {REDIS_URL} and cannot be installed: {why}")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    svc.cleanups.append(lambda: (proc.terminate(), proc.wait(10)))
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            pytest.fail("the Redis server this test started does not answer")
        time.sleep(0.1)
    return url


def _pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


def _own_postgres(tmp: Path, svc: Services) -> str:
    if _pg_bin("initdb") is None:
        why = _apt_install("postgresql")
        if why or _pg_bin("initdb") is None:
            pytest.skip(f"PostgreSQL does not answer at {PG_URL} and cannot be installed: {why}")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    assert initdb and pg_ctl
    data = tmp / "pgdata"
    data.mkdir(mode=0o700)
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        import pwd

        pw = pwd.getpwnam("postgres")
        tmp.chmod(0o755)
        os.chown(data, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-l", str(data / "log"), "-o", opts, "-w", "start"],
        check=True,
        capture_output=True,
    )
    svc.cleanups.append(
        lambda: subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
    )
    base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    with create_engine(base + "/postgres", isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE test")
    return base + "/test"


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    tmp = Path(tempfile.mkdtemp(prefix="ocrkit-services-"))
    svc = Services(REDIS_URL, PG_URL)
    try:
        if not _redis_answers(svc.redis_url):
            svc.redis_url = _own_redis(tmp, svc)
        if not _pg_answers(svc.pg_url):
            svc.pg_url = _own_postgres(tmp, svc)
        yield svc
    finally:
        for cleanup in reversed(svc.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Cluster:
    env: dict[str, str]
    database_url: str
    broker_url: str
    queue: str
    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)  # every one, ever

    def start(self, name: str, args: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
        env = {**self.env, "OCRKIT_DATA_DIR": str(data_dir)}
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ocrkit", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill it with its pool
        )
        self.procs[name] = proc
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, sig)

    def stop(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            self.kill(name, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill(name)
                proc.wait(10)
        self.kill(name)  # whatever is left of its process group

    def stop_all(self, grace: float = 20.0) -> None:
        """TERM every process group this cluster ever started (a name started twice keeps
        both), wait up to ``grace`` seconds, then KILL what is left of each group."""
        for proc in self.started:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def sql(self, query: str, **params: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params).all())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cluster(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tag = uuidlib.uuid4().hex[:10]
    name = leaks.database_name("cluster")  # the session guard finds it if it outlives us
    admin = create_engine(services.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    database_url = services.pg_url.rsplit("/", 1)[0] + "/" + name
    # A Redis database of its own, empty now: Celery's keys (bindings, unacked, results)
    # do not all carry the queue name, so the whole database is emptied afterwards.
    broker_url = leaks.claim_redis_db(services.redis_url)
    queue = f"ocrkit-test-{tag}"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_") or k == "OCRKIT_DEBUG"
    }
    env.update(
        OCRKIT_DATABASE_URL=database_url,
        OCRKIT_BROKER_URL=broker_url,
        OCRKIT_QUEUE_NAME=queue,
        OCRKIT_QUEUE_VISIBILITY_TIMEOUT=str(VISIBILITY),
        OCRKIT_DPI=str(DPI),
        OCRKIT_ANON_DAILY_PAGES="100000",
        OCRKIT_ANON_MAX_FILE_PAGES="100",
        OCRKIT_FREE_MONTHLY_PAGES="12",
        OMP_THREAD_LIMIT="1",
    )
    c = Cluster(env, database_url, broker_url, queue, tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        try:
            c.stop_all()
        finally:
            client = redis.Redis.from_url(broker_url)
            try:
                client.flushdb()
            finally:
                client.close()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.dispose()


# ------------------------------------------------------------------------ inputs


def scanned_pdf(tag: str, pages: int) -> bytes:
    """An image-only PDF (a scan): page i reads 'Report <tag> page <i+1>'."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 36)
    images = []
    for i in range(pages):
        im = Image.new("L", (1240, 480), 255)  # a strip of a page at 150 dpi
        draw = ImageDraw.Draw(im)
        draw.text((120, 120), f"Report {tag} page {i + 1}", font=font, fill=0)
        draw.text((120, 280), "The quick brown fox jumps over the lazy dog.", font=font, fill=0)
        images.append(im)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=DPI)
    return out.getvalue()


def store_job(cluster: Cluster, uuid: str) -> dict[str, Any]:
    row = cluster.sql("SELECT status, error FROM jobs WHERE uuid = :u", u=uuid)[0]
    return {"status": row[0], "error": row[1] or ""}


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/v1/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


# ------------------------------------------------------------------------- tests


def test_cluster_two_servers_two_workers_and_a_killed_worker(cluster: Cluster) -> None:
    from ocrkit.jobs.queue.celery_app import make_celery
    from ocrkit.settings import load_settings
    from ocrkit.store.cluster import ClusterStore

    settings = load_settings(cluster.env)
    store = ClusterStore.open(settings)  # migrates the fresh database
    acme_id = store.create_account("acme", "paid").id
    store.credit("acme", 1000)
    _, paid_token = store.create_token("acme")
    freddy_id = store.create_account("freddy", "free").id
    _, free_token = store.create_token("freddy")
    pat_id = store.create_account("pat", "free").id
    _, pat_token = store.create_token("pat")
    store.close()
    celery = make_celery(settings)

    root = cluster.root
    ports = {"api_a": free_port(), "api_b": free_port()}
    for api, port in ports.items():
        cluster.start(api, ["serve", "--port", str(port)], root / api)
    urls = [f"http://127.0.0.1:{p}" for p in ports.values()]
    for api, url in zip(ports, urls, strict=True):
        wait_until(lambda u=url: healthy(u), 90, f"{api} to answer:\n{cluster.log(api)}")

    http = httpx.Client(timeout=240)
    expected: dict[str, tuple[str, int]] = {}  # uuid -> (tag, pages)

    def post(url: str, tag: str, pages: int, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        files = {"file": (f"{tag}.pdf", scanned_pdf(tag, pages), "application/pdf")}
        r = http.post(url + "/api/v1/ocr/", files=files, headers=headers)
        if r.status_code in (200, 202):
            expected[r.json()["uuid"]] = (tag, pages)
        return r

    # Big jobs queued before any worker runs: two free ones, then a paid one (priority).
    big = [post(urls[0], "7101", 20), post(urls[1], "7102", 20)]
    paid = post(urls[1], "7103", 20, paid_token)
    assert [r.status_code for r in [*big, paid]] == [202, 202, 202], paid.text
    paid_uuid = paid.json()["uuid"]
    acme = {"Authorization": f"Bearer {paid_token}"}
    assert paid.json()["status"] == "pending" and paid.json()["page_count"] == 20
    # A page that has already killed its worker process three times (as a page that
    # crashes the renderer would): the next delivery fails the job instead of looping.
    poison = http.post(
        urls[0] + "/api/v1/ocr/",
        files={"file": ("p.pdf", scanned_pdf("7500", 6), "application/pdf")},
        headers={"Authorization": f"Bearer {pat_token}"},
    )
    assert poison.status_code == 202
    poison_uuid = poison.json()["uuid"]
    broker = redis.Redis.from_url(cluster.broker_url)
    broker.set(f"{cluster.queue}:deliveries:{poison_uuid}:3", 3)
    broker.close()
    assert http.get(urls[0] + "/api/v1/health").json()["queue_depth"] == 66

    workers = {"w1": root / "w1", "w2": root / "w2"}
    for w, data in workers.items():
        cluster.start(w, ["worker", "-c", "2", "-n", f"{w}@cluster"], data)

    # Small jobs from concurrent clients to both servers (inline: done in the POST), and
    # a free account with 12 pages a month sending 20 one-page files at once.
    pool = ThreadPoolExecutor(16)
    small = [pool.submit(post, urls[i % 2], f"{7200 + i}", 1 + (i % 2)) for i in range(16)]
    metered = [pool.submit(post, urls[i % 2], f"{7300 + i}", 1, free_token) for i in range(20)]

    # Progress is visible while the paid job runs, from the server it was not sent to.
    def partly_done() -> int | None:
        r = http.get(f"{urls[0]}/api/v1/ocr/{paid_uuid}", headers=acme)
        assert r.status_code == 200, r.text
        body = r.json()
        n = body["pages_done"]
        return n if body["status"] == "processing" and 0 < n < 20 else None

    seen = wait_until(partly_done, 120, "the paid job to show progress", every=0.1)
    assert 0 < seen < 20

    # Kill w1 (SIGKILL, its whole process group) while it holds pages in flight.
    def w1_pages_in_flight() -> list[tuple[str, int]] | None:
        stored = cluster.sql("SELECT count(*) FROM pages WHERE worker = 'w1@cluster'")[0][0]
        if stored < 2:
            return None
        replies = celery.control.inspect(destination=["w1@cluster"], timeout=2, limit=1).active()
        active = (replies or {}).get("w1@cluster") or []
        held = [(t["args"][0], int(t["args"][1])) for t in active]
        return held or None

    # A page w1 reports as active can be stored before the kill lands (a page takes about
    # a second): w1 is stopped (SIGSTOP, its whole group) before the store is looked at,
    # so a page not stored then is still in flight when it is killed; else it runs on.
    def w1_stopped_holding_a_page() -> list[tuple[str, int]] | None:
        held = w1_pages_in_flight()
        if not held:
            return None
        cluster.kill("w1", signal.SIGSTOP)
        left = [
            (u, i)
            for u, i in held
            if not cluster.sql("SELECT 1 FROM pages WHERE job_uuid=:u AND index=:i", u=u, i=i)
        ]
        if left:
            return left
        cluster.kill("w1", signal.SIGCONT)
        return None

    in_flight = wait_until(w1_stopped_holding_a_page, 120, "w1 to hold a page in flight")
    cluster.kill("w1")
    cluster.procs["w1"].wait(10)
    assert in_flight
    # The machine comes back: a new worker on w1's data dir (it prunes w1's cache).
    cluster.start("w3", ["worker", "-c", "2", "-n", "w3@cluster"], workers["w1"])

    small_status = [f.result().status_code for f in small]
    metered_status = sorted(f.result().status_code for f in metered)
    assert small_status == [200] * 16
    # Metering is atomic across the two servers: exactly the 12 allowed pages pass.
    assert metered_status == [200] * 12 + [402] * 8
    assert len(expected) == 3 + 16 + 12

    def all_ended() -> bool:
        rows = cluster.sql("SELECT status FROM jobs")
        ended = all(r[0] in ("done", "failed") for r in rows)
        return len(rows) == len(expected) + 1 and ended  # + the poisoned job

    wait_until(all_ended, 180, "every job to end", every=0.5)

    # Every job done with its text, every page present once and charged exactly once.
    tokens = {paid_uuid: acme}
    tokens.update(
        {
            u: {"Authorization": f"Bearer {free_token}"}
            for u, (t, _) in expected.items()
            if t >= "7300"
        }
    )
    for u, (tag, n) in expected.items():
        body = http.get(f"{urls[1]}/api/v1/ocr/{u}", headers=tokens.get(u, {})).json()
        assert body["status"] == "done", body.get("error")
        assert [p["index"] for p in body["pages"]] == list(range(n))
        assert body["pages_done"] == body["page_count"] == n
        for p in body["pages"]:
            words = " ".join(p["text"].split())
            assert f"Report {tag} page {p['index'] + 1}" in words, (u, p["index"], words)
    charges = cluster.sql(
        "SELECT job_uuid, charged, per_page, reserved FROM reservations WHERE job_uuid != :p",
        p=poison_uuid,
    )
    assert {r[0]: r[1] for r in charges} == {
        u: n * (1 if u != paid_uuid else settings.cost_cpu) for u, (_, n) in expected.items()
    }
    assert all(r[3] == 0 for r in charges)
    page_rows = cluster.sql(
        "SELECT count(*), count(DISTINCT (job_uuid, index)) FROM pages WHERE job_uuid != :p",
        p=poison_uuid,
    )[0]
    assert page_rows[0] == page_rows[1] == sum(n for _, n in expected.values())
    balance = cluster.sql("SELECT credits, credits_reserved FROM accounts WHERE name='acme'")
    assert tuple(balance[0]) == (1000 - 20 * settings.cost_cpu, 0)
    ledger = dict(cluster.sql("SELECT subject, used FROM usage"))
    # Anonymous: the two free big jobs and the small ones (7103 is paid, 73xx free).
    anon_pages = sum(n for t, n in expected.values() if t != "7103" and t < "7300")
    assert ledger["ip:127.0.0.1"] == anon_pages
    assert ledger[f"account:{freddy_id}"] == 12
    assert ledger[f"account:{acme_id}"] == 20 * settings.cost_cpu

    # The poisoned job failed at page 4 and paid only for the pages it stored.
    failed = store_job(cluster, poison_uuid)
    assert failed["status"] == "failed" and "page 4" in failed["error"], failed
    stored_pages = cluster.sql("SELECT index FROM pages WHERE job_uuid = :u", u=poison_uuid)
    assert 3 not in {r[0] for r in stored_pages}
    assert ledger.get(f"account:{pat_id}", 0) == len(stored_pages)
    hold = cluster.sql("SELECT reserved FROM reservations WHERE job_uuid = :u", u=poison_uuid)
    assert hold[0][0] == 0

    # The pages w1 held were redone by another worker; a 20-page job ran on both workers.
    for u, i in in_flight:
        who = cluster.sql("SELECT worker FROM pages WHERE job_uuid=:u AND index=:i", u=u, i=i)
        assert who and who[0][0] in ("w2@cluster", "w3@cluster"), (u, i, who)
    by_job: dict[str, set[str]] = {}
    for u, w in cluster.sql("SELECT job_uuid, worker FROM pages"):
        by_job.setdefault(u, set()).add(w)
    assert any(
        {"w1@cluster", "w2@cluster"} <= by_job[u] for u, (_, n) in expected.items() if n >= 20
    ), by_job

    # Priority: the paid job, queued after 40 free pages, ran before them.
    order = cluster.sql("SELECT job_uuid FROM pages ORDER BY created_at")
    paid_positions = [k for k, (u,) in enumerate(order) if u == paid_uuid]
    # Its 18th page (2 may have been held by the killed worker) came before all but a
    # few free pages (those the workers had taken when the paid ones were not yet read).
    assert paid_positions[17] < 18 + 8, paid_positions

    # Results reach every server: the pdf and a page image from the other server.
    import pymupdf

    pdf = http.get(f"{urls[0]}/api/v1/ocr/{paid_uuid}/download/?format=pdf", headers=acme)
    assert pdf.status_code == 200
    with pymupdf.open(stream=pdf.content, filetype="pdf") as doc:
        assert doc.page_count == 20
        assert "Report 7103 page 3" in " ".join(doc[2].get_text().split())
    img = http.get(f"{urls[0]}/api/v1/ocr/{paid_uuid}/pages/4/image", headers=acme)
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")

    # Health and metrics see the broker and the work done.
    health = http.get(urls[1] + "/api/v1/health").json()
    assert health == {"status": "ok", "store": "ok", "queue_depth": 0, "broker": "ok"}
    metrics = http.get(urls[0] + "/metrics").text
    values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and line[0] != "#")
    # prometheus_client writes every value as a float ("0.0")
    assert float(values["ocrkit_queue_depth"]) == 0
    assert float(values["ocrkit_broker_up"]) == 1
    assert float(values["ocrkit_pages_per_minute"]) > 0
    assert float(values['ocrkit_jobs{status="done"}']) == len(expected)

    # DELETE of a queued job (on the other server): its pages find it gone, nothing more
    # is stored or held, and its upload goes with it.
    r = post(urls[0], "7400", 20)
    assert r.status_code == 202
    gone = r.json()["uuid"]
    assert http.delete(f"{urls[1]}/api/v1/ocr/{gone}").status_code == 204
    assert http.get(f"{urls[0]}/api/v1/ocr/{gone}").status_code == 404

    def drained() -> bool:
        text = http.get(urls[0] + "/metrics").text
        return "ocrkit_queue_depth 0.0\n" in text and "ocrkit_pages_in_flight 0.0\n" in text

    wait_until(drained, 60, "the deleted job's pages to drain")
    assert cluster.sql("SELECT count(*) FROM pages WHERE job_uuid = :u", u=gone)[0][0] == 0
    assert cluster.sql("SELECT count(*) FROM blobs WHERE job_uuid = :u", u=gone)[0][0] == 0
    assert cluster.sql("SELECT reserved FROM usage WHERE subject = 'ip:127.0.0.1'")[0][0] == 0

    # Uploads are gone everywhere: the store, the servers' upload dirs, workers' caches.
    for w in ("w2", "w3"):
        cluster.stop(w)
    assert cluster.sql("SELECT count(*) FROM blobs WHERE name = 'upload'")[0][0] == 0
    for api in ports:
        assert list((root / api / "uploads").iterdir()) == []
    for data in workers.values():
        assert list((data / "worker-cache").iterdir()) == []
    http.close()
    pool.shutdown()
    w2_log = cluster.log("w2") + cluster.log("w3")
    assert "Traceback" not in w2_log, w2_log[-3000:]
    print(json.dumps({"redone": in_flight, "progress_seen": seen}))


def test_health_is_503_when_the_broker_does_not_answer(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {
        **cluster.env,
        "OCRKIT_DATA_DIR": str(tmp_path),
        "OCRKIT_BROKER_URL": f"redis://127.0.0.1:{port}/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ocrkit", "serve", "--get", "/api/v1/health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    body = json.loads(done.stdout)
    assert body["broker"] == "unavailable" and body["store"] == "ok"
    assert "broker" in body["detail"]


def test_worker_refuses_to_start_without_a_broker(cluster: Cluster, tmp_path: Path) -> None:
    env = {**cluster.env, "OCRKIT_DATA_DIR": str(tmp_path)}
    env.pop("OCRKIT_BROKER_URL")
    done = subprocess.run(
        [sys.executable, "-m", "ocrkit", "worker"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "needs a broker" in done.stderr and "Traceback" not in done.stderr
    env["OCRKIT_BROKER_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [sys.executable, "-m", "ocrkit", "worker"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "the broker does not answer" in done.stderr and "Traceback" not in done.stderr


def test_the_embedded_default_never_imports_celery(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_")}
    env["OCRKIT_DATA_DIR"] = str(tmp_path)
    for args in (["--help"], ["serve", "--get", "/api/v1/health"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "ocrkit", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        imported = {
            line.split("|")[-1].strip().split(".")[0]
            for line in done.stderr.splitlines()
            if line.startswith("import time:")
        }
        assert not imported & {"celery", "kombu", "redis", "billiard"}, args
    assert (
        "worker"
        in subprocess.run(
            [sys.executable, "-m", "ocrkit", "--help"], env=env, capture_output=True, text=True
        ).stdout
    )
