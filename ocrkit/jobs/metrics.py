"""Prometheus metrics of ``ocrkit serve``, with ``prometheus_client``.

Counted as things happen (per process; summed over processes in multiprocess mode):
HTTP requests and their latency by route template, method and status; finished jobs by
tier and outcome; pages by tier, engine and outcome; seconds per page. Read from the
store at each scrape (shared by every process and server): ``ocrkit_jobs{status}``,
``ocrkit_pages{source}``, ``ocrkit_pages_per_minute`` and the queue gauges, the names
API.md and the manual document. Process metrics (CPU, memory, open files) are those of
the process that answers the scrape.

Several uvicorn processes (``uvicorn --workers N --factory ocrkit.server.app:create_app``,
or gunicorn): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder before they start, as
prometheus_client's multiprocess mode requires; every process then writes its counters
there and any of them answers ``/metrics`` with the sums.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "ocrkit_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "ocrkit_http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its response, by route and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOBS = Counter(
    "ocrkit_jobs_finished",
    "Jobs that reached an end state in this server, by tier and outcome (done, failed).",
    ["tier", "outcome"],
)
PAGES = Counter(
    "ocrkit_pages_processed",
    "Pages read by this server's jobs, by billing tier, engine and outcome.",
    ["tier", "engine", "outcome"],
)
PAGE_SECONDS = Histogram(
    "ocrkit_page_seconds",
    "Wall-clock seconds a page worker spent on one page (render, OCR, layout, tools).",
    ["tier", "engine"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 300),
)

HELP = {
    "jobs": ("ocrkit_jobs", "Jobs in the store by status.", "status"),
    "pages": ("ocrkit_pages", "Pages in the store by how their text was obtained.", "source"),
    "queue_depth": ("ocrkit_queue_depth", "Jobs (pages with a broker) waiting to run.", ""),
    "jobs_running": ("ocrkit_jobs_running", "Jobs running in this server now.", ""),
    "pages_per_minute": (
        "ocrkit_pages_per_minute",
        "Pages stored in the last 60 seconds by every server and worker of the store.",
        "",
    ),
    "pages_in_flight": (
        "ocrkit_pages_in_flight",
        "Pages delivered to queue workers and not yet acknowledged.",
        "",
    ),
    "broker_up": ("ocrkit_broker_up", "1 when the queue broker answers, else 0.", ""),
}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Snapshot(Collector):
    """Gauges read at scrape time (store counts, scheduler and broker state)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def collect(self) -> Iterable[Metric]:
        for key, value in sorted(self.values.items()):
            name, doc, label = HELP.get(key, (f"ocrkit_{key}", f"ocrkit {key}.", "kind"))
            if isinstance(value, dict):
                fam = GaugeMetricFamily(name, doc, labels=[label or "kind"])
                for k, n in sorted(value.items()):
                    if isinstance(n, int | float):
                        fam.add_metric([str(k)], n)
                yield fam
            elif isinstance(value, int | float):
                yield GaugeMetricFamily(name, doc, value=value)


def exposition(snapshot: Mapping[str, Any]) -> tuple[bytes, str]:
    """The body and content type of ``/metrics``."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        for metric in (REQUESTS, LATENCY, JOBS, PAGES, PAGE_SECONDS):
            registry.register(metric)
    ProcessCollector(registry=registry)
    registry.register(_Snapshot(snapshot))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    labels = (route, method, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def count_job(tier: str, outcome: str) -> None:
    """A job ended (done or failed)."""
    JOBS.labels(tier or "cpu", outcome).inc()


def count_page(tier: str, engine: str | None, outcome: str, seconds: float | None) -> None:
    PAGES.labels(tier or "cpu", engine or "none", outcome).inc()
    if seconds is not None:
        PAGE_SECONDS.labels(tier or "cpu", engine or "none").observe(seconds)
