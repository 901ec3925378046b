"""Ruled tables: OpenCV finds the ruling lines, their positions give rows and columns.

OpenCV (``cv2``) is a base dependency of ocrkit (``opencv-python-headless``);
:func:`cv2_missing` says how to install it when a stripped environment lacks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocrkit.models import Cell, Table

from .words import W, cell_text

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def cv2_missing() -> str:
    """Why ruled tables cannot be found here ("" when OpenCV is importable)."""
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        return (
            f"OpenCV is not importable ({exc}); install it with "
            "`pip install opencv-python-headless`"
        )
    return ""


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
