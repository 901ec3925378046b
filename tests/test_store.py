"""The store on real SQLite files: migrations, tokens, metering under contention, jobs."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid as uuidlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import leaks
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ocrkit.errors import BadOption
from ocrkit.models import Block, Job, Page
from ocrkit.settings import load_settings
from ocrkit.store import Caller, PaymentRequired, Store
from ocrkit.store import accounts as store_accounts
from ocrkit.store.engine import alembic_config, current_revision
from ocrkit.store.models import metadata

T0 = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
# The contention tests also run on PostgreSQL when psycopg is installed and this answers.
PG_URL = os.environ.get(
    "OCRKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def open_store(tmp_path: Path, **overrides: Any) -> Store:
    settings = load_settings({"OCRKIT_DATA_DIR": str(tmp_path / "data")}, **overrides)
    return Store.open(settings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path, free_monthly_pages=10, anon_daily_pages=3, cost_vlm=5)
    s.clock = lambda: T0
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """ "" (the SQLite file in the data dir) or a fresh PostgreSQL database, dropped after."""
    if request.param == "sqlite":
        yield ""
        return
    pytest.importorskip("psycopg", reason="psycopg is not installed (PostgreSQL backend)")
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = leaks.database_name("store")  # the session guard finds it if it outlives us
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL does not answer at {PG_URL}: {exc.orig}")
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def db_rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Read the SQLite file directly, behind the store's back."""
    return db_rows_at(store.settings.data_dir, sql)


