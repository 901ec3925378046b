"""What the vlm path costs per page beyond the model call itself.

The stand-in model server (tests/openai_standin.py, real HTTP on 127.0.0.1) answers
instantly with the page's ground-truth text (a perfect model), so everything measured is
ocrkit's own work: blank check, scaling + PNG + base64 of the page image, the HTTP
round trip, the cpu engine's word boxes (Tesseract, run in parallel with the call),
alignment (rapidfuzz) and layout. Also reported: the share of truth lines that got a
box (alignment coverage on real pages).

    .venv/bin/python bench/vlm_overhead.py [N_PAGES]   # OMP_THREAD_LIMIT=1 is set here
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))


def main() -> None:
    from ocrkit_plugins.engines.vlm import MAX_SIDE, align, is_blank
    from openai_standin import StandinServer
    from PIL import Image

    from ocrkit import api
    from ocrkit.llm import image_part
    from ocrkit.plugins import get_registry
    from ocrkit.settings import load_settings

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    rows = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(), delimiter="\t"))
    pages = [r for r in rows if r["category"] == "printed" and r["language"] in ("en", "de", "fr")]
    pages = pages[:: max(1, len(pages) // n)][:n]
    truth: dict[str, str] = {}

    def handler(req):  # noqa: ANN001, ANN202
        return truth["current"]

    tess = get_registry().engine("tesseract")
    out = []
    with StandinServer(handler) as srv:
        settings = load_settings(
            env={}, vlm_base_url=srv.url, vlm_model="standin", data_dir="/tmp/ocrkit-bench-vlm"
        )
        for r in pages:
            path = CORPUS / r["file"]
            truth["current"] = (CORPUS / r["truth"]).read_text()
            img = Image.open(path)
            img.load()
            lang = {"en": "eng", "de": "deu", "fr": "fra"}[r["language"]]
            t = time.perf_counter()
            is_blank(img)
            t_blank = time.perf_counter() - t
            t = time.perf_counter()
            image_part(img, max_side=MAX_SIDE)
            t_encode = time.perf_counter() - t
            t = time.perf_counter()
            cpu = tess.recognize(img, languages=[lang], dpi=300)
            t_tess = time.perf_counter() - t
            lines = [ln for ln in truth["current"].splitlines() if ln.strip()]
            t = time.perf_counter()
            matches = align.align_lines(lines, align.cpu_words(cpu.blocks))
            t_align = time.perf_counter() - t
            t, c = time.perf_counter(), time.process_time()
            api.ocr(path, tier="cpu", language=lang, settings=settings, jobs=1)
            t_cpu_job, c_cpu_job = time.perf_counter() - t, time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            job = api.ocr(path, tier="vlm", language=lang, settings=settings, jobs=1)
            t_vlm_job, c_vlm_job = time.perf_counter() - t, time.process_time() - c
            blocks = job.pages[0].blocks
            out.append(
                {
                    "page": r["id"],
                    "size": f"{img.width}x{img.height}",
                    "lines": len(lines),
                    "aligned": sum(m.bbox is not None for m in matches) / max(1, len(lines)),
                    "blank": t_blank,
                    "encode": t_encode,
                    "tesseract": t_tess,
                    "align": t_align,
                    "cpu_job": t_cpu_job,
                    "vlm_job": t_vlm_job,
                    # CPU seconds of this process (Tesseract's subprocess excluded): the
                    # vlm path's own work, less sensitive to a loaded machine than wall time.
                    "cpu_job_cpu": c_cpu_job,
                    "vlm_job_cpu": c_vlm_job,
                    "vlm_blocks_aligned": sum(b.bbox is not None for b in blocks)
                    / max(1, len(blocks)),
                }
            )
            o = out[-1]
            print(
                f"{o['page']:32} {o['size']:>10} lines {o['lines']:3} aligned {o['aligned']:.0%}  "
                f"blank {o['blank'] * 1000:5.0f} ms  encode {o['encode'] * 1000:5.0f} ms  "
                f"tess {o['tesseract']:.2f} s  align {o['align'] * 1000:5.0f} ms  "
                f"cpu job {o['cpu_job']:.2f} s  vlm job {o['vlm_job']:.2f} s  "
                f"in-process CPU: cpu job {o['cpu_job_cpu']:.2f} s, "
                f"vlm job {o['vlm_job_cpu']:.2f} s",
                flush=True,
            )
    med = {k: statistics.median(o[k] for o in out) for k in out[0] if k not in ("page", "size")}
    print(
        f"\nmedian over {len(out)} pages: vlm job with an instant model "
        f"{med['vlm_job']:.2f} s/page, "
        f"cpu job {med['cpu_job']:.2f} s/page; parts: blank check {med['blank'] * 1000:.0f} ms, "
        f"image encode {med['encode'] * 1000:.0f} ms, tesseract {med['tesseract']:.2f} s, "
        f"alignment {med['align'] * 1000:.0f} ms; truth lines aligned {med['aligned']:.0%}; "
        f"in-process CPU (Tesseract excluded): cpu job {med['cpu_job_cpu']:.2f} s, "
        f"vlm job {med['vlm_job_cpu']:.2f} s"
    )


if __name__ == "__main__":
    main()
