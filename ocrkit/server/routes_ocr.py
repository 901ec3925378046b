"""The job routes: submit, poll, list, delete, download, page images."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid as uuidlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from ocrkit.errors import BadInput, BadOption, ExportFailed, LimitExceeded, OcrkitError
from ocrkit.jobs.scheduler import FREE_PRIORITY, PAID_PRIORITY
from ocrkit.jobs.service import now_iso
from ocrkit.models import Job
from ocrkit.pipeline.plan import FIELDS, JobOptions, plan
from ocrkit.server.apidoc import AUTH_ERRORS, JOB_ERRORS, UUID, error, json_response, operation, ref
from ocrkit.server.context import ServerState, get_caller, load_job, state
from ocrkit.server.guards import parse_int
from ocrkit.server.multipart import receive_upload
from ocrkit.server.submit import count_pages

if TYPE_CHECKING:
    from ocrkit.plugins import Registry

run = anyio.to_thread.run_sync
log = logging.getLogger("ocrkit.server")
submit_log = logging.getLogger("ocrkit.server.submit")


def job_body(st: ServerState, job: Job, *, pages: bool = True) -> dict[str, Any]:
    body = job.to_dict(pages=pages)
    if job.status in ("pending", "processing"):
        body["pages_done"] = max(job.pages_done, st.jobs.progress.get(job.uuid, 0))
    return body


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None


def _submit_operation(registry: Registry) -> dict[str, Any]:
    tools = sorted(registry.tools)
    submit_schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "image or PDF"},
            "tier": {"type": "string", "enum": ["cpu", "vlm"], "default": "cpu"},
            "language": {
                "type": "string",
                "default": "auto",
                "description": "auto, or codes (en, ch, ja, ar, deu, ...) joined with +",
            },
            "tool": {"type": "string", **({"enum": tools} if tools else {})},
            "translate_to": {"type": "string", "description": "target language code"},
            "engine": {"type": "string", "enum": sorted(registry.engines)},
            "engine_option": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[^=]+=.*$"},
                "description": "The engine's own options as KEY=VALUE, the field repeated "
                "for several (Tesseract: psm=6, c=tessedit_char_whitelist=0123456789); "
                "`ocrkit engines --json` lists each engine's",
            },
        },
    }
    return {
        "summary": "Submit an image or PDF",
        "description": "Jobs of few pages answer 200 done (or failed); larger "
        "ones answer 202 pending at once: poll GET /api/v1/ocr/{uuid}/.",
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": submit_schema}},
        },
        "responses": {
            "200": json_response(ref("Job"), "The job, done or failed"),
            "202": json_response(ref("Job"), "The job, pending"),
            "400": error("No file, unsupported type, too large, bad field value"),
            **AUTH_ERRORS,
            "402": json_response(ref("PaymentRequired"), "Out of pages or credits"),
        },
    }


def _accept(
    st: ServerState, caller: Any, uuid: str, asked: JobOptions, dest: Any, filename: str | None
) -> tuple[Job, Any, Exception | None]:
    """The submit's checks and writes, in one worker thread: the options planned, the
    pages counted against the caller's cap, the pages reserved, the job stored pending
    and queued. Returns the job, its options and the error of queueing it, if any."""
    planned = plan(asked, st.registry, st.settings)
    opts = planned.options
    kind, pages = count_pages(dest, st.settings.max_upload_bytes)
    cap = st.store.max_file_pages(caller)
    if pages > cap:
        raise LimitExceeded(f"the file has {pages} pages; your plan allows {cap} per file")
    paid = caller.account is not None and caller.account.plan == "paid"
    priority = PAID_PRIORITY if paid else FREE_PRIORITY
    job = Job(
        uuid=uuid,
        status="pending",
        tier=planned.tier,
        language=planned.language,
        tool=opts.tool,
        translate_to=opts.translate_to,
        page_count=pages,
        input_type=kind,
        filename=filename,
        dpi=st.settings.dpi,
        created_at=now_iso(),
    )
    st.store.submit_job(
        job,
        caller=caller,
        pages=pages,
        tier=planned.engine_tier,
        priority=priority,
        upload_path=str(dest),
        options=opts.as_dict(),
    )
    submit_log.info("job %s accepted: %s, %d page(s), tier %s", uuid, kind, pages, opts.tier)
    # Queued in this same thread (the scale-out scheduler moves the upload into the
    # shared store here). The job is stored: a failure to queue it is raised by the
    # route after the submit's clean-up, as before (the upload and reservation stay).
    try:
        st.jobs.scheduler.submit(uuid, priority)
    except Exception as exc:
        return job, opts, exc
    return job, opts, None


@operation(_submit_operation)
async def submit(request: Request) -> Response:
    """POST /api/v1/ocr/: store the upload, check it, charge-check it, queue the job."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    uuid = str(uuidlib.uuid4())
    dest = st.jobs.upload_path(uuid)
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            dest,
            max_bytes=st.settings.max_upload_bytes,
            content_length=_content_length(request),
        )
        if upload.path is None:
            if "file" in upload.fields:
                raise BadInput("'file' must be a file part (with a filename), not a text field")
            raise BadInput("no file: send the image or PDF in the multipart field 'file'")
        misplaced = [f for f in upload.file_fields if f in FIELDS]
        if misplaced:
            raise BadInput(f"field {misplaced[0]!r} must be a text value, not a file")
        asked = JobOptions.from_fields(
            upload.fields, dpi=st.settings.dpi, engine_option=upload.lists.get("engine_option")
        )
        # One thread hop for the checks, the two store writes and the queueing (plan,
        # page count, cap, reservation, job row, scheduler): each hop waits for a thread
        # and then the event loop again, 2-8 ms apiece at load here, and there were six.
        job, opts, queue_error = await run(_accept, st, caller, uuid, asked, dest, upload.filename)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        with contextlib.suppress(Exception):
            await run(st.store.release, uuid)  # a reservation made before the failure
        raise
    pages = job.page_count
    if queue_error is not None:
        raise queue_error
    if pages > st.settings.inline_max_pages:
        return JSONResponse(job_body(st, job), status_code=202)
    await st.jobs.scheduler.wait(uuid)
    # The runner hands over the job it just stored (no store read, no thread hop);
    # else (failed, or answered at the runner's end) the store has it.
    finished = st.jobs.take_answer(uuid)
    if finished is None:
        stored = await run(st.store.get_job, uuid)
        if stored is None:  # deleted meanwhile
            raise HTTPException(404, "job not found")
        finished = stored.job
    done = finished.status in ("done", "failed")
    return JSONResponse(job_body(st, finished), status_code=200 if done else 202)


