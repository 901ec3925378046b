"""``auto`` against the right language on handwritten lines nothing was tuned on.

    python -m bench.handwriting_line_crops [--set old|new|both] [--half tune|test|all]
        [--out F] [--limit N]

Two sets of line crops (``--set``, default both):

- ``old``: the lines of the corpus's 7 handwritten pages (below);
- ``new``: 304 lines of 21 other pages (202 lines of 11 French Poilus wills of the
  same repository's ``data/batch-2``; 102 handwritten lines of 10 English Stanford
  letters), cut by ``bench/data/make_handwriting_line_crops.py`` into
  ``bench/data/handwriting_line_crops/`` with their halves fixed there before any run
  (per source, the picked pages alternate tune, test, ...): tune 161 lines (108
  French on 6 pages, 53 English on 6), test 143 (94 French on 5 pages, 49 English
  on 4).

The corpus's handwriting category holds 8 line images and 7 pages; ``auto``'s rule for
unsure handwritten lines (ocrkit/page/autolang.py, "Latin" model for a line-shaped image)
was tuned on the 4 tune-half lines, and the choice of "line-shaped" (the image's shape,
not one band of ink) was seen on the test half (docs/languages.md says so). This is
a fresh check on other lines: every annotated line of the corpus's full handwritten
pages (``bench/data/handwriting_lines.json``: the datasets' own ALTO boxes and text,
CC-BY-4.0, not OCR), cut out of the page image by its box, read with the right
language and with ``auto`` (``bench.languages.read``). Reported: mean CER of each and
auto - right, per half and per source (French Poilus wills, the English Stanford letter).

Halves (:func:`page_halves`, fixed): by source page, so no page's lines fall in both;
the 7 pages in sorted id order alternate tune, test, tune, ... Rules of ``auto`` may be
chosen on the tune half's lines only; the test half is read once, at the end, and
reported whatever it gives. The split (recorded in the output's ``halves``):

    tune  poilus_page_AD78_0063-0 (11 lines), poilus_page_AN_0057-0 (12),
          poilus_page_AN_0218-0 (20), stanford1905_page_SC0033B_s4_b01_f14_i093 (18)
    test  poilus_page_AN_0001-0 (13), poilus_page_AN_0079-0 (7), poilus_page_AN_0232-0 (19)

(61 tune lines, 43 of them French; 39 test lines, all French: the one English page
falls in the tune half.)
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
NEW = ROOT / "bench" / "data" / "handwriting_line_crops"
SETS = ("old", "new", "both")


HALVES = ("tune", "test", "all")


def _manifest() -> dict[str, dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}


def _pages(manifest: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The annotated handwritten page images, by id (the PDF's pages are left out: they
    are rendered at another size than annotated)."""
    pages = json.loads(LINES.read_text(encoding="utf-8"))
    return {
        sid: page
        for sid, page in sorted(pages.items())
        if sid in manifest and manifest[sid]["category"] == "handwriting"
    }


def page_halves(page_ids: list[str]) -> dict[str, str]:
    """Page id -> ``tune``/``test``: sorted ids alternate, the first tune (fixed; see
    the module docstring)."""
    return {sid: "tune" if i % 2 == 0 else "test" for i, sid in enumerate(sorted(page_ids))}


def line_samples(outdir: Path, limit: int | None = None, half: str = "all") -> list[dict[str, str]]:
    """One sample per annotated line of the corpus's handwritten page images (of
    ``half``'s pages only, unless ``all``)."""
    from PIL import Image

    manifest = _manifest()
    pages = _pages(manifest)
    halves = page_halves(list(pages))
    out: list[dict[str, str]] = []
    for sid, page in pages.items():
        row = manifest[sid]
        if half != "all" and halves[sid] != half:
            continue
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
                    "half": halves[sid],
                    "page": sid,
                    "kind": "stanford" if sid.startswith("stanford") else "poilus",
                }
            )
    return out[:limit] if limit else out


def new_samples(outdir: Path, limit: int | None = None, half: str = "all") -> list[dict[str, str]]:
    """One sample per line of the new set (of ``half``'s pages only, unless ``all``)."""
    out: list[dict[str, str]] = []
    with (NEW / "lines.tsv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if half != "all" and row["half"] != half:
                continue
            truth = outdir / f"{row['id']}.gt.txt"
            truth.write_text(row["truth"] + "\n", encoding="utf-8")
            out.append(
                {
                    "set": "handwriting-line-crops-new",
                    "id": row["id"],
                    "category": "handwriting",
                    "file": str(NEW / row["file"]),
                    "truth": str(truth),
                    "language": row["language"],
                    "half": row["half"],
                    "page": row["page"],
                    "kind": row["page"].split("_", 1)[0],
                }
            )
    return out[:limit] if limit else out


def samples(outdir: Path, which: str, limit: int | None, half: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if which in ("old", "both"):
        out += line_samples(outdir, None, half)
    if which in ("new", "both"):
        out += new_samples(outdir, None, half)
    return out[:limit] if limit else out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    ap.add_argument("--limit", type=int, default=None, help="only the first N lines")
    ap.add_argument(
        "--half", choices=HALVES, default="tune", help="which pages' lines (default: tune)"
    )
    ap.add_argument("--set", choices=SETS, default="both", help="which line set (default: both)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [_pair(s) for s in samples(Path(tmp), args.set, args.limit, args.half)]
    summary = summarise(rows)
    print(json.dumps(summary, indent=1))
    if args.out:
        halves = page_halves(list(_pages(_manifest())))
        split = {h: [p for p, v in halves.items() if v == h] for h in ("tune", "test")}
        read = {"half": args.half, "set": args.set}
        args.out.write_text(
            json.dumps({"halves": split, "read": read, "summary": summary, "rows": rows}, indent=1)
        )
    return 0


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean CER of right and auto, and auto - right, per set, half and source (the old
    set's at the top level, as before the new set; the new set's under ``new``)."""
    summary = _summarise([r for r in rows if r["set"] == "handwriting-line-crops"])
    new = [r for r in rows if r["set"] == "handwriting-line-crops-new"]
    if new:
        summary["new"] = _summarise(new)
    return summary


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [r for r in rows if "error" in r["right"] or "error" in r["auto"]]
    good = [r for r in rows if r not in bad]
    summary: dict[str, Any] = {"lines": len(rows), "errors": len(bad)}
    for half in sorted({r["half"] for r in good}):
        out = summary.setdefault(half, {})
        for kind in sorted({r["kind"] for r in good if r["half"] == half}) + ["all"]:
            part = [r for r in good if r["half"] == half and kind in ("all", r["kind"])]
            right = statistics.fmean(r["right"]["cer"] for r in part)
            auto = statistics.fmean(r["auto"]["cer"] for r in part)
            out[kind] = {
                "n": len(part),
                "right": round(right, 4),
                "auto": round(auto, 4),
                "auto_minus_right": round(auto - right, 4),
                "latin_reads": sum(any("Latin" in m for m in r["auto"]["models"]) for r in part),
            }
    return summary


if __name__ == "__main__":
    sys.exit(main())
