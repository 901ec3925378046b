"""Where the MCP tools' work happens.

- :class:`LocalBackend` (``ocrkit mcp`` over stdio): like the CLI, on this machine. Files
  by path; every job is kept in the local store (``OCRKIT_DATA_DIR``) as the local
  operator, so "get a job", "export" and "ask" find it later by uuid.
- :class:`RestBackend`: the ``ocrkit serve`` REST API with the caller's token, either a
  remote server over HTTP (``ocrkit mcp --server URL --token T``) or, for the server's
  own ``/mcp`` endpoint, the same app in-process (so tokens, quotas, upload limits and
  402s are exactly the REST ones: the requests *are* REST requests).

Both raise :class:`ToolError` with the message the CLI (or the REST ``detail``) gives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ocrkit.models import Job

Progress = Callable[[int, int | None, str], Awaitable[None]]


class ToolError(Exception):
    """A failure the assistant is told about (an MCP tool error), never a crash."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Exported:
    data: bytes
    media_type: str
    extension: str
    is_text: bool


@dataclass
class Document:
    """What ``read_document`` got: a local path, or bytes with a file name."""

    path: Path | None = None
    data: bytes | None = None
    filename: str | None = None

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        return self.path.name if self.path else "document"


class Backend:
    remote_files: bool = False  # True: file paths are refused (bytes only)

    async def catalogue(self) -> dict[str, Any]:
        raise NotImplementedError

    async def read(self, doc: Document, options: dict[str, Any], progress: Progress) -> Job:
        raise NotImplementedError

    async def get(self, uuid: str) -> Job:
        raise NotImplementedError

    async def export(self, uuid: str, fmt: str) -> Exported:
        raise NotImplementedError

    async def ask(self, uuid: str, question: str) -> dict[str, Any]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


# ----------------------------------------------------------------------------- local


