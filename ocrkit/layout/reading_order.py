"""Reading order of the line boxes of one page: a recursive XY cut.

A region (a set of line boxes) is read as follows:

1. If a vertical *gutter* runs through the whole region (an x range at least
   ``min_gap`` wide that no line covers, with at least :data:`MIN_COLUMN_SHARE` of the
   page width of text on each side), the region is columns: each column is read in
   turn, left to right.
2. Otherwise it is cut into horizontal *bands* at every y where no line is (top to
   bottom). Consecutive bands are grouped while their union still has a gutter, so the
   paragraphs of a column section stay together even when their gaps line up across
   the columns (the weakness of a plain XY cut), while a line that spans the columns
   (a heading, a footer) starts a group of its own. Each group is read in turn.
3. A region that cannot be cut is read by line centre, top to bottom, then left to right.

A 3-column page with a heading over all columns therefore reads: heading, column 1
top to bottom, column 2, column 3, then whatever spans the page below the columns.
On a right-to-left page (``rtl=True``: Arabic, Hebrew) columns and the parts of a line
read right to left.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from statistics import median

Box = Sequence[float]

# A column must be at least this share of the page width (so the page-number column of
# a table of contents, or a bullet set apart from its text, is not read as a column).
MIN_COLUMN_SHARE = 0.1
# A gutter is at least this many median line heights wide.
GUTTER = 0.8
# At most this share of a region's lines may be set in a gutter (captions, pull quotes)
# for it to still count as one (:meth:`_Cutter.islands`): the columns beside them are
# most of the text. A third, not less: a region grows band by band, and its first bands
# beside a caption hold as many caption lines as column lines on each side.
ISLAND_SHARE = 1 / 3


def order(boxes: Sequence[Box], page_width: float, *, rtl: bool = False) -> list[int]:
    """Indices of ``boxes`` (``[x0, y0, x1, y1]``) in reading order."""
    if not boxes:
        return []
    h = median(max(1.0, b[3] - b[1]) for b in boxes)
    cut = _Cutter(boxes, GUTTER * h, MIN_COLUMN_SHARE * page_width, rtl)
    return cut.read(list(range(len(boxes))))


class _Cutter:
    def __init__(self, boxes: Sequence[Box], min_gap: float, min_width: float, rtl: bool) -> None:
        self.rtl = rtl
        self.boxes = boxes
        self.min_gap = min_gap
        self.min_width = min_width

    def read(self, idx: list[int]) -> list[int]:
        if len(idx) <= 1:
            return idx
        cols = self.columns(idx)
        if len(cols) > 1:
            return [i for col in (cols[::-1] if self.rtl else cols) for i in self.read(col)]
        bands = self.bands(idx)
        if len(bands) == 1:
            return self.rows(idx)
        groups: list[list[int]] = []
        for band in bands:
            if groups and len(self.columns(groups[-1] + band)) > 1:
                groups[-1].extend(band)
            else:
                groups.append(list(band))
        return [i for g in groups for i in self.read(g)]

    def rows(self, idx: list[int]) -> list[int]:
        """Boxes that overlap vertically and cannot be cut: by rows (centres less than
        half a line apart), each row left to right (right to left)."""
        b = self.boxes
        srt = sorted(idx, key=lambda i: (b[i][1] + b[i][3]) / 2)
        rows: list[list[int]] = [[srt[0]]]
        for i in srt[1:]:
            j = rows[-1][-1]
            h = min(b[i][3] - b[i][1], b[j][3] - b[j][1])
            if (b[i][1] + b[i][3]) / 2 - (b[j][1] + b[j][3]) / 2 < 0.5 * max(h, 1.0):
                rows[-1].append(i)
            else:
                rows.append([i])
        sign = -1 if self.rtl else 1
        return [i for row in rows for i in sorted(row, key=lambda i: sign * b[i][0])]

    def columns(self, idx: list[int]) -> list[list[int]]:
        """Split at every gutter; [idx] when there is none. Lines set *in* a gutter (a
        caption or pull quote between two columns, :meth:`islands`) do not close it:
        they are read after the columns, as a column of their own."""
        cols = self._split(idx)
        if len(cols) > 1 or len(idx) < 4:
            return cols
        isl = self.islands(idx)
        if not isl or len(isl) > ISLAND_SHARE * len(idx):
            return cols
        rest = [i for i in idx if i not in isl]
        cols = self._split(rest)
        if len(cols) == 1:
            return [idx]
        return [*cols, sorted(isl, key=lambda i: self.boxes[i][1])]

    def islands(self, idx: list[int]) -> set[int]:
        """Lines narrower than a third of the region with other lines wholly to their left
        and wholly to their right at their height (within half the line's height above
        or below: a caption's small lines sit between the lines of the columns beside
        it): a caption or pull quote set in the gutter. A heading over the columns has
        nothing beside it (the columns' lines are below it, not beside it)."""
        b = self.boxes
        width = self._width(idx)
        min_right = min(b[i][2] for i in idx)
        max_left = max(b[i][0] for i in idx)
        # Only a line with some line ending before it and some starting after it can
        # qualify; the neighbours are looked up in a y-sorted list (pages of 300+ lines).
        cand = [
            i
            for i in idx
            if b[i][2] - b[i][0] <= width / 3 and b[i][0] > min_right and b[i][2] < max_left
        ]
        out: set[int] = set()
        if not cand:
            return out
        by_top = sorted(idx, key=lambda j: b[j][1])
        tops = [b[j][1] for j in by_top]
        tallest = max(b[j][3] - b[j][1] for j in idx)
        for i in cand:
            x0, y0, x1, y1 = b[i][:4]
            top, bottom = y0 - 0.5 * (y1 - y0), y1 + 0.5 * (y1 - y0)
            left = right = False
            for k in range(bisect_left(tops, top - tallest), bisect_left(tops, bottom)):
                j = by_top[k]
                if j == i or b[j][3] <= top:
                    continue
                left = left or b[j][2] < x0
                right = right or b[j][0] > x1
            if left and right:
                out.add(i)
        return out

    def _split(self, idx: list[int]) -> list[list[int]]:
        b = self.boxes
        srt = sorted(idx, key=lambda i: b[i][0])
        cols: list[list[int]] = [[srt[0]]]
        right = b[srt[0]][2]
        for i in srt[1:]:
            if b[i][0] - right >= self.min_gap:
                cols.append([i])
            else:
                cols[-1].append(i)
            right = max(right, b[i][2])
        # Narrow "columns" (a bullet, a column of numbers) join their neighbour.
        merged: list[list[int]] = []
        for col in cols:
            if merged and (
                self._width(merged[-1]) < self.min_width or self._width(col) < self.min_width
            ):
                merged[-1].extend(col)
            else:
                merged.append(col)
        return merged

    def _width(self, idx: list[int]) -> float:
        return max(self.boxes[i][2] for i in idx) - min(self.boxes[i][0] for i in idx)

    def bands(self, idx: list[int]) -> list[list[int]]:
        b = self.boxes
        srt = sorted(idx, key=lambda i: b[i][1])
        bands: list[list[int]] = [[srt[0]]]
        bottom = b[srt[0]][3]
        for i in srt[1:]:
            if b[i][1] >= bottom:
                bands.append([i])
            else:
                bands[-1].append(i)
            bottom = max(bottom, b[i][3])
        return bands
