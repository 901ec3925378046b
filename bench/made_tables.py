"""Made table pages with exact truth grids (seeded): ``python -m bench.made_tables DIR``.

Every page holds one to three tables between lines of running text. A table is ruled
(every row and column line drawn; a spanning cell has no line through it) or unruled
(aligned text only), with or without merged cells (a group header spanning two or more
columns; in ruled tables also a first-column header spanning two rows). Pages come in
three kinds:

* ``scan``: Pillow at 300 dpi (DejaVu Sans, 7-10 pt), a light blur and noise, PNG;
* ``crop``: one table alone at screen resolution (text 11-14 px, like a PubTabNet crop),
  PNG labelled 72 dpi;
* ``pdf``: born-digital, pymupdf (Helvetica, 7-10 pt), read from its text layer.

The truth of a table is its dense grid (a spanning cell's text in its top-left
position, empty elsewhere: what ``Table.grid()`` and the corpus's ``.gt.csv`` write).
Pages are split by a seeded shuffle into two halves: ``tuning`` (may be looked at while
changing the tool) and ``held-out`` (only measured). The same seed gives the same pages.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 1717
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
N_PAGES = 30

LABELS = [
    "Aberdeen",
    "Bristol",
    "Cardiff",
    "Dundee",
    "Exeter",
    "Fulham",
    "Glasgow",
    "Hull",
    "Ipswich",
    "Kendal",
    "Leeds",
    "Luton",
    "Margate",
    "Newport",
    "Oxford",
    "Perth",
    "Reading",
    "Salford",
    "Truro",
    "Wigan",
    "York",
    "Bath",
    "Derby",
    "Ely",
]
THINGS = [
    "apples",
    "barley",
    "cement",
    "diesel",
    "copper",
    "timber",
    "wool",
    "cotton",
    "sugar",
    "coffee",
    "tea",
    "rice",
    "wheat",
    "steel",
    "paper",
    "glass",
    "salt",
    "maize",
    "oats",
    "rubber",
]
HEADS = [
    "Total",
    "Share",
    "Change",
    "Count",
    "Mean",
    "Median",
    "Growth",
    "Price",
    "Volume",
    "Output",
    "Stock",
    "Demand",
    "Cost",
    "Margin",
    "Rate",
    "Index",
    "Sales",
    "Budget",
    "Spend",
    "Yield",
]
GROUPS = ["Year to date", "Last quarter", "Survey results", "Imports by value", "Men and women"]
PROSE = [
    "The",
    "figures",
    "below",
    "were",
    "collected",
    "by",
    "the",
    "regional",
    "offices",
    "during",
    "the",
    "spring",
    "survey",
    "and",
    "checked",
    "against",
    "the",
    "returns",
    "filed",
    "at",
    "the",
    "end",
    "of",
    "the",
    "period",
    "before",
    "they",
    "were",
    "published",
    "in",
    "this",
    "report",
    "for",
    "the",
    "use",
    "of",
    "the",
    "committee",
    "and",
    "the",
    "public",
]


@dataclass
class MadeTable:
    grid: list[list[str]]
    ruled: bool
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)  # r, c, rs, cs
    numeric_right: bool = False


def _number(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"{rng.randint(1, 9999):,}"
    if kind == 1:
        return f"{rng.uniform(0, 100):.1f}%"
    if kind == 2:
        return f"{rng.uniform(-20, 20):+.1f}"
    if kind == 3:
        return str(rng.randint(10, 999))
    return f"{rng.uniform(0, 10):.2f}"


def make_table(rng: random.Random, ruled: bool, merged: bool) -> MadeTable:
    ncols = rng.randint(3, 6)
    nbody = rng.randint(3, 8)
    heads = rng.sample(HEADS, ncols - 1)
    first = rng.choice(["Region", "Item", "Town", "Product", "Site"])
    labels = rng.sample(LABELS if rng.random() < 0.5 else THINGS, nbody)
    if rng.random() < 0.4:  # two-word row labels
        labels = [f"{a} {rng.choice(THINGS)}" for a in labels]
    body = [[lab] + [_number(rng) for _ in range(ncols - 1)] for lab in labels]
    spans: list[tuple[int, int, int, int]] = []
    if merged:
        width = rng.randint(2, ncols - 1)
        start = rng.randint(1, ncols - width)
        group = rng.choice(GROUPS)
        top = [""] * ncols
        top[start] = group
        sub = [""] + heads
        if ruled:
            top[0] = first
            spans.append((0, 0, 2, 1))
            # columns outside the group span both header rows too
            for c in range(1, ncols):
                if not start <= c < start + width:
                    top[c], sub[c] = sub[c], ""
                    spans.append((0, c, 2, 1))
        else:
            sub[0] = first
        spans.append((0, start, 1, width))
        grid = [top, sub, *body]
    else:
        grid = [[first, *heads], *body]
    return MadeTable(grid, ruled, spans, numeric_right=rng.random() < 0.5)


# ------------------------------------------------------------------------- layout


@dataclass
class Placed:
    xs: list[float]  # column edges
    ys: list[float]  # row edges
    texts: list[tuple[str, float, float, bool]]  # text, x (left), row top, bold
    size: float


def layout(
    t: MadeTable, left: float, top: float, size: float, pad: float, measure: Callable[..., float]
) -> Placed:
    ncols = len(t.grid[0])
    covered: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for r, c, rs, cs in t.spans:
        for rr in range(r, r + rs):
            for cc in range(c, c + cs):
                covered[(rr, cc)] = (r, c, rs, cs)
    widths = [0.0] * ncols
    for r, row in enumerate(t.grid):
        for c, text in enumerate(row):
            span = covered.get((r, c))
            if span and span[3] > 1:
                continue
            widths[c] = max(widths[c], measure(text, r == 0) + 2 * pad)
    for r, c, _rs, cs in t.spans:
        need = measure(t.grid[r][c], r == 0) + 2 * pad
        have = sum(widths[c : c + cs])
        if need > have:
            widths[c + cs - 1] += need - have
    xs = [left]
    for w in widths:
        xs.append(xs[-1] + w)
    row_h = size * 1.9
    ys = [top + row_h * i for i in range(len(t.grid) + 1)]
    texts = []
    for r, row in enumerate(t.grid):
        for c, text in enumerate(row):
            if not text:
                continue
            span = covered.get((r, c), (r, c, 1, 1))
            x0, x1 = xs[c], xs[c + span[3]]
            w = measure(text, r == 0)
            if span[3] > 1:
                x = (x0 + x1 - w) / 2  # a group header is centred over its columns
            elif t.numeric_right and c > 0 and r >= (2 if t.spans else 1):
                x = x1 - pad - w
            else:
                x = x0 + pad
            y = (ys[r] + ys[r + span[2]]) / 2 - size / 2
            texts.append((text, x, y, r == 0))
    return Placed(xs, ys, texts, size)


def _lines(t: MadeTable, p: Placed) -> list[tuple[float, float, float, float]]:
    """Ruling lines (x0, y0, x1, y1): every boundary except through a spanning cell."""
    if not t.ruled:
        return []
    nr, nc = len(t.grid), len(t.grid[0])
    cell_of: dict[tuple[int, int], tuple[int, int]] = {}
    for r, c, rs, cs in t.spans:
        for rr in range(r, r + rs):
            for cc in range(c, c + cs):
                cell_of[(rr, cc)] = (r, c)
    owner = {(r, c): cell_of.get((r, c), (r, c)) for r in range(nr) for c in range(nc)}
    out = []
    for i, y in enumerate(p.ys):  # horizontal segments, one per column
        for c in range(nc):
            if 0 < i < nr and owner[(i - 1, c)] == owner[(i, c)]:
                continue
            out.append((p.xs[c], y, p.xs[c + 1], y))
    for j, x in enumerate(p.xs):
        for r in range(nr):
            if 0 < j < nc and owner[(r, j - 1)] == owner[(r, j)]:
                continue
            out.append((x, p.ys[r], x, p.ys[r + 1]))
    return out


def _prose_lines(rng: random.Random, n: int, words: int) -> list[str]:
    out = []
    for _ in range(n):
        k = rng.randrange(len(PROSE))
        out.append(" ".join(PROSE[(k + i) % len(PROSE)] for i in range(words)).capitalize())
    return out


# ------------------------------------------------------------------------- pages


def _pillow_page(path: Path, rng: random.Random, tables: list[MadeTable], crop: bool) -> None:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    size = rng.randint(11, 14) if crop else rng.randint(30, 42)  # px
    font = ImageFont.truetype(FONT, size)
    bold = ImageFont.truetype(FONT_BOLD, size)

    def measure(text: str, b: bool = False) -> float:
        return (bold if b else font).getlength(text)

    pad = size * rng.uniform(0.7, 1.2)
    width = 1400 if crop else 2000
    placed: list[tuple[MadeTable, Placed]] = []
    prose: list[tuple[str, float, float]] = []
    y = size * 1.5 if crop else 150.0
    for t in tables:
        if not crop:
            for line in _prose_lines(rng, rng.randint(1, 3), 11):
                prose.append((line, 150.0, y))
                y += size * 1.6
            y += size
        p = layout(t, size if crop else 150.0, y, size, pad, measure)
        placed.append((t, p))
        y = p.ys[-1] + size * 1.5
    if not crop:
        for line in _prose_lines(rng, 2, 11):
            prose.append((line, 150.0, y))
            y += size * 1.6
    right = max([p.xs[-1] for _, p in placed] + [x + measure(t) for t, x, _ in prose])
    width = int(right + (size if crop else 200))
    height = int(y + (size if crop else 150))
    img = Image.new("L", (max(width, 300), height), 255)
    d = ImageDraw.Draw(img)
    lw = 1 if crop else 3
    for t, p in placed:
        for x0, y0, x1, y1 in _lines(t, p):
            d.line([(x0, y0), (x1, y1)], fill=0, width=lw)
        for text, x, ty, b in p.texts:
            d.text((x, ty), text, font=bold if b else font, fill=0)
    for text, x, ty in prose:
        d.text((x, ty), text, font=font, fill=0)
    if not crop:  # a scan: slightly soft, with noise
        import numpy as np

        img = img.filter(ImageFilter.GaussianBlur(0.8))
        arr = np.asarray(img).astype("int16")
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 12, arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype("uint8"))
    img.save(path, dpi=(72, 72) if crop else (300, 300))


def _pdf_page(path: Path, rng: random.Random, tables: list[MadeTable]) -> None:
    import pymupdf

    size = rng.uniform(7.5, 10)

    def measure(text: str, b: bool = False) -> float:
        return pymupdf.get_text_length(text, fontname="hebo" if b else "helv", fontsize=size)

    pad = size * rng.uniform(0.7, 1.2)
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    y = 60.0
    for t in tables:
        for line in _prose_lines(rng, rng.randint(1, 3), 12):
            page.insert_text((50, y + size), line, fontsize=size)
            y += size * 1.5
        y += size
        p = layout(t, 50, y, size, pad, measure)
        for x0, y0, x1, y1 in _lines(t, p):
            page.draw_line((x0, y0), (x1, y1), width=0.6)
        for text, x, ty, b in p.texts:
            page.insert_text(
                (x, ty + size * 0.8), text, fontsize=size, fontname="hebo" if b else "helv"
            )
        y = p.ys[-1] + size * 1.5
    for line in _prose_lines(rng, 2, 12):
        page.insert_text((50, y + size), line, fontsize=size)
        y += size * 1.5
    doc.save(path)


def generate(out: Path, seed: int = SEED, n_pages: int = N_PAGES) -> list[dict[str, Any]]:
    """Write the pages to ``out``; return one record per page: id, file, kind, half,
    tables ([{grid, ruled, merged}])."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kinds = ["scan", "pdf", "crop"]
    order = list(range(n_pages))
    rng.shuffle(order)
    held = set(order[: n_pages // 2])
    records = []
    for i in range(n_pages):
        kind = kinds[i % 3]
        n = 1 if kind == "crop" else rng.choice([1, 2, 2, 3])
        tables = []
        for k in range(n):
            ruled = (i + k) % 2 == 0
            tables.append(make_table(rng, ruled, merged=rng.random() < 0.4))
        name = f"made_{i:02d}_{kind}"
        path = out / (name + (".pdf" if kind == "pdf" else ".png"))
        if kind == "pdf":
            _pdf_page(path, rng, tables)
        else:
            _pillow_page(path, rng, tables, crop=kind == "crop")
        records.append(
            {
                "id": name,
                "file": str(path),
                "kind": kind,
                "half": "held-out" if i in held else "tuning",
                "tables": [
                    {"grid": t.grid, "ruled": t.ruled, "merged": bool(t.spans)} for t in tables
                ],
            }
        )
    (out / "truth.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    return records


if __name__ == "__main__":
    recs = generate(Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/made_tables"))
    n = sum(len(r["tables"]) for r in recs)
    print(f"{len(recs)} pages, {n} tables")
