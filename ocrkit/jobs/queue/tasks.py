"""The page task, run by ``ocrkit worker`` processes.

One message per page: ``(job uuid, page index)``. The task is idempotent:

1. A job that is gone or ended, or a page already stored: nothing is redone or charged
   (a stored page of a redelivered task may still have to join the job, see 4).
2. The upload comes from the shared store (cached once per machine under
   ``<data_dir>/worker-cache``, deleted when its job has ended).
3. :func:`ocrkit.pipeline.pages.process_page` runs the page exactly as the in-process path
   does; the page, its image and its charge are stored in one transaction keyed by
   ``(job, index)`` (:meth:`~ocrkit.store.cluster.ClusterStore.save_worker_page`).
4. That transaction also claims the join when it stored the job's last page; the
   claiming task makes the searchable pdf and stores the job as done, and the upload is
   deleted with it. A page that fails fails the job (and costs nothing), as in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocrkit.errors import OcrkitError
from ocrkit.jobs.queue import PAGE_TASK

if TYPE_CHECKING:
    from celery import Celery

    from ocrkit.plugins import Registry
    from ocrkit.settings import Settings
    from ocrkit.store.cluster import ClusterStore

log = logging.getLogger("ocrkit.queue")

FINAL = ("done", "failed")
LOST_UPLOAD = "the upload of this job is no longer in the store"
CACHE_DIR = "worker-cache"
# Deliveries of one page whose process died before it returned, before the job fails.
MAX_DEATHS = 3
RETRY_SECONDS = 5
MAX_RETRIES = 120  # ten minutes of an unreachable store


def _transient() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError, RedisConnectionError, RedisTimeout)


TRANSIENT = _transient()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class UploadCache:
    """Uploads of running jobs on this machine's disk, shared by its worker processes.

    Files are ``<uuid>.upload`` (written to a temporary name, then renamed); task
    scratch dirs are ``<uuid>.p<index>.<pid>``. :meth:`prune` deletes everything that
    belongs to a job that has ended or is gone.
    """

    def __init__(self, root: Path, store: ClusterStore) -> None:
        self.root = root
        self.store = store
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, uuid: str) -> Path:
        return self.root / f"{uuid}.upload"

    def get(self, uuid: str) -> Path | None:
        from ocrkit.store.cluster import UPLOAD

        path = self.path(uuid)
        if path.exists():
            return path
        data = self.store.get_blob(uuid, UPLOAD)
        if data is None:
            return None
        tmp = self.root / f"{uuid}.part.{os.getpid()}"
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)
        return path

    def scratch(self, uuid: str, index: int) -> contextlib.AbstractContextManager[Path]:
        from ocrkit.jobs.queue.plan import scratch_dir

        return scratch_dir(self.root, f"{uuid}.p{index}.{os.getpid()}")

    def drop(self, uuid: str) -> None:
        for path in self.root.glob(f"{uuid}.*"):
            _remove(path)

    def prune(self) -> int:
        """Delete the files of jobs that have ended (or were deleted); returns how many."""
        by_uuid: dict[str, list[Path]] = {}
        for path in self.root.iterdir():
            by_uuid.setdefault(path.name.split(".", 1)[0], []).append(path)
        if not by_uuid:
            return 0
        live = self.store.unfinished(list(by_uuid))
        n = 0
        for uuid, paths in by_uuid.items():
            if uuid not in live:
                for path in paths:
                    _remove(path)
                    n += 1
        return n


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@dataclass
class WorkerContext:
    """What one worker process opens once: settings, store, registry, upload cache."""

    settings: Settings
    store: ClusterStore
    registry: Registry
    cache: UploadCache
    pid: int
    redis: Any = None

    def deliveries(self, uuid: str, index: int, delta: int) -> int:
        """Deliveries of page ``index`` that are running or died (kept a day in the
        broker's Redis): +1 when one starts, -1 when it returns (a dead process never
        does)."""
        if self.redis is None:
            import redis

            self.redis = redis.Redis.from_url(
                self.settings.broker_url, socket_timeout=10, socket_connect_timeout=10
            )
        key = f"{self.settings.queue_name}:deliveries:{uuid}:{index}"
        pipe = self.redis.pipeline()
        pipe.incrby(key, delta)
        pipe.expire(key, 24 * 3600)
        return int(pipe.execute()[0])

    @classmethod
    def open(cls) -> WorkerContext:
        from ocrkit.plugins import get_registry
        from ocrkit.settings import load_settings
        from ocrkit.store.cluster import ClusterStore

        os.environ["OMP_THREAD_LIMIT"] = "1"
        settings = load_settings()
        store = ClusterStore.open(settings)
        cache = UploadCache(settings.data_dir / CACHE_DIR, store)
        return cls(settings, store, get_registry(), cache, os.getpid())


_ctx: WorkerContext | None = None


def context() -> WorkerContext:
    """This process's context (opened after the fork: connections are never shared)."""
    global _ctx
    if _ctx is not None and _ctx.pid != os.getpid():
        # Inherited from the parent through fork: drop its pooled connections without
        # closing them (closing would end the parent's sessions on the shared sockets).
        _ctx.store.engine.dispose(close=False)
        _ctx = None
    if _ctx is None:
        _ctx = WorkerContext.open()
    return _ctx


