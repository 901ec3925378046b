"""``languages`` section of ``make bench`` (issue 16): ``language=auto`` against the
right language, per category, on the corpus and on the made scan-like pages.

    python -m bench.languages [--quick] [--sets corpus,langpages] [--jobs 2] [--out F]

Every sample is read twice by ``ocrkit.api.ocr`` (tesseract engine, one process per
sample at a time): once with its right language (the manifest's, resolved by
:func:`ocrkit.lang.codes.resolve`) and once with ``auto``. Reported per set, category
and half: mean CER of each and their difference (target: auto - right <= 0.005), and
the CPU seconds (this process and its Tesseract children) of each.

Halves: the made pages (``tests/langpages.py``) have their own ``tune``/``test`` half
(text ``a``/``b``); corpus samples alternate tune/test in id order within a category.
Thresholds of ``auto`` may be chosen on the tune halves only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
TARGET = 0.005
# tables are scored by cell accuracy in the accuracy section, not by CER
SKIP_CATEGORIES = {"tables"}


def corpus_samples() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")]
    out = []
    for cat in sorted({r["category"] for r in rows} - SKIP_CATEGORIES):
        group = sorted((r for r in rows if r["category"] == cat), key=lambda r: r["id"])
        for i, r in enumerate(group):
            out.append(
                {
                    "set": "corpus",
                    "id": r["id"],
                    "category": cat,
                    "file": str(CORPUS / r["file"]),
                    "truth": str(CORPUS / r["truth"]),
                    "language": r["language"],
                    "half": "tune" if i % 2 == 0 else "test",
                    "kind": cat,
                }
            )
    return out


def langpage_samples(outdir: Path) -> list[dict[str, str]]:
    sys.path.insert(0, str(ROOT))
    from tests import langpages

    rows = langpages.build(outdir)
    return [
        {
            "set": "langpages",
            "id": r["id"],
            "category": r["category"],
            "file": str(outdir / r["file"]),
            "truth": str(outdir / r["truth"]),
            "language": r["tesseract"],
            "half": r["half"],
            "kind": r["kind"],
        }
        for r in rows
    ]


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def read(sample: dict[str, str], language: str) -> dict[str, Any]:
    """One sample with one language setting -> CER, CPU seconds, the models used."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from ocrkit import api
    from ocrkit.eval.textmetrics import cer

    truth = Path(sample["truth"]).read_text(encoding="utf-8")
    c0, t0 = _cpu(), time.perf_counter()
    try:
        job = api.ocr(Path(sample["file"]), engine="tesseract", language=language, jobs=1)
    except Exception as exc:  # recorded, not fatal
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    text = "\f".join(p.text for p in job.pages)
    models = sorted({"+".join(p.extra.get("ocr_languages", [])) for p in job.pages} - {""})
    return {
        "cer": round(cer(truth, text, transcription_marks=True), 4),
        "cpu": round(_cpu() - c0, 3),
        "seconds": round(time.perf_counter() - t0, 3),
        "models": models,
        "passes": sum(int(p.extra.get("ocr_passes", 0)) for p in job.pages),
    }


def _pair(sample: dict[str, str]) -> dict[str, Any]:
    from ocrkit.lang import codes as languages

    right = "+".join(languages.resolve(sample["language"]))
    return {**sample, "right": read(sample, right), "auto": read(sample, "auto")}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ok = [r for r in rows if "cer" in r["right"] and "cer" in r["auto"]]
    keys = sorted({(r["set"], r["category"]) for r in ok})
    for s, cat in keys:
        for half in ("tune", "test", "all"):
            grp = [
                r
                for r in ok
                if r["set"] == s and r["category"] == cat and (half == "all" or r["half"] == half)
            ]
            if not grp:
                continue
            right = statistics.mean(r["right"]["cer"] for r in grp)
            auto = statistics.mean(r["auto"]["cer"] for r in grp)
            cpu_r = sum(r["right"]["cpu"] for r in grp)
            cpu_a = sum(r["auto"]["cpu"] for r in grp)
            out.setdefault(s, {}).setdefault(cat, {})[half] = {
                "n": len(grp),
                "cer_right": round(right, 4),
                "cer_auto": round(auto, 4),
                "auto_minus_right": round(auto - right, 4),
                "within_target": auto - right <= TARGET,
                "cpu_right": round(cpu_r, 2),
                "cpu_auto": round(cpu_a, 2),
                "cpu_auto_over_right": round(cpu_a / cpu_r, 3) if cpu_r else None,
            }
    return out


def bench_languages(
    quick: bool,
    sets: tuple[str, ...] = ("corpus", "langpages"),
    jobs: int = 2,
    progress: Path | None = None,
    categories: set[str] | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ocrkit-langpages-") as tmp:
        samples: list[dict[str, str]] = []
        if "corpus" in sets:
            cs = [s for s in corpus_samples() if not categories or s["category"] in categories]
            if quick:  # one small sample of two categories
                cs = [s for s in cs if s["id"] in ("tess_hellogoogle", "udhr_zh_corp_line1")]
            samples += cs
        if "langpages" in sets:
            ls = langpage_samples(Path(tmp))
            if quick:
                ls = [s for s in ls if s["id"] in ("vi_line_b", "zh_line_b")]
            samples += ls
        rows_by: dict[int, dict[str, Any]] = {}
        with ProcessPoolExecutor(max(1, jobs)) as ex:
            futs = {ex.submit(_pair, s): i for i, s in enumerate(samples)}
            for fut in as_completed(futs):
                rows_by[futs[fut]] = row = fut.result()
                if progress is not None:  # one JSON line per sample as it finishes
                    with progress.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        rows = [rows_by[i] for i in range(len(samples))]
    return {
        "target": f"auto mean CER <= right-language mean CER + {TARGET} per category",
        "halves": "made pages: text a = tune, b = test; corpus: alternate ids per category",
        "summary": summarise(rows),
        "samples": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sets", default="corpus,langpages")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="comma-separated sample ids")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--progress", type=Path, default=None, help="JSON lines as samples finish")
    ap.add_argument("--categories", default=None, help="corpus categories (comma-separated)")
    args = ap.parse_args(argv)
    sets = tuple(s for s in args.sets.split(",") if s)
    if args.only:
        only = set(args.only.split(","))
        global corpus_samples, langpage_samples
        _c, _l = corpus_samples, langpage_samples
        corpus_samples = lambda: [s for s in _c() if s["id"] in only]  # noqa: E731
        langpage_samples = lambda outdir: [s for s in _l(outdir) if s["id"] in only]  # noqa: E731
    cats = set(args.categories.split(",")) if args.categories else None
    res = bench_languages(args.quick, sets, args.jobs, args.progress, cats)
    text = json.dumps(res, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    for s, cats in res["summary"].items():
        for cat, halves in cats.items():
            for half, d in halves.items():
                print(
                    f"{s:10} {cat:12} {half:5} n={d['n']:2} right={d['cer_right']:.4f} "
                    f"auto={d['cer_auto']:.4f} diff={d['auto_minus_right']:+.4f} "
                    f"cpu auto/right={d['cpu_auto_over_right']}"
                )
    for r in res["samples"]:
        a, g = r["auto"], r["right"]
        print(
            f"  {r['id']:32} {r['half']:4} right={g.get('cer', g.get('error'))} "
            f"auto={a.get('cer', a.get('error'))} models={a.get('models')} "
            f"cpu={g.get('cpu')}/{a.get('cpu')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
