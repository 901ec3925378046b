"""Measuring accuracy: :mod:`~ocrkit.eval.textmetrics` (the one CER/WER of tests, autobench
and ``make bench``) and :mod:`~ocrkit.eval.autobench` (``python -m ocrkit.eval.autobench``:
language=auto and rotation on the corpus)."""
