"""Place a vision model's lines on detected text lines, without reading the words.

The model's answer gives the lines in reading order; :mod:`.detect` gives the page's
text lines in reading order (top to bottom). :func:`assign` pairs the two sequences by a
monotonic alignment (dynamic programming) whose costs are:

* **a pair** (model line *i* on detected line *j*): how far the line's width is from
  what its length predicts, ``|ln(width / (k * characters))|`` over a tolerance, squared,
  with ``k`` the page's width per character (first from all lines, then re-estimated from
  the pairs found; on pages the cpu engine hardly read, also from the rows' widths and
  re-estimated from pairs and spans, the cheaper alignment winning); minus a bonus
  when the cpu engine's words already placed the line in that detected line (an
  *anchor*), plus a penalty when the anchor is elsewhere;
* **one model line over two or three detected pieces** in one row (the detector split a
  written line), **two model lines in one detected line** (the model broke a written
  line in two: the box is split in proportion to their lengths; never for a line the cpu
  engine's words placed), each with a penalty;
* **two model lines on neighbouring pieces of one row** close enough for one line to
  span them (:data:`ROW_SHARE`): one written line cut between two model lines, which
  puts the lines after them a row off;
* **a detected line left over** (a stamp, a note in the margin, a signature) and **a
  model line left without a place** (it stays ``bbox=None``).

How sure a placement is comes from the same alignment: the best total cost with the
line placed elsewhere (or nowhere) minus the best total cost. A line whose margin is
under :data:`SURE_MARGIN`, or whose width fits its length poorly, or that shares or
spans boxes, is placed but *estimated*.

Word boxes (:func:`word_boxes`): the line's box cut in proportion to the words' lengths,
each cut moved to the emptiest column of ink nearby (the gap between two handwritten
words); always estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Box = list[float]

# Width-fit tolerance (natural log of the width ratio): handwriting varies a lot.
FIT_SIGMA = 0.35
# Height tolerance (natural log of a line's height over the page's median).
HEIGHT_SIGMA = 0.5
# How much a box's own height (vs the page's writing height) sets its predicted width.
HEIGHT_SHARE = 0.5
SKIP_DETECTED = 0.5  # a detected piece no model line goes to ...
SKIP_WIDE = 3.0  # ... plus this times its width over the page's typical line width
SKIP_WIDE_CAP = 1.5
EDGE_SKIP = 0.6  # share of the cost of leaving a piece over before the first/after the last line
GAP_FREE = 1.0  # an empty band up to this many writing heights between lines is free ...
GAP_COST = 2.0  # ... beyond, it costs this per writing height
SKIP_MODEL = 4.0  # a model line with no place
MAX_SPAN = 4
SPAN_GAP = 1.5  # pieces of a row further apart than this many heights are not one line
# ... the height being the taller piece's, and at least this share of the page's writing
# height: a word written without ascenders has a low trimmed piece, and its gap measured
# in its own height cut lines at ordinary word gaps (AD78_0002-0).
SPAN_BODY = 1.0
MERGE = 1.0  # per extra detected piece one model line spans
# The width per character also started from the rows' widths (pieces of a row joined)
# and re-estimated from the lines on one piece or several, the cheaper alignment
# winning: a writer who leaves wide gaps between words has pieces of single words, and
# the pieces' own width per character makes every whole line look far too wide
# (AN_0006-2). Only where the cpu engine's words placed at most this share of the lines
# (handwriting; printed pages keep the pieces' start).
K_FROM_ROWS = True
ROWS_K_READ = 0.5
SPLIT = 4.0  # two model lines sharing one detected line
# Two model lines one after the other on neighbouring pieces of one row, close enough
# for one line to span them (SPAN_GAP): one written line cut in two, the next lines then
# one row off (AD78_0064-2's list; i21path's held-out heading).
ROW_SHARE = 1.5
# A piece whose ink is mostly not the writing's colour (a stamp): placing a line on it
# costs this times its off-colour share, leaving it over costs less by that share.
STAMP_COST = 8.0
ANCHOR_BONUS = 4.0
ANCHOR_MISS = 4.0
# A rough reading of the pieces (:mod:`.read`): a pairing whose reading looks like the
# line more than the line looks like the page's pieces in general gains this times the
# difference (0..1): evidence per row where the shapes of neighbouring rows are alike.
READ_WEIGHT = 8.0
# A placement is sure from this margin on (total cost of the next best alternative).
SURE_MARGIN = 2.0
# ... and a width within this factor of what its length predicts.
SURE_FIT = 1.6


@dataclass
class Placement:
    box: Box | None
    sure: bool = False
    kind: str = "none"  # "pair", "span" (several pieces), "shared" (box split), "none"
    margin: float = 0.0
    fit: float = 0.0  # |ln(width / predicted width)|
    # the width the line's length predicts at this box's height (0: not placed)
    want: float = 0.0


def _chars(text: str) -> int:
    return max(1, len("".join(text.split())))


def _union(boxes: list[Box]) -> Box:
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _same_row(a: Box, b: Box) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.3 * min(a[3] - a[1], b[3] - b[1])


def _cover(anchor: Box, box: Box) -> float:
    """Share of ``anchor``'s area inside ``box``."""
    ix = max(0.0, min(anchor[2], box[2]) - max(anchor[0], box[0]))
    iy = max(0.0, min(anchor[3], box[3]) - max(anchor[1], box[1]))
    area = (anchor[2] - anchor[0]) * (anchor[3] - anchor[1])
    return ix * iy / area if area > 0 else 0.0


