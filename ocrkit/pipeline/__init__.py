"""From a request to a done job: :mod:`~ocrkit.pipeline.plan` (options checked and
turned into an engine, languages and page tasks, one path for every caller),
:mod:`~ocrkit.pipeline.pages` (one page task through page reading, layout and the tool;
streaming over a pool) and :mod:`~ocrkit.pipeline.worker` (the pool's process start-up)."""
