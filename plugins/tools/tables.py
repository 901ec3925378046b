"""The ``extract-tables`` tool: find tables on a page and recover their grids.

Runs in the page worker after the engine (or the PDF text layer), on the upright page
image and the page's words (OCR words, or a text-layer page's own words; lines the
layout called furniture count too). Two finders:

* **Ruled tables** (:func:`ruled_tables`): OpenCV line detection. The image is binarised,
  morphological openings with long thin kernels keep horizontal and vertical strokes
  (filled areas are removed), and each connected set of lines is a candidate. Its row
  and column boundaries are the clustered line positions (a missing outer border is
  added from the lines' extent). Two neighbouring grid positions belong to one
  (spanning) cell when the boundary between them is drawn over less than half of their
  common side. A candidate is a table when it has at least 2 columns, at least two
  horizontal lines that cross its whole width, vertical lines that end on horizontal
  ones (a chart frame with rounded corners does not), and text in at least half of its
  cells. Ruling lines OCR read as ``|`` at a cell's edge are dropped.
* **Unruled tables** (:func:`unruled_tables`): word positions. Words are grouped into
  text lines (vertical overlap); each line is split into *chunks* where the space
  between two words is wider than :data:`GAP` line heights. Runs of lines with two or
  more chunks (single-chunk lines in between are kept: section rows, wrapped cells;
  running text ends a run) form a candidate region; its columns are the x-ranges
  separated by gaps that at most :data:`GAP_TOLERANCE` of its multi-chunk lines cross
  (two columns need a gap of :data:`TWO_COLUMN_GAP` line heights). Where most lines
  have a chunk boundary but a few have one chunk across it (an engine that boxed two
  cells as one), that gap counts too and those chunks are split there. A chunk that
  still crosses a column gap is a spanning cell. A line that only continues text in
  columns the line above filled up to the column edge (a wrapped cell) joins that row.
  A region is a table with at least 2 columns and 3 multi-chunk rows, and not when two
  of its columns hold running text (an article in columns is not a table).

Cells get ``row``, ``col``, ``row_span``, ``col_span``, ``text`` (their words in reading
order) and ``bbox``; each table gets its ``bbox``. Blocks whose centre lies inside a
table become ``type="table"`` and the page's text and Markdown are rendered again
(:func:`ocrkit.layout.render_page`), so Markdown shows the tables as pipe tables where
they stand. Accuracy on the corpus: README "Tables"; ``tests/table_eval.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import TYPE_CHECKING, Any, ClassVar

from ocrkit import hookimpl
from ocrkit.hookspecs import Tool
from ocrkit.models import Cell, Page, Table

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# A space wider than this many line heights separates two chunks (cells) of a line.
GAP = 0.9
# A column gap may be crossed by this fraction of a region's multi-chunk lines
# (spanning headers).
GAP_TOLERANCE = 0.2
# A table of only two columns needs a gap this many line heights wide between them.
TWO_COLUMN_GAP = 2.0
# Text-like column (running text, not cells): its chunks' median width is more than
# TEXT_COLUMN of the region, or their median length is TEXT_WORDS words or more.
TEXT_COLUMN = 0.3
TEXT_WORDS = 4


@dataclass
class W:
    """A word in page pixels."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def h(self) -> float:
        return max(1.0, self.y1 - self.y0)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def page_words(page: Page) -> list[W]:
    out: list[W] = []
    for b in page.blocks:
        # Furniture counts: a figure in a table's first or last row, near the page's
        # edge, looks like a page number to the layout (a table crop has no margins).
        if b.bbox is None:
            continue
        for w in b.words or []:
            if w.text.strip():
                out.append(W(w.text.strip(), *w.bbox))
        if not b.words and b.text.strip():
            out.append(W(b.text.strip(), *b.bbox))
    return out


def _box(ws: list[W]) -> list[float]:
    return [
        round(min(w.x0 for w in ws), 1),
        round(min(w.y0 for w in ws), 1),
        round(max(w.x1 for w in ws), 1),
        round(max(w.y1 for w in ws), 1),
    ]


