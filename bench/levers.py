"""Per-sample CER and CPU seconds of ocrkit on the corpus (issue 14's lever checks).

    python -m bench.levers [--cats printed,pdf,rotated,nonlatin] [--modes fixed,auto]
                           [--out FILE.json] [--compare OLD.json]

Each sample goes through ``api.ocr(jobs=1)`` in this process (tesseract engine), once
with the manifest's languages (``fixed``) and once with ``language=auto``; CPU seconds
are this process's plus its children's (the tesseract CLI when that path runs), so they
do not depend on what else the machine runs. ``--compare`` prints per-sample and
per-category differences against an earlier run's file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from bench.run import manifest
from ocrkit.eval.textmetrics import cer


def cpu_now() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cats", default="printed,pdf,rotated,nonlatin")
    ap.add_argument("--modes", default="fixed,auto")
    ap.add_argument("--ids", default="", help="comma-separated sample ids (default: all)")
    ap.add_argument("--out")
    ap.add_argument("--compare")
    args = ap.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from ocrkit import api

    cats = set(args.cats.split(","))
    ids = set(filter(None, args.ids.split(",")))
    samples = [s for s in manifest() if s.category in cats and (not ids or s.id in ids)]
    api.ocr(samples[0].file, language="eng", jobs=1)  # warm imports and models
    rows = []
    for mode in args.modes.split(","):
        for s in samples:
            lang = "auto" if mode == "auto" else s.tess
            c0, t0 = cpu_now(), time.perf_counter()
            job = api.ocr(s.file, engine="tesseract", language=lang, jobs=1)
            cpu, wall = cpu_now() - c0, time.perf_counter() - t0
            text = "\f".join(p.text for p in job.pages)
            truth = s.truth.read_text(encoding="utf-8")
            row = {
                "id": s.id,
                "category": s.category,
                "mode": mode,
                "pages": len(job.pages),
                "ocr_pages": sum(p.source == "ocr" for p in job.pages),
                "cer": round(cer(truth, text, transcription_marks=True), 4),
                "cpu_s": round(cpu, 3),
                "wall_s": round(wall, 3),
                "passes": [p.extra.get("ocr_passes") for p in job.pages],
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out = {"load": os.getloadavg(), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    summary(rows)
    if args.compare:
        compare(json.loads(Path(args.compare).read_text())["rows"], rows)
    return 0


def summary(rows: list[dict]) -> None:
    keys = sorted({(r["mode"], r["category"]) for r in rows})
    print("mode\tcategory\tn\tmean CER\tCPU s\tCPU s/page")
    for mode, cat in keys:
        rs = [r for r in rows if r["mode"] == mode and r["category"] == cat]
        cpu = sum(r["cpu_s"] for r in rs)
        pages = sum(r["pages"] for r in rs)
        m = statistics.mean(r["cer"] for r in rs)
        print(f"{mode}\t{cat}\t{len(rs)}\t{m:.4f}\t{cpu:.1f}\t{cpu / max(pages, 1):.3f}")


def compare(old: list[dict], new: list[dict]) -> None:
    by = {(r["mode"], r["id"]): r for r in old}
    print("\nchanged samples (old -> new CER, CPU s):")
    for r in new:
        o = by.get((r["mode"], r["id"]))
        if o is None:
            continue
        flag = "" if abs(o["cer"] - r["cer"]) < 0.0005 else "  <-- CER"
        print(
            f"{r['mode']}\t{r['id']}\t{o['cer']:.4f} -> {r['cer']:.4f}\t"
            f"{o['cpu_s']:.2f} -> {r['cpu_s']:.2f}{flag}"
        )
    keys = sorted({(r["mode"], r["category"]) for r in new})
    print("\nmode\tcategory\tCER old -> new\tCPU s old -> new")
    for mode, cat in keys:
        ns = [r for r in new if r["mode"] == mode and r["category"] == cat]
        os_ = [by[(mode, r["id"])] for r in ns if (mode, r["id"]) in by]
        if not os_:
            continue
        print(
            f"{mode}\t{cat}\t{statistics.mean(r['cer'] for r in os_):.4f} -> "
            f"{statistics.mean(r['cer'] for r in ns):.4f}\t"
            f"{sum(r['cpu_s'] for r in os_):.1f} -> {sum(r['cpu_s'] for r in ns):.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
