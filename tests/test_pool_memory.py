"""A one-job pool (the CLI's, ``api.ocr``'s) forks its workers from the calling process
when no other thread runs (no fork server or resource tracker beside them: issue 14's
memory); with a thread running, it keeps the fork server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from ocrkit import api
from ocrkit.pipeline import pages

ROOT = Path(__file__).resolve().parent.parent


def _in_fresh_process(check: str, *args: str) -> None:
    """Run ``check(*args)`` of this module in a new interpreter: a pytest process has
    other threads running (left by earlier tests), where the pool rightly never forks,
    so the forking path can only be seen from a process of its own."""
    code = f"import sys; from tests import test_pool_memory as t; t.{check}(*sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _method(pool: object) -> str:
    return pool._mp_context.get_start_method()  # type: ignore[attr-defined]


def test_one_job_pool_forks_only_when_alone() -> None:
    _in_fresh_process("check_forks_only_when_alone")


def check_forks_only_when_alone() -> None:
    assert threading.active_count() == 1
    pool = pages.make_executor(2, fork_when_alone=True)
    try:
        assert _method(pool) == "fork"
    finally:
        pool.shutdown()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        pool = pages.make_executor(2, fork_when_alone=True)
        assert _method(pool) == "forkserver"
        pool.shutdown()
    finally:
        stop.set()
        other.join()
    server_pool = pages.make_executor(2)  # the server's, the job service's: never forked
    assert _method(server_pool) == "forkserver"
    server_pool.shutdown()


def test_one_job_pool_loads_no_language_model_before_forking() -> None:
    """The CLI's pool forks without fastText's model loaded (~17 ms before the first
    page, for jobs that may never identify a language); the fork server preloads it."""
    _in_fresh_process("check_no_language_model_before_forking")


def check_no_language_model_before_forking() -> None:
    from ocrkit.lang import detect

    assert threading.active_count() == 1
    pool = pages.make_executor(2, fork_when_alone=True)
    try:
        assert _method(pool) == "fork"
        assert detect._detector is None
        if detect.available():  # a worker loads it when a page needs it
            assert pool.submit(_worker_detects).result() is True
    finally:
        pool.shutdown()
    assert detect._detector is None
    from multiprocessing import forkserver

    pages.make_executor(2).shutdown()  # the server's: its fork server loads the model
    assert "ocrkit.pipeline.preload" in forkserver._forkserver._preload_modules  # type: ignore[attr-defined]


def _worker_detects() -> bool:
    from ocrkit.lang import detect

    detect.warm()
    return detect._detector is not None


def test_forked_workers_read_pages(corpus: Path, tmp_path: Path) -> None:
    _in_fresh_process("check_forked_workers_read_pages", str(corpus), str(tmp_path))


def check_forked_workers_read_pages(corpus_dir: str, tmp_dir: str) -> None:
    import pymupdf

    corpus, tmp_path = Path(corpus_dir), Path(tmp_dir)
    assert threading.active_count() == 1

    image = corpus / "printed" / "tess_phototest.tif"
    doc = pymupdf.open()
    for _ in range(2):  # 640x480 px embedded as 300 dpi
        pg = doc.new_page(width=640 * 72 / 300, height=480 * 72 / 300)
        pg.insert_image(pg.rect, filename=str(image))
    pdf = tmp_path / "two.pdf"
    doc.save(pdf)
    made: list[object] = []
    real = pages.make_executor

    def spy(*a: object, **k: object) -> object:
        made.append(real(*a, **k))  # type: ignore[arg-type]
        return made[-1]

    pages.make_executor = spy  # type: ignore[assignment]
    one = api.ocr(pdf, language="eng", jobs=1)
    two = api.ocr(pdf, language="eng", jobs=2)
    assert len(made) == 1 and _method(made[0]) == "fork"
    assert [p.text for p in two.pages] == [p.text for p in one.pages]
    assert "Quick" in two.pages[0].text or "quick" in two.pages[0].text