def assign(
    texts: list[str],
    boxes: list[Box],
    anchors: list[Box | None] | None = None,
    heights: list[float] | None = None,
    rows: list[int] | None = None,
    stamps: list[float] | None = None,
    reads: list[str] | None = None,
) -> list[Placement]:
    """:func:`assign_scored` without the cost."""
    return assign_scored(texts, boxes, anchors, heights, rows, stamps, reads)[0]


def assign_scored(
    texts: list[str],
    boxes: list[Box],
    anchors: list[Box | None] | None = None,
    heights: list[float] | None = None,
    rows: list[int] | None = None,
    stamps: list[float] | None = None,
    reads: list[str] | None = None,
) -> tuple[list[Placement], float]:
    """One :class:`Placement` per model line (``texts``, reading order) on the detected
    line ``boxes`` (reading order); ``anchors``: a box the cpu engine's words gave a
    line, or None; ``heights``: each detected line's writing height (default: its box's);
    ``rows``: the row each box belongs to, when ``boxes`` are the pieces of rows (one model
    line may then span neighbouring pieces of one row, at most :data:`SPAN_GAP` heights
    apart); ``stamps``: each box's share of ink not of the writing's colour
    (:data:`STAMP_COST`); ``reads``: what a recogniser read in each box
    (:data:`READ_WEIGHT`).

    Widths are predicted per height: ``width = k * characters * height``, so a stamp or
    a tall blot (about as wide as high) only fits a very short line; and a line much
    taller or lower than the page's writing costs more."""
    n, m = len(texts), len(boxes)
    anchors = anchors or [None] * n
    if not n or not m:
        return [Placement(None) for _ in texts], SKIP_MODEL * n
    chars = [_chars(t) for t in texts]
    hs = heights or [max(1.0, b[3] - b[1]) for b in boxes]
    widths = [max(1.0, b[2] - b[0]) for b in boxes]
    # The page's writing: the height and width per height most of the lines' length has
    # (small notes, stamps and specks are many boxes but little width).
    body = _weighted_median(hs, widths)
    ratio = _weighted_median([w / h for w, h in zip(widths, hs, strict=True)], widths)
    ctx = _Ctx(chars, boxes, anchors, hs, body, ratio / _median([float(c) for c in chars]))
    ctx.rows = rows
    # Leaving a detected piece over costs more the wider it is next to the page's lines:
    # a stamp, a number or a short note is cheap to leave, a full line of writing is not.
    wide = _weighted_median(widths, widths)
    ctx.skip_cost = [SKIP_DETECTED + SKIP_WIDE * min(SKIP_WIDE_CAP, w / wide) for w in widths]
    ctx.stamps = list(stamps) if stamps else [0.0] * m
    ctx.skip_cost = [c * (1.0 - s) for c, s in zip(ctx.skip_cost, ctx.stamps, strict=True)]
    ctx.gap_cost = _gap_costs(boxes, body)
    if reads and READ_WEIGHT > 0 and any(reads):
        from . import read

        ctx.texts = [read.plain(t) for t in texts]
        ctx.reads = [read.plain(r) for r in reads]
        ctx.bases = read.baselines(ctx.texts, ctx.reads)
    out = _settle(ctx, spans=False)
    if rows is not None and K_FROM_ROWS and sum(a is not None for a in anchors) <= ROWS_K_READ * n:
        start = _row_ratio(boxes, hs, rows) / _median([float(c) for c in chars])
        other = replace(ctx, k=start)
        out2 = _settle(other, spans=True)
        if other.total < ctx.total:
            return out2, other.total
    return out, ctx.total