class LocalBackend(Backend):
    """The CLI's way, on this machine, with jobs kept in the local store."""

    def __init__(self, data_dir: Path | None = None, jobs: int | None = None) -> None:
        from ocrkit.settings import load_settings

        self.settings = load_settings(data_dir=data_dir)
        self.jobs = jobs
        self._store: Any = None

    def store(self) -> Any:
        if self._store is None:
            from ocrkit.store import Store

            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._store = Store.open(self.settings)
        return self._store

    async def aclose(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    async def catalogue(self) -> dict[str, Any]:
        from ocrkit.plugins import get_registry
        from ocrkit.settings import using
        from ocrkit.web.options import options_body

        def build() -> dict[str, Any]:
            with using(self.settings):
                st = SimpleNamespace(registry=get_registry(), settings=self.settings)
                return options_body(st, [])  # type: ignore[arg-type]

        return await asyncio.to_thread(build)

    async def read(self, doc: Document, options: dict[str, Any], progress: Progress) -> Job:
        import anyio.from_thread
        import anyio.to_thread

        from ocrkit import api
        from ocrkit.errors import OcrkitError
        from ocrkit.store import Caller

        loop_progress = progress
        total: list[int | None] = [None]
        done = [0]

        def on_page(page: Any) -> None:
            done[0] += 1
            note = f"page {page.index + 1} read"
            anyio.from_thread.run(loop_progress, done[0], total[0], note)  # type: ignore[arg-type]

        def work() -> Job:
            from ocrkit.page import inputs

            source: Any = doc.path if doc.path is not None else doc.data
            if doc.path is not None and not doc.path.is_file():
                raise ToolError(f"{doc.path}: no such file")
            limits = inputs.Limits(max_bytes=self.settings.max_upload_bytes)
            try:  # the page count, for progress (api.ocr checks the same again)
                with inputs.open_source(source, limits) as p:
                    info = inputs.inspect(p, inputs.sniff_file(p), password=None, limits=limits)
                    total[0] = len(inputs.parse_page_ranges(options.get("pages"), info.page_count))
            except OcrkitError:
                pass
            try:
                job = api.ocr(
                    source,
                    filename=doc.name,
                    jobs=self.jobs,
                    on_page=on_page,
                    settings=self.settings,
                    dpi=self.settings.dpi,
                    limits=limits,
                    **options,
                )
            except OcrkitError as exc:
                raise ToolError(exc.message) from None
            store = self.store()
            store.create_job(job, caller=Caller(account=None, ip="local"), options=options)
            store.finish_job(job)
            return job

        await progress(0, None, f"reading {doc.name}")
        return await anyio.to_thread.run_sync(work)

    async def get(self, uuid: str) -> Job:
        import uuid as uuidlib

        try:
            uuid = str(uuidlib.UUID(uuid))
        except ValueError:
            raise ToolError(f"not a job id: {uuid!r}") from None
        stored = await asyncio.to_thread(self.store().get_job, uuid)
        if stored is None:
            raise ToolError(f"no job {uuid} in the local store ({self.settings.data_dir})")
        return stored.job

    async def export(self, uuid: str, fmt: str) -> Exported:
        from ocrkit import api
        from ocrkit.errors import OcrkitError
        from ocrkit.plugins import get_registry

        job = await self.get(uuid)
        if job.status != "done":
            raise ToolError(f"the job is {job.status}; export it when it is done")
        try:
            exporter = get_registry().exporter(fmt)
            data = await asyncio.to_thread(api.export, job, fmt)
        except OcrkitError as exc:
            raise ToolError(exc.message) from None
        ext = (exporter.extension or fmt).lstrip(".")
        return Exported(data, exporter.media_type, ext, exporter.is_text)

    async def ask(self, uuid: str, question: str) -> dict[str, Any]:
        from ocrkit.chat import DocumentIndex, ask
        from ocrkit.llm import ModelClient, llm_config

        job = await self.get(uuid)
        if job.status == "failed":
            raise ToolError(f"the job failed, so there is nothing to ask about: {job.error}")
        if job.status != "done":
            raise ToolError(f"the job is {job.status}; ask when it is done")

        def answer() -> dict[str, Any]:
            doc = DocumentIndex(job)
            cfg = llm_config(self.settings)
            if cfg is None:
                return ask(doc, question).message()
            with ModelClient(cfg) as client:
                return ask(doc, question, (), client).message()

        return await asyncio.to_thread(answer)


# ------------------------------------------------------------------------------ REST


class RestBackend(Backend):
    """The REST API of ``ocrkit serve`` with one caller's credentials.

    ``client`` is an :class:`httpx.AsyncClient` whose base URL is the server (a real
    one, or an ``ASGITransport`` onto the serving app itself)."""

    def __init__(self, client: Any, *, remote_files: bool, poll: float = 0.5) -> None:
        self.client = client
        self.remote_files = remote_files
        self.poll = poll

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(self, method: str, url: str, **kw: Any) -> Any:
        import httpx

        try:
            r = await self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise ToolError(f"the ocrkit server did not answer: {exc}") from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail") or r.text
            except ValueError:
                detail = r.text.strip() or r.reason_phrase
            raise ToolError(f"{detail} (HTTP {r.status_code})")
        return r

    async def catalogue(self) -> dict[str, Any]:
        return (await self._call("GET", "/api/v1/options")).json()

    async def read(self, doc: Document, options: dict[str, Any], progress: Progress) -> Job:
        if doc.data is None:
            assert doc.path is not None
            try:
                data = await asyncio.to_thread(doc.path.read_bytes)
            except OSError as exc:
                raise ToolError(f"{doc.path}: cannot read: {exc.strerror}") from None
        else:
            data = doc.data
        fields = {k: str(v) for k, v in options.items() if v is not None and k != "pages"}
        if options.get("pages"):
            raise ToolError("pages is not supported by the ocrkit server API; send those pages")
        await progress(0, None, f"uploading {doc.name}")
        r = await self._call(
            "POST", "/api/v1/ocr/", data=fields, files={"file": (doc.name, data)}, timeout=None
        )
        body = r.json()
        uuid = body["uuid"]
        last = -1
        started = time.monotonic()
        while body["status"] in ("pending", "processing"):
            done, total = int(body.get("pages_done") or 0), body.get("page_count")
            if done != last:
                await progress(done, total, f"{done} of {total} pages read")
                last = done
            await asyncio.sleep(min(self.poll * (1 + (time.monotonic() - started) / 30), 5))
            body = (await self._call("GET", f"/api/v1/ocr/{uuid}/")).json()
        job = Job.from_dict(body)
        if job.status == "failed":
            raise ToolError(f"the job failed: {job.error}")
        await progress(len(job.pages), job.page_count, "done")
        return job

    async def get(self, uuid: str) -> Job:
        return Job.from_dict((await self._call("GET", f"/api/v1/ocr/{uuid}/")).json())

    async def export(self, uuid: str, fmt: str) -> Exported:
        r = await self._call("GET", f"/api/v1/ocr/{uuid}/download/", params={"format": fmt})
        cat = await self.catalogue()
        info: dict[str, Any] = next((f for f in cat.get("formats", []) if f["name"] == fmt), {})
        media = r.headers.get("content-type", info.get("media_type", "application/octet-stream"))
        is_text = media.startswith("text/") or "xml" in media or "json" in media
        return Exported(r.content, media, info.get("extension", fmt), is_text)

    async def ask(self, uuid: str, question: str) -> dict[str, Any]:
        r = await self._call("POST", f"/api/v1/chat/{uuid}/", json={"message": question})
        return dict(r.json()["message"])


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)
