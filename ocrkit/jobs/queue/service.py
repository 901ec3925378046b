"""The API server's side of scale-out: enqueue pages instead of running them.

``ocrkit serve --broker redis://... --database postgresql://...`` builds a
:class:`ClusterJobService` instead of the in-process :class:`~ocrkit.jobs.service.JobService`.
Its scheduler (:class:`QueueScheduler`) has the in-process scheduler's interface, so the
routes are the same: ``submit`` moves the upload and the page plan into the shared
store and publishes one task per page; ``wait`` (inline jobs of <= 5 pages) polls the
store until the job has ended, whichever machine ran it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.errors import OcrkitError
from ocrkit.jobs.queue import PAGE_TASK
from ocrkit.jobs.queue.celery_app import make_celery, queue_names
from ocrkit.jobs.scheduler import PAID_PRIORITY
from ocrkit.jobs.service import JobService, now_iso
from ocrkit.store.cluster import ClusterStore

if TYPE_CHECKING:
    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings

log = logging.getLogger("ocrkit.server")

# An unfinished job is re-published only when nothing is queued or running anywhere and
# it has seen no progress for this long (its messages were lost, e.g. Redis restarted
# without persistence, or the API server died between storing and publishing).
LOST_AFTER = timedelta(seconds=60)
# The longest an inline (<= 5 pages) POST waits for the workers before answering 202.
INLINE_WAIT = 300.0


def open_cluster(settings: Settings, registry: Registry) -> tuple[ClusterStore, ClusterJobService]:
    store = ClusterStore.open(settings)
    if not settings.database_url:
        log.warning(
            "OCRKIT_BROKER_URL is set but OCRKIT_DATABASE_URL is not: workers must share "
            "this machine's SQLite file (%s); use PostgreSQL for several machines",
            settings.sqlalchemy_url,
        )
    return store, ClusterJobService(settings, store, registry)


class QueueScheduler:
    """The :class:`~ocrkit.jobs.scheduler.Scheduler` interface over the broker."""

    def __init__(self, service: ClusterJobService) -> None:
        self._service = service
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def submit(self, uuid: str, priority: int) -> None:
        self._service.enqueue(uuid, priority)

    def cancel(self, uuid: str) -> bool:
        return False  # queued pages of a deleted job find it gone and do nothing

    def is_active(self, uuid: str) -> bool:
        return False

    def depth(self) -> int:
        """Page tasks waiting in the broker (both queues); -1 if it does not answer."""
        try:
            client = self._service.redis()
            return int(sum(client.llen(q) for q in queue_names(self._service.settings)))
        except Exception:
            return -1

    def running(self) -> int:
        """Page tasks delivered and not yet acknowledged (in flight on workers)."""
        try:
            return int(self._service.redis().hlen("unacked"))
        except Exception:
            return -1

    async def wait(self, uuid: str) -> None:
        """Return once the job has ended (or is gone), polling the shared store; after
        :data:`INLINE_WAIT` seconds (no worker running?) the POST answers 202 pending."""
        from anyio.to_thread import run_sync

        delay = 0.05
        deadline = asyncio.get_running_loop().time() + INLINE_WAIT
        while asyncio.get_running_loop().time() < deadline:
            status = await run_sync(self._service.store.job_status, uuid)
            if status is None or status in ("done", "failed"):
                return
            await asyncio.sleep(delay)
            delay = min(0.5, delay * 1.5)

    def request_stop(self) -> None:
        self._stopping = True

    def join(self, timeout: float = 30.0) -> None:
        return None


class ClusterJobService(JobService):
    store: ClusterStore

    def __init__(self, settings: Settings, store: ClusterStore, registry: Registry) -> None:
        self._celery: Any = None
        self._redis: Any = None
        super().__init__(settings, store, registry, pool=None)

    def _make_scheduler(self, runners: int) -> Any:
        return QueueScheduler(self)

    # -- broker ---------------------------------------------------------------------------
    def celery(self) -> Any:
        if self._celery is None:
            self._celery = make_celery(self.settings)
        return self._celery

    def redis(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(
                self.settings.broker_url, socket_timeout=3, socket_connect_timeout=3
            )
        return self._redis

    def broker_ok(self) -> bool | None:
        try:
            return bool(self.redis().ping())
        except Exception:
            return False

    def extra_metrics(self) -> dict[str, int | float]:
        out = super().extra_metrics()
        out["broker_up"] = 1 if self.broker_ok() else 0
        out["pages_in_flight"] = self.scheduler.running()
        return out

    # -- submit -----------------------------------------------------------------------------
    def enqueue(self, uuid: str, priority: int) -> None:
        """Upload and plan into the store, then one task per page (paid queue first)."""
        from ocrkit.jobs.queue.plan import make_plan

        stored = self.store.get_job(uuid)
        if stored is None:
            return
        upload = Path(stored.upload_path) if stored.upload_path else None
        try:
            if upload is None or not upload.exists():
                self.fail(uuid, "the upload was gone before it reached the store")
                return
            plan = make_plan(
                self.registry, self.settings, upload, stored.job.input_type or "", stored.options
            )
            if not self.store.put_upload(uuid, upload.read_bytes(), plan):
                return  # deleted meanwhile
        except OcrkitError as exc:
            self.fail(uuid, exc.message)
            return
        except Exception as exc:
            log.error("job %s: storing the upload failed", uuid, exc_info=exc)
            self.fail(uuid, f"internal error while queueing ({type(exc).__name__})")
            return
        finally:
            if upload is not None:
                with contextlib.suppress(FileNotFoundError):
                    upload.unlink()
        self.publish(uuid, priority, range(stored.job.page_count))

    def publish(self, uuid: str, priority: int, indices: Any) -> None:
        paid, free = queue_names(self.settings)
        queue = paid if priority >= PAID_PRIORITY else free
        app = self.celery()
        try:
            with app.producer_or_acquire() as producer:
                for i in indices:
                    app.send_task(PAGE_TASK, args=[uuid, int(i)], queue=queue, producer=producer)
        except Exception as exc:
            log.error("job %s: the broker refused its pages", uuid, exc_info=exc)
            self.fail(uuid, f"the queue broker does not answer ({type(exc).__name__})")

    # -- results live in the shared store -----------------------------------------------------
    def fetch_results(self, uuid: str, names: list[str] | None = None) -> None:
        """Copy the job's pdf / page images from the store into this server's results
        dir (a cache, removed with the job or by the sweeper once the job is gone)."""
        from ocrkit.store.cluster import RESULT_PDF, UPLOAD

        wanted = names if names is not None else self.store.blob_names(uuid)
        for name in wanted:
            if name == UPLOAD or "/" in name or name.startswith("."):
                continue
            dest = self.pdf_path(uuid) if name == RESULT_PDF else self.images_dir(uuid) / name
            if dest.exists():
                continue
            data = self.store.get_blob(uuid, name)
            if data is None:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = dest.with_name(dest.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dest)

    def fail(self, uuid: str, reason: str) -> None:
        self.store.fail_job(uuid, reason, now_iso())

    # -- start-up and sweeping -------------------------------------------------------------------
    def recover(self) -> tuple[int, int]:
        """Re-publish jobs whose messages were lost (never fails them: their uploads are
        in the store, not on this machine)."""
        return self.republish_lost(), 0

    def republish_lost(self) -> int:
        sched = self.scheduler
        if sched.depth() != 0 or sched.running() != 0:
            return 0  # work is queued or running: lost messages cannot be told apart
        n = 0
        cutoff = datetime.now(UTC) - LOST_AFTER
        for uuid, priority, options, page_count in self.store.stale_jobs(cutoff):
            if not options.get("plan"):
                continue  # never stored its upload: enqueue() failed it or still runs
            missing = self.store.missing_pages(uuid, page_count) or [0]
            log.info("job %s: re-publishing %d lost page task(s)", uuid, len(missing))
            self.store.release_finisher(uuid)
            self.publish(uuid, priority, missing)
            n += 1
        return n

    def clean_results(self) -> int:
        """Remove cached results whose job is gone (deleted or expired on any server)."""
        import shutil

        dirs = [p for p in self.settings.results_dir.iterdir() if p.is_dir()]
        keep = self.store.existing([p.name for p in dirs])
        gone = [p for p in dirs if p.name not in keep]
        for path in gone:
            shutil.rmtree(path, ignore_errors=True)
        return len(gone)

    def sweep(self) -> int:
        n = super().sweep()
        self.clean_results()  # cached results of jobs another server deleted
        try:
            self.republish_lost()
        except Exception:
            log.exception("re-publishing lost jobs failed")
        return n

    def shutdown(self) -> None:
        super().shutdown()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()
        if self._celery is not None:
            with contextlib.suppress(Exception):
                self._celery.close()
