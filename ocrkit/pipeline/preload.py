"""What a long-lived pool's workers fork ready with: the page worker's start-up
(:mod:`ocrkit.pipeline.worker`) and fastText's language model, loaded once here and
shared by every worker (the server's fork server and the queue worker import this).

A one-job pool forked from the CLI (:func:`ocrkit.pipeline.pages.make_executor` with
``fork_when_alone``) does not: the model would be loaded on the job's critical path,
before the first page, for jobs that may never use it (born-digital pages written as
txt identify no language; a worker loads it on first use, ~17 ms).
"""

from ocrkit.lang import detect as langdetect
from ocrkit.pipeline import worker  # noqa: F401  (PyMuPDF, Pillow)

langdetect.warm()
