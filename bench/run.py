"""``make bench`` / ``make bench-quick``: measure ocrkit against the tools people would use
instead, on the same pages in the same run, and write JSON, a Markdown table and a chart.

    python -m bench.run [--quick] [--sections a,b,...] [--out DIR]

Sections (all by default): startup, throughput, textlayer, memory, api, accuracy,
languages (language=auto vs the right language per category: bench/languages.py),
vlm_boxes (boxes for the vlm tier's lines: bench/vlm_boxes.py), reading_order
(Kendall tau of the line order vs the truth, ocrkit and raw Tesseract:
bench/reading_order.py).
Every figure is measured here; ratios between tools measured in the same run are what
count (the machine may be shared, so absolute times are noisy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import metrics
from bench.languages import bench_languages

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
BIN = Path(sys.executable).parent
OCRKIT = str(BIN / "ocrkit")
OCRMYPDF = ROOT / "bench" / ".venv-ocrmypdf" / "bin" / "ocrmypdf"
SECTIONS = (
    "startup",
    "textlayer",
    "throughput",
    "api",
    "memory",
    "accuracy",
    "languages",
    "tables",
    "chat",
    "vlm_boxes",
    "reading_order",
)
ISO_TO_TESS = {
    "en": "eng",
    "de": "deu",
    "fr": "fra",
    "it": "ita",
    "es": "spa",
    "pt": "por",
    "ar": "ara",
    "zh": "chi_sim",
    "ja": "jpn",
    "ru": "rus",
    "hi": "hin",
}
# Pages of the throughput PDF: every printed corpus page except the tiny word image
# (dense 300 dpi book pages, a 1990s magazine page, typescripts, 1893 book pages),
# then the dense FONDUE pages again up to the page count.
THROUGHPUT_SKIP = {"tess_hellogoogle"}


def env1(**extra: str) -> dict[str, str]:
    """The environment of every measured command: one OpenMP thread per Tesseract."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    env.update(extra)
    return env


def log(msg: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Sample:
    id: str
    category: str
    file: Path
    truth: Path
    language: str  # ISO 639-1, '+'-joined

    @property
    def tess(self) -> str:
        return "+".join(ISO_TO_TESS[c] for c in self.language.split("+"))


def manifest() -> list[Sample]:
    rows = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    head = rows[0].split("\t")
    out = []
    for line in rows[1:]:
        d = dict(zip(head, line.split("\t"), strict=False))
        out.append(
            Sample(d["id"], d["category"], CORPUS / d["file"], CORPUS / d["truth"], d["language"])
        )
    return out


# ------------------------------------------------------------------ measurement


def tree_rss(proc: psutil.Process, pss: bool = False) -> int:
    """Resident set size summed over a process and all its descendants (shared pages
    of forked workers are counted in each: an upper bound); with ``pss``, the
    proportional set size instead (shared pages split between their users)."""
    total = 0
    with contextlib.suppress(psutil.Error):
        procs = [proc, *proc.children(recursive=True)]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().pss if pss else p.memory_info().rss
    return total


class RssSampler:
    """Samples :func:`tree_rss` of ``pid`` every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            self.peak_pss = max(self.peak_pss, tree_rss(self.proc, pss=True))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


CPUACCT = Path("/sys/fs/cgroup/cpuacct")
_groups = 0


class CpuGroup:
    """Exact CPU seconds of every process started inside it (and their descendants,
    reparented or not), through a cgroup-v1 cpuacct group when this machine offers a
    writable one (run as root); otherwise ``seconds()`` is None."""

    def __init__(self) -> None:
        global _groups
        _groups += 1
        self.path: Path | None = CPUACCT / f"ocrkit-bench-{os.getpid()}-{_groups}"
        try:
            self.path.mkdir()
        except OSError:
            self.path = None

    def preexec(self) -> None:  # runs in the child between fork and exec
        if self.path is not None:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float | None:
        if self.path is None:
            return None
        return round(int((self.path / "cpuacct.usage").read_text()) / 1e9, 3)

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                for pid in (self.path / "cgroup.procs").read_text().split():
                    (CPUACCT / "cgroup.procs").write_text(pid)
                self.path.rmdir()

    def __enter__(self) -> CpuGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_cmd(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    sample: bool = False,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Run ``cmd``: wall seconds, CPU seconds of its whole process tree, and (with
    ``sample``) peak tree RSS and PSS."""
    with CpuGroup() as grp:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env or env1(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=grp.preexec,
        )
        if sample:
            with RssSampler(proc.pid, 0.05) as s:
                _, err = proc.communicate(timeout=timeout)
        else:
            _, err = proc.communicate(timeout=timeout)
        wall = time.perf_counter() - t0
        cpu = grp.seconds()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-2000:]}")
    out: dict[str, Any] = {"seconds": round(wall, 3), "cpu_seconds": cpu}
    if sample:
        out["peak_rss_mb"] = round(s.peak / 2**20, 1)
        out["peak_pss_mb"] = round(s.peak_pss / 2**20, 1)
    return out


def rate(pages: int, seconds: float) -> float:
    return round(pages / seconds, 4) if seconds > 0 else 0.0


# -------------------------------------------------------------------- machine


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not installed"


