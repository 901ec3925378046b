"""Line-level clean-up for :mod:`ocrkit.layout`: text size of a line, lines split at
column gutters, bullets.

* :func:`line_size`: a number proportional to a line's font size. Text-layer boxes are
  the font's full height; OCR boxes hug the ink, so a word's size is its box height over
  the share of the em its letters reach (ascenders, x-height, descenders, commas).
* :func:`split_wide_gaps`: Tesseract joins lines straight across narrow column
  gutters; a line is split at a gap that lines up with gaps in the lines around it.
* :func:`merge_bullets` (PDFs set a bullet glyph apart from its text) and
  :func:`fix_ocr_bullets` (Tesseract reads a bullet as ``e``, ``¢`` or ``«``).
"""

from __future__ import annotations

import re
from statistics import median
from typing import TYPE_CHECKING, Any

from ocrkit.models import Block, Word, weighted_confidence

if TYPE_CHECKING:
    from PIL import Image

SPLIT_GAP = 1.0
BULLETS = "•◦▪●○■□‣⁃∙·➢►▶–"
_OCR_BULLETS = set("•◦▪●○■□‣⁃∙·eoO0©®¢«»°*+-·.")
LABEL = re.compile(r"^(\(?(\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)])(?=\s)")

_ASC = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789bdfhijklt()[]{}|/\\!?%&$#@")
_DESC = set("gjpqy()[]{}|")
# Share of the em a word's box covers: (ascender, descender) present.
_EM_SHARE = {(True, True): 0.96, (True, False): 0.74, (False, True): 0.76, (False, False): 0.54}


def _word_em(w: Word) -> float | None:
    h = w.bbox[3] - w.bbox[1]
    letters = [c for c in w.text if c.isalnum()]
    if not letters or h <= 0:
        return None
    if any(not (c.isascii() or c in "äöüÄÖÜéèàç") for c in letters):
        return h / 0.9  # other scripts: the box is most of the em
    asc = any(c in _ASC or c in "ÄÖÜ" for c in w.text)
    desc = any(c in _DESC for c in w.text)
    share = _EM_SHARE[(asc, desc)]
    if not desc and any(c in ",;" for c in w.text):
        share += 0.12  # a comma reaches about half a descender down
    return h / share


def line_size(b: Block, source: str = "ocr") -> float | None:
    """A number proportional to the line's font size (None without a box).

    Text-layer boxes are the font's full height, so their height is used; OCR boxes hug
    the ink, so the size is estimated word by word."""
    if b.bbox is None:
        return None
    if source != "text-layer" and b.words:
        ems = [e for e in (_word_em(w) for w in b.words) if e]
        if ems:
            return median(ems)
    return max(1.0, b.bbox[3] - b.bbox[1])


def body_size(sized: list[tuple[Block, float | None]]) -> float | None:
    """Median size over characters."""
    values = sorted((s, len(b.text)) for b, s in sized if s)
    total = sum(n for _, n in values)
    acc = 0
    for s, n in values:
        acc += n
        if acc * 2 >= total:
            return s
    return None


def line_height(b: Block) -> float:
    return max(1.0, b.bbox[3] - b.bbox[1]) if b.bbox is not None else 1.0


def _box(words: list[Word]) -> list[float]:
    return [
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    ]


def _word_spans(text: str, words: list[Word]) -> list[tuple[int, int]] | None:
    """Where each word of a line is in the line's text (None when they are not there)."""
    pos, spans = 0, []
    for w in words:
        at = text.find(w.text, pos)
        if at < 0:
            return None
        pos = at + len(w.text)
        spans.append((at, pos))
    return spans


def _sub_text(text: str, words: list[Word], first: int, last: int) -> str:
    """The part of ``text`` that ``words[first:last]`` came from (the engine's own
    spacing, e.g. none between CJK words)."""
    spans = _word_spans(text, words)
    if spans is None:
        return " ".join(w.text for w in words[first:last])
    return text[spans[first][0] : spans[last - 1][1]]


def list_label(text: str) -> tuple[str, str] | None:
    """(marker, rest) when the line starts a list item: marker "-" or "3." / "3)"."""
    t = text.strip()
    if len(t) > 1 and (t[0] in BULLETS or (t[0] in "-*" and t[1] == " ")):
        rest = t[1:].strip()
        return ("-", rest) if rest else None
    m = LABEL.match(t)
    if m and len(t) > len(m.group(1)) + 1:
        label, rest = m.group(1), t[len(m.group(1)) :].strip()
        if label[:-1].isdigit():
            return label, rest
        return "-", t  # a), (iv): keep the label, as a bullet item
    return None