def _settle(ctx: _Ctx, spans: bool) -> list[Placement]:
    """:func:`_solve`, with the width per character re-estimated from the lines placed
    on one piece (and on several, ``spans``) and solved again; ``ctx.total`` is set."""
    out: list[Placement] = []
    chars = ctx.chars
    for _ in range(2):
        out = _solve(ctx)
        pairs = [
            ((p.box[2] - p.box[0]) / ctx.h_eff(ctx.height_of(p.box)), c)
            for p, c in zip(out, chars, strict=True)
            if p.box and (p.kind == "pair" or (spans and p.kind == "span"))
        ]
        if not pairs:
            break
        ctx.k = sum(w for w, _ in pairs) / sum(c for _, c in pairs)
    return out


def _row_ratio(boxes: list[Box], hs: list[float], rows: list[int]) -> float:
    """Width per height of the rows (their pieces joined), weighted by width."""
    by: dict[int, list[int]] = {}
    for j, r in enumerate(rows):
        by.setdefault(r, []).append(j)
    ws, rs = [], []
    for js in by.values():
        u = _union([boxes[j] for j in js])
        w = max(1.0, u[2] - u[0])
        ws.append(w)
        rs.append(w / _median([hs[j] for j in js]))
    return _weighted_median(rs, ws)


def _gap_costs(boxes: list[Box], body: float) -> list[float]:
    """Per box: the cost of the empty band of page above it (down from the lowest bottom
    of the boxes before it), beyond :data:`GAP_FREE` writing heights."""
    out = []
    low = -math.inf
    for b in boxes:
        band = (b[1] - low) / body if low > -math.inf else 0.0
        out.append(GAP_COST * max(0.0, band - GAP_FREE))
        low = max(low, b[3])
    return out


