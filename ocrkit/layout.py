"""Simple layout on a page's line blocks: paragraphs, headings, text and Markdown.

Deliberately small (full layout analysis is a later issue):

* :func:`assign_paragraphs` groups lines into paragraphs when the engine did not: a new
  paragraph starts after a vertical gap larger than :data:`PARA_GAP` line heights,
  when a line moves up or into another column, when it is indented by more than
  :data:`INDENT` line heights against the previous line, or after a line that ends
  well short of the column (the last line of a paragraph).
* :func:`mark_headings` (text-layer pages, which know their font sizes) marks lines
  whose font is at least :data:`HEADING_RATIO` times the body size as headings.
* :func:`page_text`: lines joined by ``"\\n"``, paragraphs separated by ``"\\n\\n"``.
* :func:`page_markdown`: one Markdown paragraph per paragraph (its lines joined by
  ``"\\n"``, i.e. soft breaks), headings as ``#``/``##``, bullet lines as list items,
  tables as pipe tables; Markdown syntax at line starts is escaped so text never turns
  into a heading, list, quote, fence or rule by accident.
"""

from __future__ import annotations

import re
from collections import Counter
from statistics import median

from ocrkit.models import Block, Page, Table

PARA_GAP = 0.9
INDENT = 1.2
HEADING_RATIO = 1.2
BULLETS = "•◦▪●○■□‣⁃∙·"


def _height(b: Block) -> float:
    return max(1.0, b.bbox[3] - b.bbox[1])


def assign_paragraphs(blocks: list[Block]) -> None:
    """Fill ``paragraph`` on every block unless all of them already have one."""
    if not blocks or all(b.paragraph is not None for b in blocks):
        return
    h = median(_height(b) for b in blocks)
    para = 0
    prev: Block | None = None
    col_right = 0.0
    for b in blocks:
        if prev is not None:
            new_col = _new_column(prev, b, h)
            if new_col:
                col_right = 0.0
            col_right = max(col_right, prev.bbox[2], b.bbox[2])
            if new_col or _breaks(prev, b, h, col_right):
                para += 1
        b.paragraph = para
        prev = b


def _new_column(prev: Block, b: Block, h: float) -> bool:
    moved_up = b.bbox[1] < prev.bbox[1] - 0.5 * h
    no_overlap = b.bbox[0] > prev.bbox[2] or b.bbox[2] < prev.bbox[0]
    return moved_up or no_overlap


def _breaks(prev: Block, b: Block, h: float, col_right: float) -> bool:
    if b.type != prev.type and "heading" in (b.type, prev.type) or b.type == "list_item":
        return True
    if b.bbox[1] - prev.bbox[3] > PARA_GAP * h:
        return True  # a blank line's worth of space
    if b.bbox[0] - _text_left(prev) > INDENT * h:
        return True  # indented first line
    # The previous line ended early: the first word of this line would have fit there.
    first = b.words[0].bbox if b.words else None
    if first is None:
        return False
    room = col_right - prev.bbox[2]
    return room > (first[2] - first[0]) + 0.6 * h


def _text_left(b: Block) -> float:
    """Where a line's text starts (after its bullet, for a list item)."""
    if b.type == "list_item" and len(b.words) > 1 and b.words[0].text.strip() in BULLETS:
        return b.words[1].bbox[0]
    return b.bbox[0]


def mark_headings(blocks: list[Block], sizes: list[float], bold: list[bool] | None = None) -> None:
    """Mark headings on a text-layer page: lines whose font is at least
    :data:`HEADING_RATIO` times the body size, or short all-bold lines when the body
    text is not bold. Sets ``type="heading"``."""
    if len(blocks) != len(sizes) or not blocks:
        return
    bold = bold if bold is not None and len(bold) == len(blocks) else [False] * len(blocks)
    weight: Counter[tuple[float, bool]] = Counter()
    for b, s, bb in zip(blocks, sizes, bold, strict=True):
        weight[(round(s, 1), bb)] += len(b.text)
    body, body_bold = weight.most_common(1)[0][0]
    if body <= 0:
        return
    for b, s, bb in zip(blocks, sizes, bold, strict=True):
        text = b.text.strip()
        if not text or len(text) > 150 or text[0] in BULLETS:
            continue
        bigger = s >= HEADING_RATIO * body
        if bigger or (bb and not body_bold and s >= body * 0.99 and not text.endswith(",")):
            b.type = "heading"


