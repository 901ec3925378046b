"""Measurements for language=auto and rotation on the corpus (for ``make bench``).

    python -m ocrkit.eval.autobench language  [--corpus DIR]   # every printed/nonlatin page
    python -m ocrkit.eval.autobench rotation  [--corpus DIR]   # rotated/ vs upright sources
    python -m ocrkit.eval.autobench overhead  [--corpus DIR] [--repeat N]
    python -m ocrkit.eval.autobench all --json out.json

``overhead`` times the English pages of ``corpus/printed`` with ``language=eng`` and
with ``language=auto`` in the same process, alternating, one Tesseract thread
(``OMP_THREAD_LIMIT=1``), ``jobs=1``; it prints the throughput ratio. The functions
(:func:`measure_language`, :func:`measure_rotation`, :func:`measure_overhead`) return
JSON-able dicts for a bench script to call.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from ocrkit.eval.textmetrics import cer, normalise  # noqa: F401  (re-exported for the bench)

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def _corpus(path: str | None) -> Path:
    return Path(path or os.environ.get("OCRKIT_CORPUS") or "../shared/corpus").resolve()


def _rows(corpus: Path, categories: tuple[str, ...]) -> list[dict[str, str]]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["category"] in categories]


def _ocr(path: Path, language: str, engine: str = "tesseract") -> tuple[Any, float]:
    from ocrkit import api

    t = time.perf_counter()
    job = api.ocr(path, jobs=1, language=language, engine=engine)
    return job, time.perf_counter() - t


def measure_language(corpus: Path, engine: str = "tesseract") -> dict[str, Any]:
    """language=auto on every printed and non-Latin page: the languages named against
    the manifest, passes, seconds, and CER next to language=eng."""
    pages = []
    for row in _rows(corpus, ("printed", "nonlatin")):
        truth = (corpus / row["truth"]).read_text(encoding="utf-8")
        job, secs = _ocr(corpus / row["file"], "auto", engine)
        page = job.pages[0]
        want = row["language"].split("+")
        got = page.detected_languages
        rec = {
            "id": row["id"],
            "language": row["language"],
            "detected": got,
            "right": (got[:1] == want if len(want) == 1 else set(want) - set(got) <= {"pt"})
            and bool(got),
            "ocr_languages": page.extra.get("ocr_languages"),
            "passes": page.extra.get("ocr_passes"),
            "seconds": round(secs, 2),
            "cer_auto": round(cer(truth, job.text), 4),
        }
        if row["category"] == "printed" and want != ["en"]:
            eng, _ = _ocr(corpus / row["file"], "eng", engine)
            rec["cer_eng"] = round(cer(truth, eng.text), 4)
        pages.append(rec)
        print(json.dumps(rec, ensure_ascii=False), flush=True)
    right = sum(p["right"] for p in pages)
    return {"pages": pages, "right": right, "total": len(pages)}


# rotated sample -> upright source (same truth)
ROTATED = {
    "fondue_en_dracula_p53_rot90": "fondue_en_dracula_p53",
    "fondue_en_udolpho_p29_rot270": "fondue_en_udolpho_p29",
    "tess_eurotext_skew+3": "tess_eurotext",
    "tess_phototest_rot180": "tess_phototest",
    "tess_phototest_rotL": "tess_phototest",
    "tess_phototest_rotR": "tess_phototest",
    "tess_phototestrot": "tess_phototest",
    "unlv_8071_093_skew-2": "unlv_8071_093",
}


def measure_rotation(
    corpus: Path, language: str = "eng", engine: str = "tesseract"
) -> dict[str, Any]:
    """CER of every rotated/ sample next to its upright source, same settings."""
    rows = {r["id"]: r for r in _rows(corpus, ("printed", "rotated"))}
    upright: dict[str, float] = {}
    out = []
    for sample, source in ROTATED.items():
        if source not in upright:
            job, _ = _ocr(corpus / rows[source]["file"], language, engine)
            truth = (corpus / rows[source]["truth"]).read_text(encoding="utf-8")
            upright[source] = round(cer(truth, job.text), 4)
        job, secs = _ocr(corpus / rows[sample]["file"], language, engine)
        page = job.pages[0]
        truth = (corpus / rows[sample]["truth"]).read_text(encoding="utf-8")
        rec = {
            "id": sample,
            "rotation": page.rotation,
            "deskew": page.extra.get("deskew", 0.0),
            "cer": round(cer(truth, job.text), 4),
            "upright_cer": upright[source],
            "seconds": round(secs, 2),
        }
        rec["ok"] = rec["cer"] <= rec["upright_cer"] + 0.02
        out.append(rec)
        print(json.dumps(rec), flush=True)
    return {"pages": out, "ok": sum(r["ok"] for r in out), "total": len(out)}


def measure_overhead(corpus: Path, repeat: int = 1, engine: str = "tesseract") -> dict[str, Any]:
    """Seconds for the English printed pages with language=eng and with auto, the same
    pages alternately in one process; ``ratio`` = auto throughput / eng throughput."""
    rows = [r for r in _rows(corpus, ("printed",)) if r["language"] == "en"]
    _ocr(corpus / rows[0]["file"], "eng", engine)  # warm-up: imports, models
    _ocr(corpus / rows[0]["file"], "auto", engine)
    spent = {"eng": 0.0, "auto": 0.0, "engine": 0.0}
    for _ in range(repeat):
        for row in rows:
            for language in ("eng", "auto"):
                _, secs = _ocr(corpus / row["file"], language, engine)
                spent[language] += secs
            spent["engine"] += _engine_only(corpus / row["file"], engine)
    return {
        "pages": len(rows) * repeat,
        "seconds_eng": round(spent["eng"], 2),
        "seconds_auto": round(spent["auto"], 2),
        "seconds_engine_only": round(spent["engine"], 2),
        # throughput of auto relative to language=eng (1.0 = no cost)
        "ratio": round(spent["eng"] / spent["auto"], 3) if spent["auto"] else None,
        # relative to a bare engine call with eng (no blank/skew/OSD checks, no layout)
        "ratio_vs_engine_only": round(spent["engine"] / spent["auto"], 3)
        if spent["auto"]
        else None,
    }


def _engine_only(path: Path, engine: str) -> float:
    """Seconds to load the page and run the bare engine on it with ``eng``."""
    from ocrkit.page.inputs import Limits, load_image_page
    from ocrkit.plugins import get_registry

    eng = get_registry().engine(engine)
    t = time.perf_counter()
    loaded = load_image_page(path, 0, Limits())
    eng.recognize(loaded.image, languages=["eng"], dpi=loaded.dpi)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ocrkit.eval.autobench", description=__doc__)
    ap.add_argument("what", choices=["language", "rotation", "overhead", "all"])
    ap.add_argument("--corpus")
    ap.add_argument("--engine", default="tesseract")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args(argv)
    corpus = _corpus(args.corpus)
    result: dict[str, Any] = {}
    if args.what in ("language", "all"):
        result["language"] = measure_language(corpus, args.engine)
    if args.what in ("rotation", "all"):
        result["rotation"] = measure_rotation(corpus, engine=args.engine)
    if args.what in ("overhead", "all"):
        result["overhead"] = measure_overhead(corpus, args.repeat, args.engine)
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "pages"} for k, v in result.items()}
    print(json.dumps(summary, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