def machine() -> dict[str, Any]:
    from importlib import metadata

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pkgs = {}
    for name in ("ocrkit", "pymupdf", "pillow", "rapidocr", "onnxruntime", "jiwer", "uvicorn"):
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pkgs[name] = "not installed"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "tesseract": _version(["tesseract", "--version"]),
        "ocrmypdf": _version([str(OCRMYPDF), "--version"])
        if OCRMYPDF.exists()
        else "not installed",
        "packages": pkgs,
        "git_commit": commit,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "other_users_note": "shared machine: compare ratios measured in the same run, "
        "absolute times are noisy",
    }


# ------------------------------------------------------------------ build inputs


def image_to_pdf_page(doc: Any, path: Path, dpi: int = 300) -> None:
    """Add ``path`` as one page whose image is ``dpi`` at its own pixels (so rendering
    the page at ``dpi`` gives back the same pixel count)."""
    import io

    import pymupdf
    from PIL import Image

    im: Image.Image = Image.open(path)
    im.load()
    if im.mode not in ("1", "L", "RGB"):
        im = im.convert("RGB")
    buf = io.BytesIO()
    if path.suffix.lower() in (".jpg", ".jpeg"):
        data = path.read_bytes()
    else:
        im.save(buf, format="PNG")
        data = buf.getvalue()
    w, h = im.width * 72 / dpi, im.height * 72 / dpi
    page = doc.new_page(width=w, height=h)
    page.insert_image(pymupdf.Rect(0, 0, w, h), stream=data)


def throughput_pages(samples: list[Sample], n: int) -> list[Path]:
    printed = [s for s in samples if s.category == "printed" and s.id not in THROUGHPUT_SKIP]
    dense = [s.file for s in printed if s.id.startswith("fondue")]
    pages = [s.file for s in printed]
    i = 0
    while len(pages) < n:
        pages.append(dense[i % len(dense)])
        i += 1
    return pages[:n]


def build_pdf(images: list[Path], out: Path) -> Path:
    import pymupdf

    doc = pymupdf.open()
    for p in images:
        image_to_pdf_page(doc, p)
    doc.save(out, garbage=3, deflate=True)
    return out


def build_memory_pdf(n: int, out: Path) -> Path:
    """``n`` A4 pages at 300 dpi (2480x3508 px, grayscale JPEG), each with a small
    corpus scan pasted at the top: full-size page images (what drives memory) with
    little text (so Tesseract spends ~1 s, not ~3 s, per page)."""
    import io

    import pymupdf
    from PIL import Image

    srcs = [CORPUS / "printed" / "tess_phototest.tif", CORPUS / "printed" / "tess_eurotext.tif"]
    blobs = []
    for src in srcs:
        page = Image.new("L", (2480, 3508), 255)
        page.paste(Image.open(src).convert("L"), (300, 300))
        buf = io.BytesIO()
        page.save(buf, format="JPEG", quality=85, dpi=(300, 300))
        blobs.append(buf.getvalue())
    doc = pymupdf.open()
    w, h = 2480 * 72 / 300, 3508 * 72 / 300
    for i in range(n):
        pg = doc.new_page(width=w, height=h)
        pg.insert_image(pymupdf.Rect(0, 0, w, h), stream=blobs[i % len(blobs)])
    doc.save(out)
    return out


def build_textlayer_pdf(min_pages: int, out: Path) -> tuple[Path, int]:
    import pymupdf

    srcs = sorted((CORPUS / "pdf").glob("docling_*.pdf"))
    doc = pymupdf.open()
    while doc.page_count < min_pages:
        for s in srcs:
            with pymupdf.open(s) as d:
                doc.insert_pdf(d)
    doc.save(out)
    n = doc.page_count
    doc.close()
    return out, n


# ----------------------------------------------------------------------- startup


def bench_startup(quick: bool) -> dict[str, Any]:
    reps = 3 if quick else 7
    out: dict[str, Any] = {}
    # The rows run in this environment as it is. With PYTHONDONTWRITEBYTECODE set (as in
    # the agents' sessions) an editable install compiles ocrkit's modules from source at
    # every start, which an installed ocrkit never does (pip writes the bytecode): the
    # "(bytecode cached)" rows run the same commands with the cache written and read in
    # a folder of their own (PYTHONPYCACHEPREFIX), so the first rows never see it.
    cached = {k: v for k, v in env1().items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "ocrkit-bench-pycache")
    out["PYTHONDONTWRITEBYTECODE"] = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    for label, args, env in (
        ("ocrkit --help", ["--help"], None),
        ("ocrkit ocr --help", ["ocr", "--help"], None),
        ("ocrkit --help (bytecode cached)", ["--help"], cached),
        ("ocrkit ocr --help (bytecode cached)", ["ocr", "--help"], cached),
    ):
        # the first run warms caches
        runs = [run_cmd([OCRKIT, *args], env=env) for _ in range(reps + 1)][1:]
        times = [r["seconds"] for r in runs]
        cpus = [r["cpu_seconds"] for r in runs if r["cpu_seconds"] is not None]
        out[label] = {
            "median_ms": round(statistics.median(times) * 1000, 1),
            "min_ms": round(min(times) * 1000, 1),
            # CPU time is what start-up costs whatever else the machine runs
            "cpu_median_ms": round(statistics.median(cpus) * 1000, 1) if cpus else None,
            "runs": reps,
        }
    return out


# -------------------------------------------------------------------- throughput


