"""Issue 14, two workers' idle time: the page workers get the costliest pages of a short
look-ahead first (so the last pages of a job are cheap and the workers finish
together), and the job still comes back, and is written, in page order."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest
from PIL import Image

from ocrkit.models import Page
from ocrkit.pipeline import pages as pipeline

# (image side in px, bits per pixel) per page; None: a page with no image (text only)
LAYOUT: list[tuple[int, int] | None] = [(40, 8), (300, 8), None, (120, 8), (400, 1), (200, 8)]


def _noise_png(side: int, bits: int, seed: int) -> bytes:
    """Random pixels: they compress to about their size, so bytes grow with ``side``."""
    rng = np.random.default_rng(seed)
    if bits == 1:
        im = Image.fromarray(rng.integers(0, 2, (side, side), dtype=np.uint8) * 255).convert("1")
    else:
        im = Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8), "L")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    doc = pymupdf.open()
    for i, spec in enumerate(LAYOUT):
        page = doc.new_page(width=200, height=200)
        if spec is None:
            page.insert_text((20, 50), "a page of text, no image")
        else:
            page.insert_image(page.rect, stream=_noise_png(*spec, seed=i))
    path = tmp_path / "scans.pdf"
    doc.save(path)
    return path


def _tasks(path: Path, n: int, kind: str = "pdf") -> list[pipeline.PageTask]:
    return [pipeline.PageTask(str(path), kind, i, 300, "tesseract", ("eng",)) for i in range(n)]


def _stored_bytes(path: Path) -> list[int]:
    with pymupdf.open(path) as doc:
        return [
            sum(
                len(doc.xref_stream_raw(img[0])) * (8 if img[4] == 1 else 1)
                for img in pp.get_images()
            )
            for pp in doc
        ]


def test_page_cost_is_the_stored_image_bytes(scans: Path) -> None:
    cost = pipeline.PageCost()
    try:
        got = [cost(t) for t in _tasks(scans, len(LAYOUT))]
    finally:
        cost.close()
    assert got == _stored_bytes(scans)
    assert got[2] == 0  # no image: a text page, cheap
    # the 1-bit page counts its bytes 8 times: it outranks the larger grey one
    assert got[4] > got[1]
    # an image input (no estimate), a missing file: no cost, nothing raised
    assert pipeline.PageCost()(_tasks(scans, 1, kind="image")[0]) == 0
    assert pipeline.PageCost()(_tasks(scans.with_name("gone.pdf"), 1)[0]) == 0


def test_costliest_first_within_the_look_ahead(scans: Path) -> None:
    tasks = _tasks(scans, len(LAYOUT))
    costs = _stored_bytes(scans)
    pulled: list[int] = []

    def source() -> Iterator[pipeline.PageTask]:
        for t in tasks:
            pulled.append(t.index)
            yield t

    order = []
    gen = pipeline.costliest_first(source(), 3)
    for task in gen:
        # never more than the window taken from the input ahead of what came out
        assert len(pulled) - len(order) <= 3
        order.append(task.index)
    assert sorted(order) == list(range(len(LAYOUT)))
    # by hand: of pages 0-2 the costliest (1); then of 0, 2, 3: 3; of 0, 2, 4: 4; ...
    held = [0, 1, 2]
    want = []
    for nxt in [3, 4, 5, None]:
        best = max(held, key=lambda i: (costs[i], -i))
        want.append(best)
        held.remove(best)
        if nxt is not None:
            held.append(nxt)
    want += sorted(held, key=lambda i: (-costs[i], i))
    assert order == want
    assert order != list(range(len(LAYOUT)))


def test_costliest_first_keeps_the_order_of_equal_costs(tmp_path: Path) -> None:
    tasks = _tasks(tmp_path / "pages.tif", 7, kind="image")  # no estimate: all cost 0
    assert [t.index for t in pipeline.costliest_first(iter(tasks), 3)] == list(range(7))


class _Recorder(ThreadPoolExecutor):
    """A pool recording what it was given in which order (threads: same process)."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted: list[int] = []
        self._max_workers = 2

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted.append(args[0].index)
        return super().submit(fn, *args, **kwargs)


def test_pages_sent_out_of_order_come_back_in_page_order(
    scans: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_page(task: pipeline.PageTask, registry: object = None) -> Page:
        return Page(task.index, 10, 10, 300)

    monkeypatch.setattr(pipeline, "process_page", fake_page)
    seen: list[int] = []
    with _Recorder() as pool:
        pages = pipeline.run_pages(
            _tasks(scans, len(LAYOUT)),
            executor=pool,
            in_flight=2,
            on_page=lambda p: seen.append(p.index),
        )
    assert pool.submitted != list(range(len(LAYOUT)))  # the costliest went first
    assert pool.submitted[0] == 4  # the 1-bit page of the first LOOK_AHEAD pages
    assert sorted(pool.submitted) == list(range(len(LAYOUT)))
    assert [p.index for p in pages] == list(range(len(LAYOUT)))
    assert sorted(seen) == list(range(len(LAYOUT)))


def test_in_process_jobs_keep_the_page_order(scans: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jobs=1 (no pool) reads the pages in order, one by one, as before."""
    done: list[int] = []

    def fake_page(task: pipeline.PageTask, registry: object = None) -> Page:
        done.append(task.index)
        return Page(task.index, 10, 10, 300)

    monkeypatch.setattr(pipeline, "process_page", fake_page)
    pipeline.run_pages(_tasks(scans, len(LAYOUT)), executor=None, in_flight=1)
    assert done == list(range(len(LAYOUT)))
