"""A page's text and Markdown from its blocks as :mod:`ocrkit.layout` left them.

* :func:`page_text`: lines joined by ``"\\n"``, paragraphs separated by ``"\\n\\n"``,
  every line (furniture too) in block order.
* :func:`page_markdown`: furniture left out; headings ``#`` (levels:
  :func:`heading_levels`); a paragraph's lines joined into one line (a line-end hyphen
  before a lower-case letter joins the word: ``infor-`` + ``mation``); list items
  ``- text`` or ``3. text`` (consecutive items form one list; a hanging-indent line
  continues its item; an item indented under another is nested in it); each of
  ``page.tables`` as a pipe table where its first line was (lines inside a table's box
  are the table), or, with no line inside, before the first line below it, else at the
  end; text that would read as Markdown syntax is escaped
  (:func:`escape_line`).
"""

from __future__ import annotations

import re

from ocrkit.layout.lines import body_size, line_height, line_size, list_label
from ocrkit.models import Block, Page, Table

H1_RATIO = 1.5

_LINE_START = re.compile(
    r"^(\s*)(#{1,6}(?=\s|$)|>|[-+*](?=\s|$)|\d{1,9}[.)](?=\s|$)|`{3,}|~{3,}"
    r"|[=\-_*]{3,}\s*$|=+\s*$|\||\\)"
)


def render_page(page: Page) -> None:
    """``page.text`` and ``page.markdown`` from the page's blocks and tables as they are."""
    page.text = page_text(page)
    page.markdown = page_markdown(page)


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


# ------------------------------------------------------------------ Markdown


def heading_levels(page: Page) -> dict[int, int]:
    """``id(block)`` -> Markdown level for the page's heading lines.

    Sizes come from the boxes (:func:`ocrkit.layout.lines.line_size`), so levels can be worked
    out again from the blocks alone. Heading sizes are clustered (a step of more than
    15 % starts a new cluster); the largest is ``#`` when it is at least
    :data:`H1_RATIO` times the body size, else ``##``; each smaller cluster one level
    deeper (at most ``######``). A heading without a box is ``##``."""
    source = page.source
    heads = [b for b in page.blocks if b.type == "heading"]
    if not heads:
        return {}
    body = body_size(
        [(b, line_size(b, source)) for b in page.blocks if b.type in ("text", "list_item")]
    )
    sized = sorted(
        ((s, b) for b in heads if (s := line_size(b, source))), key=lambda t: t[0], reverse=True
    )
    levels: dict[int, int] = {}
    if not sized:
        return levels
    top = sized[0][0]
    level = 1 if body and top >= H1_RATIO * body else 2
    anchor = top
    for s, b in sized:
        if s and anchor and s < anchor / 1.15:
            level, anchor = min(level + 1, 6), s
        levels[id(b)] = level
    return levels


def _escape_inline(text: str) -> str:
    """HTML-like ``<tags`` and a line-end backslash (a hard break), escaped."""
    text = re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text.strip())
    if text.endswith("\\") and not text.endswith("\\\\"):
        text += "\\"
    return text


def escape_line(text: str) -> str:
    """Escape Markdown syntax in a line of plain text: at its start (so it never turns
    into a heading, list, quote, fence or rule by accident) and inline HTML/code."""
    text = _escape_inline(text)
    m = _LINE_START.match(text)
    if not m:
        return text
    token = m.group(2)
    if token[0].isdigit():  # "1." -> "1\."
        return token[:-1] + "\\" + token[-1] + text[len(token) :]
    return "\\" + text


