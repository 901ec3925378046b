"""Words of a page in page pixels, grouped into lines and cells (shared by the ruled and
unruled finders)."""

from __future__ import annotations

from dataclasses import dataclass

from ocrkit.models import Page


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