def db_rows_at(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data_dir / "ocrkit.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def page(index: int, text: str = "hello", source: str = "ocr") -> Page:
    block = Block(text=text, bbox=[0, 0, 10, 10], confidence=0.9)
    return Page(
        index=index, width=100, height=100, dpi=300, text=text, blocks=[block], source=source
    )


def run_job(store: Store, caller: Caller, n_pages: int, *, fail_after: int | None = None) -> str:
    """Submit, process and finish a job the way the server does; raises PaymentRequired."""
    job = Job(page_count=n_pages)
    store.reserve(caller, job.uuid, n_pages, "cpu")
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    for i in range(n_pages if fail_after is None else fail_after):
        p = page(i)
        store.save_page(job.uuid, p, tier="cpu")
        job.pages.append(p)
    if fail_after is None:
        job.status = "done"
        job.finish()
    else:
        job.status, job.error = "failed", "engine crashed"
    store.finish_job(job)
    return job.uuid


# migrations


def test_migrations_create_the_schema_and_rerun(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and current_revision(s.engine) == head
    with s.engine.connect() as conn:
        # The migrations build exactly what models.py describes.
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    s.create_account("alice")
    s.close()
    again = open_store(tmp_path)  # re-running the migrations is a no-op and keeps data
    assert again.get_account("alice") is not None
    assert current_revision(again.engine) == head
    assert again.ping()
    again.close()
    tables = {r[0] for r in db_rows(again, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "tokens", "jobs", "pages", "usage", "reservations"} <= tables
    assert db_rows(again, "SELECT version_num FROM alembic_version") == [(head,)]


def test_first_open_from_several_processes_at_once(tmp_path: Path) -> None:
    """A server and CLI commands starting together on a fresh data dir all migrate safely."""
    code = (
        "import sys\n"
        "from ocrkit.settings import load_settings\n"
        "from ocrkit.store import Store\n"
        "s = Store.open(load_settings({'OCRKIT_DATA_DIR': sys.argv[1]}))\n"
        "print(s.ping())\n"
    )
    data = tmp_path / "fresh"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["True"] * 4
    assert all(p.returncode == 0 for p in procs)
    assert len(db_rows_at(data, "SELECT version_num FROM alembic_version")) == 1


# accounts and tokens


def test_tokens_are_stored_hashed_and_revocable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = store.create_account("alice")
    token_id, secret = store.create_token("alice")
    assert secret.startswith("ok_") and len(secret) > 40
    rows = db_rows(store, "SELECT id, prefix, secret_hash FROM tokens")
    assert rows == [(token_id, secret[:10], hashlib.sha256(secret.encode()).hexdigest())]
    raw = b"".join(p.read_bytes() for p in store.settings.data_dir.glob("ocrkit.db*"))
    assert secret.encode() not in raw

    calls: list[tuple[str, str]] = []
    real = store_accounts.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(store_accounts.hmac, "compare_digest", spy)
    assert store.authenticate(secret) == alice
    assert calls, "authenticate must confirm the hash with hmac.compare_digest"
    assert store.authenticate(secret + "x") is None
    assert store.authenticate("") is None

    [info] = store.list_tokens("alice")
    assert (info.id, info.prefix, info.revoked_at) == (token_id, secret[:10], None)
    assert store.revoke_token(token_id) is True
    assert store.revoke_token(token_id) is False
    assert store.authenticate(secret) is None
    assert store.list_tokens("alice")[0].revoked_at is not None


def test_account_errors_are_clear(store: Store) -> None:
    store.create_account("alice")
    with pytest.raises(BadOption, match="already exists"):
        store.create_account("alice", "paid")
    with pytest.raises(BadOption, match="unknown plan"):
        store.create_account("bob", "gold")
    with pytest.raises(BadOption, match="no account named 'nobody'"):
        store.create_token("nobody")
    with pytest.raises(BadOption, match="no account named"):
        store.credit("nobody", 5)
    with pytest.raises(BadOption, match="positive"):
        store.credit("alice", 0)
    assert store.credit("alice", 7).credits == 7
    assert [a.name for a in store.list_accounts()] == ["alice"]


# metering


def test_twenty_threads_against_a_free_cap_of_ten(tmp_path: Path, database_url: str) -> None:
    store = open_store(tmp_path, free_monthly_pages=10, database_url=database_url)
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    barrier = threading.Barrier(20)
    charged: list[str] = []
    refused: list[PaymentRequired] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            charged.append(run_job(store, caller, 1))
        except PaymentRequired as exc:
            refused.append(exc)
        except BaseException as exc:  # "database is locked" would land here
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (len(charged), len(refused)) == (10, 10)
    assert all((e.used, e.cap, e.unit, e.http_status) == (10, 10, "pages", 402) for e in refused)
    assert "Monthly page cap" in refused[0].message
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"], usage["cap"]) == (10, 0, 10)
    assert store.counts()["pages"]["ocr"] == 10
    store.close()


WORKER = r"""
import json, sys, threading, time, uuid
from pathlib import Path
from ocrkit.models import Job, Page
from ocrkit.settings import load_settings
from ocrkit.store import Caller, PaymentRequired, Store

data_dir, go, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
env = {"OCRKIT_DATA_DIR": data_dir, "OCRKIT_DATABASE_URL": url}
store = Store.open(load_settings(env, free_monthly_pages=10))
caller = Caller(store.get_account("alice"), "10.0.0.1")
out = {"charged": 0, "refused": 0, "errors": []}
while not go.exists():
    time.sleep(0.005)

def one():
    job = Job(page_count=1)
    try:
        store.reserve(caller, job.uuid, 1, "cpu")
        store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
        store.save_page(job.uuid, Page(index=0, width=1, height=1, dpi=300), tier="cpu")
        job.status = "done"
        store.finish_job(job)
        out["charged"] += 1
    except PaymentRequired as exc:
        assert (exc.used, exc.cap) == (10, 10), (exc.used, exc.cap)
        out["refused"] += 1
    except Exception as exc:
        out["errors"].append(repr(exc))

threads = [threading.Thread(target=one) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
store.close()
print(json.dumps(out))
"""


def test_several_processes_against_one_database(tmp_path: Path, database_url: str) -> None:
    s = open_store(tmp_path, free_monthly_pages=10, database_url=database_url)
    alice = s.create_account("alice")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(s.settings.data_dir), str(go), database_url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    go.touch()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert [e for r in results for e in r["errors"]] == []
    assert sum(r["charged"] for r in results) == 10
    assert sum(r["refused"] for r in results) == 10
    usage = s.usage(Caller(alice, ""))
    assert (usage["used"], usage["reserved"]) == (10, 0)
    s.close()


def test_pages_saved_concurrently_are_charged_once(tmp_path: Path, database_url: str) -> None:
    """Fan-out: 10 pages saved by 30 threads (each page three times), then finished."""
    store = open_store(tmp_path, free_monthly_pages=100, database_url=database_url)
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    job = Job(page_count=12)
    store.reserve(caller, job.uuid, 12, "cpu")
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    barrier = threading.Barrier(30)
    created: list[bool] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            created.append(store.save_page(job.uuid, page(i % 10), tier="cpu"))
            if i == 29:
                store.finish_job(Job(uuid=job.uuid, status="processing", page_count=12))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert created.count(True) == 10
    assert store.usage(caller)["used"] == 10
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.pages_done == 10
    assert [p.index for p in stored.job.pages] == list(range(10))
    store.close()


def test_paid_accounts_spend_credits_by_tier(store: Store) -> None:
    store.create_account("acme", "paid")
    acme = store.credit("acme", 12)
    caller = Caller(acme, "10.0.0.2")
    vlm_job = Job(tier="vlm", page_count=2)
    store.reserve(caller, vlm_job.uuid, 2, "vlm")  # 2 x 5 credits held
    with pytest.raises(PaymentRequired) as info:
        store.reserve(caller, str(uuidlib.uuid4()), 1, "vlm")
    assert (info.value.used, info.value.cap, info.value.unit) == (10, 12, "credits")
    assert "2 are available" in info.value.message
    usage = store.usage(caller)
    assert (usage["plan"], usage["unit"], usage["credits"], usage["reserved"]) == (
        "paid",
        "credits",
        12,
        10,
    )
    store.create_job(vlm_job, caller=caller, priority=10, upload_path=None, options={})
    store.save_page(vlm_job.uuid, page(0), tier="vlm")
    # The second page fell back to cpu: charged at the cpu rate, the rest released.
    store.save_page(vlm_job.uuid, page(1), tier="cpu")
    vlm_job.status = "done"
    store.finish_job(vlm_job)
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"], usage["credits"]) == (6, 0, 6)
    assert usage["cap"] == 12  # used this month + balance
    assert store.get_account("acme").credits == 6  # type: ignore[union-attr]
    assert store.max_file_pages(caller) == store.settings.paid_max_file_pages


def test_failed_job_is_charged_only_for_saved_pages(store: Store) -> None:
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    uuid = run_job(store, caller, 5, fail_after=2)
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"]) == (2, 0)
    stored = store.get_job(uuid)
    assert stored is not None
    assert (stored.job.status, stored.job.error, stored.job.pages_done) == (
        "failed",
        "engine crashed",
        2,
    )
    assert stored.job.finished_at is not None
    with pytest.raises(PaymentRequired):
        store.reserve(caller, str(uuidlib.uuid4()), 9, "cpu")
    store.reserve(caller, str(uuidlib.uuid4()), 8, "cpu")  # 2 used + 8 = the cap


def test_saving_a_page_twice_charges_once(store: Store) -> None:
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    job = Job(page_count=2)
    store.reserve(caller, job.uuid, 2, "cpu")
    store.reserve(caller, job.uuid, 2, "cpu")  # the same job reserves once
    assert store.usage(caller)["reserved"] == 2
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    assert store.save_page(job.uuid, page(0, "first try"), tier="cpu") is True
    assert store.save_page(job.uuid, page(0, "redone"), tier="cpu") is False
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"]) == (1, 1)
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.pages_done == 1
    assert [p.text for p in stored.job.pages] == ["redone"]
    # finish_job saves (and charges) pages it carries that were never saved, once.
    job.pages = [page(0, "redone"), page(1, "second")]
    job.status = "done"
    job.finish()
    store.finish_job(job)
    store.finish_job(job)
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"]) == (2, 0)
    stored = store.get_job(job.uuid)
    assert stored is not None
    assert stored.job.text == "redone\fsecond" and stored.job.pages_done == 2


def test_anonymous_daily_allowance_per_ip(store: Store) -> None:
    a, b = Caller(None, "198.51.100.1"), Caller(None, "198.51.100.2")
    run_job(store, a, 2)
    run_job(store, a, 1)
    with pytest.raises(PaymentRequired) as info:
        run_job(store, a, 1)
    assert (info.value.used, info.value.cap, info.value.unit) == (3, 3, "pages")
    assert "Daily allowance" in info.value.message and "2026-04-01T00:00:00Z" in info.value.message
    run_job(store, b, 3)  # another IP has its own allowance
    usage = store.usage(a)
    assert usage == {
        "plan": "anonymous",
        "used": 3,
        "reserved": 0,
        "cap": 3,
        "credits": None,
        "unit": "pages",
        "period_end": "2026-04-01T00:00:00Z",
    }
    assert store.max_file_pages(a) == store.settings.anon_max_file_pages
    store.clock = lambda: T0 + timedelta(hours=1)  # the next UTC day
    run_job(store, a, 3)
    assert store.usage(a)["used"] == 3


def test_free_month_resets_and_file_cap(store: Store) -> None:
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    run_job(store, caller, 10)
    with pytest.raises(PaymentRequired):
        store.reserve(caller, str(uuidlib.uuid4()), 1, "cpu")
    assert store.usage(caller)["period_end"] == "2026-04-01T00:00:00Z"
    store.clock = lambda: T0 + timedelta(hours=2)  # April (UTC)
    store.reserve(caller, str(uuidlib.uuid4()), 10, "cpu")
    assert store.max_file_pages(caller) == store.settings.free_max_file_pages


# jobs


def test_job_round_trip_status_and_counts(store: Store) -> None:
    caller = Caller(None, "203.0.113.5")
    job = Job(tier="cpu", language="eng", tool="extract-tables", page_count=3, filename="a.pdf")
    store.create_job(job, caller=caller, priority=3, upload_path="/tmp/u", options={"dpi": 300})
    assert job.created_at == "2026-03-31T23:00:00Z"
    store.set_status(job.uuid, "processing")
    store.save_page(job.uuid, page(1, "two", source="text-layer"), tier="cpu")
    store.save_page(job.uuid, page(0, "one"), tier="cpu")
    stored = store.get_job(job.uuid)
    assert stored is not None
    assert (stored.account_id, stored.client_ip, stored.priority) == (None, "203.0.113.5", 3)
    assert (stored.upload_path, stored.options) == ("/tmp/u", {"dpi": 300})
    assert (stored.job.status, stored.job.pages_done, stored.job.filename) == (
        "processing",
        2,
        "a.pdf",
    )
    assert [p.index for p in stored.job.pages] == [0, 1]
    assert stored.job.pages[1].source == "text-layer"
    assert store.counts() == {
        "jobs": {"pending": 0, "processing": 1, "done": 0, "failed": 0},
        "pages": {"ocr": 1, "text-layer": 1},
    }
    with pytest.raises(ValueError):
        store.set_status(job.uuid, "bogus")
    store.set_status(job.uuid, "failed", error="server restarted")
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.error == "server restarted"
    assert stored.job.finished_at == "2026-03-31T23:00:00Z"
    assert store.get_job("no-such-job") is None


def test_expired_and_unfinished_jobs(tmp_path: Path) -> None:
    s = open_store(tmp_path, retention_seconds=60)
    s.clock = lambda: T0
    caller = Caller(None, "203.0.113.5")
    done, pending, processing = Job(), Job(), Job()
    for j, prio in ((done, 0), (pending, 0), (processing, 5)):
        s.create_job(j, caller=caller, priority=prio, upload_path=None, options={})
    s.set_status(processing.uuid, "processing")
    s.save_page(processing.uuid, page(0), tier="cpu")
    done.status = "done"
    s.finish_job(done)
    assert s.expired_jobs(T0 + timedelta(seconds=30)) == []
    assert s.expired_jobs(T0 + timedelta(seconds=61)) == [done.uuid]
    unfinished = s.unfinished_jobs()
    assert [u.job.uuid for u in unfinished] == [processing.uuid, pending.uuid]
    assert [p.index for p in unfinished[0].job.pages] == [0]
    s.close()


def test_delete_cascades_to_pages_and_releases(store: Store) -> None:
    caller = Caller(None, "203.0.113.7")
    job = Job(page_count=3)
    store.reserve(caller, job.uuid, 3, "cpu")
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    store.save_page(job.uuid, page(0), tier="cpu")
    store.save_page(job.uuid, page(1), tier="cpu")
    assert db_rows(store, "SELECT COUNT(*) FROM pages") == [(2,)]
    assert store.delete_job(job.uuid) is True
    assert db_rows(store, "SELECT COUNT(*) FROM pages") == [(0,)]
    assert store.get_job(job.uuid) is None
    assert store.delete_job(job.uuid) is False
    assert db_rows(store, "SELECT COUNT(*) FROM reservations") == [(0,)]
    # What was charged stays charged; what was held comes back.
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"]) == (2, 0)
    # A worker that finishes after the delete stores nothing and charges nothing.
    assert store.save_page(job.uuid, page(2), tier="cpu") is False
    assert store.usage(caller)["used"] == 2


def test_list_jobs_newest_first_with_before(store: Store) -> None:
    alice = store.create_account("alice")
    bob = store.create_account("bob")
    made = []
    for i in range(7):
        store.clock = lambda i=i: T0 + timedelta(minutes=i)
        job = Job(filename=f"{i}.png")
        store.create_job(
            job, caller=Caller(alice, "1.1.1.1"), priority=0, upload_path=None, options={}
        )
        job.pages = [page(0)]
        store.finish_job(job)
        made.append(job.uuid)
    store.create_job(Job(), caller=Caller(bob, "2.2.2.2"), priority=0, upload_path=None, options={})
    newest = list(reversed(made))
    first = store.list_jobs(alice.id, limit=3)
    assert [j.uuid for j in first] == newest[:3]
    assert all(j.pages == [] for j in first)
    second = store.list_jobs(alice.id, limit=3, before=first[-1].uuid)
    assert [j.uuid for j in second] == newest[3:6]
    third = store.list_jobs(alice.id, limit=3, before=second[-1].uuid)
    assert [j.uuid for j in third] == newest[6:]
    by_time = store.list_jobs(alice.id, before=(T0 + timedelta(minutes=2)).isoformat())
    assert [j.uuid for j in by_time] == [made[1], made[0]]
    assert len(store.list_jobs(bob.id)) == 1
    assert store.list_jobs(None) == []
    with pytest.raises(BadOption, match="before"):
        store.list_jobs(alice.id, before="yesterday-ish")


def test_orphaned_reservations_are_released(store: Store) -> None:
    """A server that died between reserve and create_job must not hold pages forever."""
    caller = Caller(None, "198.51.100.9")
    store.reserve(caller, "never-created", 3, "cpu")
    with pytest.raises(PaymentRequired) as info:
        store.reserve(caller, str(uuidlib.uuid4()), 1, "cpu")
    assert info.value.to_dict() == {
        "detail": info.value.message,
        "used": 3,
        "cap": 3,
        "unit": "pages",
    }
    assert store.release_orphans() == 0  # too recent: its job may still be on its way
    store.clock = lambda: T0 + timedelta(minutes=11)
    assert store.release_orphans() == 1
    assert store.usage(caller)["reserved"] == 0
    store.reserve(caller, str(uuidlib.uuid4()), 3, "cpu")


# the server's fewer commits per job (issue 14, API overhead)


def test_submit_job_reserves_and_stores_in_one_transaction(store: Store) -> None:
    caller = Caller(None, "203.0.113.50")
    job = Job(page_count=2)
    store.submit_job(job, caller=caller, pages=2, tier="cpu", upload_path="/u", options={})
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.upload_path == "/u" and stored.job.page_count == 2
    assert store.usage(caller)["reserved"] == 2
    # Refused (3 a day, 2 held): no reservation and no job row either.
    other = Job(page_count=2)
    with pytest.raises(PaymentRequired):
        store.submit_job(other, caller=caller, pages=2, tier="cpu")
    assert store.get_job(other.uuid) is None
    assert db_rows(store, f"SELECT 1 FROM reservations WHERE job_uuid = '{other.uuid}'") == []
    assert store.usage(caller)["reserved"] == 2


def test_start_job_sets_processing_and_leaves_finished_jobs(store: Store) -> None:
    caller = Caller(None, "203.0.113.51")
    job = Job(page_count=1)
    store.submit_job(job, caller=caller, pages=1, tier="cpu")
    started = store.start_job(job.uuid)
    assert started is not None and started.job.status == "processing"
    assert db_rows(store, f"SELECT status FROM jobs WHERE uuid = '{job.uuid}'") == [("processing",)]
    job.status = "done"
    store.finish_job(job)
    again = store.start_job(job.uuid)
    assert again is not None and again.job.status == "done"
    assert store.start_job(str(uuidlib.uuid4())) is None


def test_finish_job_rewrites_only_pages_changed_since_they_were_saved(store: Store) -> None:
    caller = Caller(None, "203.0.113.52")
    job = Job(page_count=2)
    store.submit_job(job, caller=caller, pages=2, tier="cpu")
    saved = {}
    for i in range(2):
        p = page(i, f"page {i}")
        saved[i] = p.to_dict()
        store.save_page(job.uuid, p, tier="cpu", data=saved[i])
        job.pages.append(p)
    # Behind the store's back: page 0's row says something else now. finish_job leaves
    # the unchanged page 0 alone and rewrites page 1, which a job-level step changed.
    conn = sqlite3.connect(store.settings.data_dir / "ocrkit.db")
    try:
        conn.execute(
            "UPDATE pages SET page = json_set(page, '$.text', 'untouched') WHERE \"index\" = 0"
        )
        conn.commit()
    finally:
        conn.close()
    job.pages[1].text = "page 1, running header removed"
    job.status = "done"
    job.finish()
    store.finish_job(job, saved)
    stored = store.get_job(job.uuid)
    assert stored is not None
    assert [p.text for p in stored.job.pages] == ["untouched", "page 1, running header removed"]
    # Without what was saved, every page is written again (as before).
    store.finish_job(job)
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.pages[0].text == "page 0"
    assert store.usage(caller)["used"] == 2  # charged once per page