def merge_bullets(blocks: list[Block]) -> list[Block]:
    """Join a line that is only a bullet glyph to the line beside it (PDFs often set
    the bullet apart from its text)."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if nxt is not None and b.text.strip() in set(BULLETS) and _same_row(b, nxt):
            nxt.text = b.text.strip() + " " + nxt.text
            nxt.words = [*b.words, *nxt.words]
            nxt.bbox = [
                min(b.bbox[0], nxt.bbox[0]),
                min(b.bbox[1], nxt.bbox[1]),
                max(b.bbox[2], nxt.bbox[2]),
                max(b.bbox[3], nxt.bbox[3]),
            ]
            nxt.type = "list_item"
            i += 1
            continue
        if _bullet(b.text) is not None:
            b.type = "list_item"
        out.append(b)
        i += 1
    return out


def _same_row(a: Block, b: Block) -> bool:
    overlap = min(a.bbox[3], b.bbox[3]) - max(a.bbox[1], b.bbox[1])
    return overlap > 0.3 * min(_height(a), _height(b))


def _paragraphs(blocks: list[Block]) -> list[list[Block]]:
    out: list[list[Block]] = []
    last: object = object()
    for b in blocks:
        if not b.text.strip():
            continue
        if not out or b.paragraph != last or b.paragraph is None:
            out.append([])
        out[-1].append(b)
        last = b.paragraph
    return out


def page_text(page: Page) -> str:
    return "\n\n".join("\n".join(b.text for b in p) for p in _paragraphs(page.blocks))


_LINE_START = re.compile(
    r"^(\s*)(#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|\d{1,9}[.)](?=\s|$)|`{3,}|~{3,}"
    r"|[=\-_*]{3,}\s*$|\||\\)"
)


def escape_line(text: str) -> str:
    """Escape Markdown syntax at the start of a line of plain text."""
    text = text.strip()
    m = _LINE_START.match(text)
    if not m:
        return text
    token = m.group(2)
    if token[0].isdigit():  # "1." -> "1\."
        return token[:-1] + "\\" + token[-1] + text[len(token) :]
    return "\\" + text


def _heading_levels(page: Page, sizes: dict[int, float]) -> dict[float, int]:
    """``#`` for the largest heading size when it is clearly larger than the others
    (and than the body), ``##`` for every other heading."""
    distinct = sorted({sizes.get(id(b), 0.0) for b in page.blocks if b.type == "heading"})
    body = median(sizes.get(id(b), 0.0) for b in page.blocks) if page.blocks else 0.0
    levels = dict.fromkeys(distinct, 2)
    if len(distinct) > 1 and distinct[-1] >= HEADING_RATIO * max(distinct[-2], body):
        levels[distinct[-1]] = 1
    return levels


def _bullet(text: str) -> str | None:
    t = text.strip()
    if len(t) > 1 and t[0] in BULLETS:
        return t[1:].strip()
    return None


def page_markdown(page: Page, sizes: dict[int, float] | None = None) -> str:
    """The page as Markdown. ``sizes`` maps ``id(block)`` to its font size (headings)."""
    sizes = sizes or {}
    levels = _heading_levels(page, sizes)
    tables = list(page.tables)
    parts: list[str] = []
    for para in _paragraphs(page.blocks):
        table = _table_at(para[0], tables)
        if table is not None:
            tables.remove(table)
            parts.append(table_markdown(table))
        if any(_inside(b, t) for b in para for t in page.tables):
            continue
        first = para[0]
        if first.type == "heading":
            level = levels.get(sizes.get(id(first), 0.0), 2)
            parts.append("#" * level + " " + " ".join(b.text.strip() for b in para))
            continue
        lines = []
        for b in para:
            item = _bullet(b.text)
            lines.append("- " + escape_line(item) if item is not None else escape_line(b.text))
        parts.append("\n".join(lines))
    parts.extend(table_markdown(t) for t in tables)
    return "\n\n".join(p for p in parts if p)


def _inside(b: Block, t: Table) -> bool:
    if not t.bbox:
        return False
    cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
    return t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3]


def _table_at(b: Block, tables: list[Table]) -> Table | None:
    return next((t for t in tables if _inside(b, t)), None)


def table_markdown(table: Table) -> str:
    grid = table.grid()
    if not grid:
        return ""

    def cell(s: str) -> str:
        return " ".join(s.split()).replace("|", "\\|")

    rows = ["| " + " | ".join(cell(c) for c in r) + " |" for r in grid]
    sep = "| " + " | ".join("---" for _ in grid[0]) + " |"
    return "\n".join([rows[0], sep, *rows[1:]])


def finish_page(
    page: Page, sizes: list[float] | None = None, bold: list[bool] | None = None
) -> None:
    """Headings (when font sizes are known), bullets, paragraphs, text and Markdown."""
    by_id: dict[int, float] = {}
    if sizes and len(sizes) == len(page.blocks):
        mark_headings(page.blocks, sizes, bold)
        by_id = {id(b): s for b, s in zip(page.blocks, sizes, strict=True)}
    page.blocks = merge_bullets(page.blocks)
    assign_paragraphs(page.blocks)
    page.text = page_text(page)
    page.markdown = page_markdown(page, by_id)
