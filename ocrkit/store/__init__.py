"""The store: jobs, pages, accounts, tokens and metering behind one facade.

SQLAlchemy 2 Core on SQLite by default (a file in ``OCRKIT_DATA_DIR``) and PostgreSQL
through ``OCRKIT_DATABASE_URL``; Alembic migrations run at :meth:`Store.open`. Every
method is one transaction and is safe to call from many threads (the server calls it
through ``anyio.to_thread``) and from several processes sharing one database.

>>> store = Store.open(load_settings())          # doctest: +SKIP
>>> store.reserve(Caller(None, "203.0.113.9"), job.uuid, 3, "cpu")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from ocrkit.models import Job, Page
from ocrkit.settings import Settings
from ocrkit.store import accounts as _accounts
from ocrkit.store import jobs as _jobs
from ocrkit.store import metering
from ocrkit.store.engine import make_engine, migrate
from ocrkit.store.records import Account, Caller, PaymentRequired, StoredJob, TokenInfo

__all__ = ["Account", "Caller", "PaymentRequired", "Store", "StoredJob", "TokenInfo"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        # Injectable for tests (days and months are UTC).
        self.clock: Callable[[], datetime] = _utcnow

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Create the data dir if needed, connect, and migrate the schema to head."""
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url, int(settings.store_busy_timeout * 1000))
        migrate(engine)
        store = cls(engine, settings)
        store.release_orphans()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(ocrkit_begin="DEFERRED")
            with conn.begin():
                yield conn

    # accounts and tokens
    def create_account(self, name: str, plan: str = "free") -> Account:
        with self._write() as c:
            return _accounts.create_account(c, name, plan, self.clock())

    def get_account(self, name: str) -> Account | None:
        with self._read() as c:
            return _accounts.get_account(c, name)

    def list_accounts(self) -> list[Account]:
        with self._read() as c:
            return _accounts.list_accounts(c)

    def credit(self, name: str, n: int) -> Account:
        with self._write() as c:
            return _accounts.credit(c, name, n)

    def create_token(self, name: str) -> tuple[str, str]:
        with self._write() as c:
            return _accounts.create_token(c, name, self.clock())

    def list_tokens(self, name: str) -> list[TokenInfo]:
        with self._read() as c:
            return _accounts.list_tokens(c, name)

    def revoke_token(self, token_id: str) -> bool:
        with self._write() as c:
            return _accounts.revoke_token(c, token_id, self.clock())

    def authenticate(self, secret: str) -> Account | None:
        with self._read() as c:
            return _accounts.authenticate(c, secret)

    # metering
    def max_file_pages(self, caller: Caller) -> int:
        return metering.max_file_pages(caller, self.settings)

    def reserve(self, caller: Caller, job_uuid: str, pages: int, tier: str) -> None:
        with self._write() as c:
            metering.reserve(c, self.settings, caller, job_uuid, pages, tier, self.clock())

    def release(self, job_uuid: str) -> int:
        """Give back a job's unused reservation (finish_job and delete_job do this too)."""
        with self._write() as c:
            return metering.release(c, job_uuid, self.clock())

    def release_orphans(self, older_than: timedelta = timedelta(minutes=10)) -> int:
        """Release reservations whose job was never created (runs at open; the sweeper
        may call it too). Returns how many were released."""
        now = self.clock()
        with self._write() as c:
            return metering.release_orphans(c, now - older_than, now)

    def usage(self, caller: Caller) -> dict[str, Any]:
        with self._read() as c:
            return metering.usage_of(c, self.settings, caller, self.clock())

    # jobs
    def create_job(
        self,
        job: Job,
        *,
        caller: Caller,
        priority: int = 0,
        upload_path: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        with self._write() as c:
            _jobs.create_job(
                c,
                job,
                caller=caller,
                priority=priority,
                upload_path=upload_path,
                options=options or {},
                now=self.clock(),
            )

    def submit_job(
        self,
        job: Job,
        *,
        caller: Caller,
        pages: int,
        tier: str,
        priority: int = 0,
        upload_path: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """:meth:`reserve` and :meth:`create_job` in one transaction (one commit per
        submitted job, not two; a refused reservation stores no job)."""
        with self._write() as c:
            now = self.clock()
            metering.reserve(c, self.settings, caller, job.uuid, pages, tier, now)
            _jobs.create_job(
                c,
                job,
                caller=caller,
                priority=priority,
                upload_path=upload_path,
                options=options or {},
                now=now,
            )

    def get_job(self, uuid: str) -> StoredJob | None:
        with self._read() as c:
            return _jobs.get_job(c, uuid)

    def start_job(self, uuid: str) -> StoredJob | None:
        """The job, set processing unless it is done or failed (then as it is), in one
        transaction: a runner's start (one commit, not a read and a write)."""
        with self._write() as c:
            stored = _jobs.get_job(c, uuid)
            if stored is not None and stored.job.status not in _jobs.FINAL:
                now = self.clock()
                _jobs.set_status(c, uuid, "processing", error=None, page_count=None, now=now)
                stored.job.status = "processing"
            return stored

    def list_jobs(
        self,
        account_id: int | None,
        *,
        limit: int = 50,
        before: str | None = None,
        client_ip: str | None = None,
    ) -> list[Job]:
        """Newest first, without pages. ``before``: a job uuid (exclusive) or ISO time.

        ``account_id=None`` lists anonymous jobs, only those from ``client_ip`` if given.
        """
        with self._read() as c:
            return _jobs.list_jobs(c, account_id, limit=limit, before=before, client_ip=client_ip)

    def set_status(
        self, uuid: str, status: str, *, error: str | None = None, page_count: int | None = None
    ) -> None:
        """Update status; "done"/"failed" also set finished_at and release the reservation."""
        with self._write() as c:
            _jobs.set_status(c, uuid, status, error=error, page_count=page_count, now=self.clock())

    def save_page(
        self, uuid: str, page: Page, *, tier: str, data: dict[str, Any] | None = None
    ) -> bool:
        """Store the page and charge it in one transaction; True if this call charged it.
        ``data``: ``page.to_dict()`` when the caller has it already."""
        with self._write() as c:
            return _jobs.save_page(c, self.settings, uuid, page, tier, self.clock(), data)

    def finish_job(self, job: Job, stored: dict[int, dict[str, Any]] | None = None) -> None:
        """Store the finished job. ``stored``: page index -> the data :meth:`save_page`
        stored for it in this run; pages still equal to it are not written again."""
        with self._write() as c:
            _jobs.finish_job(c, self.settings, job, self.clock(), stored)

    def delete_job(self, uuid: str) -> bool:
        with self._write() as c:
            return _jobs.delete_job(c, uuid, self.clock())

    def expired_jobs(self, now: datetime) -> list[str]:
        with self._read() as c:
            return _jobs.expired_jobs(c, _jobs.retention_cutoff(now, self.settings))

    def unfinished_jobs(self) -> list[StoredJob]:
        with self._read() as c:
            return _jobs.unfinished_jobs(c)

    def ping(self) -> bool:
        try:
            with self._read() as c:
                return c.execute(text("SELECT 1")).scalar() == 1
        except Exception:
            return False

    def counts(self) -> dict[str, dict[str, int]]:
        with self._read() as c:
            return _jobs.counts(c)

    def pages_since(self, since: datetime) -> int:
        """Pages stored since ``since``, by every server and worker of the store."""
        with self._read() as c:
            return _jobs.pages_since(c, since)