def _tess_page(args: tuple[str, str, dict[str, str], CpuGroup]) -> float:
    path, lang, env, grp = args
    t0 = time.perf_counter()
    subprocess.run(
        ["tesseract", path, "stdout", "-l", lang],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=grp.preexec,
    )
    return time.perf_counter() - t0


def tesseract_pages(
    pages: list[Path], lang: str, parallel: int, env: dict[str, str]
) -> tuple[float, float | None]:
    """Wall and CPU seconds for raw ``tesseract IMG stdout`` on each page, one process
    per page, ``parallel`` processes at a time."""
    with CpuGroup() as grp:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as ex:
            list(ex.map(_tess_page, [(str(p), lang, env, grp) for p in pages]))
        return time.perf_counter() - t0, grp.seconds()


RAPID_SCRIPT = r"""
import sys, time, json
t0 = time.perf_counter()
from rapidocr import RapidOCR
eng = RapidOCR(params={"Global.log_level": "error"})
for p in sys.argv[1:]:
    eng(p)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def bench_throughput(samples: list[Sample], work: Path, quick: bool) -> dict[str, Any]:
    n = 4 if quick else 20
    images = throughput_pages(samples, n)
    pdf = build_pdf(images, work / f"scan{n}.pdf")
    lang = "eng"
    res: dict[str, Any] = {
        "pages": n,
        "pdf": pdf.name,
        "pdf_pages_from": sorted({p.name for p in images}),
        "language": lang,
        "note": "same 300 dpi pages for every tool: the PDF embeds each corpus image at its "
        "own pixels as 300 dpi; raw tesseract and RapidOCR read the image files "
        "themselves (no rendering); OMP_THREAD_LIMIT=1 everywhere unless said",
        "runs": {},
    }
    runs = res["runs"]

    def ocrkit_run(key: str, jobs: int, fmt: str, language: str) -> None:
        out = work / f"{key}.{fmt}"
        r = run_cmd(
            [
                OCRKIT,
                "ocr",
                str(pdf),
                "-q",
                "-j",
                str(jobs),
                "-l",
                language,
                "-f",
                fmt,
                "-o",
                str(out),
            ]
        )
        runs[key] = {
            **r,
            "pages_per_s": rate(n, r["seconds"]),
            "jobs": jobs,
            "format": fmt,
            "language": language,
            "tool": "ocrkit",
        }
        log(f"throughput {key}: {runs[key]['pages_per_s']} pages/s")

    log(f"throughput: {n}-page PDF")
    ocrkit_run("ocrkit_j1_txt", 1, "txt", lang)
    ocrkit_run("ocrkit_j2_txt", 2, "txt", lang)
    ocrkit_run("ocrkit_j1_pdf", 1, "pdf", lang)
    ocrkit_run("ocrkit_j2_pdf", 2, "pdf", lang)
    ocrkit_run("ocrkit_j2_txt_auto", 2, "txt", "auto")

    for key, par in (("tesseract_1proc", 1), ("tesseract_2proc", 2)):
        s, cpu = tesseract_pages(images, lang, par, env1())
        runs[key] = {
            "seconds": round(s, 3),
            "cpu_seconds": cpu,
            "pages_per_s": rate(n, s),
            "parallel": par,
            "tool": "tesseract",
            "omp_thread_limit": 1,
        }
        log(f"throughput {key}: {runs[key]['pages_per_s']} pages/s")
    # Tesseract's own default threading (OpenMP, all cores), one page at a time.
    sub = images[: max(2, n // 4)]
    env_default = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    s, cpu = tesseract_pages(sub, lang, 1, env_default)
    runs["tesseract_default_threads"] = {
        "seconds": round(s, 3),
        "cpu_seconds": cpu,
        "pages": len(sub),
        "pages_per_s": rate(len(sub), s),
        "parallel": 1,
        "tool": "tesseract",
        "omp_thread_limit": None,
        "note": f"first {len(sub)} pages only; OpenMP default threads",
    }
    log(f"throughput tesseract_default_threads: {runs['tesseract_default_threads']['pages_per_s']}")

    if OCRMYPDF.exists():
        for jobs in (1, 2):
            key = f"ocrmypdf_j{jobs}"
            r = run_cmd(
                [
                    str(OCRMYPDF),
                    "--jobs",
                    str(jobs),
                    "--output-type",
                    "pdf",
                    "--optimize",
                    "0",
                    "-l",
                    lang,
                    "-q",
                    str(pdf),
                    str(work / f"{key}.pdf"),
                ]
            )
            runs[key] = {
                **r,
                "pages_per_s": rate(n, r["seconds"]),
                "jobs": jobs,
                "tool": "ocrmypdf",
            }
            log(f"throughput {key}: {runs[key]['pages_per_s']} pages/s")
    else:
        res["ocrmypdf_missing"] = f"{OCRMYPDF} not found (make bench installs it)"

    # Raw RapidOCR: its defaults (its own model choice and ONNX Runtime threading), one
    # process, on the first pages only (about 20 s per dense page on this CPU).
    sub = images[:2]
    r = run_cmd([sys.executable, "-c", RAPID_SCRIPT, *map(str, sub)], env=dict(os.environ))
    runs["rapidocr_raw"] = {
        **r,
        "pages": len(sub),
        "pages_per_s": rate(len(sub), r["seconds"]),
        "tool": "rapidocr",
        "note": f"first {len(sub)} pages only; RapidOCR defaults",
    }
    log(f"throughput rapidocr_raw: {runs['rapidocr_raw']['pages_per_s']}")

    def ratio(a: str, b: str) -> float | None:
        if a in runs and b in runs and runs[b]["pages_per_s"]:
            return round(runs[a]["pages_per_s"] / runs[b]["pages_per_s"], 3)
        return None

    for v in runs.values():
        if v.get("cpu_seconds"):
            v["cpu_seconds_per_page"] = round(v["cpu_seconds"] / v.get("pages", n), 3)

    def cpu_ratio(a: str, b: str) -> float | None:
        x, y = runs.get(a, {}), runs.get(b, {})
        if x.get("cpu_seconds_per_page") and y.get("cpu_seconds_per_page"):
            return round(y["cpu_seconds_per_page"] / x["cpu_seconds_per_page"], 3)
        return None

    # Pages per CPU-second, a over b: what the work costs, whatever else the machine ran.
    res["cpu_ratios"] = {
        "ocrkit_j1 / tesseract_1proc": cpu_ratio("ocrkit_j1_txt", "tesseract_1proc"),
        "ocrkit_j2 / tesseract_2proc": cpu_ratio("ocrkit_j2_txt", "tesseract_2proc"),
        "ocrkit_j1_pdf / ocrmypdf_j1": cpu_ratio("ocrkit_j1_pdf", "ocrmypdf_j1"),
        "ocrkit_j2_pdf / ocrmypdf_j2": cpu_ratio("ocrkit_j2_pdf", "ocrmypdf_j2"),
        "ocrkit_j2_auto / ocrkit_j2": cpu_ratio("ocrkit_j2_txt_auto", "ocrkit_j2_txt"),
    }
    res["ratios"] = {
        "ocrkit_j1 / tesseract_1proc": ratio("ocrkit_j1_txt", "tesseract_1proc"),
        "ocrkit_j2 / tesseract_1proc": ratio("ocrkit_j2_txt", "tesseract_1proc"),
        "ocrkit_j2 / tesseract_2proc": ratio("ocrkit_j2_txt", "tesseract_2proc"),
        "ocrkit_j1_pdf / ocrmypdf_j1": ratio("ocrkit_j1_pdf", "ocrmypdf_j1"),
        "ocrkit_j2_pdf / ocrmypdf_j2": ratio("ocrkit_j2_pdf", "ocrmypdf_j2"),
        "ocrkit_j2_auto / ocrkit_j2": ratio("ocrkit_j2_txt_auto", "ocrkit_j2_txt"),
        "ocrkit_j2 / rapidocr_raw": ratio("ocrkit_j2_txt", "rapidocr_raw"),
    }
    return res


# -------------------------------------------------------------------- text layer


def bench_textlayer(work: Path, quick: bool) -> dict[str, Any]:
    from ocrkit import api

    pdf, n = build_textlayer_pdf(20 if quick else 200, work / "textlayer.pdf")
    r = run_cmd([OCRKIT, "ocr", str(pdf), "-q", "-f", "txt", "-o", str(work / "textlayer.txt")])
    t0, c0 = time.perf_counter(), time.process_time()
    job = api.ocr(pdf, language="eng", jobs=1)
    inproc, inproc_cpu = time.perf_counter() - t0, time.process_time() - c0
    kept = sum(1 for p in job.pages if p.source == "text-layer")
    log(f"textlayer: {n} pages, {rate(n, r['seconds'])} pages/s (CLI)")
    return {
        "pages": n,
        "made_of": "the corpus's docling born-digital PDFs, repeated",
        "pages_text_layer_kept": kept,
        "cli": {
            **r,
            "pages_per_s": rate(n, r["seconds"]),
            "pages_per_cpu_s": rate(n, r["cpu_seconds"] or 0),
        },
        "in_process_jobs1": {
            "seconds": round(inproc, 3),
            "pages_per_s": rate(n, inproc),
            "pages_per_cpu_s": rate(n, inproc_cpu),
        },
    }


# ------------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    work: Path, workers: int = 2, grp: CpuGroup | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="srv-", dir=work))
    env = env1(
        OCRKIT_ANON_DAILY_PAGES="10000000",
        OCRKIT_ANON_MAX_FILE_PAGES="100000",
        OCRKIT_DATA_DIR=str(data),
    )
    errlog = (work / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [OCRKIT, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=errlog,
        stderr=subprocess.STDOUT,
        preexec_fn=grp.preexec if grp is not None else None,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    try:
        deadline = time.time() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ocrkit serve exited {proc.returncode}; see {errlog.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            if time.time() > deadline:
                raise RuntimeError("ocrkit serve did not answer /api/v1/health in 120 s")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errlog.close()
        shutil.rmtree(data, ignore_errors=True)


def submit(client: Any, url: str, path: Path, language: str) -> dict[str, Any]:
    with path.open("rb") as f:
        r = client.post(
            url + "/api/v1/ocr/", files={"file": (path.name, f)}, data={"language": language}
        )
    if r.status_code not in (200, 202):
        raise RuntimeError(f"POST answered {r.status_code}: {r.text[:300]}")
    job = r.json()
    while job["status"] not in ("done", "failed"):
        time.sleep(0.2)
        job = client.get(f"{url}/api/v1/ocr/{job['uuid']}/").json()
    return dict(job)


# ------------------------------------------------------------------------ memory


def bench_memory(work: Path, quick: bool) -> dict[str, Any]:
    import httpx

    n = 10 if quick else 100
    pdf = build_memory_pdf(n, work / f"memory{n}.pdf")
    out: dict[str, Any] = {
        "pages": n,
        "input": "A4 300 dpi grayscale JPEG pages (2480x3508 px) with a small corpus scan "
        "(tess_phototest / tess_eurotext) pasted on each: full-size page images, light text",
        "sampling": "psutil, every 50 ms, over the process and all its descendants: RSS summed "
        "(pages shared by forked workers counted once per process: an upper bound) and PSS "
        "summed (shared pages split between the processes that map them)",
    }
    # eng as before; auto (issue 14's "also with -l auto"): half the pages are eurotext,
    # which auto re-reads with several Latin-script models
    for jobs, language, key in ((2, "eng", "cli_j2_pdf"), (2, "auto", "cli_j2_pdf_auto")):
        r = run_cmd(
            [
                OCRKIT,
                "ocr",
                str(pdf),
                "-q",
                "-j",
                str(jobs),
                "-l",
                language,
                "-f",
                "pdf",
                "-o",
                str(work / "memory-out.pdf"),
            ],
            sample=True,
        )
        out[key] = {**r, "pages_per_s": rate(n, r["seconds"]), "language": language}
        log(f"memory cli j{jobs} -l {language}: {r['peak_rss_mb']} MB peak, {r['seconds']} s")
    with server(work, workers=2) as (url, proc):
        idle = tree_rss(psutil.Process(proc.pid))
        with httpx.Client(timeout=600) as client, RssSampler(proc.pid, 0.05) as s:
            t0 = time.perf_counter()
            job = submit(client, url, pdf, "eng")
            secs = time.perf_counter() - t0
        if job["status"] != "done":
            raise RuntimeError(f"server job failed: {job.get('error')}")
        out["server_workers2"] = {
            "idle_rss_mb": round(idle / 2**20, 1),
            "peak_rss_mb": round(s.peak / 2**20, 1),
            "peak_pss_mb": round(s.peak_pss / 2**20, 1),
            "seconds": round(secs, 3),
            "pages_per_s": rate(n, secs),
        }
        log(f"memory server: {out['server_workers2']['peak_rss_mb']} MB peak")
    return out


# --------------------------------------------------------------------------- api


def _cpu_self_children() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_SSL: Any = None


def _client_ssl() -> Any:
    """One TLS context for every bench client. httpx.Client() builds a new one by default
    (certifi's CA bundle parsed again: 35-47 ms CPU, 60-120 ms wall at load 5-7 here), on
    a plain-http URL where it is never used; that was the largest part of the measured
    "API overhead" and is the bench client's cost, not the server's."""
    global _SSL
    if _SSL is None:
        import httpx

        _SSL = httpx.create_ssl_context()
    return _SSL


def _client_job(url: str, page: Path) -> float | None:
    """One client's 1-page job, from POST to done: seconds, or None on any error. Each
    job opens its own connection (a new client), as before; the TLS context is shared."""
    import httpx

    verify = _client_ssl()
    t0 = time.perf_counter()
    try:
        with httpx.Client(timeout=300, verify=verify) as c:
            job = submit(c, url, page, "eng")
    except Exception:
        return None
    if job["status"] != "done" or not job["text"].strip():
        return None
    return time.perf_counter() - t0


def bench_api(work: Path, quick: bool) -> dict[str, Any]:
    import httpx

    from ocrkit import api

    page = CORPUS / "printed" / "tess_phototest.tif"
    # Engine time: the same page through the Python API in this process (jobs=1).
    api.ocr(page, language="eng", jobs=1)
    times, cpus = [], []
    for _ in range(3 if quick else 7):
        t0, c0 = time.perf_counter(), _cpu_self_children()
        api.ocr(page, language="eng", jobs=1)
        times.append(time.perf_counter() - t0)
        cpus.append(_cpu_self_children() - c0)
    engine_s = statistics.median(times)
    engine_cpu = statistics.median(cpus)
    levels = ((1, 4), (8, 16)) if quick else ((1, 10), (8, 32), (32, 64))
    out: dict[str, Any] = {
        "page": page.name,
        "language": "eng",
        "server": "ocrkit serve (uvicorn subprocess), --workers 2, SQLite store, anonymous",
        "in_process_ms": round(engine_s * 1000, 1),
        "in_process_cpu_ms": round(engine_cpu * 1000, 1),
        "levels": {},
    }
    with CpuGroup() as grp, server(work, workers=2, grp=grp) as (url, _proc):
        with httpx.Client(timeout=120) as c:  # warm the worker pool
            submit(c, url, page, "eng")
        for clients, jobs in levels:
            srv_cpu0 = grp.seconds()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as ex:
                done = list(ex.map(lambda _: _client_job(url, page), range(jobs)))
            wall = time.perf_counter() - t0
            lat = [x for x in done if x is not None]
            errors = len(done) - len(lat)
            lat.sort()
            p50 = statistics.median(lat) if lat else 0.0
            p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else 0.0
            out["levels"][str(clients)] = {
                "clients": clients,
                "jobs": jobs,
                "errors": errors,
                "p50_ms": round(p50 * 1000, 1),
                "p95_ms": round(p95 * 1000, 1),
                "jobs_per_s": rate(len(lat), wall),
            }
            srv_cpu1 = grp.seconds()
            if srv_cpu0 is not None and srv_cpu1 is not None and jobs:
                # CPU of the whole server process tree (uvicorn workers, page workers)
                lvl = out["levels"][str(clients)]
                lvl["server_cpu_ms_per_job"] = round((srv_cpu1 - srv_cpu0) * 1000 / jobs, 1)
            log(f"api N={clients}: {out['levels'][str(clients)]}")
    # The CLI on the same page: a multi-page TIFF of it, `ocrkit ocr -j 2` (the server
    # has 2 uvicorn workers on this machine's cores): API jobs/s at 8 clients against it.
    n_cli = 8 if quick else 32
    tif = work / f"api_page_x{n_cli}.tif"
    from PIL import Image

    with Image.open(page) as im:
        first = im.copy()
        dpi = {"dpi": im.info["dpi"]} if "dpi" in im.info else {}
    first.save(tif, save_all=True, append_images=[first] * (n_cli - 1), **dpi)
    cli_out = work / "api_cli.txt"
    r = run_cmd([OCRKIT, "ocr", str(tif), "-j", "2", "-q", "-l", "eng", "-o", str(cli_out)])
    out["cli_j2"] = {**r, "pages": n_cli, "pages_per_s": rate(n_cli, r["seconds"])}
    api8 = out["levels"]["8"]["jobs_per_s"]
    out["api8_jobs_per_s / cli_j2_pages_per_s"] = (
        round(api8 / out["cli_j2"]["pages_per_s"], 3) if out["cli_j2"]["pages_per_s"] else None
    )
    log(f"api: CLI -j 2 {out['cli_j2']['pages_per_s']} pages/s; API 8 clients {api8} jobs/s")
    one_client = out["levels"]["1"]
    out["overhead_ms_per_request"] = round(one_client["p50_ms"] - engine_s * 1000, 1)
    srv_cpu = one_client.get("server_cpu_ms_per_job")
    if srv_cpu is not None:
        out["overhead_cpu_ms_per_request"] = round(srv_cpu - engine_cpu * 1000, 1)
    out["overhead_definition"] = (
        "p50 latency of one client minus the median in-process api.ocr() time of the same "
        "page (HTTP, upload, store, worker-pool hand-off, JSON)"
    )
    return out


# ---------------------------------------------------------------------- accuracy


def _render_pdf(path: Path, dpi: int = 300) -> list[Path]:
    """A PDF's pages as PNG files next to each other in a temp dir (raw baselines)."""
    import pymupdf

    out_dir = Path(tempfile.mkdtemp(prefix="pdfpages-"))
    files = []
    with pymupdf.open(path) as doc:
        for i, pg in enumerate(doc):
            f = out_dir / f"p{i}.png"
            pg.get_pixmap(dpi=dpi).save(f)
            files.append(f)
    return files


_RAPID: Any = None


def _rapid() -> Any:
    global _RAPID
    if _RAPID is None:
        from rapidocr import RapidOCR

        # Raw RapidOCR with its defaults, but one ONNX thread: two of these run at once.
        _RAPID = RapidOCR(
            params={
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
    return _RAPID


def recognise(system: str, file: str, category: str, tess: str) -> dict[str, Any]:
    """One sample through one system -> {'text', 'seconds', 'pages'} or {'error'}."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    path = Path(file)
    t0 = time.perf_counter()
    try:
        if system.startswith("ocrkit"):
            from ocrkit import api

            engine: str | None = "rapidocr" if system == "ocrkit-rapidocr" else "tesseract"
            if system == "ocrkit-default":
                engine = None  # no engine named: ocrkit chooses per page (engine_choice)
            language = "auto" if system == "ocrkit-auto" else tess
            tool = "extract-tables" if system == "ocrkit-tables" else None
            job = api.ocr(path, engine=engine, language=language, jobs=1, tool=tool)
            text = "\f".join(p.text for p in job.pages)
            extra: dict[str, Any] = {}
            if tool:
                tables = [t for p in job.pages for t in p.tables]
                extra["grid"] = tables[0].grid() if tables else []
            return {
                "text": text,
                "seconds": time.perf_counter() - t0,
                "pages": len(job.pages),
                **extra,
            }
        pages = _render_pdf(path) if path.suffix.lower() == ".pdf" else [path]
        t0 = time.perf_counter()  # rendering the PDF is not the baseline's work
        texts = []
        for p in pages:
            if system == "tesseract":
                r = subprocess.run(
                    ["tesseract", str(p), "stdout", "-l", tess], capture_output=True, check=True
                )
                texts.append(r.stdout.decode("utf-8", "replace"))
            else:
                out = _rapid()(str(p))
                texts.append("\n".join(out.txts or ()))
        return {"text": "\f".join(texts), "seconds": time.perf_counter() - t0, "pages": len(pages)}
    except Exception as exc:  # an engine that cannot read the language: recorded
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _default_sigterm() -> None:
    """Accuracy workers die on SIGTERM (they inherit the main process's handler, which
    a pool worker would catch as SystemExit and carry on)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _pick(
    samples: list[Sample], cats: set[str], per_cat: int | None, smallest: bool = False
) -> list[Sample]:
    out: list[Sample] = []
    for cat in sorted({s.category for s in samples}):
        if cat not in cats:
            continue
        group = [s for s in samples if s.category == cat]
        if smallest and per_cat is not None:  # quick mode: the cheapest samples
            group = sorted(group, key=lambda s: s.file.stat().st_size)[:per_cat]
        elif per_cat is not None and len(group) > per_cat:
            # spread over the category (different sources), deterministic
            step = len(group) / per_cat
            group = [group[int(i * step)] for i in range(per_cat)]
        out.extend(group)
    return out


def bench_accuracy(samples: list[Sample], quick: bool) -> dict[str, Any]:
    text_samples = [s for s in samples if s.category != "tables"]
    table_samples = [s for s in samples if s.category == "tables"]
    all_cats = {s.category for s in text_samples}
    q = 1 if quick else None
    plan: dict[str, list[Sample]] = {
        # fixed language: the manifest's
        "ocrkit-tesseract": _pick(text_samples, all_cats, q, quick),
        "tesseract": _pick(text_samples, all_cats, q, quick),
        # auto where language or orientation matter
        "ocrkit-auto": _pick(text_samples, {"printed", "nonlatin", "rotated", "pdf"}, q, quick),
        # RapidOCR: ~20 s per dense page on one core, so a spread of samples per category
        "ocrkit-rapidocr": _pick(text_samples, all_cats, 1 if quick else 2, quick),
        "rapidocr": _pick(text_samples, all_cats, 1 if quick else 2, quick),
        # no engine named: ocrkit picks the cpu reader per page (ocrkit.pipeline.engine_choice)
        "ocrkit-default": _pick(text_samples, all_cats, q, quick),
    }
    # Handwriting: RapidOCR raw and through ocrkit on every sample (the baseline the
    # default's choice is measured against, issue 17).
    hw = [s for s in text_samples if s.category == "handwriting"]
    if not quick:
        for system in ("ocrkit-rapidocr", "rapidocr"):
            have = {s.id for s in plan[system]}
            plan[system] = plan[system] + [s for s in hw if s.id not in have]
    from ocrkit.plugins import get_registry

    has_tables = "extract-tables" in get_registry().tools
    if has_tables:
        plan["ocrkit-tables"] = table_samples[:1] if quick else table_samples
    jobs = [(system, s) for system, group in plan.items() for s in group]
    log(f"accuracy: {len(jobs)} runs on 2 processes")
    ex = ProcessPoolExecutor(2, initializer=_default_sigterm)
    try:
        futs = [ex.submit(recognise, system, str(s.file), s.category, s.tess) for system, s in jobs]
        results = [f.result() for f in futs]
    except BaseException:  # stopped: do not wait for 200 queued pages
        for proc in list(getattr(ex, "_processes", {}).values()):
            proc.kill()
        raise
    finally:
        ex.shutdown(wait=False, cancel_futures=True)

    per_sample: list[dict[str, Any]] = []
    for (system, s), r in zip(jobs, results, strict=True):
        row: dict[str, Any] = {
            "system": system,
            "id": s.id,
            "category": s.category,
            "language": s.language,
        }
        if "error" in r:
            row["error"] = r["error"]
        elif system == "ocrkit-tables":
            grid = metrics.read_grid(s.truth)
            row["cell_accuracy"] = round(metrics.cell_accuracy(grid, r["grid"]), 4)
            row["seconds"] = round(r["seconds"], 3)
            row["shape_truth"] = [len(grid), max((len(x) for x in grid), default=0)]
            row["shape_got"] = [len(r["grid"]), max((len(x) for x in r["grid"]), default=0)]
        else:
            truth = s.truth.read_text(encoding="utf-8")
            row.update(
                cer=round(metrics.cer(truth, r["text"]), 4),
                wer=round(metrics.wer(truth, r["text"]), 4),
                seconds=round(r["seconds"], 3),
                pages=r["pages"],
            )
        per_sample.append(row)

    # Summary: mean CER/WER per (category, system), over the samples that system read.
    summary: dict[str, dict[str, Any]] = {}
    for row in per_sample:
        if "cer" not in row:
            continue
        d = summary.setdefault(row["category"], {}).setdefault(
            row["system"], {"n": 0, "cer": 0.0, "wer": 0.0, "seconds": 0.0, "pages": 0}
        )
        d["n"] += 1
        d["cer"] += row["cer"]
        d["wer"] += row["wer"]
        d["seconds"] += row["seconds"]
        d["pages"] += row["pages"]
    for by_system in summary.values():
        for d in by_system.values():
            d["cer"] = round(d["cer"] / d["n"], 4)
            d["wer"] = round(d["wer"] / d["n"], 4)
            d["seconds_per_page"] = round(d.pop("seconds") / max(d["pages"], 1), 3)
    # Same-sample comparison (RapidOCR ran on a subset): every system's mean CER on the
    # samples all systems read, per category.
    common: dict[str, dict[str, Any]] = {}
    for cat in summary:
        rows = [r for r in per_sample if r["category"] == cat and "cer" in r]
        systems = sorted({r["system"] for r in rows})
        ids = set.intersection(*({r["id"] for r in rows if r["system"] == sy} for sy in systems))
        if ids:
            common[cat] = {
                "n": len(ids),
                **{
                    sy: round(
                        statistics.mean(
                            r["cer"] for r in rows if r["system"] == sy and r["id"] in ids
                        ),
                        4,
                    )
                    for sy in systems
                },
            }
    # Rotated vs upright: each rotated sample against the printed page with the same truth.
    truth_of = {s.id: s.truth.read_text(encoding="utf-8") for s in samples}
    upright_of = {}
    for s in samples:
        if s.category == "rotated":
            match = [
                u.id
                for u in samples
                if u.category == "printed" and truth_of[u.id] == truth_of[s.id]
            ]
            if match:
                upright_of[s.id] = match[0]
    rot: list[dict[str, Any]] = []
    by = {(r["system"], r["id"]): r for r in per_sample if "cer" in r}
    for rid, uid in sorted(upright_of.items()):
        for system in plan:
            if (system, rid) in by and (system, uid) in by:
                rot.append(
                    {
                        "system": system,
                        "rotated": rid,
                        "upright": uid,
                        "cer_rotated": by[(system, rid)]["cer"],
                        "cer_upright": by[(system, uid)]["cer"],
                    }
                )
    tables: dict[str, Any] = {"available": has_tables}
    trows = [r for r in per_sample if r["system"] == "ocrkit-tables"]
    if has_tables and trows:
        ok = [r["cell_accuracy"] for r in trows if "cell_accuracy" in r]
        tables.update(
            n=len(trows),
            errors=sum("error" in r for r in trows),
            mean_cell_accuracy=round(statistics.mean(ok), 4) if ok else None,
        )
    elif not has_tables:
        tables["note"] = "the extract-tables tool is not installed in this checkout"
    return {
        "normalisation": (metrics.__doc__ or "").strip(),
        "systems": {
            "ocrkit-tesseract": "ocrkit, tesseract engine, the manifest's language",
            "ocrkit-default": "ocrkit, no engine named (the reader chosen per page), the "
            "manifest's language",
            "ocrkit-auto": "ocrkit, tesseract engine, language=auto",
            "ocrkit-rapidocr": "ocrkit, rapidocr engine",
            "ocrkit-tables": "ocrkit --tool extract-tables (cell accuracy vs .gt.csv)",
            "tesseract": "raw `tesseract IMG stdout -l LANG` (PDF pages rendered at 300 dpi)",
            "rapidocr": "raw rapidocr.RapidOCR() defaults (one ONNX thread)",
        },
        "summary": summary,
        "same_samples_cer": common,
        "rotated_vs_upright": rot,
        "tables": tables,
        "samples": per_sample,
    }


def bench_tables(work: Path, quick: bool) -> dict[str, Any]:
    """extract-tables (default options) vs img2table: cell-text F1 and cell accuracy per
    source, ruled/unruled, made-table halves (bench/tables.py)."""
    from bench import tables

    return tables.bench_tables(CORPUS, work, quick, log)


def bench_chat(work: Path, quick: bool) -> dict[str, Any]:
    """Extractive chat recall on the tuning and test halves (bench/chat_eval.py)."""
    from bench import chat_eval

    return chat_eval.evaluate(CORPUS, work / "chat", quick)


def _reading_order(quick: bool) -> dict[str, Any]:
    """Kendall tau of ocrkit's and raw Tesseract's line order (bench/reading_order.py)."""
    from bench.reading_order import bench_reading_order

    return bench_reading_order(quick)


def _vlm_boxes(quick: bool) -> dict[str, Any]:
    """The vlm tier's line boxes (issue 21): bench/vlm_boxes.py."""
    from bench.vlm_boxes import bench_vlm_boxes

    return bench_vlm_boxes(quick)


# -------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few pages per section (smoke run)")
    ap.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of: {', '.join(SECTIONS)}",
    )
    ap.add_argument(
        "--categories",
        default=None,
        help="accuracy: only these corpus categories (comma-separated)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results directory (default bench/results, quick: bench/work/quick)",
    )
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s): {', '.join(bad)}")
    out_dir = args.out or (ROOT / "bench" / ("work/quick" if args.quick else "results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (CORPUS / "MANIFEST.tsv").is_file():
        print(f"bench: corpus not found at {CORPUS}; set OCRKIT_CORPUS", file=sys.stderr)
        return 2
    samples = manifest()
    cats = set(args.categories.split(",")) if args.categories else None
    started = datetime.now(UTC)
    result: dict[str, Any] = {
        "schema": 1,
        "mode": "quick" if args.quick else "full",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "sections": sections,
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    partial = out_dir / f"{stamp}.partial.json"
    # SIGTERM (a stopped make) unwinds like Ctrl-C: measuring cgroups are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="ocrkit-bench-") as tmp:
        work = Path(tmp)
        for name in sections:
            t0 = time.perf_counter()
            log(f"section {name}")
            fn = {
                "startup": lambda: bench_startup(args.quick),
                "throughput": lambda: bench_throughput(samples, work, args.quick),
                "textlayer": lambda: bench_textlayer(work, args.quick),
                "memory": lambda: bench_memory(work, args.quick),
                "api": lambda: bench_api(work, args.quick),
                "accuracy": lambda: bench_accuracy(
                    [s for s in samples if cats is None or s.category in cats], args.quick
                ),
                "languages": lambda: bench_languages(args.quick),
                "tables": lambda: bench_tables(work, args.quick),
                "chat": lambda: bench_chat(work, args.quick),
                "vlm_boxes": lambda: _vlm_boxes(args.quick),
                "reading_order": lambda: _reading_order(args.quick),
            }[name]
            result[name] = fn()
            result[name]["section_seconds"] = round(time.perf_counter() - t0, 1)
            # Checkpoint: a run stopped later still leaves the sections it finished.
            partial.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["total_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    from bench import report

    paths = report.write(result, out_dir, stamp)
    partial.unlink(missing_ok=True)
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
