"""Table accuracy of ``extract-tables`` with default options against img2table.

Data: the corpus's ``tables`` category (ICDAR 2013 born-digital PDFs, PubTabNet crops;
one true table per file) and the made pages of :mod:`bench.made_tables` (several tables
per page; a ``tuning`` and a ``held-out`` half). Every true table is labelled ruled or
unruled (:data:`CORPUS_RULED` for the corpus; the generator knows its own).

Systems, on the same files in the same run:

* ``ocrkit``: ``api.ocr(file, tool="extract-tables", language="eng")``, no engine
  named (the tool picks the reader per table);
* ``img2table``: img2table's ``Image``/``PDF`` (text layer on for PDFs, as its default)
  with its ``TesseractOCR`` backend (``lang="eng"``), ``borderless_tables=True``, run
  in its own virtualenv (``bench/.venv-img2table``: it pins OpenCV) by
  :data:`IMG2TABLE_SCRIPT`.

Scores per true table (:mod:`bench.metrics`): cell-text F1 and position-aware cell
accuracy of the page's predicted table with the best F1 (0 when none). Aggregates are
means over tables per group: source, ruled/unruled, made half.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench import made_tables, metrics

ROOT = Path(__file__).resolve().parents[1]
IMG2TABLE_VENV = ROOT / "bench" / ".venv-img2table"

# Ruled (drawn lines separate the cells) or not, per corpus table, labelled by looking
# at the rendered pages: the three ICDAR 2013 EU tables are ruled; every PubTabNet crop
# (not listed) is unruled (no column lines; at most a few horizontal rules).
CORPUS_RULED: dict[str, bool] = {
    "icdar2013_eu-002": True,  # a box around every cell
    "icdar2013_eu-009a": True,  # a full grid with spanning cells
    "icdar2013_eu-010": True,  # boxed, a line between the two columns, header rule
}

IMG2TABLE_SCRIPT = r"""
import json, sys, os
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
from img2table.document import Image, PDF
from img2table.ocr import TesseractOCR

ocr = TesseractOCR(n_threads=1, lang=sys.argv[1])
out = {}
for path in sys.argv[2:]:
    try:
        if path.endswith(".pdf"):
            found = PDF(src=path).extract_tables(ocr=ocr, borderless_tables=True)
            tables = [t for page in sorted(found) for t in found[page]]
        else:
            tables = Image(src=path).extract_tables(ocr=ocr, borderless_tables=True)
        grids = []
        for t in tables:
            seen = set()
            grid = []
            for _, row in sorted(t.content.items()):
                cells = []
                for cell in row:
                    key = (cell.bbox.x1, cell.bbox.y1, cell.bbox.x2, cell.bbox.y2)
                    cells.append("" if key in seen or cell.value is None else str(cell.value))
                    seen.add(key)
                grid.append(cells)
            grids.append(grid)
        out[path] = {"grids": grids}
    except Exception as exc:
        out[path] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
