"""Scale-out: pages of a job as Celery tasks on many machines (Redis broker, shared store).

Imported only when ``OCRKIT_BROKER_URL`` (``ocrkit serve --broker``) is set or by
``ocrkit worker``; the embedded default (SQLite + in-process page workers) never imports
Celery.

    API server (ocrkit serve --broker ... --database ...)
        POST: upload -> store blob + page plan -> one task per page -> Redis queue
    Redis: <queue>.paid (read first) and <queue> (everyone else)
    worker (ocrkit worker): page task -> upload from the store (cached per machine)
        -> pipeline.process_page -> page + image + charge in one transaction
        -> the task that stored the last page joins the job (pdf, done)

:mod:`ocrkit.jobs.queue.celery_app` configures Celery, :mod:`ocrkit.jobs.queue.tasks` runs pages in
workers, :mod:`ocrkit.jobs.queue.service` is the API server's side.
"""

# The name of the page task: the API server sends it, workers define it.
PAGE_TASK = "ocrkit.page"
