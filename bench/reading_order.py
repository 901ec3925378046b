"""Reading order: Kendall's tau between a reader's line order and the truth's (issue 17).

For each page with a known order (the truth file lists lines in reading order), the
truth's lines are matched to the reader's lines fuzzily (rapidfuzz ratio >= 70, each
line used once, best pairs first; a reader's line may hold two truth lines when it ran
across a column gutter, so a truth line is also matched to a reader line it is a part
of, by partial ratio >= 90). The matched truth lines, taken in truth order, give a
sequence of positions in the reader's text; tau = (concordant - discordant pairs) /
all pairs (1: same order, -1: reversed). Lines that match nothing are reported
(``matched`` share), not scored.

Readers: ocrkit (tesseract engine, the manifest's language) and raw ``tesseract IMG
stdout`` on the same pages; pages: the corpus's UNLV, docling and other printed pages,
made two- and three-column pages with a sidebar (bench/handpages is not used: the
made pages here are print, rendered with DejaVu Serif, order known), and pages from
outside the corpus (bench/data/reading_order/, SOURCE.md there: a UNLV magazine page
and five French book pages) split into a tuning and a held-out set before any layout
change (each row's ``split``). Each row also gives both readers' CER against the truth,
so a better order shows as a lower CER on the same words.

    .venv/bin/python -m bench.reading_order [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("OCRKIT_CORPUS", ROOT.parent / "shared" / "corpus"))
ISO = {"en": "eng", "fr": "fra", "de": "deu", "ar": "ara"}
OUTSIDE = ROOT / "bench" / "data" / "reading_order"
# Fixed before the layout was tuned on any of them (bench/data/reading_order/SOURCE.md).
TUNING = ("unlv_8087_054", "kovalewsky_fr_p72", "kovalewsky_fr_p74")
HELD_OUT = ("kovalewsky_fr_p73", "kovalewsky_fr_p75", "kovalewsky_fr_p76")


def outside_pages() -> list[tuple[str, Path, str, dict[str, str], str]]:
    """(id, image, truth, {"language"}, split) for the pages from outside the corpus."""
    pages = []
    for split, ids in (("tuning", TUNING), ("held-out", HELD_OUT)):
        for pid in ids:
            img = next(OUTSIDE.glob(f"{pid}.*[!t]"))  # .tif / .jpg, not .gt.txt
            truth = (OUTSIDE / f"{pid}.gt.txt").read_text(encoding="utf-8")
            lang = "fr" if "_fr_" in pid else "en"
            pages.append((pid, img, truth, {"language": lang}, split))
    return pages


def _lines(text: str) -> list[str]:
    return [" ".join(ln.split()) for ln in text.splitlines() if len(ln.strip()) >= 3]


def kendall_tau(truth: str, hyp: str) -> dict[str, Any]:
    """Tau between the truth's line order and ``hyp``'s (see the module docstring)."""
    from rapidfuzz import fuzz

    t, h = _lines(truth), _lines(hyp)
    pairs = []
    for i, a in enumerate(t):
        for j, b in enumerate(h):
            r = fuzz.ratio(a, b)
            if r >= 70:
                pairs.append((r, i, j))
    pairs.sort(reverse=True)
    used_t: set[int] = set()
    used_h: set[int] = set()
    pos: dict[int, float] = {}
    for _, i, j in pairs:
        if i in used_t or j in used_h:
            continue
        used_t.add(i)
        used_h.add(j)
        pos[i] = j
    # a truth line inside a longer reader line (lines joined across a gutter)
    for i, a in enumerate(t):
        if i in pos or len(a) < 12:
            continue
        best = max(((fuzz.partial_ratio(a, b), j) for j, b in enumerate(h)), default=(0, -1))
        if best[0] >= 90:
            b = h[best[1]]
            at = b.find(a[:10])
            pos[i] = best[1] + (max(at, 0) / max(1, len(b))) * 0.99
    seq = [pos[i] for i in sorted(pos)]
    n = len(seq)
    conc = disc = 0
    for x in range(n):
        for y in range(x + 1, n):
            if seq[x] < seq[y]:
                conc += 1
            elif seq[x] > seq[y]:
                disc += 1
    total = n * (n - 1) / 2
    return {
        "truth_lines": len(t),
        "matched": round(n / len(t), 3) if t else None,
        "tau": round((conc - disc) / total, 4) if total else None,
    }


# The made pages' text (a word cycle; lines repeat rarely at these widths).
WORDS = (
    "the",
    "council",
    "met",
    "again",
    "in",
    "the",
    "spring",
    "to",
    "discuss",
    "the",
    "new",
    "road",
    "and",
    "the",
    "price",
    "of",
    "coal",
    "for",
    "the",
    "coming",
    "winter",
    "while",
    "the",
    "school",
    "asked",
    "for",
    "more",
    "chairs",
    "and",
    "a",
    "stove",
    "and",
    "the",
    "mill",
    "owner",
    "wrote",
    "that",
    "the",
    "bridge",
    "must",
    "be",
    "repaired",
    "before",
    "the",
    "harvest",
    "because",
    "carts",
    "can",
    "no",
    "longer",
    "cross",
    "it",
    "safely",
    "after",
    "rain",
)


def _fill(d: Any, font: Any, words: tuple[str, ...], k: int, width: float) -> tuple[str, int]:
    """The words from the ``k``-th on (cycling) that fit ``width`` px on one line, and
    the index of the next word."""
    line: list[str] = []
    while True:
        nxt = " ".join([*line, words[k % len(words)]])
        if d.textlength(nxt, font=font) > width:
            return " ".join(line), k
        line.append(words[k % len(words)])
        k += 1


def made_pages(out: Path) -> list[tuple[str, Path, str]]:
    """Two- and three-column pages, one with a sidebar box, and a magazine page with a
    caption in the gutter (:func:`made_magazine`): (id, png, truth text)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 26)
    head = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", 44)
    pages = []
    for name, cols, sidebar in (
        ("made_2col", 2, False),
        ("made_3col", 3, False),
        ("made_sidebar", 2, True),
    ):
        w, h = 2000, 2600
        img = Image.new("L", (w, h), 255)
        d = ImageDraw.Draw(img)
        truth = ["Parish news and notices"]
        d.text((150, 120), truth[0], font=head, fill=0)
        gutter = 80
        left, right = 150, w - 150
        colw = (right - left - gutter * (cols - 1)) // cols
        k = 0
        for c in range(cols):
            x = left + c * (colw + gutter)
            y = 260
            n_lines = 30 if not (sidebar and c == 1) else 14
            for _ in range(n_lines):
                text, k = _fill(d, font, WORDS, k, colw)
                d.text((x, y), text, font=font, fill=0)
                truth.append(text)
                y += 44
            if sidebar and c == 1:
                y += 60
                d.rectangle((x - 20, y - 20, x + colw + 10, y + 44 * 8 + 20), outline=0, width=3)
                for i in range(8):
                    text = f"Notice {i + 1}: collection on day {i + 3} of the month"
                    d.text((x, y), text, font=font, fill=0)
                    truth.append(text)
                    y += 44
        path = out / f"{name}.png"
        img.save(path, dpi=(300, 300))
        pages.append((name, path, "\n".join(truth)))
    pages.append(made_magazine(out / "made_magazine.png"))
    return pages