@operation(
    {
        "summary": "List the caller's jobs, newest first, without pages",
        "description": "Anonymous callers get an empty list: anonymous jobs are "
        "reachable only by their UUID.",
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200},
            },
            {"name": "before", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": json_response(ref("JobList"), "The jobs"),
            "400": error("Bad limit"),
            **AUTH_ERRORS,
        },
    }
)
async def list_jobs(request: Request) -> Response:
    """GET /api/v1/ocr/: the caller's jobs, newest first, without pages."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    limit = parse_int(request.query_params.get("limit", "50"), "limit", 1, 200)
    before = request.query_params.get("before") or None
    if caller.account is None:
        # Anonymous jobs are capabilities held by UUID: they are never listed.
        jobs: list[Job] = []
    else:
        account_id = caller.account.id
        jobs = await run(lambda: st.store.list_jobs(account_id, limit=limit, before=before))
    body = [job_body(st, j, pages=False) for j in jobs]
    nxt = jobs[-1].uuid if len(jobs) == limit else None
    return JSONResponse({"jobs": body, "next_before": nxt})


@operation(
    {
        "summary": "The job (poll until done or failed)",
        "parameters": [UUID],
        "responses": {"200": json_response(ref("Job"), "The job"), **JOB_ERRORS},
    }
)
async def get_job(request: Request) -> Response:
    """GET /api/v1/ocr/<uuid>/: the job, with its pages."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    stored = await load_job(request, caller)
    return JSONResponse(job_body(st, stored.job))


