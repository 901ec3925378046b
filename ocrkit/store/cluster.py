"""The store's scale-out side: what API servers and queue workers on many machines share.

:class:`ClusterStore` is the :class:`~ocrkit.store.Store` plus the operations a job needs
when its pages run as separate queue tasks on other machines (migration 0003):

* **blobs**: the upload, each page image and the searchable pdf live in the ``blobs``
  table, so every machine reaches them through the database; the upload row is deleted
  when the job ends (done or failed), like the upload file of the embedded default.
* **idempotent pages**: :meth:`ClusterStore.save_worker_page` stores, charges and counts a
  page in one transaction keyed by ``(job, page index)``; a page task delivered twice
  (its worker died before acknowledging) charges nothing the second time.
* **exactly one join**: the transaction that stores a job's last page also claims the
  job for its task (``jobs.finisher``, a conditional UPDATE under the job row lock). Only
  that task, or a redelivery of the same task after its worker died, may finish the job.

Every method is one transaction; lock order is the one of :mod:`ocrkit.store.jobs` (job
row first), so page saves, joins, failures and deletes from many processes never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from ocrkit.models import Job, Page
from ocrkit.settings import Settings
from ocrkit.store import Store
from ocrkit.store import jobs as _jobs
from ocrkit.store.models import blobs, jobs, pages

UPLOAD = "upload"
RESULT_PDF = "result.pdf"


def page_image_name(index: int) -> str:
    return f"page-{index}.png"


@dataclass(frozen=True)
class PageState:
    """What a page task needs to know before it runs."""

    status: str
    page_count: int
    options: dict[str, Any]
    has_page: bool


@dataclass(frozen=True)
class SavedPage:
    stored: bool  # the job still wanted the page (it exists and is not finished)
    charged: bool  # this call created the page row and charged it
    claimed: bool  # this call's task is the job's finisher: it must join the job


class ClusterStore(Store):
    @classmethod
    def open(cls, settings: Settings) -> ClusterStore:
        store = super().open(settings)
        assert isinstance(store, ClusterStore)
        return store

    # -- blobs ---------------------------------------------------------------------------
    def put_upload(self, uuid: str, data: bytes, plan: dict[str, Any]) -> bool:
        """Move a job's upload into the store with its page plan; False if it is gone."""
        with self._write() as c:
            row = c.execute(
                select(jobs.c.options).where(jobs.c.uuid == uuid).with_for_update()
            ).first()
            if row is None:
                return False
            _put_blob(c, uuid, UPLOAD, data, self.clock())
            options = {**dict(row.options or {}), "plan": plan}
            c.execute(
                update(jobs).where(jobs.c.uuid == uuid).values(options=options, upload_path=None)
            )
            return True

    def get_blob(self, uuid: str, name: str) -> bytes | None:
        with self._read() as c:
            q = select(blobs.c.data).where(blobs.c.job_uuid == uuid, blobs.c.name == name)
            data = c.execute(q).scalar()
            return bytes(data) if data is not None else None

    def blob_names(self, uuid: str) -> list[str]:
        with self._read() as c:
            q = select(blobs.c.name).where(blobs.c.job_uuid == uuid).order_by(blobs.c.name)
            return list(c.execute(q).scalars())

    def upload_count(self) -> int:
        """Uploads still held in the store (jobs not finished yet)."""
        with self._read() as c:
            q = select(func.count()).select_from(blobs).where(blobs.c.name == UPLOAD)
            return int(c.execute(q).scalar_one())

    # -- page tasks ----------------------------------------------------------------------
    def page_state(self, uuid: str, index: int) -> PageState | None:
        with self._read() as c:
            row = c.execute(
                select(jobs.c.status, jobs.c.page_count, jobs.c.options).where(jobs.c.uuid == uuid)
            ).first()
            if row is None:
                return None
            has = c.execute(
                select(pages.c.index).where(pages.c.job_uuid == uuid, pages.c.index == index)
            ).first()
            return PageState(row.status, row.page_count, dict(row.options or {}), has is not None)

    def mark_processing(self, uuid: str) -> None:
        with self._write() as c:
            c.execute(
                update(jobs)
                .where(jobs.c.uuid == uuid, jobs.c.status == "pending")
                .values(status="processing")
            )

    def save_worker_page(
        self, uuid: str, page: Page, *, tier: str, worker: str, image: bytes | None, claim: str
    ) -> SavedPage:
        """Store, charge and count ``page`` once; claim the join if it was the last one."""
        now = self.clock()
        with self._write() as c:
            status = _locked_status(c, uuid)
            if status is None or status in _jobs.FINAL:
                return SavedPage(False, False, False)
            charged = _jobs.save_page(c, self.settings, uuid, page, tier, now)
            if charged:
                c.execute(
                    update(pages)
                    .where(pages.c.job_uuid == uuid, pages.c.index == page.index)
                    .values(worker=worker)
                )
            if image is not None:
                _put_blob(c, uuid, page_image_name(page.index), image, now)
            return SavedPage(True, charged, _claim(c, uuid, claim))

    def claim_finish(self, uuid: str, claim: str) -> bool:
        """Claim the join for ``claim`` when every page is stored (a redelivered task
        whose page was stored before its worker died)."""
        with self._write() as c:
            status = _locked_status(c, uuid)
            if status is None or status in _jobs.FINAL:
                return False
            return _claim(c, uuid, claim)

    def finish_claimed(self, job: Job, claim: str, pdf: bytes | None) -> bool:
        """Store the joined job as done (with its pdf) if ``claim`` still owns the join;
        the upload is deleted in the same transaction."""
        now = self.clock()
        with self._write() as c:
            row = c.execute(
                select(jobs.c.status, jobs.c.finisher)
                .where(jobs.c.uuid == job.uuid)
                .with_for_update()
            ).first()
            if row is None or row.status in _jobs.FINAL or row.finisher != claim:
                return False
            if pdf is not None:
                _put_blob(c, job.uuid, RESULT_PDF, pdf, now)
            _delete_blob(c, job.uuid, UPLOAD)
            _jobs.finish_job(c, self.settings, job, now)
            return True

    def fail_job(self, uuid: str, reason: str, finished_at: str) -> bool:
        """Mark the job failed (pages stored so far stay, charged); False if it had
        already ended or is gone. The upload is deleted with it."""
        now = self.clock()
        with self._write() as c:
            status = _locked_status(c, uuid)
            if status is None or status in _jobs.FINAL:
                return False
            stored = _jobs.get_job(c, uuid)
            assert stored is not None
            job = stored.job
            job.status, job.error = "failed", reason
            job.text = job.markdown = ""
            job.finished_at = finished_at
            job.pages_done = len(job.pages)
            _delete_blob(c, uuid, UPLOAD)
            _jobs.finish_job(c, self.settings, job, now)
            return True

    # -- what servers and workers look at ------------------------------------------------
    def job_status(self, uuid: str) -> str | None:
        with self._read() as c:
            return c.execute(select(jobs.c.status).where(jobs.c.uuid == uuid)).scalar()

    def unfinished(self, uuids: list[str]) -> set[str]:
        """Those of ``uuids`` whose job exists and has not ended."""
        if not uuids:
            return set()
        with self._read() as c:
            q = select(jobs.c.uuid).where(jobs.c.uuid.in_(uuids), jobs.c.status.not_in(_jobs.FINAL))
            return set(c.execute(q).scalars())

    def existing(self, uuids: list[str]) -> set[str]:
        """Those of ``uuids`` whose job row exists."""
        if not uuids:
            return set()
        with self._read() as c:
            return set(c.execute(select(jobs.c.uuid).where(jobs.c.uuid.in_(uuids))).scalars())

    def stale_jobs(self, older_than: datetime) -> list[tuple[str, int, dict[str, Any], int]]:
        """Unfinished jobs created before ``older_than`` with no page stored since then:
        ``(uuid, priority, options, page_count)`` (their tasks may have been lost)."""
        recent = (
            select(pages.c.job_uuid)
            .where(pages.c.job_uuid == jobs.c.uuid, pages.c.created_at >= older_than)
            .exists()
        )
        with self._read() as c:
            q = select(jobs.c.uuid, jobs.c.priority, jobs.c.options, jobs.c.page_count).where(
                jobs.c.status.in_(("pending", "processing")),
                jobs.c.created_at < older_than,
                ~recent,
            )
            return [(r.uuid, r.priority, dict(r.options or {}), r.page_count) for r in c.execute(q)]

    def release_finisher(self, uuid: str) -> None:
        """Forget a join claim whose task is lost (nothing is queued or running)."""
        with self._write() as c:
            c.execute(
                update(jobs)
                .where(jobs.c.uuid == uuid, jobs.c.status.not_in(_jobs.FINAL))
                .values(finisher=None)
            )

    def missing_pages(self, uuid: str, page_count: int) -> list[int]:
        with self._read() as c:
            have = set(c.execute(select(pages.c.index).where(pages.c.job_uuid == uuid)).scalars())
        return [i for i in range(page_count) if i not in have]

    def pages_since(self, since: datetime) -> int:
        """Pages stored (by any server or worker) since ``since``."""
        with self._read() as c:
            q = select(func.count()).select_from(pages).where(pages.c.created_at >= since)
            return int(c.execute(q).scalar_one())


def _locked_status(c: Connection, uuid: str) -> str | None:
    q = select(jobs.c.status).where(jobs.c.uuid == uuid).with_for_update()
    return c.execute(q).scalar()


def _claim(c: Connection, uuid: str, claim: str) -> bool:
    """Under the job row lock: every page stored and nobody else finishing -> ours."""
    j = jobs.c
    done = c.execute(
        select(func.count()).select_from(pages).where(pages.c.job_uuid == uuid)
    ).scalar_one()
    won = c.execute(
        update(jobs)
        .where(
            j.uuid == uuid,
            j.status.not_in(_jobs.FINAL),
            j.page_count <= done,
            or_(j.finisher.is_(None), j.finisher == claim),
        )
        .values(finisher=claim)
        .returning(j.uuid)
    ).first()
    return won is not None


def _put_blob(c: Connection, uuid: str, name: str, data: bytes, now: datetime) -> None:
    _delete_blob(c, uuid, name)
    c.execute(insert(blobs).values(job_uuid=uuid, name=name, data=data, created_at=now))


def _delete_blob(c: Connection, uuid: str, name: str) -> None:
    c.execute(delete(blobs).where(and_(blobs.c.job_uuid == uuid, blobs.c.name == name)))
