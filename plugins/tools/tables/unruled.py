"""Unruled tables: columns from the gaps between aligned words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from ocrkit.models import Cell, Table

from .words import W, _box, cell_text, text_lines

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