@operation(
    {
        "summary": "Delete the job, its page images and files now",
        "parameters": [UUID],
        "responses": {"204": {"description": "Deleted"}, **JOB_ERRORS},
    }
)
async def delete_job(request: Request) -> Response:
    """DELETE /api/v1/ocr/<uuid>/: the job, its pages, page images and files, now."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    stored = await load_job(request, caller)
    await run(st.jobs.delete, stored.job.uuid)
    return Response(status_code=204)


_TABLE = re.compile(r"[0-9]{1,6}")  # ASCII digits only ("²".isdigit() is True)
_STEM_RE = re.compile(r"[^A-Za-z0-9._-]+")


def disposition(stem: str, ext: str) -> str:
    name = f"{stem}.{ext}"
    ascii_name = _STEM_RE.sub("_", name).strip("._") or f"result.{ext}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _download_operation(registry: Registry) -> dict[str, Any]:
    formats = sorted(registry.exporters)
    return {
        "summary": "The result as a file",
        "parameters": [
            UUID,
            {
                "name": "format",
                "in": "query",
                "schema": {"type": "string", "enum": formats, "default": "json"},
            },
            {
                "name": "table",
                "in": "query",
                "description": "csv: table number (1-based) or all",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": {
                "description": "The file (Content-Disposition: attachment)",
                "content": {
                    registry.exporters[f].media_type: {
                        "schema": {"type": "string", "format": "binary"}
                    }
                    for f in formats
                },
            },
            "400": error("Unknown format or bad option"),
            **JOB_ERRORS,
            "409": error("The job is not done (or failed)"),
        },
    }


@operation(_download_operation)
async def download(request: Request) -> Response:
    """GET /api/v1/ocr/<uuid>/download/?format=F: the finished job as a file."""
    from ocrkit import api

    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    stored = await load_job(request, caller)
    fmt = (request.query_params.get("format") or "json").strip().lower()
    exporter = st.registry.exporter(fmt)
    job = stored.job
    if job.status == "failed":
        raise HTTPException(409, f"the job failed, so there is nothing to download: {job.error}")
    if job.status != "done":
        raise HTTPException(409, f"the job is {job.status}; poll it until it is done")
    options: dict[str, Any] = {}
    table = request.query_params.get("table")
    if table is not None:
        if table != "all" and not (_TABLE.fullmatch(table) and int(table) >= 1):
            raise BadOption("table must be a table number (1, 2, ...) or 'all'")
        options["table"] = table
    if fmt == "pdf" and st.jobs.pdf_pending(job.uuid):
        await run(st.jobs.wait_pdf, job.uuid)  # made just after the job was answered
    await run(st.jobs.fetch_results, job.uuid)
    pdf = st.jobs.pdf_path(job.uuid)
    if fmt == "pdf" and pdf.exists():
        content = await run(pdf.read_bytes)
    else:
        images = st.jobs.images_dir(job.uuid)
        try:
            content = await run(
                lambda: api.export(
                    job, fmt, images_dir=images if images.is_dir() else None, options=options
                )
            )
        except ExportFailed as exc:
            if fmt == "pdf":  # the original is gone: the pdf is made when the job ends
                raise ExportFailed(
                    f"the searchable pdf of this job could not be made ({exc.message})"
                ) from None
            raise
        except OcrkitError:
            raise
        except Exception as exc:  # a bug in an exporter plugin: say which one
            log.error("exporter %r failed on job %s", fmt, job.uuid, exc_info=exc)
            raise HTTPException(
                500, f"the {fmt!r} exporter failed ({type(exc).__name__})"
            ) from None
    stem = _stem(job)
    ext = (exporter.extension or fmt).lstrip(".")
    return Response(
        content,
        media_type=exporter.media_type,
        headers={"Content-Disposition": disposition(stem, ext)},
    )


def _stem(job: Job) -> str:
    if job.filename:
        name = job.filename.replace("\\", "/").rsplit("/", 1)[-1]
        stem = name.rsplit(".", 1)[0] if "." in name else name
        if stem.strip("."):
            return stem
    return job.uuid


@operation(
    {
        "summary": "The upright page image the bboxes refer to",
        "parameters": [
            UUID,
            {
                "name": "index",
                "in": "path",
                "required": True,
                "schema": {"type": "integer"},
            },
        ],
        "responses": {
            "200": {
                "description": "The image",
                "content": {
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **JOB_ERRORS,
        },
    }
)
async def page_image(request: Request) -> Response:
    """GET /api/v1/ocr/<uuid>/pages/<index>/image: the upright page image."""
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    stored = await load_job(request, caller)
    index = request.path_params["index"]
    await run(st.jobs.fetch_results, stored.job.uuid, [f"page-{index}.png"])
    images = st.jobs.images_dir(stored.job.uuid)
    for suffix, media in ((".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg")):
        path = images / f"page-{index}{suffix}"
        if path.is_file():
            return FileResponse(path, media_type=media)
    raise HTTPException(404, f"no image for page {index} of this job")
