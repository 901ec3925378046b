"""The Celery app, configured from :class:`~ocrkit.settings.Settings`.

Delivery guarantees come from the configuration, not from code in the tasks:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a page task is acknowledged only
  after it returns. A worker killed mid-page (its process, or the whole machine) never
  acknowledges: a lost pool process is requeued at once, a lost worker's message comes
  back from Redis after ``queue_visibility_timeout`` seconds (kombu's unacked restore,
  swept every few seconds by the surviving workers). The task is idempotent, so a
  second delivery costs nothing (:mod:`ocrkit.jobs.queue.tasks`).
* ``worker_prefetch_multiplier=1``: a worker holds only the pages it is running, so the
  others stay in Redis for idle workers and a dead worker holds at most its concurrency.
* Priority: paid accounts' pages go to ``<queue_name>.paid``; workers consume both
  queues and ``queue_order_strategy="priority"`` makes every BRPOP read the paid queue
  first (strict priority, not round robin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery

    from ocrkit.settings import Settings


def queue_names(settings: Settings) -> tuple[str, str]:
    """``(paid, everyone else)``; workers read them in this order."""
    return f"{settings.queue_name}.paid", settings.queue_name


def make_celery(settings: Settings) -> Celery:
    from celery import Celery
    from kombu import Queue

    from ocrkit.jobs.queue import tasks

    if not settings.broker_url:
        from ocrkit.errors import BadOption

        raise BadOption("no broker: set OCRKIT_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    app = Celery("ocrkit", set_as_current=False)
    vt = max(1, int(settings.queue_visibility_timeout))
    paid, free = queue_names(settings)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": vt,
            "queue_order_strategy": "priority",
            # One Redis list per queue (no per-message priority steps): the queue's
            # length is its depth.
            "priority_steps": [0],
            # Sweep for messages of dead workers often enough for the timeout.
            "unacked_restore_interval": max(1, min(10, vt // 4)),
            "unacked_restore_throttle": 1,
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=free,
        task_queues=[Queue(paid, routing_key=paid), Queue(free, routing_key=free)],
        worker_redirect_stdouts=False,
    )
    tasks.register(app)
    return app
