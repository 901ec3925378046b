"""Made table pages with exact truth: a ruled and an unruled table (Pillow, for OCR) and
a born-digital PDF with both (pymupdf, text layer). Used by tests/test_tables.py."""

from __future__ import annotations

from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# The true dense grid: "Region" spans rows 0-1 (ruled only); the header spans columns
# 1-3, centred over them (``centre=False``: left-aligned in column 1).
HEADER = "Quarterly sales in units, all regions"
BODY = [
    ["North", "120", "340", "560"],
    ["South", "275", "480", "915"],
    ["West", "630", "745", "890"],
    ["East", "215", "385", "970"],
]
SUBHEAD = ["", "First", "Second", "Third"]
GRID = [["Region", HEADER, "", ""], SUBHEAD, *BODY]
ABOVE = ["Sales report for the year", "The table below lists units sold by region."]
BELOW = ["All figures are units, not money.", "Prepared by the planning office."]

COLS = [0, 320, 620, 920, 1220]  # column edges, relative to the table's left
ROW_H = 80


def _layout(left: int, top: int) -> tuple[list[float], list[float]]:
    xs = [left + c for c in COLS]
    ys = [top + ROW_H * i for i in range(len(GRID) + 1)]
    return xs, ys


def table_image(path: Path, *, ruled: bool, centre: bool = True, font_size: int = 36) -> Path:
    """A 1600 x 1300 px page (300 dpi): two lines of text, the table, two lines."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1600, 1300), 255)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_size)
    y = 80
    for line in ABOVE:
        d.text((180, y), line, font=font, fill=0)
        y += 60
    xs, ys = _layout(180, y + 60)
    pad = 22

    def put(text: str, c0: int, c1: int, row: int, center: bool = False) -> None:
        w = d.textlength(text, font=font)
        x = (xs[c0] + xs[c1 + 1] - w) / 2 if center else xs[c0] + pad
        d.text((x, ys[row] + pad), text, font=font, fill=0)

    put("Region", 0, 0, 0)
    put(HEADER, 1, 3, 0, center=centre)
    for r, row in enumerate(GRID[1:], start=1):
        for c, text in enumerate(row):
            if text:
                put(text, c, c, r)
    if ruled:
        for i, y_ in enumerate(ys):
            # No line under "Region" in its first row: it spans rows 0-1.
            x0 = xs[1] if i == 1 else xs[0]
            d.line([(x0, y_), (xs[-1], y_)], fill=0, width=3)
        for j, x_ in enumerate(xs):
            # No lines between the columns "Quarterly sales" spans.
            y0 = ys[1] if j in (2, 3) else ys[0]
            d.line([(x_, y0), (x_, ys[-1])], fill=0, width=3)
    y = ys[-1] + 70
    for line in BELOW:
        d.text((180, y), line, font=font, fill=0)
        y += 60
    img.save(path, dpi=(300, 300))
    return path


def table_pdf(path: Path, *, centre: bool = True) -> Path:
    """A born-digital A4 page: text, the ruled table, text, the unruled table, text."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    k = 0.3  # table units (image pixels) to points
    y = 60.0
    for line in ABOVE:
        page.insert_text((50, y), line, fontsize=11)
        y += 16
    for ruled in (True, False):
        top = y + 14
        xs = [50 + c * k for c in COLS]
        ys = [top + ROW_H * k * i for i in range(len(GRID) + 1)]

        def put(
            text: str,
            c0: int,
            c1: int,
            row: int,
            center: bool = False,
            xs: list[float] = xs,
            ys: list[float] = ys,
        ) -> None:
            size = 10 if c0 == c1 else 12
            w = pymupdf.get_text_length(text, fontsize=size)
            x = (xs[c0] + xs[c1 + 1] - w) / 2 if center else xs[c0] + 5
            page.insert_text((x, ys[row] + 16), text, fontsize=size)

        put("Region", 0, 0, 0)
        put(HEADER, 1, 3, 0, center=centre)
        for r, row in enumerate(GRID[1:], start=1):
            for c, text in enumerate(row):
                if text:
                    put(text, c, c, r)
        if ruled:
            for i, y_ in enumerate(ys):
                page.draw_line((xs[1] if i == 1 else xs[0], y_), (xs[-1], y_), width=0.8)
            for j, x_ in enumerate(xs):
                page.draw_line((x_, ys[1] if j in (2, 3) else ys[0]), (x_, ys[-1]), width=0.8)
        y = ys[-1] + 30
        for line in BELOW:
            page.insert_text((50, y), line, fontsize=11)
            y += 16
    doc.save(path)
    return path


def columns_pdf(path: Path, n: int = 2) -> Path:
    """Running text in ``n`` columns (an article, a magazine page): not a table."""
    import pymupdf

    text = (
        "the committee met on tuesday to review the budget and agreed that the new "
        "library should open in spring after the roof is repaired and the shelves arrive"
    )
    words = text.split(" ")
    per_line = 14 // n + 1
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    width = (595 - 100) / n
    for col in range(n):
        x = 50 + col * width
        y = 70.0
        for i in range(30):
            line = " ".join(words[(i * 7 + col * 3 + j) % len(words)] for j in range(per_line))
            page.insert_text((x, y), line, fontsize=10 if n <= 2 else 8)
            y += 14
    doc.save(path)
    return path