def _is_label(word: Word, line_h: float) -> bool:
    """A bullet blob or a list label as the first word of a line."""
    t = word.text.strip()
    small = word.bbox[3] - word.bbox[1] < 0.55 * line_h
    return bool(LABEL.match(t + " ")) or (len(t) <= 2 and (t[:1] in BULLETS or small))


def split_wide_gaps(blocks: list[Block], source: str = "ocr") -> list[Block]:
    """Split lines where they cross a column gutter.

    A gap between two words of a line wider than :data:`SPLIT_GAP` times the line's
    text size is a gutter when the lines around it (within three line heights) agree:
    at least as many of those that reach across that x have no word there as have one
    (double spaces in typewritten text do not line up; gutters do). With no line around
    reaching across, only a gap over 2.5 sizes splits. When any line was split, the
    engine's paragraphs are dropped (they were made across the columns, too)."""
    out: list[Block] = []
    split = False
    boxed = [b for b in blocks if b.bbox is not None]
    for b in blocks:
        if b.bbox is None or len(b.words) < 2:
            out.append(b)
            continue
        em = line_size(b, source) or line_height(b)
        parts: list[list[Word]] = [[b.words[0]]]
        for prev, w in zip(b.words, b.words[1:], strict=False):
            first = len(parts) == 1 and len(parts[0]) == 1
            gap = w.bbox[0] - prev.bbox[2]
            if (
                gap > SPLIT_GAP * em
                and not (first and _is_label(prev, line_height(b)))
                and _gutter(b, prev.bbox[2], w.bbox[0], em, boxed)
            ):
                parts.append([w])
            else:
                parts[-1].append(w)
        if len(parts) == 1:
            out.append(b)
            continue
        split = True
        start = 0
        for ws in parts:
            start += len(ws)
            out.append(
                Block(
                    text=_sub_text(b.text, b.words, start - len(ws), start),
                    bbox=_box(ws),
                    confidence=weighted_confidence([Block("", None, 0.0, ws)]) or b.confidence,
                    words=ws,
                    type=b.type,
                    paragraph=b.paragraph,
                    flags=list(b.flags),
                )
            )
    if split:
        for b in out:
            b.paragraph = None
    return out


def _gutter(line: Block, g0: float, g1: float, em: float, blocks: list[Block]) -> bool:
    """Whether the gap ``g0..g1`` in ``line`` is part of a gutter (see split_wide_gaps):
    a line around that reaches across it agrees when it has a gap of its own at least
    :data:`SPLIT_GAP` sizes wide inside ``g0..g1``, and disagrees otherwise."""
    assert line.bbox is not None
    cy = (line.bbox[1] + line.bbox[3]) / 2
    reach = 3 * line_height(line)
    free = inked = 0
    for n in blocks:
        if n is line or n.bbox is None or abs((n.bbox[1] + n.bbox[3]) / 2 - cy) > reach:
            continue
        if not (n.bbox[0] < g0 and n.bbox[2] > g1):
            continue  # does not reach across
        words = sorted(n.words or [Word(n.text, n.bbox, n.confidence)], key=lambda w: w.bbox[0])
        widest, left = 0.0, n.bbox[0]
        for w in words:
            lo, hi = max(left, g0), min(w.bbox[0], g1)
            widest = max(widest, hi - lo)
            left = max(left, w.bbox[2])
        if widest >= SPLIT_GAP * em:
            free += 1
        else:
            inked += 1
    if free or inked:
        return free >= inked
    return g1 - g0 > 2.5 * em


def merge_bullets(blocks: list[Block]) -> list[Block]:
    """Join a line that is only a bullet glyph to the line beside it (PDFs often set
    the bullet apart from its text)."""
    out: list[Block] = []
    i = 0
    while i < len(blocks):
        b = blocks[i]
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if (
            nxt is not None
            and b.bbox is not None
            and nxt.bbox is not None
            and b.text.strip() in set(BULLETS)
            and _same_row(b, nxt)
        ):
            nxt.text = b.text.strip() + " " + nxt.text
            nxt.words = [*b.words, *nxt.words]
            nxt.bbox = [
                min(b.bbox[0], nxt.bbox[0]),
                min(b.bbox[1], nxt.bbox[1]),
                max(b.bbox[2], nxt.bbox[2]),
                max(b.bbox[3], nxt.bbox[3]),
            ]
            if nxt.type == "text":
                nxt.type = "list_item"
            i += 1
            continue
        out.append(b)
        i += 1
    return out


