"""Scale-out throughput: the same scanned PDF through the embedded default and through
Celery workers, in one run on this machine.

    .venv/bin/python -m bench.scaleout [--pages 24] [--dpi 150]

Configurations: ``ocrkit serve`` in-process (SQLite, one page worker per core), and
``ocrkit serve --broker --database`` (PostgreSQL) with 1 worker x 1 process, 1 worker x
2 processes and 2 workers x 1 process. Each is warmed up with a small job first (every
page process loaded), then the PDF is POSTed and polled until done; pages per minute is
pages / (done - POST). Needs Redis and PostgreSQL at the test defaults
(OCRKIT_TEST_REDIS_URL, OCRKIT_TEST_POSTGRES_URL). Writes bench/results/scaleout.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PG_URL = os.environ.get(
    "OCRKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OCRKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WORDS = [
    "invoice",
    "total",
    "amount",
    "payment",
    "order",
    "customer",
    "account",
    "balance",
    "report",
    "summary",
    "shipping",
    "address",
    "number",
    "quantity",
    "price",
    "service",
    "period",
    "contract",
    "delivery",
]


def scanned_pdf(pages: int, dpi: int) -> bytes:
    """Image-only A4 pages with 24 lines of text each (a typical scanned letter)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(7)
    w, h = int(8.27 * dpi), int(11.69 * dpi)
    font = ImageFont.truetype(FONT, int(dpi * 0.15))
    images = []
    for i in range(pages):
        im = Image.new("L", (w, h), 255)
        draw = ImageDraw.Draw(im)
        for line in range(24):
            words = " ".join(rng.choice(WORDS) for _ in range(7))
            draw.text((dpi, dpi + line * dpi * 0.4), f"{i + 1}.{line} {words}", font=font)
        images.append(im)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Procs:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], **env: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "ocrkit", *args],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()


def run_job(url: str, pdf: bytes) -> float:
    """POST, poll until done; seconds from the POST to done."""
    with httpx.Client(timeout=600) as http:
        t0 = time.perf_counter()
        r = http.post(url + "/api/v1/ocr/", files={"file": ("b.pdf", pdf, "application/pdf")})
        r.raise_for_status()
        job = r.json()
        while job["status"] not in ("done", "failed"):
            time.sleep(0.2)
            job = http.get(f"{url}/api/v1/ocr/{job['uuid']}").json()
        elapsed = time.perf_counter() - t0
        if job["status"] != "done":
            raise RuntimeError(f"the job failed: {job.get('error')}")
        return elapsed


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/api/v1/health", timeout=5).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def measure(
    name: str, procs: Procs, url: str, pdf: bytes, warm: bytes, pages: int
) -> dict[str, Any]:
    wait_healthy(url)
    run_job(url, warm)
    seconds = run_job(url, pdf)
    procs.stop()
    row = {"config": name, "pages": pages, "seconds": round(seconds, 1)}
    row["pages_per_minute"] = round(pages * 60 / seconds, 1)
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=24)
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument(
        "--rounds", type=int, default=2, help="every configuration once per round, interleaved"
    )
    args = ap.parse_args()
    from sqlalchemy import create_engine

    pdf, warm = scanned_pdf(args.pages, args.dpi), scanned_pdf(2, args.dpi)
    tmp = Path(tempfile.mkdtemp(prefix="ocrkit-bench-scaleout-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("OCRKIT_")}
    base.update(
        OMP_THREAD_LIMIT="1",
        OCRKIT_DPI=str(args.dpi),
        OCRKIT_ANON_DAILY_PAGES="100000",
        OCRKIT_ANON_MAX_FILE_PAGES="2000",
    )
    rows: list[dict[str, Any]] = []
    cores = os.cpu_count() or 1
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    for rnd in range(args.rounds):
        rows += one_round(rnd, base, tmp, pdf, warm, args, cores, admin)
    admin.dispose()
    out = ROOT / "bench" / "results" / "scaleout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"pages": args.pages, "dpi": args.dpi, "cores": cores, "when": time.strftime("%F")}
    meta["load_average_1min_at_end"] = round(os.getloadavg()[0], 1)
    out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    print("\n| configuration | seconds (each round) | pages/min (median) |\n|---|---:|---:|")
    for name in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == name]
        ppm = statistics.median(r["pages_per_minute"] for r in mine)
        secs = ", ".join(str(r["seconds"]) for r in mine)
        print(f"| {name} | {secs} | {ppm:.1f} |")


def one_round(
    rnd: int,
    base: dict[str, str],
    tmp: Path,
    pdf: bytes,
    warm: bytes,
    args: argparse.Namespace,
    cores: int,
    admin: Any,
) -> list[dict[str, Any]]:
    rows = []
    # The embedded default: SQLite and in-process page workers (one per core).
    procs = Procs(base, tmp)
    port = free_port()
    ip_dir = str(tmp / f"ip{rnd}")
    procs.start(f"inprocess{rnd}", ["serve", "--port", str(port)], OCRKIT_DATA_DIR=ip_dir)
    url = f"http://127.0.0.1:{port}"
    rows.append(measure(f"in-process ({cores} page workers)", procs, url, pdf, warm, args.pages))
    for name, workers in (
        ("1 worker x 1 process", [1]),
        ("1 worker x 2 processes", [2]),
        ("2 workers x 1 process", [1, 1]),
    ):
        db = f"ocrkit_bench_{uuidlib.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {db}")
        env = {
            **base,
            "OCRKIT_DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + db,
            "OCRKIT_BROKER_URL": REDIS_URL,
            "OCRKIT_QUEUE_NAME": db,
        }
        procs = Procs(env, tmp)
        try:
            port = free_port()
            procs.start(f"api-{db}", ["serve", "--port", str(port)], OCRKIT_DATA_DIR=str(tmp / db))
            warm_n = scanned_pdf(sum(workers), args.dpi)
            for k, c in enumerate(workers):
                procs.start(
                    f"w{k}-{db}",
                    ["worker", "-c", str(c), "-n", f"w{k}@{db}"],
                    OCRKIT_DATA_DIR=str(tmp / f"{db}-w{k}"),
                )
            rows.append(measure(name, procs, f"http://127.0.0.1:{port}", pdf, warm_n, args.pages))
        finally:
            procs.stop()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return rows


if __name__ == "__main__":
    main()