def _weighted_median(values: list[float], weights: list[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2
    acc = 0.0
    for v, w in pairs:
        acc += w
        if acc >= half:
            return v
    return pairs[-1][0] if pairs else 1.0


def _median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if v else 1.0


@dataclass
class _Ctx:
    chars: list[int]
    boxes: list[Box]
    anchors: list[Box | None]
    heights: list[float]
    body: float  # the median writing height
    k: float  # width per character per unit of height
    rows: list[int] | None = None
    skip_cost: list[float] = field(default_factory=list)
    gap_cost: list[float] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    # the model's lines and the pieces' readings (:mod:`.read`, plain), and per line its
    # similarity with a piece it is not; empty: no readings
    texts: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    bases: list[float] = field(default_factory=list)
    total: float = 0.0  # the best alignment's cost

    def read_bonus(self, i0: int, i1: int, j0: int, j1: int) -> float:
        """The reading's bonus for model lines ``i0 .. i1-1`` on pieces ``j0 .. j1-1``:
        once per step, however many lines share the pieces (one reading matching two
        lines joined would otherwise count twice: a short last line sharing the line
        above's piece gained from that line's reading)."""
        if not self.reads:
            return 0.0
        from . import read

        got = "".join(self.reads[j0:j1])
        text = "".join(self.texts[i0:i1])
        base = sum(self.bases[i0:i1]) / (i1 - i0)
        return READ_WEIGHT * read.evidence(text, got, base)

    def h_eff(self, h: float) -> float:
        """The height a width is predicted from: between the box's own and the page's
        (detected boxes' heights vary with flourishes more than the writing's size)."""
        return float(self.body ** (1.0 - HEIGHT_SHARE) * h**HEIGHT_SHARE)

    def height_of(self, box: Box) -> float:
        for b, h in zip(self.boxes, self.heights, strict=True):
            if (
                b[1] <= box[1] + 1
                and box[3] <= b[3] + 1
                and b[0] <= box[0] + 1
                and box[2] <= b[2] + 1
            ):
                return h
        return max(1.0, box[3] - box[1])


@dataclass
class _Step:
    i0: int
    j0: int
    i1: int
    j1: int
    cost: float
    kind: str  # "pair", "span", "shared", "skip_d", "skip_m"


def _steps(i: int, j: int, ctx: _Ctx) -> list[_Step]:
    """Every step out of state (i model lines, j detected lines used)."""
    chars, boxes, anchors = ctx.chars, ctx.boxes, ctx.anchors
    n, m = len(chars), len(boxes)
    out: list[_Step] = []
    # Inside the text (a model line placed before, one still to come) an empty band of
    # the page costs and leaving a piece over costs in full; before the first line and
    # after the last (headings, stamps, registration notes) both are cheaper.
    inside = 0 < i < n
    gap = ctx.gap_cost[j] if inside and j < m else 0.0
    if j < m:
        skip = ctx.skip_cost[j] * (1.0 if inside else EDGE_SKIP)
        out.append(_Step(i, j, i, j + 1, skip + gap, "skip_d"))
    if i < n:
        out.append(_Step(i, j, i + 1, j, SKIP_MODEL, "skip_m"))
    if i < n and j < m:
        box = list(boxes[j])
        stamp = ctx.stamps[j]
        for span in range(1, MAX_SPAN + 1):
            if j + span > m:
                break
            if span > 1:
                # the span grows piece by piece: only the new piece is checked and added
                if not _joinable(j, span, ctx):
                    break
                b = boxes[j + span - 1]
                box = [min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]), max(box[3], b[3])]
                stamp = max(stamp, ctx.stamps[j + span - 1])
            h = ctx.heights[j] if span == 1 else _median(ctx.heights[j : j + span])
            cost = _pair_cost(chars[i], box, h, anchors[i], ctx) + MERGE * (span - 1) + gap
            cost += STAMP_COST * stamp - ctx.read_bonus(i, i + 1, j, j + span)
            out.append(_Step(i, j, i + 1, j + span, cost, "pair" if span == 1 else "span"))
        if i + 1 < n and anchors[i] is None and anchors[i + 1] is None:
            c = chars[i] + chars[i + 1]
            cost = _pair_cost(c, boxes[j], ctx.heights[j], None, ctx) + SPLIT + gap
            cost += STAMP_COST * ctx.stamps[j] - ctx.read_bonus(i, i + 2, j, j + 1)
            out.append(_Step(i, j, i + 2, j + 1, cost, "shared"))
    return out


def _joinable(j: int, span: int, ctx: _Ctx) -> bool:
    """May pieces ``j .. j+span-1`` be one line, pieces ``j .. j+span-2`` being one
    (the caller grows a span piece by piece)?"""
    group = ctx.boxes[j : j + span]
    if ctx.rows is None:
        return all(_same_row(group[0], g) for g in group[1:])
    if ctx.rows[j + span - 1] != ctx.rows[j]:
        return False
    a, b = group[-2], group[-1]
    h = max(ctx.heights[j + span - 2], ctx.heights[j + span - 1], SPAN_BODY * ctx.body)
    return b[0] - a[2] < SPAN_GAP * h


def _fit(c: int, box: Box, h: float, k: float) -> float:
    return abs(math.log(max(1.0, box[2] - box[0]) / (k * c * h)))


def _pair_cost(c: int, box: Box, h: float, anchor: Box | None, ctx: _Ctx) -> float:
    cost = 0.5 * (_fit(c, box, ctx.h_eff(h), ctx.k) / FIT_SIGMA) ** 2
    cost += 0.5 * (math.log(h / ctx.body) / HEIGHT_SIGMA) ** 2
    if anchor is not None:
        cost += -ANCHOR_BONUS if _cover(anchor, box) >= 0.5 else ANCHOR_MISS
    return cost


