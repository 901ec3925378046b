"""Page furniture: running headers and footers, page numbers (``type="furniture"``).

Furniture stays in ``page.blocks`` and ``page.text`` and is left out of the Markdown
(:mod:`ocrkit.layout.markdown`). On one page (:func:`mark_page_numbers`): a page number
(``7``, ``- 7 -``, ``Page 7 of 9``, ``vii``, ``7-45``) in the top or bottom
:data:`MARGIN`, or set apart just above or below the text, and a first line that is a
running head with its folio. Across a job's pages (:func:`mark_repeated`): lines that
recur in the page margins, digits ignored.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import median
from typing import TYPE_CHECKING

from ocrkit.layout.lines import line_height
from ocrkit.layout.markdown import page_markdown, page_text
from ocrkit.models import Block, Page

if TYPE_CHECKING:
    from ocrkit.models import Job

MARGIN = 0.1
_FOLIO = re.compile(r"^\d{1,4}\s+(\S.*)$|^(.*\S)\s+\d{1,4}$")
_ROMAN = r"(?=[ivxlc])(c[d]|d?c{0,3})(x[cl]|l?x{0,3})(i[xv]|v?i{0,3})"
_PAGE_NUMBER = re.compile(
    rf"^(page\s+|p\.\s*|seite\s+)?[-–—]?\s*(\d{{1,4}}|{_ROMAN}|\d{{1,3}}[-–.]\d{{1,4}})"
    r"\s*[-–—]?(\s*(of|/|von)\s*\d{1,4})?$",
    re.IGNORECASE,
)


def margins(page: Page, *, near_text: bool = True) -> tuple[float, float]:
    """(top, bottom): a line whose centre is above ``top`` or below ``bottom`` is in the
    page's top or bottom margin: the outer :data:`MARGIN` of the page, or (``near_text``)
    within 2.5 line heights of the first or last line of text (scans have wide borders;
    only for lines that look like page numbers or running heads by themselves)."""
    boxes = [x.bbox for x in page.blocks if x.bbox is not None and x.text.strip()]
    if not boxes or not page.height:
        return 0.0, float("inf")
    if not near_text:
        return MARGIN * page.height, (1 - MARGIN) * page.height
    h = median(x[3] - x[1] for x in boxes)
    top = max(MARGIN * page.height, min(x[1] for x in boxes) + 2.5 * h)
    bottom = min((1 - MARGIN) * page.height, max(x[3] for x in boxes) - 2.5 * h)
    return top, bottom


def in_margin(b: Block, limits: tuple[float, float]) -> str | None:
    if b.bbox is None:
        return None
    cy = (b.bbox[1] + b.bbox[3]) / 2
    if cy < limits[0]:
        return "top"
    if cy > limits[1]:
        return "bottom"
    return None


def _running_head(text: str) -> bool:
    """A book's running head with its folio: ``70 DROIT COUTUMIER.``, ``CHAP. II. ... 69``."""
    m = _FOLIO.match(text)
    if not m:
        return False
    rest = m.group(1) or m.group(2) or ""
    letters = [c for c in rest if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    return len(letters) >= 3 and upper >= 0.7 * len(letters) and len(rest.split()) <= 12


def mark_page_numbers(page: Page) -> None:
    """A page number alone on a line in the top or bottom margin is furniture, and so is
    the first line of a page when it is a running head with its page number. Near the
    text but inside the page's outer :data:`MARGIN`, the line must also stand apart
    (half a line height from any other line)."""
    boxed = [b for b in page.blocks if b.text.strip() and b.bbox is not None]
    if len(boxed) < 2:
        return  # a lone line is content, whatever it says
    near, outer = margins(page), margins(page, near_text=False)
    first = min(boxed, key=lambda b: b.bbox[1] if b.bbox else 0.0)
    for b in boxed:
        if b.type != "text" or not in_margin(b, near):
            continue
        text = b.text.strip()
        if not (_PAGE_NUMBER.match(text) or (b is first and _running_head(text))):
            continue
        if in_margin(b, outer) or _apart(b, boxed):
            b.type = "furniture"


def _apart(b: Block, blocks: list[Block]) -> bool:
    assert b.bbox is not None
    h = line_height(b)
    for o in blocks:
        if o is b or o.bbox is None:
            continue
        gap = max(o.bbox[1] - b.bbox[3], b.bbox[1] - o.bbox[3])
        if gap < 0.5 * h and o.bbox[0] < b.bbox[2] + 3 * h and b.bbox[0] < o.bbox[2] + 3 * h:
            return False
    return True


def furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def mark_repeated(job: Job) -> list[Page]:
    """Mark running headers and footers: a line in the top or bottom margin whose text
    (digits ignored) recurs in the same margin on at least two pages and on at least
    40 % of the pages, is furniture. Returns the pages that changed and whose text and
    Markdown are layout's own (to be rendered again)."""
    pages = [p for p in job.pages if p.blocks]
    if len(pages) < 2:
        return []
    seen: Counter[tuple[str, str]] = Counter()
    cand: list[tuple[Page, Block, tuple[str, str]]] = []
    for p in pages:
        keys = set()
        limits = margins(p, near_text=False)  # repeated lines: the page's margins only
        for b in p.blocks:
            zone = in_margin(b, limits)
            if zone and b.text.strip() and b.type in ("text", "heading", "furniture"):
                key = (zone, furniture_key(b.text))
                keys.add(key)
                cand.append((p, b, key))
        seen.update(keys)
    need = max(2, -(-len(pages) * 2 // 5))
    changed: dict[int, Page | None] = {}
    for p, b, key in cand:
        if seen[key] >= need and b.type != "furniture":
            if id(p) not in changed:
                ours = p.text == page_text(p) and p.markdown == page_markdown(p)
                changed[id(p)] = p if ours else None
            b.type = "furniture"
    return [page for page in changed.values() if page is not None]


def to_edges(page: Page) -> None:
    """Top-margin furniture first, bottom-margin furniture last."""
    limits = margins(page)
    furniture = [b for b in page.blocks if b.type == "furniture"]
    top = [b for b in furniture if in_margin(b, limits) == "top"]
    bottom = [b for b in furniture if in_margin(b, limits) == "bottom"]
    if not top and not bottom:
        return
    moved = {id(b) for b in top + bottom}
    page.blocks = [*top, *(b for b in page.blocks if id(b) not in moved), *bottom]