def made_magazine(path: Path, words: tuple[str, ...] = ()) -> tuple[str, Path, str]:
    """A magazine spread like UNLV 8087_054: two columns; a picture straddles the gutter
    and both columns wrap around it; its caption (small capitals, centred on the gutter)
    sits between the columns' lines below the picture. Order: heading, left column,
    right column, caption."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 26)
    small = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 20)
    head = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", 44)
    words = words or WORDS
    w, h = 2000, 2600
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    truth = ["Harbour works and the new ferry"]
    d.text((150, 120), truth[0], font=head, fill=0)
    pic = (700, 800, 1300, 1300)  # x0, y0, x1, y1 of the picture
    cap_top, cap_lines = 1330, 5
    cap_bottom = cap_top + cap_lines * 36
    d.rectangle(pic, fill=110)
    k = 0
    for x0, x1 in ((150, 950), (1050, 1850)):
        y = 260
        while y < 2400:
            if pic[1] - 20 <= y <= cap_bottom + 10:
                # beside the picture and its caption: the column wraps around them
                a, b = (x0, pic[0] - 50) if x0 < pic[0] else (pic[2] + 50, x1)
            else:
                a, b = x0, x1
            text, k = _fill(d, font, words, k, b - a)
            d.text((a, y), text, font=font, fill=0)
            truth.append(text)
            y += 44
    caption = [
        "THE NEW FERRY",
        "AT THE PIER",
        "AFTER THE STORM,",
        "PAINTED AGAIN",
        "IN MAY.",
    ]
    for i, text in enumerate(caption):
        tw = d.textlength(text, font=small)
        d.text((w / 2 - tw / 2, cap_top + i * 36), text, font=small, fill=0)
    truth += caption
    img.save(path, dpi=(300, 300))
    return ("made_magazine", path, "\n".join(truth))


def bench_reading_order(quick: bool = False) -> dict[str, Any]:
    from bench.metrics import cer
    from ocrkit import api

    os.environ["OMP_THREAD_LIMIT"] = "1"
    rows = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(), delimiter="\t"))
    want = [
        r
        for r in rows
        if (r["category"] == "printed" and (r["id"].startswith(("unlv", "tess", "kovalewsky"))))
        or (r["category"] == "pdf" and r["id"].startswith("docling"))
    ]
    if quick:
        want = [r for r in want if r["id"] in ("unlv_8071_093", "docling_multi_page")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pages = [
            (
                r["id"],
                CORPUS / r["file"],
                (CORPUS / r["truth"]).read_text(encoding="utf-8"),
                r,
                "corpus",
            )
            for r in want
        ]
        pages += [(i, p, t, {"language": "en"}, "made") for i, p, t in made_pages(Path(tmp))]
        outside = outside_pages()
        pages += outside[:1] if quick else outside
        for pid, path, truth, r, split in pages:
            lang = "+".join(ISO.get(c, "eng") for c in r["language"].split("+"))
            job = api.ocr(path, engine="tesseract", language=lang, jobs=1)
            ours = "\f".join(p.text for p in job.pages)
            raw = _raw_tesseract(path, lang, Path(tmp))
            t_ours = [
                kendall_tau(a, b) for a, b in zip(truth.split("\f"), ours.split("\f"), strict=False)
            ]
            t_raw = [
                kendall_tau(a, b) for a, b in zip(truth.split("\f"), raw.split("\f"), strict=False)
            ]
            results.append(
                {
                    "id": pid,
                    "split": split,
                    "ocrkit": {**_mean(t_ours), "cer": round(cer(truth, ours), 4)},
                    "tesseract": {**_mean(t_raw), "cer": round(cer(truth, raw), 4)},
                    "text_layer": any(p.source == "text-layer" for p in job.pages),
                }
            )
    worse = [
        r["id"] for r in results if (r["ocrkit"]["tau"] or 0) < (r["tesseract"]["tau"] or 0) - 1e-9
    ]
    return {"pages": results, "ocrkit_worse_than_tesseract": worse}


def _mean(per_page: list[dict[str, Any]]) -> dict[str, Any]:
    taus = [p["tau"] for p in per_page if p["tau"] is not None]
    matched = [p["matched"] for p in per_page if p["matched"] is not None]
    return {
        "tau": round(sum(taus) / len(taus), 4) if taus else None,
        "matched": round(sum(matched) / len(matched), 3) if matched else None,
    }


def _raw_tesseract(path: Path, lang: str, tmp: Path) -> str:
    """Raw ``tesseract`` on the page image(s); a PDF's pages rendered at 300 dpi."""
    images = [path]
    if path.suffix.lower() == ".pdf":
        import pymupdf

        images = []
        with pymupdf.open(path) as doc:
            for i, pg in enumerate(doc):
                f = tmp / f"{path.stem}-{i}.png"
                pg.get_pixmap(dpi=300).save(f)
                images.append(f)
    texts = []
    for p in images:
        r = subprocess.run(
            ["tesseract", str(p), "stdout", "-l", lang],
            capture_output=True,
            check=True,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
        texts.append(r.stdout.decode("utf-8", "replace"))
    return "\f".join(texts)


def markdown(r: dict[str, Any]) -> list[str]:
    """The section's lines for the bench report."""
    out = [
        "## Reading order: Kendall tau of the line order vs the truth",
        "",
        "| page | set | ocrkit tau | raw tesseract tau | lines matched (ocrkit / tesseract)"
        " | CER (ocrkit / tesseract) |",
        "|---|---|---|---|---|---|",
    ]
    for p in r.get("pages", []):
        o, t = p["ocrkit"], p["tesseract"]
        out.append(
            f"| {p['id']} | {p.get('split', '')} | {o['tau']} | {t['tau']} | "
            f"{o['matched']} / {t['matched']} | {o.get('cer')} / {t.get('cer')} |"
        )
    worse = r.get("ocrkit_worse_than_tesseract") or []
    out += ["", f"Pages where ocrkit's order is worse than Tesseract's: {len(worse)}.", ""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(json.dumps(bench_reading_order(args.quick), indent=1))


if __name__ == "__main__":
    main()