def _row_shared(ctx: _Ctx) -> list[bool]:
    """Per piece ``j``: would a model line starting on it, when the previous model line
    ended on piece ``j - 1``, cut one written line in two? (Both pieces in one row and
    close enough for one line to span them, :func:`_joinable`.)"""
    m = len(ctx.boxes)
    if ctx.rows is None or ROW_SHARE <= 0:
        return [False] * m
    return [j > 0 and _joinable(j - 1, 2, ctx) for j in range(m)]


_TAKES = ("pair", "span", "shared")


def _move(s: _Step, t: int, shared: bool) -> tuple[float, int]:
    """Step ``s`` taken from a state with flag ``t`` on a piece where a model line
    starting would cut a written line (``shared``): its extra cost (:data:`ROW_SHARE`)
    and the flag of the state it reaches (1 after a step that gives pieces to a model
    line; a skipped model line keeps the flag; a piece left over clears it)."""
    take = s.kind in _TAKES
    extra = ROW_SHARE if t and take and shared else 0.0
    return extra, 1 if take else (t if s.kind == "skip_m" else 0)


def _solve(ctx: _Ctx) -> list[Placement]:
    chars, boxes = ctx.chars, ctx.boxes
    n, m = len(chars), len(boxes)
    inf = math.inf
    # States (i, j, t): t = 1 when piece j - 1 went to a model line. The flag matters only
    # where a model line starting on piece j would cut a written line (``shared``); from
    # any other state both flags have the same future, so only the cheaper is followed.
    shared = [*_row_shared(ctx), False]
    fwd = [[[inf, inf] for _ in range(m + 1)] for _ in range(n + 1)]
    back: list[list[list[tuple[_Step, int] | None]]] = [
        [[None, None] for _ in range(m + 1)] for _ in range(n + 1)
    ]
    fwd[0][0][0] = 0.0
    out_of: list[list[list[_Step]]] = [[[] for _ in range(m + 1)] for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            steps_ij = out_of[i][j] = _steps(i, j, ctx)
            f0, f1 = fwd[i][j]
            if f0 <= f1:
                # a state with t = 1 never has a cheaper future than with t = 0 (the cut
                # only costs), so it is followed only when it was reached more cheaply
                if f0 == inf:
                    continue
                for s in steps_ij:
                    _, u = _move(s, 0, False)
                    c = f0 + s.cost
                    to = fwd[s.i1][s.j1]
                    if c < to[u]:
                        to[u] = c
                        back[s.i1][s.j1][u] = (s, 0)
                continue
            flags = [(t, f) for t, f in ((0, f0), (1, f1)) if f < inf] if shared[j] else [(1, f1)]
            for s in steps_ij:
                for t, f in flags:
                    extra, u = _move(s, t, shared[j])
                    c = f + s.cost + extra
                    to = fwd[s.i1][s.j1]
                    if c < to[u]:
                        to[u] = c
                        back[s.i1][s.j1][u] = (s, t)
    bwd = [[[inf, inf] for _ in range(m + 1)] for _ in range(n + 1)]
    bwd[n][m] = [0.0, 0.0]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if (i, j) == (n, m):
                continue
            b = bwd[i][j]
            for s in out_of[i][j]:
                nxt = bwd[s.i1][s.j1]
                for t in (0, 1) if shared[j] else (0,):
                    extra, u = _move(s, t, shared[j])
                    c = s.cost + extra + nxt[u]
                    if c < b[t]:
                        b[t] = c
            if not shared[j]:
                b[1] = b[0]
    end = 0 if fwd[n][m][0] <= fwd[n][m][1] else 1
    best_total = fwd[n][m][end]
    ctx.total = best_total
    # The path.
    path: list[_Step] = []
    i, j, t = n, m, end
    while i or j:
        got = back[i][j][t]
        assert got is not None
        s, t = got
        path.append(s)
        i, j = s.i0, s.j0
    path.reverse()
    # Per model line: the best total cost of each alternative (where it goes).
    alt: list[dict[tuple[str, int, int], float]] = [{} for _ in range(n)]
    for i in range(n + 1):
        for j in range(m + 1):
            f0, f1 = fwd[i][j]
            for s in out_of[i][j]:
                if s.kind == "skip_d":
                    continue
                nxt = bwd[s.i1][s.j1]
                if shared[j] and f1 < f0:
                    extra0, u0 = _move(s, 0, True)
                    extra1, u1 = _move(s, 1, True)
                    total = min(f0 + s.cost + extra0 + nxt[u0], f1 + s.cost + extra1 + nxt[u1])
                else:
                    total = min(f0, f1) + s.cost + nxt[_move(s, 0, False)[1]]
                for li in range(s.i0, s.i1):
                    key = (s.kind, s.j0, s.j1) if s.kind != "skip_m" else ("none", -1, -1)
                    if total < alt[li].get(key, inf):
                        alt[li][key] = total
    out = [Placement(None) for _ in range(n)]
    for s in path:
        if s.kind == "skip_d":
            continue
        if s.kind == "skip_m":
            out[s.i0] = Placement(None, kind="none")
            continue
        box = _union(boxes[s.j0 : s.j1])
        h = _median(ctx.heights[s.j0 : s.j1])
        if s.kind == "shared":
            a, b = chars[s.i0], chars[s.i0 + 1]
            cut = box[0] + (box[2] - box[0]) * a / (a + b)
            parts = [[box[0], box[1], cut, box[3]], [cut, box[1], box[2], box[3]]]
        else:
            parts = [box]
        for li, part in zip(range(s.i0, s.i1), parts, strict=True):
            key = (s.kind, s.j0, s.j1)
            others = [v for kk, v in alt[li].items() if kk != key]
            margin = (min(others) - best_total) if others else inf
            fit = _fit(chars[li], part, ctx.h_eff(h), ctx.k)
            sure = s.kind == "pair" and margin >= SURE_MARGIN and fit <= math.log(SURE_FIT)
            want = round(ctx.k * chars[li] * ctx.h_eff(h), 1)
            out[li] = Placement(
                part, sure, s.kind, round(min(margin, 99.0), 3), round(fit, 3), want
            )
    return out


def word_boxes(text: str, box: Box, dark: np.ndarray | None = None) -> list[tuple[str, Box]]:
    """The words of ``text`` with boxes cut from ``box`` in proportion to their lengths
    (a space counts as one character), each cut moved to the emptiest ink column within
    a character's width or so when the page's ``dark`` mask is given."""
    words = text.split()
    if not words:
        return []
    x0, y0, x1, y1 = box
    total = sum(len(w) for w in words) + len(words) - 1
    per = (x1 - x0) / max(1, total)
    cuts: list[float] = []
    pos = 0
    for w in words[:-1]:
        pos += len(w)
        cuts.append(x0 + per * (pos + 0.5))  # the middle of the space
        pos += 1
    if dark is not None and cuts:
        cuts = _snap(cuts, box, dark, per)
    edges = [x0, *sorted(min(max(c, x0), x1) for c in cuts), x1]
    out = []
    for idx, w in enumerate(words):
        a, b = edges[idx], edges[idx + 1]
        pad_l = per * 0.5 if idx > 0 else 0.0
        pad_r = per * 0.5 if idx < len(words) - 1 else 0.0
        left = min(max(a + pad_l, x0), x1 - 1)
        right = min(max(b - pad_r, left + 1), x1)
        out.append((w, [round(left, 1), y0, round(right, 1), y1]))
    return out


def _snap(cuts: list[float], box: Box, dark: np.ndarray, per: float) -> list[float]:
    import numpy as np

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    crop = dark[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if crop.size == 0:
        return cuts
    prof = crop.sum(axis=0).astype(float)
    # smooth over a third of a character so a gap inside a letter does not win
    r = max(1, int(per / 3))
    kernel = np.ones(2 * r + 1) / (2 * r + 1)
    prof = np.convolve(prof, kernel, mode="same")
    out = []
    lo_bound = 0
    for c in cuts:
        centre = int(round(c)) - max(0, x0)
        lo = max(lo_bound, centre - int(1.5 * per))
        hi = min(len(prof), centre + int(1.5 * per) + 1)
        if hi - lo < 2:
            out.append(c)
            continue
        window = prof[lo:hi]
        # the emptiest column; among equals the one nearest the estimate
        best = min(range(lo, hi), key=lambda x: (window[x - lo], abs(x - centre)))
        out.append(float(max(0, x0) + best))
        lo_bound = best + 1
    return out