print(json.dumps(out))
"""


def img2table_python() -> Path | None:
    py = IMG2TABLE_VENV / "bin" / "python"
    return py if py.is_file() else None


def items(corpus: Path, work: Path, quick: bool = False) -> list[dict[str, Any]]:
    """One record per page: id, file, source, half, tables [{grid, ruled}]."""
    out: list[dict[str, Any]] = []
    for truth in sorted((corpus / "tables").glob("*.gt.csv")):
        stem = truth.name.removesuffix(".gt.csv")
        files = [p for p in truth.parent.glob(stem + ".*") if p.suffix in (".pdf", ".png")]
        if not files:
            continue
        out.append(
            {
                "id": stem,
                "file": str(files[0]),
                "source": stem.split("_")[0],
                "half": "corpus",
                "tables": [
                    {"grid": metrics.read_grid(truth), "ruled": CORPUS_RULED.get(stem, False)}
                ],
            }
        )
    for r in made_tables.generate(work / "made_tables"):
        out.append({**r, "source": f"made-{r['kind']}"})
    if quick:  # one corpus PDF, one crop, one made page of each kind
        pick: dict[str, dict[str, Any]] = {}
        for it in out:
            pick.setdefault(it["source"], it)
        out = list(pick.values())
    return out


def run_ocrkit(file: str) -> dict[str, Any]:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from ocrkit import api

    t0 = time.process_time()
    try:
        job = api.ocr(Path(file), tool="extract-tables", language="eng", jobs=1)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {
        "grids": [t.grid() for p in job.pages for t in p.tables],
        "readers": [r for p in job.pages for r in p.extra.get("table_readers", [])],
        "cpu_seconds": round(time.process_time() - t0, 2),
    }


def run_img2table(files: list[str], lang: str = "eng") -> dict[str, dict[str, Any]]:
    py = img2table_python()
    if py is None:
        return {f: {"error": "img2table not installed (make bench-deps)"} for f in files}
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out: dict[str, dict[str, Any]] = {}
    # two processes, half the files each
    halves = [files[0::2], files[1::2]]
    procs = [
        subprocess.Popen(
            [str(py), "-c", IMG2TABLE_SCRIPT, lang, *h],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for h in halves
        if h
    ]
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            msg = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
            for f in files:
                out.setdefault(f, {"error": f"img2table: {msg[0][:300]}"})
            continue
        out.update(json.loads(stdout.decode().strip().splitlines()[-1]))
    return out


def _mean(xs: list[float]) -> float | None:
    return round(statistics.mean(xs), 4) if xs else None


def summarise(rows: list[dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    """Mean F1 and cell accuracy per group and system; groups: every source, every
    half, ruled/unruled within corpus and each half."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        kind = "ruled" if r["ruled"] else "unruled"
        for g in (
            f"source:{r['source']}",
            f"half:{r['half']}",
            f"{r['half']}:{kind}",
            f"all:{kind}",
        ):
            groups.setdefault(g, []).append(r)
    out: dict[str, Any] = {}
    for g, rs in sorted(groups.items()):
        out[g] = {"tables": len(rs)}
        for sy in systems:
            f1 = [r[sy]["f1"] for r in rs if sy in r]
            acc = [r[sy]["cell_accuracy"] for r in rs if sy in r]
            out[g][sy] = {"f1": _mean(f1), "cell_accuracy": _mean(acc)}
    return out


def bench_tables(corpus: Path, work: Path, quick: bool, log: Any = print) -> dict[str, Any]:
    recs = items(corpus, work, quick)
    files = [r["file"] for r in recs]
    log(f"tables: {len(files)} pages, {sum(len(r['tables']) for r in recs)} tables")
    with ProcessPoolExecutor(2) as ex:
        ours = dict(zip(files, ex.map(run_ocrkit, files), strict=True))
    theirs = run_img2table(files)
    rows: list[dict[str, Any]] = []
    for rec in recs:
        for k, t in enumerate(rec["tables"]):
            row: dict[str, Any] = {
                "id": rec["id"],
                "table": k,
                "source": rec["source"],
                "half": rec["half"],
                "ruled": t["ruled"],
            }
            for sy, res in (("ocrkit", ours[rec["file"]]), ("img2table", theirs[rec["file"]])):
                if "error" in res:
                    row[sy] = {"f1": 0.0, "cell_accuracy": 0.0, "error": res["error"]}
                    continue
                f1, acc = metrics.best_table(t["grid"], res["grids"])
                row[sy] = {"f1": round(f1, 4), "cell_accuracy": round(acc, 4)}
                row[sy]["found"] = len(res["grids"])
                if sy == "ocrkit":
                    row[sy]["readers"] = res.get("readers")
            rows.append(row)
    systems = ["ocrkit", "img2table"]
    return {
        "systems": {
            "ocrkit": "extract-tables, default options (language eng; reader chosen per table)",
            "img2table": "img2table TesseractOCR(lang=eng), borderless_tables=True",
        },
        "img2table_available": img2table_python() is not None,
        "summary": summarise(rows, systems),
        "tables": rows,
    }


if __name__ == "__main__":
    corpus = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
    work = ROOT / "bench" / "work"
    res = bench_tables(corpus, work, "--quick" in sys.argv)
    print(json.dumps(res["summary"], indent=1))
    (work / "tables.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
