"""A one-job pool (the CLI's, ``api.ocr``'s) forks its workers from the calling process
when no other thread runs (no fork server or resource tracker beside them: issue 14's
memory); with a thread running, it keeps the fork server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ocrkit import api
from ocrkit.pipeline import pages


def _method(pool: object) -> str:
    return pool._mp_context.get_start_method()  # type: ignore[attr-defined]


def test_one_job_pool_forks_only_when_alone() -> None:
    if threading.active_count() != 1:
        pytest.skip("another thread runs in this test process")
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


def test_forked_workers_read_pages(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if threading.active_count() != 1:
        pytest.skip("another thread runs in this test process")
    import pymupdf

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

    monkeypatch.setattr(pages, "make_executor", spy)
    one = api.ocr(pdf, language="eng", jobs=1)
    two = api.ocr(pdf, language="eng", jobs=2)
    assert len(made) == 1 and _method(made[0]) == "fork"
    assert [p.text for p in two.pages] == [p.text for p in one.pages]
    assert "Quick" in two.pages[0].text or "quick" in two.pages[0].text