def _same_row(a: Block, b: Block, share: float = 0.3) -> bool:
    if a.bbox is None or b.bbox is None:
        return False
    overlap = min(a.bbox[3], b.bbox[3]) - max(a.bbox[1], b.bbox[1])
    return overlap > share * min(line_height(a), line_height(b))


def merge_row_fragments(blocks: list[Block]) -> list[Block]:
    """Join consecutive lines (in reading order) that are pieces of one printed line:
    same row, same type, less than 0.8 line heights apart. PDFs break lines into pieces
    at font or direction changes (a Latin name inside Arabic text), some engines at wide
    spaces. Words and text are joined in reading order."""
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.bbox is not None
            and b.bbox is not None
            and prev.type == b.type
            and _same_row(prev, b, 0.5)
            and _h_gap(prev, b) < 0.8 * min(line_height(prev), line_height(b))
        ):
            prev.text = f"{prev.text} {b.text}"
            prev.words = [*prev.words, *b.words]
            # the joined line's words, weighted by length (flag_confidence's definition)
            prev.confidence = weighted_confidence([prev]) or prev.confidence
            prev.bbox = [
                min(prev.bbox[0], b.bbox[0]),
                min(prev.bbox[1], b.bbox[1]),
                max(prev.bbox[2], b.bbox[2]),
                max(prev.bbox[3], b.bbox[3]),
            ]
            prev.flags = sorted(set(prev.flags) | set(b.flags))
            continue
        out.append(b)
    return out


def _h_gap(a: Block, b: Block) -> float:
    assert a.bbox is not None and b.bbox is not None
    return max(a.bbox[0], b.bbox[0]) - min(a.bbox[2], b.bbox[2])


def fix_ocr_bullets(blocks: list[Block]) -> None:
    """A small blob before a line's first word is a bullet, whatever Tesseract read."""
    for b in blocks:
        if b.bbox is None or len(b.words) < 2 or b.type != "text":
            continue
        w0, w1 = b.words[0], b.words[1]
        t = w0.text.strip()
        h0 = w0.bbox[3] - w0.bbox[1]
        rest = median(w.bbox[3] - w.bbox[1] for w in b.words[1:])
        if (
            t not in BULLETS
            and len(t) <= 2
            and all(c in _OCR_BULLETS for c in t)
            and h0 < 0.6 * rest
            and w1.bbox[0] - w0.bbox[2] > 0.3 * rest
        ):
            w0.text = "•"
            b.text = "• " + _sub_text(b.text, b.words, 1, len(b.words))


def stroke_weights(blocks: list[Block], image: Image.Image) -> dict[int, float]:
    """``id(block)`` -> stroke width over text size for OCR lines (bold is ~1.5 times
    regular). Stroke width is twice the ink area over its outline length, in the line's
    box of the page image (dark: below Otsu's threshold of the page)."""
    import numpy as np

    grey_image = image if image.mode == "L" else image.convert("L")
    t = otsu(np.array(grey_image.histogram(), dtype=float))
    out: dict[int, float] = {}
    for b in blocks:
        size = line_size(b)
        if b.bbox is None or not b.words or not size:
            continue
        x0, y0, x1, y1 = (max(0, int(round(v))) for v in b.bbox)
        crop = np.asarray(grey_image.crop((x0, y0, max(x0, x1), max(y0, y1))))
        if crop.shape[0] < 3 or crop.shape[1] < 3:
            continue
        dark = np.pad(crop < t, 1)
        inner = (
            dark[1:-1, 1:-1] & dark[:-2, 1:-1] & dark[2:, 1:-1] & dark[1:-1, :-2] & dark[1:-1, 2:]
        )
        area = int(dark.sum())
        edge = area - int(inner.sum())
        if edge:
            out[id(b)] = 2 * area / edge / size
    return out


def otsu(hist: Any) -> float:
    """Otsu's threshold of a 256-bin grey histogram (numpy array)."""
    import numpy as np

    total = hist.sum()
    if not total:
        return 128.0
    levels = np.arange(256)
    w0 = np.cumsum(hist)
    s0 = np.cumsum(hist * levels)
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (s0[-1] * w0 - total * s0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return float(np.argmax(between)) + 0.5


def true_runs(mask: Any) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of true values in a 1-D boolean array, in order
    (rows of ink in a row profile, say)."""
    import numpy as np

    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