def billing_tier(registry: Registry, engine_name: str | None) -> str:
    engine = registry.engines.get(engine_name or "")
    return "vlm" if engine is not None and engine.tier == "vlm" else "cpu"


def run_page(uuid: str, index: int, *, claim: str, worker: str) -> str:
    """Process page ``index`` of job ``uuid`` once; returns what happened (for logs)."""
    ctx = context()
    state = ctx.store.page_state(uuid, index)
    if state is None or state.status in FINAL:
        ctx.cache.prune()
        return "skipped: the job has ended or is gone"
    if state.has_page:  # stored by an earlier delivery of this task
        if ctx.store.claim_finish(uuid, claim):
            finish(ctx, uuid, claim)
            return "stored before; joined the job"
        return "stored before"
    plan = state.options.get("plan")
    if not plan:
        fail(ctx, uuid, LOST_UPLOAD)
        return "failed: no plan"
    deaths = ctx.deliveries(uuid, index, +1) - 1
    if deaths >= MAX_DEATHS:
        # Every earlier delivery died with its process (a page that crashes the
        # renderer or the engine): fail the job instead of redelivering it forever.
        fail(ctx, uuid, f"a page worker died on page {index + 1} ({deaths} times); see the log")
        return "failed: a page that kills its worker"
    try:
        return _run_page(ctx, uuid, index, plan, claim=claim, worker=worker)
    finally:  # not reached when the process dies: the count then says so
        ctx.deliveries(uuid, index, -1)


def _run_page(
    ctx: WorkerContext, uuid: str, index: int, plan: dict[str, Any], *, claim: str, worker: str
) -> str:
    from ocrkit.jobs.queue.plan import page_task
    from ocrkit.pipeline.pages import process_page

    ctx.store.mark_processing(uuid)
    t0 = time.perf_counter()
    try:
        upload = ctx.cache.get(uuid)
        if upload is None:
            if ctx.store.job_status(uuid) in (None, *FINAL):
                return "skipped: the job ended meanwhile"
            fail(ctx, uuid, LOST_UPLOAD)
            return "failed: upload gone"
        with ctx.cache.scratch(uuid, index) as images:
            task = page_task(plan, upload, index, images, ctx.settings)
            page = process_page(task, ctx.registry)
            png = images / f"page-{index}.png"
            image = png.read_bytes() if png.exists() else None
        saved = ctx.store.save_worker_page(
            uuid,
            page,
            tier=billing_tier(ctx.registry, page.engine),
            worker=worker,
            image=image,
            claim=claim,
        )
    except OcrkitError as exc:
        fail(ctx, uuid, exc.message)
        return f"failed: {exc.message}"
    except TRANSIENT:
        raise  # the store or broker is away for a moment: the task is retried
    except Exception as exc:
        log.error("job %s page %d failed", uuid, index, exc_info=exc)
        fail(ctx, uuid, f"internal error while processing ({type(exc).__name__})")
        return "failed: internal error"
    log.info(
        "job %s page %d stored=%s charged=%s in %.2fs",
        uuid,
        index,
        saved.stored,
        saved.charged,
        time.perf_counter() - t0,
    )
    if saved.claimed:
        finish(ctx, uuid, claim)
        return "stored; joined the job"
    ctx.cache.prune()
    return "stored" if saved.stored else "not stored: the job has ended or is gone"


