"""Load (issue 9): many concurrent clients against one real ``ocrkit serve`` on loopback.

Each client loops over submit (a one-line page), poll, download txt and json, the page
image, usage, poll again and health, for ``OCRKIT_LOAD_REQUESTS`` requests (40 in the
test suite; 200 in ``make test-load``). Every answer must be the expected one (0 errors),
and the server's memory (its process and page workers, from /proc) must stay bounded.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
from test_faults import Server  # noqa: E402
from test_server import png  # noqa: E402

pytestmark = pytest.mark.slow

CLIENTS = int(os.environ.get("OCRKIT_LOAD_CLIENTS", "50"))
REQUESTS = int(os.environ.get("OCRKIT_LOAD_REQUESTS", "40"))
MAX_RSS = 1500 * 2**20  # the server and its page workers together


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _client(url: str, n: int, page: bytes, out: dict[str, Any]) -> None:
    s = requests.Session()
    latencies: list[float] = []
    errors: list[str] = []
    done = 0
    uuid: str | None = None
    i = 0

    def call(method: str, path: str, expect: tuple[int, ...], **kw: Any) -> Any:
        nonlocal i
        i += 1
        t0 = time.perf_counter()
        try:
            r = s.request(method, url + path, timeout=120, **kw)
        except requests.RequestException as exc:
            errors.append(f"{method} {path}: {exc}")
            return None
        latencies.append(time.perf_counter() - t0)
        if r.status_code not in expect:
            errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            return None
        return r

    while i < n:
        step = i % 8
        if step == 0 or uuid is None:
            r = call("POST", "/api/v1/ocr/", (200,), files={"file": ("p.png", page)})
            if r is not None:
                job = r.json()
                uuid = job["uuid"]
                if job["status"] != "done" or "load" not in job["text"].lower():
                    errors.append(f"submit: {job['status']} {job.get('error')} {job['text']!r}")
                done += 1
        elif step in (1, 6):
            r = call("GET", f"/api/v1/ocr/{uuid}/", (200,))
            if r is not None and r.json()["status"] != "done":
                errors.append(f"poll: {r.json()['status']}")
        elif step == 2:
            r = call("GET", f"/api/v1/ocr/{uuid}/download/?format=txt", (200,))
            if r is not None and "load" not in r.text.lower():
                errors.append(f"txt: {r.text!r}")
        elif step == 3:
            r = call("GET", f"/api/v1/ocr/{uuid}/download/?format=json", (200,))
            if r is not None and json.loads(r.content)["uuid"] != uuid:
                errors.append("json: wrong job")
        elif step == 4:
            call("GET", f"/api/v1/ocr/{uuid}/pages/0/image", (200,))
        elif step == 5:
            r = call("GET", "/api/v1/usage/", (200,))
            if r is not None and r.json().get("plan") != "anonymous":
                errors.append(f"usage: {r.text[:200]}")
        else:
            call("GET", "/api/v1/health", (200,))
    out.update(latencies=latencies, errors=errors, jobs=done)


def test_concurrent_clients_get_zero_errors_and_bounded_memory(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", OCRKIT_ANON_DAILY_PAGES="1000000").start()
    try:
        assert srv.proc is not None
        page = png(["Load test page"], size=(500, 120))
        results: list[dict[str, Any]] = [{} for _ in range(CLIENTS)]
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(srv.proc.pid))  # type: ignore[union-attr]
                stop.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=_client, args=(srv.url, REQUESTS, page, results[k]))
            for k in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
    finally:
        srv.stop()
    lat = sorted(x for r in results for x in r["latencies"])
    errors = [e for r in results for e in r["errors"]]
    figures = {
        "clients": CLIENTS,
        "requests": len(lat),
        "jobs": sum(r["jobs"] for r in results),
        "errors": len(errors),
        "wall_s": round(wall, 1),
        "requests_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat)),
        "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))]),
        "peak_rss_mb": round(peak / 2**20),
    }
    print("load test:", json.dumps(figures))
    report = os.environ.get("OCRKIT_LOAD_REPORT")
    if report:
        Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    assert not errors, "\n".join(errors[:20])
    assert len(lat) == CLIENTS * REQUESTS
    assert 0 < peak < MAX_RSS, figures
