"""The store's scale-out side (migration 0003, ocrkit.store.cluster) on SQLite and
PostgreSQL: old stores upgrade, pages from many tasks are charged once, exactly one
task joins a job."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from test_store import database_url  # noqa: F401  (fixture: sqlite and postgresql)

from ocrkit.models import Block, Job, Page
from ocrkit.settings import load_settings
from ocrkit.store import Caller
from ocrkit.store.cluster import UPLOAD, ClusterStore
from ocrkit.store.engine import alembic_config, current_revision, make_engine, migrate


def page(index: int) -> Page:
    p = Page(index, 100, 100, 300)
    p.blocks = [Block(f"line {index}", [0, 0, 10, 10], 0.9)]
    p.text = f"line {index}"
    return p


def test_a_sqlite_store_from_before_scale_out_opens_and_keeps_its_jobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'ocrkit.db'}")
    migrate(engine, "0001")  # the schema as released before scale-out
    job = Job(status="done", page_count=1, text="old text")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (uuid, status, tier, language, page_count, pages_done, "
                "priority, options, job, created_at) VALUES (:u, 'done', 'cpu', 'auto', 1, 1, "
                "0, '{}', :j, '2026-01-01 00:00:00')"
            ),
            {"u": job.uuid, "j": json.dumps(job.to_dict(pages=False))},
        )
        conn.execute(
            text(
                'INSERT INTO pages (job_uuid, "index", source, page, created_at) '
                "VALUES (:u, 0, 'ocr', :p, '2026-01-01 00:00:00')"
            ),
            {"u": job.uuid, "p": json.dumps(page(0).to_dict())},
        )
    engine.dispose()
    store = ClusterStore.open(load_settings({"OCRKIT_DATA_DIR": str(data)}))
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(store.engine) == head
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.text == "old text"
    assert [p.text for p in stored.job.pages] == ["line 0"]
    assert store.blob_names(job.uuid) == []
    assert store.pages_since(datetime(2025, 12, 31, tzinfo=UTC)) == 1
    assert store.pages_since(datetime(2026, 1, 2, tzinfo=UTC)) == 0
    store.close()


def test_many_tasks_store_pages_once_and_exactly_one_joins(
    tmp_path: Path,
    database_url: str,  # noqa: F811
) -> None:
    settings = load_settings(
        {"OCRKIT_DATA_DIR": str(tmp_path / "data")},
        database_url=database_url,
        free_monthly_pages=100,
    )
    store = ClusterStore.open(settings)
    alice = store.create_account("alice")
    caller = Caller(alice, "10.0.0.1")
    job = Job(page_count=10)
    store.reserve(caller, job.uuid, 10, "cpu")
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    assert store.put_upload(job.uuid, b"%PDF-1.7 ...", {"kind": "pdf"})
    assert store.get_blob(job.uuid, UPLOAD) == b"%PDF-1.7 ..."
    barrier = threading.Barrier(30)
    results: list[tuple[int, str, bool, bool]] = []
    errors: list[BaseException] = []

    def task(i: int) -> None:
        # Page i % 10, delivered three times (three task ids, as after worker deaths).
        claim = f"task-{i % 10}-{i // 10}"
        barrier.wait()
        try:
            saved = store.save_worker_page(
                job.uuid, page(i % 10), tier="cpu", worker=f"w{i % 3}", image=b"png", claim=claim
            )
            results.append((i % 10, claim, saved.charged, saved.claimed))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p for p, _, charged, _ in results if charged) == list(range(10))
    winners = [claim for _, claim, _, claimed in results if claimed]
    assert len(winners) == 1, winners
    claim = winners[0]
    # Only the winner (or a redelivery of its task, same id) may join.
    assert store.claim_finish(job.uuid, claim) is True
    assert store.claim_finish(job.uuid, "someone-else") is False
    stored = store.get_job(job.uuid)
    assert stored is not None and stored.job.pages_done == 10
    assert stored.job.status == "pending"  # nobody has joined yet
    done = stored.job
    done.status = "done"
    done.finish()
    assert store.finish_claimed(done, "someone-else", b"%PDF") is False
    assert store.finish_claimed(done, claim, b"%PDF-result") is True
    assert store.finish_claimed(done, claim, b"%PDF-result") is False  # once
    assert store.fail_job(job.uuid, "late failure", "2026-01-01T00:00:00Z") is False
    assert store.job_status(job.uuid) == "done"
    assert store.get_blob(job.uuid, UPLOAD) is None
    assert store.blob_names(job.uuid) == sorted(
        ["result.pdf", *(f"page-{i}.png" for i in range(10))]
    )
    assert store.usage(caller)["used"] == 10
    assert store.usage(caller)["reserved"] == 0
    # A page task arriving after the join stores and charges nothing.
    late = store.save_worker_page(
        job.uuid, page(3), tier="cpu", worker="w9", image=None, claim="late"
    )
    assert (late.stored, late.charged, late.claimed) == (False, False, False)
    assert store.usage(caller)["used"] == 10
    store.close()


def test_a_failed_page_fails_the_job_once_and_later_pages_cost_nothing(tmp_path: Path) -> None:
    store = ClusterStore.open(load_settings({"OCRKIT_DATA_DIR": str(tmp_path / "data")}))
    caller = Caller(None, "203.0.113.5")
    job = Job(page_count=3)
    store.reserve(caller, job.uuid, 3, "cpu")
    store.create_job(job, caller=caller, priority=0, upload_path=None, options={})
    store.put_upload(job.uuid, b"data", {"kind": "png"})
    assert store.save_worker_page(
        job.uuid, page(0), tier="cpu", worker="w1", image=None, claim="a"
    ).charged
    assert store.fail_job(job.uuid, "page 2 cannot be read", "2026-01-01T00:00:00Z") is True
    assert store.fail_job(job.uuid, "again", "2026-01-01T00:00:00Z") is False
    after = store.save_worker_page(
        job.uuid, page(2), tier="cpu", worker="w2", image=None, claim="c"
    )
    assert not after.stored and not after.charged
    stored = store.get_job(job.uuid)
    assert stored is not None
    assert (stored.job.status, stored.job.error) == ("failed", "page 2 cannot be read")
    assert [p.index for p in stored.job.pages] == [0]
    assert store.get_blob(job.uuid, UPLOAD) is None
    usage = store.usage(caller)
    assert (usage["used"], usage["reserved"]) == (1, 0)  # one page charged, hold released
    store.close()


def test_mark_processing_only_moves_pending_jobs(tmp_path: Path) -> None:
    store = ClusterStore.open(load_settings({"OCRKIT_DATA_DIR": str(tmp_path / "data")}))
    job = Job(page_count=1, status="pending")
    store.create_job(job, caller=Caller(None, "1.2.3.4"), priority=0, upload_path=None)
    store.mark_processing(job.uuid)
    assert store.job_status(job.uuid) == "processing"
    store.set_status(job.uuid, "done")
    store.mark_processing(job.uuid)
    assert store.job_status(job.uuid) == "done"
    store.close()


def test_queued_pages_keep_language_auto(tmp_path: Path) -> None:
    """A page task built from a queued job's plan re-reads with the page's own language
    when the job asked for ``auto`` (as in-process jobs do), and not when it named one."""
    import io

    from PIL import Image

    from ocrkit.jobs.queue.plan import make_plan, page_task
    from ocrkit.plugins import get_registry

    upload = tmp_path / "page.png"
    buf = io.BytesIO()
    Image.new("L", (200, 100), 255).save(buf, "PNG")
    upload.write_bytes(buf.getvalue())
    settings = load_settings(env={}, data_dir=tmp_path / "data")
    for language, auto in (("auto", True), ("deu", False)):
        plan = json.loads(
            json.dumps(make_plan(get_registry(), settings, upload, "png", {"language": language}))
        )
        task = page_task(plan, upload, 0, tmp_path, settings)
        assert task.auto_language is auto
        assert task.languages == (("eng",) if auto else ("deu",))