def _join(lines: list[str]) -> str:
    """Lines of one paragraph as one string; a line-end hyphen before a lower-case
    letter is joined (``infor-`` + ``mation``)."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if out.endswith("-") and line[:1].islower() and out[-2:-1].isalpha():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def page_markdown(page: Page) -> str:
    """The page as Markdown (see the module docstring)."""
    levels = heading_levels(page)
    tables = list(page.tables)
    placed = [t for t in tables if any(inside(b, t) for b in page.blocks)]
    # (kind, markdown, indent): list items join tightly, nested ones indented
    parts: list[tuple[str, str, int]] = []
    nesting = _ListNesting()
    for para in _paragraphs([b for b in page.blocks if b.type != "furniture"]):
        for table, run in _split_at_tables(para, page.tables):
            if table is not None:
                if table in tables:
                    tables.remove(table)
                    parts.append(("table", table_markdown(table), 0))
                    nesting.reset()
                continue
            for t in _tables_above(run[0], [t for t in tables if t not in placed]):
                tables.remove(t)
                parts.append(("table", table_markdown(t), 0))
            kind, md = _paragraph_markdown(run, levels)
            indent = nesting.indent(run[0], md) if kind in _LISTS else nesting.reset()
            parts.append((kind, " " * indent + md, indent))
    parts.extend(("table", table_markdown(t), 0) for t in tables)
    out = ""
    prev, prev_indent = "", 0
    for kind, md, indent in parts:
        if not md.strip():
            continue
        if out:
            tight = kind in _LISTS and prev in _LISTS and (kind == prev or indent or prev_indent)
            out += "\n" if tight else "\n\n"
        out += md
        prev, prev_indent = kind, indent
    return out


_LISTS = ("bullet", "ordered.", "ordered)")


class _ListNesting:
    """Nested list items: an item whose marker stands right of the previous level's
    marker (by more than 0.8 line heights) is a child, indented under its parent's
    text as CommonMark wants."""

    def __init__(self) -> None:
        self.stack: list[tuple[float, int]] = []  # (marker x, children's indent)
        self.bottom = 0.0  # of the last item's first line

    def reset(self) -> int:
        self.stack = []
        return 0

    def indent(self, first: Block, md: str) -> int:
        if first.bbox is None:
            return 0  # no box, no nesting: a top-level item
        x, h = first.bbox[0], line_height(first)
        if not first.bbox[1] >= self.bottom - 0.5 * h:
            self.stack = []  # moved up: another column, another list
        self.bottom = first.bbox[3]
        while self.stack and x < self.stack[-1][0] + 0.8 * h:
            self.stack.pop()
        indent = self.stack[-1][1] if self.stack else 0
        marker = md.split(" ", 1)[0]
        self.stack.append((x, indent + len(marker) + 1))
        return indent


def _split_at_tables(
    para: list[Block], tables: list[Table]
) -> list[tuple[Table | None, list[Block]]]:
    """A paragraph as runs of lines outside tables, ``(None, lines)``, and the tables its
    lines are inside, ``(table, [])``, in line order."""
    runs: list[tuple[Table | None, list[Block]]] = []
    for b in para:
        table = next((t for t in tables if inside(b, t)), None)
        if table is not None:
            if not runs or runs[-1][0] is not table:
                runs.append((table, []))
        elif runs and runs[-1][0] is None:
            runs[-1][1].append(b)
        else:
            runs.append((None, [b]))
    return runs


def _paragraph_markdown(para: list[Block], levels: dict[int, int]) -> tuple[str, str]:
    """(kind, Markdown) of one paragraph: a heading, a list item or plain lines."""
    first = para[0]
    if first.type == "heading":
        text = _join([b.text for b in para]).rstrip("#").strip()
        return "heading", "#" * levels.get(id(first), 2) + " " + _escape_heading(text)
    label = list_label(first.text) if first.type == "list_item" else None
    if label is not None:
        marker, rest = label
        body = _join([rest] + [b.text for b in para[1:]])
        kind = "bullet" if marker == "-" else "ordered" + marker[-1]
        return kind, f"{marker} {escape_line(body)}"
    return "text", escape_line(_join([b.text for b in para]))


def _escape_heading(text: str) -> str:
    # after "# " only a closing "#" sequence is syntax (stripped before)
    return _escape_inline(text)


def inside(b: Block, t: Table) -> bool:
    if not t.bbox or b.bbox is None:
        return False
    cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
    return t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3]


def _tables_above(b: Block, tables: list[Table]) -> list[Table]:
    """Tables (with no line inside) that stand above this line in its column."""
    if b.bbox is None:
        return []
    out = []
    for t in tables:
        if t.bbox and t.bbox[1] <= b.bbox[1] and t.bbox[0] < b.bbox[2] and b.bbox[0] < t.bbox[2]:
            out.append(t)
    return out


def table_markdown(table: Table) -> str:
    grid = table.grid()
    if not grid or not grid[0]:
        return ""

    def cell(s: str) -> str:
        return " ".join(s.split()).replace("\\", "\\\\").replace("|", "\\|")

    rows = ["| " + " | ".join(cell(c) for c in r) + " |" for r in grid]
    sep = "| " + " | ".join("---" for _ in grid[0]) + " |"
    return "\n".join([rows[0], sep, *rows[1:]])
