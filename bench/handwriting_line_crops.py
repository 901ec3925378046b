"""``auto`` against the right language on handwritten lines nothing was tuned on.

    python -m bench.handwriting_line_crops [--out F] [--limit N]

The corpus's handwriting category holds 8 line images and 7 pages; ``auto``'s rule for
unsure handwritten lines (ocrkit/page/autolang.py, "Latin" model for a line-shaped image)
was tuned on the 4 tune-half lines, and the choice of "line-shaped" (the image's shape,
not one band of ink) was seen on the test half (docs/languages.md says so). This is
a fresh check on other lines: every annotated line of the corpus's full handwritten
pages (``bench/data/handwriting_lines.json``: the datasets' own ALTO boxes and text,
CC-BY-4.0, not OCR), cut out of the page image by its box, read with the right
language and with ``auto`` (``bench.languages.read``). Reported: mean CER of each and
auto - right, per source (French Poilus wills, the English Stanford letter).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.languages import CORPUS, _pair

ROOT = Path(__file__).resolve().parent.parent
LINES = ROOT / "bench" / "data" / "handwriting_lines.json"


def line_samples(outdir: Path, limit: int | None = None) -> list[dict[str, str]]:
    """One sample per annotated line of the corpus's handwritten page images."""
    from PIL import Image

    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as f:
        manifest = {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}
    pages = json.loads(LINES.read_text(encoding="utf-8"))
    out: list[dict[str, str]] = []
    for sid, page in sorted(pages.items()):
        row = manifest.get(sid)
        if row is None or row["category"] != "handwriting":
            continue  # the PDF's pages: rendered at another size than annotated
        image = Image.open(CORPUS / row["file"])
        image.load()
        for i, line in enumerate(page["lines"]):
            text = line["text"].strip()
            if len(text) < 3:
                continue  # a lone mark or number: CER of one character says nothing
            x0, y0, x1, y1 = (int(round(v)) for v in line["box"])
            crop = image.crop((max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1)))
            if crop.width < 8 or crop.height < 8:
                continue
            name = f"{sid}_line{i:02d}"
            path = outdir / f"{name}.png"
            crop.save(path, dpi=(300, 300))
            truth = outdir / f"{name}.gt.txt"
            truth.write_text(text + "\n", encoding="utf-8")
            out.append(
                {
                    "set": "handwriting-line-crops",
                    "id": name,
                    "category": "handwriting",
                    "file": str(path),
                    "truth": str(truth),
                    "language": row["language"],
                    "half": "fresh",
                    "kind": "stanford" if sid.startswith("stanford") else "poilus",
                }
            )
    return out[:limit] if limit else out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--limit", type=int, default=None, help="only the first N lines")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_pair(s) for s in line_samples(Path(tmp), args.limit)]
    bad = [r for r in rows if "error" in r["right"] or "error" in r["auto"]]
    good = [r for r in rows if r not in bad]
    summary: dict[str, Any] = {"lines": len(rows), "errors": len(bad)}
    for kind in sorted({r["kind"] for r in good}) + ["all"]:
        part = [r for r in good if kind in ("all", r["kind"])]
        right = statistics.fmean(r["right"]["cer"] for r in part)
        auto = statistics.fmean(r["auto"]["cer"] for r in part)
        summary[kind] = {
            "n": len(part),
            "right": round(right, 4),
            "auto": round(auto, 4),
            "auto_minus_right": round(auto - right, 4),
            "latin_reads": sum(any("Latin" in m for m in r["auto"]["models"]) for r in part),
        }
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
