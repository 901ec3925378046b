"""Running, recovering and removing jobs: everything the server does outside a request.

:class:`JobService` is created by the lifespan. Its :meth:`run` executes one job in a
runner thread (see :mod:`ocrkit.jobs.scheduler`): the pipeline reads the upload with the
shared page-worker pool, each finished page is stored and charged at once, the searchable
pdf is made while the original still exists, then the upload is deleted and the job is
stored as done (or failed, with a reason).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.errors import OcrkitError, storage_error
from ocrkit.jobs import metrics
from ocrkit.jobs.scheduler import Scheduler
from ocrkit.redact import redact
from ocrkit.store.metering import iso

if TYPE_CHECKING:
    from ocrkit.models import Job, Page
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings
    from ocrkit.store import Store

log = logging.getLogger("ocrkit.server")

PDF_RESULT = "result.pdf"
LOST_UPLOAD = "the server restarted while this job was queued or running and its upload was gone"
# How long DELETE waits for a done job's searchable pdf being written before it removes
# it with the rest: a 1-page pdf takes tens of ms, so the answer's promise ("gone at
# once") holds; a larger one may take longer: DELETE answers after this wait anyway,
# and the runner removes the pdf the moment it is written (the job is marked).
DELETE_PDF_WAIT = 2.0


class JobCancelled(Exception):
    """Raised inside a running job that was deleted."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        pool: Executor | None,
        runners: int = 1,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.pool = pool
        self.progress: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._pdf_pending: dict[str, threading.Event] = {}
        self._answers: dict[str, Job] = {}
        self.scheduler = self._make_scheduler(runners)

    def _make_scheduler(self, runners: int) -> Any:
        """The in-process scheduler (the scale-out service returns its queue instead)."""
        return Scheduler(self.run, runners)

    # -- paths --------------------------------------------------------------------------
    def result_dir(self, uuid: str) -> Path:
        return self.settings.results_dir / uuid

    def images_dir(self, uuid: str) -> Path:
        return self.result_dir(uuid) / "images"

    def pdf_path(self, uuid: str) -> Path:
        return self.result_dir(uuid) / PDF_RESULT

    def upload_path(self, uuid: str) -> Path:
        return self.settings.uploads_dir / f"{uuid}.upload"

    def fetch_results(self, uuid: str, names: list[str] | None = None) -> None:
        """Make the job's result files local (scale-out keeps them in the shared store;
        here they already are)."""

    def broker_ok(self) -> bool | None:
        """Whether the queue broker answers; None: there is none (in-process)."""
        return None

    def extra_metrics(self) -> dict[str, int | float]:
        """Gauges for /metrics beyond the store's counts (scale-out adds queue ones)."""
        return {"pages_per_minute": self.pages_per_minute()}

    def pages_per_minute(self) -> int:
        """Pages stored in the last 60 s, by every server and worker of the store."""
        from datetime import timedelta

        return self.store.pages_since(datetime.now(UTC) - timedelta(seconds=60))

    # -- running ------------------------------------------------------------------------
    def billing_tier(self, page: Page) -> str:
        """What a page is charged as: vlm only when a vlm engine really read it."""
        engine = self.registry.engines.get(page.engine or "")
        return "vlm" if engine is not None and engine.tier == "vlm" else "cpu"

    def run(self, uuid: str) -> None:
        from ocrkit import api

        # The job read and set processing in one transaction (a commit per job less).
        stored = self.store.start_job(uuid)
        if stored is None or stored.job.status in ("done", "failed"):
            return
        opts: dict[str, Any] = dict(stored.options or {})
        upload = Path(stored.upload_path) if stored.upload_path else None
        if upload is None or not upload.exists():
            self.fail(uuid, LOST_UPLOAD)
            return
        tier = opts.get("tier", "cpu")
        self.progress[uuid] = 0
        images = self.images_dir(uuid)
        images.mkdir(parents=True, exist_ok=True, mode=0o700)
        # What each page was stored with: the finished job writes only the pages that
        # job-level steps changed since (a 1-page job's page was written twice).
        saved: dict[int, dict[str, Any]] = {}

        def on_page(page: Page) -> None:
            if uuid in self._cancelled:
                raise JobCancelled(uuid)
            billed = self.billing_tier(page)
            data = page.to_dict()
            self.store.save_page(uuid, page, tier=billed, data=data)
            saved[page.index] = data
            seconds = getattr(page, "wall_seconds", None)
            metrics.count_page(billed, page.engine, "done", seconds)
            with self._lock:
                self.progress[uuid] = self.progress.get(uuid, 0) + 1

        try:
            job = api.ocr(
                upload,
                engine=opts.get("engine"),
                tier=tier,
                language=opts.get("language", "auto"),
                tool=opts.get("tool"),
                translate_to=opts.get("translate_to"),
                dpi=self.settings.dpi,
                images_dir=images,
                on_page=on_page,
                executor=self.pool,
                registry=self.registry,
                filename=stored.job.filename,
                settings=self.settings,
                engine_options=opts.get("engine_options"),
            )
        except BaseException as exc:
            self._after_error(uuid, upload, exc)
            return
        try:
            self._finish(uuid, stored.job, job, upload, saved)
        except Exception as exc:
            log.error("job %s: storing the result failed", uuid, exc_info=exc)
            self.fail(uuid, f"internal error while storing the result ({type(exc).__name__})")

    def _after_error(self, uuid: str, upload: Path, exc: BaseException) -> None:
        if self.scheduler.stopping:
            # Shutting down: leave the job pending for recovery at the next start.
            log.info("job %s interrupted by shutdown; it will be recovered", uuid)
            return
        if isinstance(exc, JobCancelled) or uuid in self._cancelled:
            self._discard(uuid)
            return
        clear = storage_error(exc) if not isinstance(exc, OcrkitError) else None
        if isinstance(exc, OcrkitError):
            reason = exc.message
        elif clear is not None:  # a full disk or a locked store
            log.warning("job %s: %s (%s)", uuid, clear.message, exc)
            reason = clear.message
        else:
            log.error("job %s failed", uuid, exc_info=exc)
            reason = f"internal error while processing ({type(exc).__name__})"
        with contextlib.suppress(FileNotFoundError):
            upload.unlink()
        self.fail(uuid, reason)
        self._heal_pool()
        if not isinstance(exc, Exception):
            raise exc

    def _finish(
        self,
        uuid: str,
        submitted: Job,
        job: Job,
        upload: Path,
        saved: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        job.uuid = uuid
        job.status = "done"
        job.error = None
        job.tier = submitted.tier
        job.language = submitted.language
        job.tool = submitted.tool
        job.translate_to = submitted.translate_to
        job.filename = submitted.filename
        job.created_at = submitted.created_at
        # as the store gives it back: the inline answer hands this very job over
        now = datetime.now(UTC)
        job.finished_at = iso(now.replace(microsecond=now.microsecond // 1000 * 1000))
        job.pages_done = len(job.pages)
        if uuid in self._cancelled:
            with contextlib.suppress(FileNotFoundError):
                upload.unlink()
            self._discard(uuid)
            return
        # The job is stored done and its inline waiter answered first; the searchable
        # pdf is made after that, from the upload, which is deleted only then. A pdf
        # download asked meanwhile waits for it (wait_pdf). The pdf was ~40% of the
        # server's time per 1-page job between the page and the answer (13-20 ms CPU,
        # 55-90 ms wall at load 5-7 here). A server killed before the pdf is made finds
        # the job done and its upload still there at its restart, and makes it then
        # (clean_uploads).
        pending = threading.Event()
        with self._lock:
            self._pdf_pending[uuid] = pending
        try:
            self.store.finish_job(job, saved)
            # Counted when stored done, before the answer: /metrics read just after the
            # answer counts it (it was counted after the pdf, so a client reading
            # /metrics at once missed it: test_ops_server failed on a quiet machine).
            metrics.count_job(job.tier or "cpu", "done")
            answer = getattr(self.scheduler, "answer", None)
            if answer is not None:
                with self._lock:
                    self._answers[uuid] = job
                if not answer(uuid):  # nobody waits inline (polled, or a 202)
                    with self._lock:
                        self._answers.pop(uuid, None)
            self._make_pdf(uuid, job, upload)
            with contextlib.suppress(FileNotFoundError):
                upload.unlink()
        finally:
            with self._lock:
                self._pdf_pending.pop(uuid, None)
                self._answers.pop(uuid, None)  # not taken: its request went away
            pending.set()
        if uuid in self._cancelled:  # deleted while its pdf was made
            self._discard(uuid)
            return
        self.progress.pop(uuid, None)

    def _make_pdf(self, uuid: str, job: Job, upload: Path) -> None:
        """The job's searchable pdf from its upload (other formats still work without
        it; the pdf route says why it is missing). Made by a page worker when this is
        the server's only job (a worker is free): in this process it held the GIL for
        11-25 ms per 1-page job, just as the event loop sent the job's answer and took
        the next request. With other jobs running or queued the workers are busy with
        their pages: here, as before (8 clients: 1.43-1.59 jobs/s with the pdfs in the
        pool against 1.42-1.75 in this process, load 10-13); here too if the pool
        cannot take it (broken, shutting down)."""
        from concurrent.futures import CancelledError
        from concurrent.futures.process import BrokenProcessPool

        from ocrkit.jobs.pool import write_pdf

        args = (job, str(upload), str(self.images_dir(uuid)), str(self.pdf_path(uuid)))
        try:
            scheduler = self.scheduler
            alone = scheduler.running() <= 1 and scheduler.depth() == 0
            if self.pool is not None and alone:
                try:
                    self.pool.submit(write_pdf, *args).result()
                    return
                except (BrokenProcessPool, CancelledError, RuntimeError):
                    pass
            write_pdf(*args)
        except Exception as exc:
            if uuid not in self._cancelled:  # a deleted job's files went meanwhile
                log.warning("job %s: searchable pdf not made: %s", uuid, exc)

    def take_answer(self, uuid: str) -> Job | None:
        """The done job the runner just stored, for the request that waited for it
        inline (once; None when there is none: the store has the job)."""
        with self._lock:
            return self._answers.pop(uuid, None)

    def wait_pdf(self, uuid: str, timeout: float = 600.0) -> None:
        """Return once the job's searchable pdf is no longer being made (it is made just
        after the job is stored done; its upload is deleted then)."""
        with self._lock:
            pending = self._pdf_pending.get(uuid)
        if pending is not None:
            pending.wait(timeout)

    def _heal_pool(self) -> None:
        """A page worker that died (a crashing engine plugin, the OOM killer) breaks a
        ProcessPoolExecutor for good: replace it so later jobs run again."""
        from concurrent.futures import ProcessPoolExecutor

        pool = self.pool
        if not isinstance(pool, ProcessPoolExecutor) or not getattr(pool, "_broken", False):
            return
        from ocrkit.jobs.pool import init_warm
        from ocrkit.pipeline.pages import make_executor

        with self._lock:
            if self.pool is not pool:
                return  # another runner healed it already
            self.pool = make_executor(getattr(pool, "_max_workers", None), initializer=init_warm)
        log.warning("a page worker died; the worker pool was restarted")
        pool.shutdown(wait=False, cancel_futures=True)

    def fail(self, uuid: str, reason: str) -> None:
        stored = self.store.get_job(uuid)
        if stored is None:
            return
        job = stored.job
        job.status = "failed"
        job.error = redact(reason, self.settings.data_dir)  # no server paths in answers
        job.text = ""
        job.markdown = ""
        job.finished_at = now_iso()
        job.pages_done = len(job.pages)
        if stored.upload_path:
            with contextlib.suppress(FileNotFoundError):
                Path(stored.upload_path).unlink()
        self.store.finish_job(job)
        metrics.count_job(job.tier or "cpu", "failed")
        self.progress.pop(uuid, None)

    # -- deleting -----------------------------------------------------------------------
    def delete(self, uuid: str) -> None:
        """Delete a job now: queued or running work stops, files and rows go."""
        if self.scheduler.cancel(uuid) or not self.scheduler.is_active(uuid):
            self._discard(uuid)
            return
        # Running. Marked first: the runner stops at its next page, and whatever it
        # writes from now on (a page, the stored job) it discards again when it returns.
        self._cancelled.add(uuid)
        # A done job whose searchable pdf is being written (tens of ms): let it land and
        # remove it with the rest. Removed while it was written, the pdf's file could
        # outlive the directory's removal, and the runner, past its last look at the
        # mark, left it on disk for good (a deleted job's pdf; seen as a flaky
        # test_delete_removes_job_and_files).
        self.wait_pdf(uuid, DELETE_PDF_WAIT)
        self._remove(uuid)  # the files and rows go now, as DELETE promises
        if not self.scheduler.is_active(uuid):
            self._cancelled.discard(uuid)  # the runner is gone: nobody reads the mark

    def _discard(self, uuid: str) -> None:
        self._remove(uuid)
        self._cancelled.discard(uuid)

    def _remove(self, uuid: str) -> None:
        stored = self.store.get_job(uuid)
        if stored is not None and stored.upload_path:
            with contextlib.suppress(FileNotFoundError):
                Path(stored.upload_path).unlink()
        shutil.rmtree(self.result_dir(uuid), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.upload_path(uuid).unlink()
        self.store.delete_job(uuid)
        self.progress.pop(uuid, None)

    def sweep(self) -> int:
        """Delete jobs past retention with their page images and files."""
        n = 0
        for uuid in self.store.expired_jobs(datetime.now(UTC)):
            if self.scheduler.is_active(uuid):
                continue
            self._discard(uuid)
            n += 1
        return n

    # -- start-up -----------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Re-queue unfinished jobs whose upload still exists; fail the others."""
        requeued = failed = 0
        for stored in self.store.unfinished_jobs():
            uuid = stored.job.uuid
            if stored.upload_path and Path(stored.upload_path).exists():
                self.store.set_status(uuid, "pending")
                self.scheduler.submit(uuid, stored.priority)
                requeued += 1
            else:
                self.fail(uuid, LOST_UPLOAD)
                failed += 1
        return requeued, failed

    def clean_uploads(self) -> None:
        """Remove files in the upload area that no queued job needs (crash leftovers)."""
        keep = {f"{u}.upload" for u in self._queued_uuids()}
        for path in self.settings.uploads_dir.iterdir():
            if path.name not in keep:
                if path.name.endswith(".upload") and path.is_file():
                    self._late_pdf(path.name.removesuffix(".upload"), path)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    def clean_results(self) -> int:
        """Remove result dirs whose job row is gone (a crash between the two deletes)."""
        n = 0
        for path in self.settings.results_dir.iterdir():
            if path.is_dir() and self.store.get_job(path.name) is None:
                shutil.rmtree(path, ignore_errors=True)
                n += 1
        return n

    def _late_pdf(self, uuid: str, upload: Path) -> None:
        """A job stored done whose server stopped before its pdf was made (the pdf comes
        just after the answer): make it now, from the upload still there."""
        if self.pdf_path(uuid).exists() or not self.result_dir(uuid).is_dir():
            return
        stored = self.store.get_job(uuid)
        if stored is not None and stored.job.status == "done":
            self._make_pdf(uuid, stored.job, upload)

    def pdf_pending(self, uuid: str) -> bool:
        """Whether the job's searchable pdf is being made now (see :meth:`wait_pdf`)."""
        with self._lock:
            return uuid in self._pdf_pending

    def _queued_uuids(self) -> list[str]:
        return [s.job.uuid for s in self.store.unfinished_jobs()]

    def shutdown(self) -> None:
        """Stop taking jobs, cancel queued pages, wait for the runners to return."""
        self.scheduler.request_stop()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.scheduler.join()
