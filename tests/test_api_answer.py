"""The inline answer of ``POST /api/v1/ocr/`` and what follows it (issue 14's API
overhead): the job is answered as soon as it is stored done; its searchable pdf is made
after that by a page worker, and a pdf download waits for it; a server stopped in
between makes it at its restart; the server's page workers have read a page before the
first request. Real server app, real page-worker processes, real Tesseract."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pymupdf
from test_server import make_settings, png, serving, submit


def _gate_pdf(jobs: Any) -> tuple[threading.Event, threading.Event]:
    """Hold the job service's pdf step until ``release`` is set (at most 60 s);
    ``entered`` is set once a pdf step has begun."""
    release, entered = threading.Event(), threading.Event()
    make_pdf = jobs._make_pdf

    def gated(*args: Any) -> None:
        entered.set()
        release.wait(60)
        make_pdf(*args)

    jobs._make_pdf = gated
    return release, entered


def test_the_inline_answer_comes_before_the_pdf_and_a_pdf_download_waits_for_it(
    tmp_path: Path,
) -> None:
    with serving(make_settings(tmp_path / "data")) as c:
        jobs = c.app.state.ocrkit.jobs  # type: ignore[attr-defined]
        release, entered = _gate_pdf(jobs)
        r = submit(c, png(["Answered before the pdf"]), name="early.png")
        # On the old code the answer waited for the pdf: this request returned only
        # after the gate's 60 s, with the pdf step done (release never set).
        assert r.status_code == 200, r.text
        job = r.json()
        uuid = job["uuid"]
        assert job["status"] == "done" and "pdf" in job["text"].lower(), job
        assert entered.wait(60) and not release.is_set()
        assert jobs.pdf_pending(uuid)
        # The answer is the stored job (handed over by the runner, not read back).
        assert c.get(f"/api/v1/ocr/{uuid}/").json() == job
        got: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: got.update(r=c.get(f"/api/v1/ocr/{uuid}/download/?format=pdf"))
        )
        t.start()
        release.set()
        t.join(120)
        pdf = got["r"]
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        # the pdf made from the upload (not one exported again from the page images)
        assert pdf.content == jobs.pdf_path(uuid).read_bytes()
        with pymupdf.open(stream=pdf.content, filetype="pdf") as doc:
            assert "before the pdf" in doc[0].get_text().lower()
        uploads = c.app.state.ocrkit.settings.uploads_dir  # type: ignore[attr-defined]
        assert list(uploads.iterdir()) == []  # gone once the pdf was made


def test_a_job_deleted_while_its_pdf_is_made_is_gone_at_once(tmp_path: Path) -> None:
    with serving(make_settings(tmp_path / "data")) as c:
        jobs = c.app.state.ocrkit.jobs  # type: ignore[attr-defined]
        release, entered = _gate_pdf(jobs)
        r = submit(c, png(["Deleted early"]))
        uuid = r.json()["uuid"]
        assert entered.wait(60)
        assert c.delete(f"/api/v1/ocr/{uuid}/").status_code == 204
        assert c.get(f"/api/v1/ocr/{uuid}/").status_code == 404
        release.set()
        jobs.wait_pdf(uuid)
        for _ in range(200):  # the runner discards the files once the pdf is written
            if not jobs.scheduler.is_active(uuid):
                break
            threading.Event().wait(0.05)
        assert not jobs.result_dir(uuid).exists()
        assert c.get(f"/api/v1/ocr/{uuid}/").status_code == 404


def test_a_restart_makes_the_pdf_of_a_job_stored_done_without_one(tmp_path: Path) -> None:
    """The server stopped after storing the job done and before its pdf: at the
    restart the upload is still there, the pdf is made from it, the upload goes."""
    settings = make_settings(tmp_path / "data")
    source = png(["Made at the restart"])
    with serving(settings) as c:
        jobs = c.app.state.ocrkit.jobs  # type: ignore[attr-defined]
        uuid = submit(c, source).json()["uuid"]
        assert c.get(f"/api/v1/ocr/{uuid}/download/?format=pdf").status_code == 200
        pdf, upload = jobs.pdf_path(uuid), jobs.upload_path(uuid)
    # what a kill between the two steps leaves: no pdf, the upload kept
    pdf.unlink()
    upload.write_bytes(source)
    with serving(settings) as c:
        assert pdf.exists(), "the restart did not make the missing pdf"
        assert not upload.exists()
        r = c.get(f"/api/v1/ocr/{uuid}/download/?format=pdf")
        assert r.status_code == 200 and r.content == pdf.read_bytes()
        with pymupdf.open(stream=r.content, filetype="pdf") as doc:
            assert "restart" in doc[0].get_text().lower()


def test_the_server_page_workers_have_read_a_page_before_the_first_request(
    tmp_path: Path,
) -> None:
    """Each page worker loads the engine's model as it starts (a made-up page), so the
    first request on a fresh worker does not pay for it (735 ms instead of ~230)."""
    from ocrkit_plugins.engines.tesseract import tesserocr_backend

    if not tesserocr_backend.in_process():
        import pytest

        pytest.skip("tesserocr is not installed: the tesseract program has no model to keep")
    with serving(make_settings(tmp_path / "data", workers=1)) as c:
        pool = c.app.state.ocrkit.jobs.pool  # type: ignore[attr-defined]
        # the only worker: what its tesserocr holds before any job ran
        assert pool.submit(tesserocr_backend.loaded).result(120) == ["eng"]
    assert shutil.which("tesseract")
