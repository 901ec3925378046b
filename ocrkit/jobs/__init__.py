"""Jobs the server owns: :mod:`~ocrkit.jobs.service` (submit, run, recover, sweep),
:mod:`~ocrkit.jobs.scheduler` (fair order of pages across callers) and
:mod:`~ocrkit.jobs.queue` (the same jobs as Celery tasks on many machines)."""
