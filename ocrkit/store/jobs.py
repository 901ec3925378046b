"""Jobs and pages: a job row (searchable columns + job-level JSON) and one row per page.

Saving a page and charging it happen in one transaction, and the page row's primary key
``(job_uuid, index)`` makes it idempotent: only the insert that creates the row charges.

Lock order (matters on PostgreSQL): every write to a job first locks its job row
(:func:`_lock_job`), then its reservation, then the ledger or account row. One order
for every transaction means concurrent page saves, finish and delete cannot deadlock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from ocrkit.errors import BadOption
from ocrkit.models import STATUSES, Job, Page
from ocrkit.settings import Settings
from ocrkit.store import metering
from ocrkit.store.engine import insert_ignore
from ocrkit.store.models import jobs, pages, reservations
from ocrkit.store.records import Caller, StoredJob

FINAL = ("done", "failed")
MAX_LIST = 500
_INSERT_JOB = insert(jobs)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def create_job(
    conn: Connection,
    job: Job,
    *,
    caller: Caller,
    priority: int,
    upload_path: str | None,
    options: dict[str, Any],
    now: datetime,
) -> None:
    created = parse_time(job.created_at) or now
    if job.created_at is None:
        job.created_at = metering.iso(created)
    # The row as parameters of a plain INSERT: with .values(...) SQLAlchemy made the
    # statement's cache key from every value's type per call (~0.4 ms CPU).
    conn.execute(
        _INSERT_JOB,
        dict(
            uuid=job.uuid,
            account_id=caller.account.id if caller.account else None,
            client_ip=caller.ip,
            status=job.status,
            tier=job.tier,
            language=job.language,
            tool=job.tool,
            page_count=job.page_count,
            pages_done=0,
            error=job.error,
            priority=priority,
            upload_path=upload_path,
            options=dict(options),
            job=job.to_dict(pages=False),
            created_at=created,
        ),
    )


def _job_from_row(row: Any, page_rows: list[Any] | None) -> Job:
    job = Job.from_dict(row.job)
    job.uuid = row.uuid
    job.status = row.status
    job.page_count = row.page_count
    job.pages_done = row.pages_done
    job.error = row.error
    job.created_at = metering.iso(row.created_at)
    job.finished_at = metering.iso(row.finished_at) if row.finished_at else None
    if page_rows is not None:
        job.pages = [Page.from_dict(p.page) for p in page_rows]
    return job


def _stored(row: Any, page_rows: list[Any] | None) -> StoredJob:
    return StoredJob(
        job=_job_from_row(row, page_rows),
        account_id=row.account_id,
        client_ip=row.client_ip,
        priority=row.priority,
        upload_path=row.upload_path,
        options=dict(row.options or {}),
        created_at=row.created_at,
    )


def get_job(conn: Connection, uuid: str) -> StoredJob | None:
    row = conn.execute(select(jobs).where(jobs.c.uuid == uuid)).first()
    if row is None:
        return None
    page_rows = conn.execute(
        select(pages.c.page).where(pages.c.job_uuid == uuid).order_by(pages.c.index)
    ).all()
    return _stored(row, list(page_rows))


def list_jobs(
    conn: Connection,
    account_id: int | None,
    *,
    limit: int,
    before: str | None,
    client_ip: str | None,
) -> list[Job]:
    j = jobs.c
    q = select(jobs)
    if account_id is None:
        q = q.where(j.account_id.is_(None))
        if client_ip is not None:
            q = q.where(j.client_ip == client_ip)
    else:
        q = q.where(j.account_id == account_id)
    if before:
        q = q.where(_before(conn, before, account_id, client_ip))
    q = q.order_by(j.created_at.desc(), j.uuid.desc()).limit(max(1, min(limit, MAX_LIST)))
    return [_job_from_row(r, None) for r in conn.execute(q)]


def _before(conn: Connection, before: str, account_id: int | None, client_ip: str | None) -> Any:
    """``before`` is a job uuid (the last one of the previous page) or an ISO timestamp.

    Only a job of the same list counts as an anchor: another account's job is the same
    400 as an unknown uuid (no oracle for other accounts' jobs or their order)."""
    j = jobs.c
    own = j.account_id.is_(None) if account_id is None else j.account_id == account_id
    if account_id is None and client_ip is not None:
        own = and_(own, j.client_ip == client_ip)
    anchor = conn.execute(select(j.created_at).where(j.uuid == before, own)).scalar()
    if anchor is not None:
        return or_(j.created_at < anchor, and_(j.created_at == anchor, j.uuid < before))
    try:
        when = parse_time(before)
    except ValueError:
        when = None
    if when is None:
        raise BadOption(f"'before' must be a job uuid or an ISO 8601 time, not {before!r}")
    return j.created_at < when


def _lock_job(conn: Connection, uuid: str) -> bool:
    """Lock the job row (SELECT ... FOR UPDATE; SQLite's BEGIN IMMEDIATE already did)."""
    q = select(jobs.c.uuid).where(jobs.c.uuid == uuid).with_for_update()
    return conn.execute(q).first() is not None


def set_status(
    conn: Connection,
    uuid: str,
    status: str,
    *,
    error: str | None,
    page_count: int | None,
    now: datetime,
) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown job status {status!r}")
    values: dict[str, Any] = {"status": status}
    if error is not None:
        values["error"] = error
    if page_count is not None:
        values["page_count"] = page_count
    _lock_job(conn, uuid)
    if status in FINAL:
        values["finished_at"] = func.coalesce(jobs.c.finished_at, now)
        metering.release(conn, uuid, now)
    conn.execute(update(jobs).where(jobs.c.uuid == uuid).values(**values))


def save_page(
    conn: Connection,
    settings: Settings,
    uuid: str,
    page: Page,
    tier: str | None,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> bool:
    """Store the page and charge it, once; True when this call created the page.
    ``data``: ``page.to_dict()`` when the caller has it already."""
    if not _lock_job(conn, uuid):  # deleted while it ran: nothing to store or charge
        return False
    if data is None:
        data = page.to_dict()
    row = {
        "job_uuid": uuid,
        "index": page.index,
        "source": page.source,
        "page": data,
        "created_at": now,
    }
    if not insert_ignore(conn, pages, row, ["job_uuid", "index"]):
        # Redone page (a retried task): keep the newest result, charge nothing.
        conn.execute(
            update(pages)
            .where(pages.c.job_uuid == uuid, pages.c.index == page.index)
            .values(page=data, source=page.source)
        )
        return False
    metering.charge_page(conn, settings, uuid, tier)
    conn.execute(update(jobs).where(jobs.c.uuid == uuid).values(pages_done=jobs.c.pages_done + 1))
    return True


def finish_job(
    conn: Connection,
    settings: Settings,
    job: Job,
    now: datetime,
    stored: dict[int, dict[str, Any]] | None = None,
) -> None:
    """Store job-level fields; pages not saved yet are saved (and charged) now, saved ones
    are stored again (job-level steps such as running headers, ocrkit.layout.finish_job,
    change pages after they were saved; that charges nothing); release. ``stored``: the
    data each page index was saved with in this job's run, when the caller knows it; a
    page whose data is still that is not written again."""
    if _lock_job(conn, job.uuid):
        for page in job.pages:
            known = stored.get(page.index) if stored else None
            data = page.to_dict() if known is not None else None
            if known is not None and data == known:
                continue
            save_page(conn, settings, job.uuid, page, None, now, data)
        finished = parse_time(job.finished_at) or now
        if job.finished_at is None and job.status in FINAL:
            job.finished_at = metering.iso(finished)
        done = conn.execute(
            select(func.count()).select_from(pages).where(pages.c.job_uuid == job.uuid)
        ).scalar_one()
        conn.execute(
            update(jobs)
            .where(jobs.c.uuid == job.uuid)
            .values(
                status=job.status,
                error=job.error,
                page_count=max(job.page_count, done),
                pages_done=done,
                job=job.to_dict(pages=False),
                finished_at=finished if job.status in FINAL else None,
            )
        )
    metering.release(conn, job.uuid, now)


def delete_job(conn: Connection, uuid: str, now: datetime) -> bool:
    """Delete the job and its pages; give back what it holds (charges stay in the ledger)."""
    _lock_job(conn, uuid)
    metering.release(conn, uuid, now)
    conn.execute(delete(reservations).where(reservations.c.job_uuid == uuid))
    from ocrkit.store.chat import delete_for_job

    delete_for_job(conn, uuid)  # its conversations (the foreign keys cascade too)
    return conn.execute(delete(jobs).where(jobs.c.uuid == uuid)).rowcount == 1


def expired_jobs(conn: Connection, cutoff: datetime) -> list[str]:
    q = select(jobs.c.uuid).where(jobs.c.finished_at.is_not(None), jobs.c.finished_at <= cutoff)
    return list(conn.execute(q.order_by(jobs.c.finished_at)).scalars())


def unfinished_jobs(conn: Connection) -> list[StoredJob]:
    q = (
        select(jobs)
        .where(jobs.c.status.in_(("pending", "processing")))
        .order_by(jobs.c.priority.desc(), jobs.c.created_at, jobs.c.uuid)
    )
    out = []
    for row in conn.execute(q).all():
        page_rows = conn.execute(
            select(pages.c.page).where(pages.c.job_uuid == row.uuid).order_by(pages.c.index)
        ).all()
        out.append(_stored(row, list(page_rows)))
    return out


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    by_status = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)):
        by_status[status] = n
    by_source = {"ocr": 0, "text-layer": 0}
    for source, n in conn.execute(select(pages.c.source, func.count()).group_by(pages.c.source)):
        by_source[source] = n
    return {"jobs": by_status, "pages": by_source}


def pages_since(conn: Connection, since: datetime) -> int:
    q = select(func.count()).select_from(pages).where(pages.c.created_at >= since)
    return int(conn.execute(q).scalar_one())


def retention_cutoff(now: datetime, settings: Settings) -> datetime:
    return now - timedelta(seconds=settings.retention_seconds)