def finish(ctx: WorkerContext, uuid: str, claim: str) -> None:
    """Join the job: job-level fields, the searchable pdf, done; the upload goes."""
    from ocrkit import api
    from ocrkit.jobs.queue.plan import finish_job
    from ocrkit.store.cluster import page_image_name

    stored = ctx.store.get_job(uuid)
    if stored is None or stored.job.status in FINAL:
        return
    try:
        plan = stored.options.get("plan") or {}
        job = finish_job(stored.job, plan, ctx.registry, ctx.settings)
        job.uuid, job.status, job.error = uuid, "done", None
        job.finished_at = now_iso()
        job.pages_done = len(job.pages)
        pdf: bytes | None = None
        try:
            upload = ctx.cache.get(uuid)
            with ctx.cache.scratch(uuid, -1) as images:
                for p in job.pages:
                    data = ctx.store.get_blob(uuid, page_image_name(p.index))
                    if data is not None:
                        (images / page_image_name(p.index)).write_bytes(data)
                pdf = api.export(job, "pdf", source=upload, images_dir=images)
        except Exception as exc:  # other formats still work; the pdf route says why
            log.warning("job %s: searchable pdf not made: %s", uuid, exc)
        if ctx.store.finish_claimed(job, claim, pdf):
            log.info("job %s done (%d pages)", uuid, len(job.pages))
    except Exception as exc:
        log.error("job %s: joining failed", uuid, exc_info=exc)
        fail(ctx, uuid, f"internal error while storing the result ({type(exc).__name__})")
    finally:
        ctx.cache.drop(uuid)


def fail(ctx: WorkerContext, uuid: str, reason: str) -> None:
    if ctx.store.fail_job(uuid, reason, now_iso()):
        log.info("job %s failed: %s", uuid, reason)
    ctx.cache.drop(uuid)


PRUNE_EVERY = 30.0


def _prune_loop(stop: threading.Event) -> None:
    """In the worker's main process: delete cached uploads of jobs that have ended
    (the pool processes prune after their own tasks; this catches the last ones)."""
    while not stop.wait(PRUNE_EVERY):
        prune_now()


def prune_now() -> None:
    try:
        context().cache.prune()
    except Exception as exc:  # the store is down for a moment: next time
        log.warning("pruning the upload cache failed: %s", exc)


def register(app: Celery) -> None:
    """Define the tasks on ``app`` (the API server only sends them, by name)."""
    from celery import signals

    stop = threading.Event()

    @signals.worker_ready.connect(weak=False)
    def _ready(**_: Any) -> None:
        threading.Thread(target=_prune_loop, args=(stop,), name="ocrkit-prune", daemon=True).start()

    @signals.worker_shutdown.connect(weak=False)
    def _shutdown(**_: Any) -> None:
        stop.set()
        prune_now()

    @app.task(name=PAGE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
    def page(self: Any, uuid: str, index: int) -> str:
        worker = self.request.hostname or socket.gethostname()
        try:
            return run_page(uuid, int(index), claim=str(self.request.id), worker=worker)
        except TRANSIENT as exc:
            log.warning("job %s page %d: %s; retrying in %ds", uuid, index, exc, RETRY_SECONDS)
            raise self.retry(exc=exc, countdown=RETRY_SECONDS, max_retries=MAX_RETRIES) from None
