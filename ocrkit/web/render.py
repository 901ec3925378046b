"""``GET /web/render/<uuid>/<index>``: one page's Markdown as safe HTML for the web page.

The page shows what :mod:`ocrkit.web.markdown` renders on the server (markdown-it-py),
so the browser needs no Markdown parser of its own. The job is reached with the same
rules as ``GET /api/v1/ocr/<uuid>/`` (the owner's token, or anyone for an anonymous job).
"""

from __future__ import annotations

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ocrkit.server.context import get_caller, load_job, state
from ocrkit.web import security as sec
from ocrkit.web.markdown import render


async def render_page(request: Request) -> Response:
    st = state(request)
    caller = await get_caller(request, st.store, st.settings)
    stored = await load_job(request, caller)
    job = stored.job
    index = request.path_params["index"]
    page = next((p for p in job.pages if p.index == index), None)
    if page is None:
        raise HTTPException(404, "no such page")
    source = page.markdown or (job.markdown if len(job.pages) == 1 else "") or page.text
    html = await anyio.to_thread.run_sync(render, source)
    headers = {**sec.SECURITY_HEADERS, "Cache-Control": "private, no-cache"}
    return HTMLResponse(html, headers=headers)