def text_lines(words: list[W]) -> list[list[W]]:
    """Words grouped into lines by vertical overlap, top to bottom, each left to right."""
    lines: list[list[W]] = []
    bands: list[list[float]] = []  # [y0, y1] per line
    for w in sorted(words, key=lambda w: (w.cy, w.x0)):
        best, best_ov = -1, 0.0
        for i in range(len(lines) - 1, max(-1, len(lines) - 4), -1):
            y0, y1 = bands[i]
            ov = min(y1, w.y1) - max(y0, w.y0)
            ratio = ov / max(1.0, min(y1 - y0, w.h))
            if ratio > 0.5 and ratio > best_ov:
                best, best_ov = i, ratio
        if best < 0:
            lines.append([w])
            bands.append([w.y0, w.y1])
        else:
            lines[best].append(w)
            # The band follows the line's median extent, not its tallest word.
            ys0 = sorted(x.y0 for x in lines[best])
            ys1 = sorted(x.y1 for x in lines[best])
            bands[best] = [ys0[len(ys0) // 2], ys1[len(ys1) // 2]]
    for line in lines:
        line.sort(key=lambda w: w.x0)
    return lines


def cell_text(ws: list[W]) -> str:
    return " ".join(" ".join(w.text for w in line) for line in text_lines(ws))


# ------------------------------------------------------------------------ ruled tables


def _segments(mask: np.ndarray, horizontal: bool) -> list[tuple[int, int, int, int]]:
    import cv2

    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        out.append((int(x), int(y), int(x + w), int(y + h)))
    return out


def _cluster(values: list[tuple[float, float, float]], tol: float) -> list[list[Any]]:
    """Cluster (position, start, end) triples by position: [[position, [(start, end)...]]].
    Positions within ``tol`` of the cluster's last one join it."""
    out: list[list[Any]] = []
    for pos, a, b in sorted(values):
        if out and pos - out[-1][2][-1] <= tol:
            grp = out[-1]
            grp[1].append((a, b))
            grp[2].append(pos)
            grp[0] = sum(grp[2]) / len(grp[2])
        else:
            out.append([pos, [(a, b)], [pos]])
    return [[g[0], g[1]] for g in out]


def _coverage(spans: list[tuple[float, float]], a: float, b: float) -> float:
    """Fraction of [a, b] covered by the union of spans."""
    if b <= a:
        return 0.0
    total, cur = 0.0, a
    for s, e in sorted(spans):
        s, e = max(s, cur), min(e, b)
        if e > s:
            total += e - s
            cur = e
    return total / (b - a)


def line_masks(gray: np.ndarray, dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary masks of the horizontal and vertical ruling lines of a page image."""
    import cv2
    import numpy as np

    bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 12)
    length = max(20, int(dpi * 0.2))  # 5 mm: longer than any glyph stroke
    thick = max(5, int(dpi * 0.03))  # thicker than a rule: a filled area
    h = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    v = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    h = cv2.bitwise_and(
        h, cv2.bitwise_not(cv2.morphologyEx(h, cv2.MORPH_OPEN, np.ones((thick, 1), np.uint8)))
    )
    v = cv2.bitwise_and(
        v, cv2.bitwise_not(cv2.morphologyEx(v, cv2.MORPH_OPEN, np.ones((1, thick), np.uint8)))
    )
    # Bridge small breaks (dashed or anti-aliased lines).
    bridge = max(3, dpi // 50)
    h = cv2.morphologyEx(h, cv2.MORPH_CLOSE, np.ones((1, bridge), np.uint8))
    v = cv2.morphologyEx(v, cv2.MORPH_CLOSE, np.ones((bridge, 1), np.uint8))
    return h, v


def ruled_tables(image: Image.Image, words: list[W], dpi: int, scale: float = 1.0) -> list[Table]:
    """Tables drawn with ruling lines. ``scale`` maps image pixels to page pixels."""
    import cv2
    import numpy as np

    gray = np.asarray(image.convert("L"))
    eff_dpi = max(72, int(dpi / scale)) if scale else dpi
    hmask, vmask = line_masks(gray, eff_dpi)
    join = max(3, eff_dpi // 60)
    grid = cv2.dilate(hmask | vmask, np.ones((join, join), np.uint8))
    hsegs = _segments(hmask, True)
    vsegs = _segments(vmask, False)
    n, _, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=8)
    tables: list[Table] = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if w < eff_dpi * 0.4 or h < eff_dpi * 0.15:
            continue
        region = (x - join, y - join, x + w + join, y + h + join)
        hs = [s for s in hsegs if _within(s, region)]
        vs = [s for s in vsegs if _within(s, region)]
        tol = max(join * 2, eff_dpi * 0.07)
        t = _grid_table(hs, vs, (x, y, x + w, y + h), words, scale, tol, join * 2)
        if t is not None:
            tables.append(t)
    return tables


def _unruled_edges(text: str) -> str:
    """Cell text without the ruling lines OCR read as characters (``Category |``)."""
    return text.strip().strip("|¦[]").strip()


def _joined(vs: list[tuple[int, int, int, int]], rows: list[list[Any]], tol: float) -> bool:
    """Most vertical rules run from one horizontal rule to another: in a table they
    meet; a chart frame with rounded corners, or a chart's bars, do not."""
    if not vs:
        return True

    def meets(x: float, y: float) -> bool:
        return any(
            abs(r[0] - y) <= tol and any(a - tol <= x <= b + tol for a, b in r[1]) for r in rows
        )

    ok = sum(1 for s in vs if meets((s[0] + s[2]) / 2, s[1]) and meets((s[0] + s[2]) / 2, s[3]))
    return ok >= 0.75 * len(vs)


def _within(s: tuple[int, int, int, int], r: tuple[int, int, int, int]) -> bool:
    return s[0] >= r[0] and s[1] >= r[1] and s[2] <= r[2] and s[3] <= r[3]


def _grid_table(
    hs: list[tuple[int, int, int, int]],
    vs: list[tuple[int, int, int, int]],
    region: tuple[int, int, int, int],
    words: list[W],
    scale: float,
    tol: float,
    snap: float,
) -> Table | None:
    rx0, ry0, rx1, ry1 = region
    # Lines closer than a small cell could be are one boundary (a double rule).
    rows = _cluster([((s[1] + s[3]) / 2, s[0], s[2]) for s in hs], tol)
    cols = _cluster([((s[0] + s[2]) / 2, s[1], s[3]) for s in vs], tol)
    full_rows = [r for r in rows if _coverage(r[1], rx0, rx1) > 0.9]
    if len(full_rows) < 2 or not _joined(vs, rows, snap):
        return None
    # Outer borders the drawing left open: the lines' extent closes the grid.
    if not cols or cols[0][0] - rx0 > tol:
        cols.insert(0, [rx0, [(ry0, ry1)]])
    if rx1 - cols[-1][0] > tol:
        cols.append([rx1, [(ry0, ry1)]])
    if rows[0][0] - ry0 > tol:
        rows.insert(0, [ry0, [(rx0, rx1)]])
    if ry1 - rows[-1][0] > tol:
        rows.append([ry1, [(rx0, rx1)]])
    nr, nc = len(rows) - 1, len(cols) - 1
    if nc < 2 or nr < 1:
        return None
    ys = [r[0] for r in rows]
    xs = [c[0] for c in cols]
    # Union-find over grid positions: merge across boundaries that are not drawn.
    parent = list(range(nr * nc))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for r in range(nr):
        for c in range(nc):
            if c + 1 < nc and _coverage(cols[c + 1][1], ys[r], ys[r + 1]) < 0.5:
                parent[find(r * nc + c + 1)] = find(r * nc + c)
            if r + 1 < nr and _coverage(rows[r + 1][1], xs[c], xs[c + 1]) < 0.5:
                parent[find((r + 1) * nc + c)] = find(r * nc + c)
    groups: dict[int, list[tuple[int, int]]] = {}
    for r in range(nr):
        for c in range(nc):
            groups.setdefault(find(r * nc + c), []).append((r, c))
    taken: set[tuple[int, int]] = set()
    rects: list[tuple[int, int, int, int]] = []
    for pos in sorted(groups.values()):
        r0 = min(p[0] for p in pos)
        c0 = min(p[1] for p in pos)
        r1 = max(p[0] for p in pos)
        c1 = max(p[1] for p in pos)
        if (r0, c0) in taken:
            continue
        cover = {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
        cover -= taken
        taken |= cover
        rects.append((r0, c0, r1, c1))
    # Words by cell (centre inside, in page pixels).
    cells: list[Cell] = []
    used: list[W] = []
    filled = 0
    for r0, c0, r1, c1 in sorted(rects):
        box = [xs[c0] * scale, ys[r0] * scale, xs[c1 + 1] * scale, ys[r1 + 1] * scale]
        inside = [w for w in words if box[0] <= w.cx <= box[2] and box[1] <= w.cy <= box[3]]
        used.extend(inside)
        filled += bool(inside)
        cells.append(
            Cell(
                row=r0,
                col=c0,
                text=_unruled_edges(cell_text(inside)),
                bbox=[round(v, 1) for v in box],
                row_span=r1 - r0 + 1,
                col_span=c1 - c0 + 1,
            )
        )
    if not cells or filled < max(2, 0.5 * len(cells)):
        return None
    table = Table(
        cells=cells,
        bbox=[
            round(xs[0] * scale, 1),
            round(ys[0] * scale, 1),
            round(xs[-1] * scale, 1),
            round(ys[-1] * scale, 1),
        ],
    )
    return table


# ---------------------------------------------------------------------- unruled tables


@dataclass
class _Line:
    words: list[W]
    chunks: list[list[W]] = field(default_factory=list)
    tail: bool = False

    @property
    def y0(self) -> float:
        return min(w.y0 for w in self.words)

    @property
    def y1(self) -> float:
        return max(w.y1 for w in self.words)

    @property
    def x0(self) -> float:
        return min(w.x0 for w in self.words)

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    @property
    def h(self) -> float:
        return median(w.h for w in self.words)


def _chunks(line: list[W], gap: float) -> list[list[W]]:
    out: list[list[W]] = [[line[0]]]
    for w in line[1:]:
        if w.x0 - out[-1][-1].x1 > gap:
            out.append([w])
        else:
            out[-1].append(w)
    return out


def unruled_tables(words: list[W]) -> list[Table]:
    """Tables made of aligned text without ruling lines."""
    if len(words) < 6:
        return []
    h = median(w.h for w in words)
    lines = [_Line(ws) for ws in text_lines(words)]
    for ln in lines:
        ln.chunks = _chunks(ln.words, GAP * max(h, ln.h))
    tables = []
    for region in _regions(lines, h):
        t = _region_table(region, h)
        if t is not None:
            tables.append(t)
    return tables


def _prose(ln: _Line) -> bool:
    """A line of running text: many mostly alphabetic, mostly different words, evenly
    spaced (a justified line's wide spaces are all alike; a table row's column gaps are
    not)."""
    if len(ln.words) < 8:
        return False
    alpha = sum(1 for w in ln.words if w.text.strip(".,;:!?()\"'’“”").isalpha())
    if alpha < 0.75 * len(ln.words):
        return False
    if len({w.text.lower() for w in ln.words}) < 0.6 * len(ln.words):
        return False  # a header row repeats its words: "disagree  rather agree  agree ..."
    if len(ln.chunks) == 1:
        return True
    if len(ln.words) < 2 * len(ln.chunks):
        return False  # mostly one-word cells: "abc  yes  no  no  yes"
    gaps = sorted(b.x0 - a.x1 for a, b in zip(ln.words, ln.words[1:], strict=False))
    return gaps[-1] <= 1.8 * max(1.0, gaps[len(gaps) // 2])


def _regions(lines: list[_Line], h: float) -> list[list[_Line]]:
    """Runs of lines that look tabular: multi-chunk lines, with single-chunk lines
    between them, each line close below the previous one. Up to 3 single-chunk lines
    after the last multi-chunk line come along marked ``tail`` (a wrapped last cell, or
    text below the table: :func:`_region_table` decides)."""
    out: list[list[_Line]] = []
    cur: list[_Line] = []
    pending: list[_Line] = []  # single-chunk lines after the last multi-chunk one

    def close() -> None:
        for ln in pending[:3]:
            ln.tail = True
        out.append(cur + pending[:3])

    for ln in lines:
        if _prose(ln):
            if cur:
                close()
            cur, pending = [], []
            continue
        multi = len(ln.chunks) >= 2
        last = (pending or cur)[-1] if (pending or cur) else None
        near = last is not None and ln.y0 - last.y1 <= 2.5 * h
        if cur and not near:
            close()
            cur, pending = [], []
        if multi:
            if cur:
                cur.extend(pending)
            cur.append(ln)
            pending = []
        elif cur:
            pending.append(ln)
            if len(pending) > 3:
                close()
                cur, pending = [], []
    if cur:
        close()
    return [r for r in out if sum(len(ln.chunks) >= 2 for ln in r) >= 3]


def _gaps_of(
    spans: list[list[tuple[float, float]]], x0: float, width: int, limit: float, min_w: float
) -> list[tuple[float, float]]:
    """x-ranges (at least ``min_w`` wide, not at the left edge) that at most ``limit``
    of the lines' spans cover."""
    count = [0] * (width + 1)
    for line in spans:
        covered = [0] * (width + 1)
        for sa, sb in line:
            for i in range(max(0, int(sa - x0)), min(width, int(sb - x0)) + 1):
                covered[i] = 1
        for i, c in enumerate(covered):
            count[i] += c
    gaps: list[tuple[float, float]] = []
    start = None
    for i, c in enumerate(count):
        if c <= limit:
            if start is None:
                start = i
        elif start is not None:
            if start > 0 and i - start >= min_w:
                gaps.append((x0 + start, x0 + i))
            start = None
    return gaps


def _column_gaps(
    lines: list[_Line], h: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(gaps between chunks, extra gaps): an extra gap lies between words of chunks that
    some lines ran together (an engine that boxed two cells as one), where most lines
    have a chunk boundary."""
    multi = [ln for ln in lines if len(ln.chunks) >= 2]
    x0 = min(ln.x0 for ln in lines)
    width = int(max(ln.x1 for ln in lines) - x0) + 1
    # A spanning header crosses column gaps: tolerate a few such lines (one from 4 lines).
    limit = max(1.0 if len(multi) >= 4 else 0.0, GAP_TOLERANCE * len(multi))
    chunk_spans = [[(c[0].x0, max(w.x1 for w in c)) for c in ln.chunks] for ln in multi]
    gaps = _gaps_of(chunk_spans, x0, width, limit, 0.3 * h)
    extra: list[tuple[float, float]] = []
    if not gaps:  # no column structure to refine (typewritten prose's wide spaces)
        return gaps, extra
    word_spans = [[(w.x0, w.x1) for w in ln.words] for ln in multi]
    for g in _gaps_of(word_spans, x0, width, limit, 0.3 * h):
        if any(min(g[1], k[1]) > max(g[0], k[0]) for k in gaps):
            continue
        apart = sum(
            1
            for ln in multi
            if any(
                max(w.x1 for w in c1) < g[1] and c2[0].x0 > g[0]
                for c1, c2 in zip(ln.chunks, ln.chunks[1:], strict=False)
            )
        )
        # ... and a body row (not a header's words) runs two cells together there.
        joined = any(
            any(
                a.x1 < g[1] and b.x0 > g[0]
                for c in ln.chunks
                for a, b in zip(c, c[1:], strict=False)
            )
            for ln in multi[2:]
        )
        if apart * 2 >= len(multi) and joined:
            extra.append(g)
    return gaps, extra


def _split_at(chunks: list[list[W]], gaps: list[tuple[float, float]]) -> list[list[W]]:
    """Chunks split between two words whose space lies in one of ``gaps``."""
    out: list[list[W]] = []
    for ch in chunks:
        cur = [ch[0]]
        for a, b in zip(ch, ch[1:], strict=False):
            if any(a.x1 < g[1] and b.x0 > g[0] for g in gaps):
                out.append(cur)
                cur = []
            cur.append(b)
        out.append(cur)
    return out


def _region_table(lines: list[_Line], h: float) -> Table | None:
    body = [ln for ln in lines if not ln.tail]
    gaps, extra = _column_gaps(body, h)
    if extra:
        for ln in lines:
            ln.chunks = _split_at(ln.chunks, extra)
        gaps = sorted(gaps + extra)
    if not gaps or (len(gaps) == 1 and gaps[0][1] - gaps[0][0] < TWO_COLUMN_GAP * h):
        # Two "columns" a narrow gap apart: a typewriter's double spaces, not a table.
        return None
    x0 = min(ln.x0 for ln in body)
    x1 = max(ln.x1 for ln in body)
    bounds = [x0] + [(a + b) / 2 for a, b in gaps] + [x1]
    ncols = len(bounds) - 1

    def cols_of(ch: list[W]) -> tuple[int, int]:
        a, b = ch[0].x0, max(w.x1 for w in ch)
        hit = [
            k
            for k in range(ncols)
            if min(b, bounds[k + 1]) - max(a, bounds[k]) > 0.25 * min(b - a, h)
        ]
        if not hit:
            c = (a + b) / 2
            k = next((k for k in range(ncols) if c <= bounds[k + 1]), ncols - 1)
            return k, k
        return hit[0], hit[-1]

    # Text-like columns: an article in two columns is not a table.
    widths: dict[int, list[float]] = {}
    counts: dict[int, list[int]] = {}
    for ln in lines:
        for ch in ln.chunks:
            k0, k1 = cols_of(ch)
            if k0 == k1:
                widths.setdefault(k0, []).append(max(w.x1 for w in ch) - ch[0].x0)
                counts.setdefault(k0, []).append(len(ch))
    texty = sum(
        1
        for k, v in widths.items()
        if median(v) > TEXT_COLUMN * (x1 - x0) or median(counts[k]) >= TEXT_WORDS
    )
    if texty >= 2:
        return None
    # Rows: a line that only continues wrapped cells of the line above joins its row.
    rows: list[list[_Line]] = []
    for ln in lines:
        if rows and (
            _header_wrap(rows, ln, cols_of) or _continues(rows[-1], ln, cols_of, bounds, h)
        ):
            rows[-1].append(ln)
        elif ln.tail:
            break  # text below the table
        else:
            rows.append([ln])
    # Where each column's cells sit: the median centre of its one-column chunks.
    centres: dict[int, list[float]] = {}
    for ln in lines:
        for ch in ln.chunks:
            k0, k1 = cols_of(ch)
            if k0 == k1:
                centres.setdefault(k0, []).append((ch[0].x0 + max(w.x1 for w in ch)) / 2)
    mid = {k: median(v) for k, v in centres.items()}
    cells: list[Cell] = []
    all_words: list[W] = []
    for r, row in enumerate(rows):
        spans: list[list[Any]] = []  # [k0, k1, words], left to right, not overlapping
        for k0, k1, ws in sorted(
            ((*cols_of(ch), list(ch)) for ln in row for ch in ln.chunks), key=lambda t: (t[0], t[1])
        ):
            if spans and k0 == spans[-1][0]:  # more text of a cell already started
                spans[-1][1] = max(spans[-1][1], k1)
                spans[-1][2] = spans[-1][2] + ws
            elif spans and k0 <= spans[-1][1]:  # a wide cell ran into this one's column
                spans[-1][1] = k0 - 1
                spans.append([k0, k1, ws])
            else:
                spans.append([k0, k1, ws])
        if r < 3:  # header rows: a heading centred over the columns it spans
            _centre_spans(spans, mid, h)
        for k0, k1, ws in spans:
            all_words.extend(ws)
            cells.append(
                Cell(row=r, col=k0, text=cell_text(ws), bbox=_box(ws), col_span=k1 - k0 + 1)
            )
    if len(rows) < 2 or not cells:
        return None
    return Table(cells=cells, bbox=_box(all_words))


def _centre_spans(spans: list[list[Any]], mid: dict[int, float], h: float) -> None:
    """Widen a header cell over the empty columns beside it when its text is centred
    over them much better than over its own columns (``Male`` over ``% | 95% CI``)."""
    for i, (k0, k1, ws) in enumerate(spans):
        if len(ws) > 6:
            continue
        left = spans[i - 1][1] + 1 if i else min(mid, default=k0)
        right = spans[i + 1][0] - 1 if i + 1 < len(spans) else max(mid, default=k1)
        centre = (ws[0].x0 + max(w.x1 for w in ws)) / 2

        def miss(a: int, b: int, centre: float = centre) -> float:
            if a not in mid or b not in mid:
                return float("inf")
            return abs(centre - (mid[a] + mid[b]) / 2)

        now = miss(k0, k1)
        best = min(
            (
                (miss(a, b), a, b)
                for a in range(max(left, k0 - 4), k0 + 1)
                for b in range(k1, min(right, k1 + 4) + 1)
            ),
            default=(now, k0, k1),
        )
        if (best[1], best[2]) != (k0, k1) and now > h and best[0] < 0.4 * now:
            spans[i][0], spans[i][1] = best[1], best[2]


def _header_wrap(
    rows: list[list[_Line]], ln: _Line, cols_of: Callable[[list[W]], tuple[int, int]]
) -> bool:
    """The second line of two-line header cells: in the first rows, cells in exactly the
    columns of the line above, each going on in lower case or with a parenthesis
    (``6-Month`` over ``(n = 80)``)."""
    if len(rows) > 2 or len(ln.chunks) < 2:
        return False
    prev = rows[-1][-1]
    if {cols_of(c)[0] for c in ln.chunks} != {cols_of(c)[0] for c in prev.chunks}:
        return False
    return all(c[0].text[:1] == "(" or c[0].text[:1].islower() for c in ln.chunks)


def _continues(
    row: list[_Line],
    ln: _Line,
    cols_of: Callable[[list[W]], tuple[int, int]],
    bounds: list[float],
    h: float,
) -> bool:
    prev = row[-1]
    if ln.y0 - prev.y1 > 0.8 * h:
        return False
    row_cols = {cols_of(ch)[0] for x in row for ch in x.chunks}
    first_char = ln.words[0].text[:1]
    if first_char.isupper() or first_char.isdigit() or first_char in "([":
        return False  # a new row's label, not the rest of a wrapped cell
    mine = [(cols_of(ch)[0], ch) for ch in ln.chunks]
    if len({k for k, _ in mine}) >= len(row_cols):
        return False
    prev_by_col = {cols_of(ch)[0]: ch for ch in prev.chunks}
    for k, ch in mine:
        above = prev_by_col.get(k)
        if above is None:
            return False
        right = max(w.x1 for w in above)
        col_right = bounds[k + 1]
        first = ch[0].x1 - ch[0].x0
        # The first word of this line would not have fitted after the line above.
        if right + first + 0.3 * h < col_right - 0.9 * h * GAP:
            return False
    return True


# -------------------------------------------------------------------------- the page


def _inside(box: list[float] | None, t: list[float]) -> bool:
    if box is None:
        return False
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return t[0] <= cx <= t[2] and t[1] <= cy <= t[3]


def find_tables(page: Page, image: Image.Image | None) -> list[Table]:
    """All tables on the page, top to bottom."""
    words = page_words(page)
    tables: list[Table] = []
    if image is not None and image.width and image.height:
        scale = page.width / image.width if page.width else 1.0
        tables.extend(ruled_tables(image, words, page.dpi or 300, scale))
    rest = [
        w
        for w in words
        if not any(_inside([w.x0, w.y0, w.x1, w.y1], t.bbox) for t in tables if t.bbox)
    ]
    tables.extend(unruled_tables(rest))
    tables.sort(key=lambda t: (t.bbox[1], t.bbox[0]) if t.bbox else (0.0, 0.0))
    return tables


def render_markdown(page: Page) -> None:
    """Render the page's text and Markdown again now that it has tables."""
    from ocrkit import layout

    # render_page: text and Markdown from the blocks as they are (their order and types
    # stay what layout gave them).
    layout.render_page(page)


class ExtractTables(Tool):
    name: ClassVar[str] = "extract-tables"
    description: ClassVar[str] = (
        "Find ruled and unruled tables: rows, columns and spanning cells "
        "(csv/xlsx/docx/Markdown tables)"
    )
    preset: ClassVar[dict[str, Any]] = {}

    def process_page(self, page: Page, image: Image.Image | None, options: dict[str, Any]) -> Page:
        found = find_tables(page, image)
        if found or not page.tables:  # keep tables an engine gave when none are found
            page.tables = found
        for b in page.blocks:
            if any(_inside(b.bbox, t.bbox) for t in page.tables if t.bbox):
                b.type = "table"
        if page.tables:
            render_markdown(page)
        return page


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(ExtractTables())
