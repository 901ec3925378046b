"""The model's answer as a page: Markdown lines, boxes, confidences.

:func:`build_result` turns the answer into one block per non-empty line
(:func:`markdown_lines`), in the model's order (the page's ``extra["reading_order"]`` is
``"engine"``, so layout keeps it), and gives each line a box, best first:

1. **words**: the line's words matched the cpu engine's words (:mod:`.align`): the
   union box of those words (printed pages; ``extra["box"] == "words"``).
2. **line**: otherwise the page's text lines are detected from the ink (:mod:`.detect`)
   and the unplaced lines assigned to them in reading order (:mod:`.assign`, with the
   placed lines as anchors): a sure placement gets ``extra["box"] == "line"``, an
   uncertain one ``"estimated"``.
3. none: a line with no plausible place keeps ``bbox=None`` and the flag ``unaligned``.

Each boxed line gets word boxes cut from its box in proportion to the words' lengths
(:func:`.assign.word_boxes`; ``extra["words"] == "estimated"``): the text is the model's,
the positions are estimates, which the searchable PDF uses to put each word over its
writing.

Confidence: from token log-probabilities when the server returns them (per line, the
geometric mean token probability; ``page.extra["vlm"]["confidence"] == "logprobs"``),
else the line's alignment score with the cpu words (``"alignment"``; 0 for a line the
cpu engine did not read).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ocrkit.hookspecs import PageResult
from ocrkit.layout import markdown_lines
from ocrkit.models import Block, Word

from . import align

# A page lies on its side when more than this share of the cpu engine's line length
# stands upright (see _sideways).
SIDEWAYS_SHARE = 0.5
# ... and those upright lines lie side by side across this share of the page's width or
# more: text on its side spans the page, while a thin strip of upright "lines" at one
# edge is the scan's border, tape or a sideways margin note (AN_0292-1: the cpu engine
# read only the page's right edge, 5 % of its width, and the page was taken as turned).
SIDEWAYS_SPREAD = 0.15
# Pages lie upright far more often than upside down: the placement on the page turned
# half way round wins only when its alignment is cheaper by this much.
HALF_TURN_COST = 3.0
# A placed line takes a piece no line took beside it in its band (as widen_wanting
# looks for them) when the line's text is this much more like the reading of its
# pieces with that piece than without (similarity 0..1; 0: never).
READ_WIDEN = 0.05
# Read the detected pieces roughly (:mod:`.read`) and count what they read as evidence
# in the placement, on pages where the cpu engine's words placed at most this share of
# the model's lines (handwriting). Only on the page as it lies (turn 0): a page turned
# half way round reads as noise there, which is no evidence for either turn.
READ_PIECES = True
READ_PLACED = 0.5
# A line the cpu engine's words placed, whose box is the union of the few words it read,
# is widened over the detected pieces no line took beside it (:func:`absorb_leftovers`):
# a piece overlapping its band by this share of the lower one's height, less than this
# many box heights away (a gap the detector's pieces are cut at, .detect.SPLIT_GAP, is
# not crossed), not taller than this times the box, and not narrower than high.
ABSORB_OVERLAP = 0.5
ABSORB_GAP = 1.0
ABSORB_TALL = 1.5
# Lines written sideways in the left margin (the detector finds only letter fragments
# there): the margin strip left of the body is also read turned a quarter, and its rows
# this many times longer than thick or more are tried as lines the model wrote first.
SIDE_LONG = 4.0
# ... looked at only when this share of the strip's pixel rows hold this many dark
# pixels or more (a speck of dust does not count).
SIDE_INKED = 0.5
SIDE_ROW_INK = 5
# A line of this many words or fewer that the cpu engine's words placed where the
# alignment with the page's rows does not (its words matched a word elsewhere: a short
# line's one or two words easily do) takes the alignment's box.
ANCHOR_WORDS = 3
# A line the detector's pieces placed takes the pieces no line took beside it in its
# band of writing (:func:`widen_wanting`: an amount written at a tab stop far from its
# name, in a list; the first words of a line whose writer left wide gaps), nearest
# first, less than this many box heights away, not taller than this times the box ...
WANT_GAP = 6.0
WANT_TALL = 1.5
# ... overlapping its band by this share of the lower one's height or more (slanted
# writing: an amount far right of its name sits a little higher or lower), while the
# box holds fewer pieces than the line has words and is at most this many times the
# width its length predicts; pieces wholly left of where most of the writing starts
# (a margin column: notes, stamps) are not taken.
WANT_OVERLAP = 0.4
WANT_MAX = 2.0
# A line placed on the detector's pieces whose box is lower than this share of the
# page's writing height (a short word without ascenders or descenders, "1916.": its ink
# is the x-height band only, and the annotators' line box spans the line's band) is made
# that tall about its middle. 0.7 and more lose lines on the made pages, whose true
# boxes are the drawn ink's (a font's x-height words).
LOW_LINE = 0.6
# A line whose only cpu word is this short and was read inexactly ("moi -" on Tesseract's
# "loi" in the row above, AN_0006-2) is not pinned there: it is placed like an unread line.
WEAK_LETTERS = 3

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from PIL import Image

    from ocrkit.llm import Completion

    from .assign import Placement


def _line_confidences(comp: Completion, n_lines: int) -> list[float] | None:
    """Per answer line (non-empty lines of the raw text, in order) the geometric mean
    token probability, when the tokens' text adds up to the answer; else the whole
    answer's mean for every line; None without log-probabilities."""
    lps = comp.logprobs
    if not lps:
        return None
    overall = math.exp(sum(lps) / len(lps))
    content = (comp.raw.get("choices") or [{}])[0].get("logprobs", {}) or {}
    toks = content.get("content") if isinstance(content, dict) else None
    if not isinstance(toks, list) or "".join(str(t.get("token", "")) for t in toks) != comp.text:
        return [round(overall, 4)] * n_lines
    per_line: list[list[float]] = [[]]
    for t in toks:
        piece = str(t.get("token", ""))
        if piece.strip():
            per_line[-1].append(float(t["logprob"]))
        for _ in range(piece.count("\n")):
            per_line.append([])
    means = [math.exp(sum(v) / len(v)) for v in per_line if v]
    if len(means) != n_lines:
        return [round(overall, 4)] * n_lines
    return [round(m, 4) for m in means]


def build_result(
    answer: str,
    comp: Completion,
    cpu_blocks: list[Block],
    warnings: list[str],
    info: dict[str, Any],
    image: Image.Image | None = None,
) -> PageResult:
    """The page for ``answer`` (see the module docstring). ``image``: the page image the
    model saw, for line detection (without it, only cpu-word alignment places lines)."""
    markdown = answer.strip()
    if markdown.startswith("```") and markdown.endswith("```"):  # fenced whole answers
        markdown = "\n".join(markdown.splitlines()[1:-1]).strip()
    lines = markdown_lines(markdown)
    texts = [t for t, _, _ in lines]
    matches = align.align_lines(texts, align.cpu_words(cpu_blocks))
    boxes: list[list[float] | None] = [None if _weak(m) else m.bbox for m in matches]
    kinds: list[str | None] = ["words" if b is not None else None for b in boxes]
    dark = None
    if image is not None and texts:
        from . import detect

        dark = detect.ink_mask(image)
        # the cpu engine's word boxes take in specks and noise next to the words
        boxes = [
            None if b is None else [round(v, 1) for v in detect.trim_to_ink(b, dark)] for b in boxes
        ]
        if any(b is None for b in boxes):
            boxes, kinds = _place_on_detected_lines(
                texts,
                boxes,
                kinds,
                image,
                info,
                sideways=_sideways(cpu_blocks, image.width),
                dark=dark,
            )
    raw_lines = [ln for ln in markdown.splitlines() if ln.strip()]
    confs = _line_confidences(comp, len(raw_lines)) if len(raw_lines) == len(lines) else None
    if confs is None and comp.logprobs:
        overall = round(math.exp(sum(comp.logprobs) / len(comp.logprobs)), 4)
        confs = [overall] * len(lines)
    info["source"] = "vlm"
    info["confidence"] = "logprobs" if confs is not None else "alignment"
    blocks: list[Block] = []
    for i, ((text, kind, para), m) in enumerate(zip(lines, matches, strict=True)):
        conf = confs[i] if confs is not None else m.score
        box = boxes[i]
        block = Block(
            text=text,
            bbox=box,
            confidence=conf,
            type=kind,
            paragraph=para,
            flags=[] if box is not None else ["unaligned"],
        )
        if box is not None:
            from .assign import word_boxes

            block.words = [Word(w, b, conf) for w, b in word_boxes(text, box, dark)]
            block.extra = {"box": kinds[i], "words": "estimated"}
        blocks.append(block)
    info["lines"] = len(blocks)
    info["aligned"] = sum(k == "words" for k in kinds)
    info["boxed"] = sum(b.bbox is not None for b in blocks)
    info["estimated"] = sum(k == "estimated" for k in kinds)
    if blocks and not info["boxed"]:
        warnings.append(
            "no line of the model's answer matched the cpu engine's words or a text line "
            "found on the page: no boxes"
        )
    text = _plain_text(blocks)
    return PageResult(
        blocks=blocks,
        text=text,
        markdown=markdown,
        warnings=warnings,
        extra={"vlm": info, "reading_order": "engine"},
    )


def _weak(m: Any) -> bool:
    """Is a line's word match too thin to pin it: one short cpu word read inexactly?"""
    if not WEAK_LETTERS or m.bbox is None or m.score >= 1.0 or len(m.words) != 1:
        return False
    return len(m.words[0].token) <= WEAK_LETTERS


def _sideways(cpu_blocks: list[Block], width: float | None = None) -> bool:
    """Does the page lie on its side? Most of the cpu engine's line length (it finds
    the lines of a turned printed page, though it reads them as nonsense) stands
    upright: on the corpus's pages turned a quarter every line does (share 1.0), on
    upright pages, printed or handwritten, under 0.05. With the page's ``width``, the
    upright lines must also spread over :data:`SIDEWAYS_SPREAD` of it (not a strip of
    border noise at one edge)."""
    tall = total = 0.0
    left, right = float("inf"), float("-inf")
    for b in cpu_blocks:
        if not b.bbox:
            continue
        w, h = b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1]
        total += max(w, h)
        if h > 1.5 * w:
            tall += max(w, h)
            left, right = min(left, b.bbox[0]), max(right, b.bbox[2])
    if not (total > 0 and tall / total > SIDEWAYS_SHARE):
        return False
    return width is None or width <= 0 or (right - left) >= SIDEWAYS_SPREAD * width


def _turn_box(box: list[float], turn: int, size: tuple[int, int]) -> list[float]:
    """``box`` on a ``size`` image, on that image turned ``turn`` degrees
    counter-clockwise (PIL's ``rotate(turn, expand=True)``)."""
    w, h = size
    x0, y0, x1, y1 = box
    if turn == 90:
        return [y0, w - x1, y1, w - x0]
    if turn == 270:
        return [h - y1, x0, h - y0, x1]
    if turn == 180:
        return [w - x1, h - y1, w - x0, h - y0]
    return list(box)


def _unturn_box(box: list[float], turn: int, size: tuple[int, int]) -> list[float]:
    """The inverse of :func:`_turn_box` (``size``: the image before turning)."""
    w, h = size
    u0, v0, u1, v1 = box
    if turn == 90:
        return [w - v1, u0, w - v0, u1]
    if turn == 270:
        return [v0, h - u1, v1, h - u0]
    if turn == 180:
        return [w - u1, h - v1, w - u0, h - v0]
    return list(box)


def _place_on_detected_lines(
    texts: list[str],
    boxes: list[list[float] | None],
    kinds: list[str | None],
    image: Image.Image,
    info: dict[str, Any],
    sideways: bool = False,
    dark: np.ndarray | None = None,
) -> tuple[list[list[float] | None], list[str | None]]:
    """Boxes for the lines the cpu words did not place, from the page's detected text
    lines (the placed lines are anchors).

    The vlm tier does not turn pages upright, and the model reads a turned page all the
    same; so the placement is tried on the page as it lies and turned half way round
    (a page upside down: its lines, detected as they are, read bottom to top), or, on a
    page lying on its side (:func:`_sideways`), on the page turned a quarter either way
    (the detector finds lines only upright); the cheapest alignment wins and its boxes
    are turned back onto the page as given. ``dark``: the page's ink mask
    (:func:`.detect.ink_mask` of ``image``), when the caller has it already."""
    from . import detect

    if dark is None:
        dark = detect.ink_mask(image)

    turns = (90, 270) if sideways else (0, 180)
    reading = _reader_for(texts, boxes, image)
    best: (
        tuple[float, int, list[Placement], list[tuple[int, list[float]]], list[str] | None] | None
    ) = None
    upright: list[list[detect.DetectedLine]] | None = None
    for turn in turns:
        try:
            if turn in (90, 270):
                plain, banded, how = detect.detect_line_sets(image.rotate(turn, expand=True))
                sets = [plain] + ([banded] if banded else [])
            else:
                if upright is None:
                    plain, banded, how = detect.detect_line_sets(image, dark)
                    upright = [plain] + ([banded] if banded else [])
                sets = upright if turn == 0 else [_half_turn(d, image.size) for d in upright]
        except Exception as e:  # boxes are a bonus; the model's text stands without them
            info["line_detector_error"] = f"{type(e).__name__}: {e}"
            return boxes, kinds
        info["line_detector"] = how
        anchors = anchors_for(boxes, turn, image.size)
        # the detected lines as found, and (when some region holds two bands of writing)
        # with those regions cut: the cheaper alignment says which the answer fits
        for k, detected in enumerate(sets):
            # the pieces of the rows, in reading order: a model line may take several
            pieces = [(r, p) for r, d in enumerate(detected) for p in d.parts]
            reads = reading([p for _, p in pieces]) if turn == 0 else None
            places, cost = place_on_pieces_scored(texts, pieces, anchors, reads=reads)
            if turn == 180:
                cost += HALF_TURN_COST
            if best is None or cost < best[0]:
                best = (cost, turn, places, pieces, reads)
                info["detected_lines"] = len(detected)
                info["bands_cut"] = k == 1
            if turn == 0 and k == 0:
                side = _sideways_margin_trial(texts, pieces, anchors, image, dark, reads)
                if side is not None and side[1] < best[0]:
                    best = (side[1], 0, side[0], pieces, reads)
                    info["detected_lines"] = len(detected)
                    info["bands_cut"] = False
                    info["sideways_margin"] = sum(p.kind == "side" for p in side[0])
    assert best is not None
    _, turn, places, pieces, reads = best
    if reads is not None:
        info["pieces_read"] = sum(bool(r) for r in reads)
    if not any(p.kind == "side" for p in places):
        places = _without_stamps(
            texts, pieces, anchors_for(boxes, turn, image.size), places, image, turn, dark, reads
        )
    if turn:
        info["placed_turned"] = turn
    anchors = anchors_for(boxes, turn, image.size)
    places = widen_wanting(places, [p for _, p in pieces], anchors, texts)
    if reads is not None:
        places = widen_by_reading(places, [p for _, p in pieces], anchors, texts, reads)
    high = image.size[0] if turn in (90, 270) else image.size[1]
    places = raise_low(places, [p for _, p in pieces], anchors, high)
    on_page = [a if a is not None else p.box for a, p in zip(anchors, places, strict=True)]
    # only word-placed lines are widened: widening detector-placed lines too took
    # margin notes and stamps beside them (tuning pages: 3 lines lost for 5 gained)
    fixed = [a is None for a in anchors]
    widened = absorb_leftovers(on_page, fixed, [p for _, p in pieces])
    out_boxes, out_kinds = list(boxes), list(kinds)
    for i, p in enumerate(places):
        wide = widened[i]
        anchor = anchors[i]
        if (
            anchor is not None
            and p.box is not None
            and p.kind == "pair"
            and not _cover_of(anchor, p.box)
            and len(texts[i].split()) <= ANCHOR_WORDS
        ):
            # a short line's words matched elsewhere than the alignment put the line
            out_boxes[i] = [round(v, 1) for v in _unturn_box(p.box, turn, image.size)]
            out_kinds[i] = "estimated"
        elif anchors[i] is not None and wide is not None and wide != anchors[i]:
            out_boxes[i] = [round(v, 1) for v in _unturn_box(wide, turn, image.size)]
        elif anchors[i] is None and p.box is not None:
            out_boxes[i] = [round(v, 1) for v in _unturn_box(p.box, turn, image.size)]
            out_kinds[i] = "line" if p.sure else "estimated"
    return out_boxes, out_kinds


def _reader_for(
    texts: list[str], boxes: list[list[float] | None], image: Image.Image
) -> Callable[[list[list[float]]], list[str] | None]:
    """A function giving what the recogniser reads in each of a list of pieces of
    ``image`` as it lies (:mod:`.read`; each piece read once per page), or None: without
    rapidocr, or on a page where the cpu engine's words placed more than
    :data:`READ_PLACED` of the lines (printed: the words are better evidence)."""
    from . import read

    placed = sum(b is not None for b in boxes)
    if not READ_PIECES or placed > READ_PLACED * len(texts) or not read.available():
        return lambda pieces: None
    seen: dict[tuple[float, ...], str] = {}

    def reading(pieces: list[list[float]]) -> list[str] | None:
        new = list({tuple(p): p for p in pieces if tuple(p) not in seen}.values())
        got = read.read_boxes(image, new) if new else []
        if got is None:
            return None
        seen.update(zip((tuple(p) for p in new), got, strict=True))
        return [seen[tuple(p)] for p in pieces]

    return reading


def _sideways_margin_trial(
    texts: list[str],
    pieces: list[tuple[int, list[float]]],
    anchors: list[list[float] | None],
    image: Image.Image,
    dark: np.ndarray,
    reads: list[str] | None = None,
) -> tuple[list[Placement], float] | None:
    """The placement with lines written sideways in the left margin first: the strip
    left of the body's left edge turned a quarter clockwise (writing that reads upwards
    stands upright) and its text rows found; each row :data:`SIDE_LONG` times longer
    than thick or more is put before the page's pieces as a flat stand-in of the same
    length and thickness just above them (the alignment weighs widths and heights), and
    the model's lines placed on all. None when the margin has no such row, or when
    under :data:`SIDE_INKED` of its pixel rows hold ink (the detector is not run then).
    Placements on a stand-in get its box on the page and kind ``"side"``. ``dark``: the
    page's ink mask (:func:`.detect.ink_mask` of ``image``)."""
    from . import assign, detect

    left = _body_left(pieces)
    if left is None or left < 4 or not pieces:
        return None
    h = image.size[1]
    strip = image.crop((0, 0, int(left), h))
    # writing along the margin inks most of its height (a note beside a few lines does
    # not): only then is the detector run on it
    inked = dark[:, : int(left)].sum(axis=1) >= SIDE_ROW_INK
    if float(inked.mean()) < SIDE_INKED:
        return None
    strip = strip.rotate(270, expand=True)
    regions, _ = detect.detect_regions(strip)
    if not regions:
        return None
    rows = detect.lines_of(regions, detect.ink_mask(strip))
    size = (int(left), h)
    long_rows = [
        _unturn_box(r.box, 270, size)
        for r in rows
        if r.box[2] - r.box[0] >= SIDE_LONG * max(1.0, r.box[3] - r.box[1])
    ]
    if not long_rows:
        return None
    x0 = min(p[0] for _, p in pieces)
    top = min(p[1] for _, p in pieces)
    stand: list[list[float]] = []
    y = top
    for b in reversed(long_rows):
        length, thick = b[3] - b[1], b[2] - b[0]
        y -= 1.5 * thick
        stand.insert(0, [x0, y, x0 + length, y + thick])
    first = [(-1 - i, sb) for i, sb in enumerate(stand)]
    places, cost = assign.assign_scored(
        texts,
        [p for _, p in first + pieces],
        anchors=anchors,
        heights=[max(1.0, p[3] - p[1]) for _, p in first + pieces],
        rows=[r for r, _ in first + pieces],
        reads=[""] * len(first) + list(reads) if reads else None,
    )
    out = []
    for p in places:
        if p.box is not None and any(p.box == sb for sb in stand):
            real = long_rows[stand.index(p.box)]
            out.append(assign.Placement(real, p.sure, "side", p.margin, p.fit, p.want))
        elif p.box is not None and p.box[3] <= top:
            out.append(assign.Placement(None))  # a stand-in split or joined: no box
        else:
            out.append(p)
    return out, cost


def absorb_leftovers(
    boxes: list[list[float] | None], fixed: list[bool], pieces: list[list[float]]
) -> list[list[float] | None]:
    """Each line's box (None: no box) not ``fixed`` widened over the detected
    ``pieces`` no box covers that lie beside it in its band of writing (see
    :data:`ABSORB_OVERLAP`): the rest of a written line the cpu engine read only in
    part. A piece goes to the box it overlaps most; widened boxes may take more."""
    out = [None if b is None else list(b) for b in boxes]
    placed = [b for b in out if b is not None]
    left = [q for q in pieces if not any(_covered(q, b) for b in placed)]
    changed = True
    while changed and left:
        changed = False
        for q in list(left):
            best, best_ov = None, 0.0
            for i, b in enumerate(out):
                if b is None or fixed[i]:
                    continue
                hb, hq = b[3] - b[1], q[3] - q[1]
                ov = (min(b[3], q[3]) - max(b[1], q[1])) / max(1.0, min(hb, hq))
                gap = max(q[0] - b[2], b[0] - q[2])
                beside = gap < ABSORB_GAP * hb and hq <= ABSORB_TALL * hb
                if q[2] - q[0] >= hq and beside and ov >= ABSORB_OVERLAP and ov > best_ov:
                    best, best_ov = i, ov
            if best is not None:
                b = out[best]
                assert b is not None
                out[best] = [min(b[0], q[0]), min(b[1], q[1]), max(b[2], q[2]), max(b[3], q[3])]
                left.remove(q)
                changed = True
    return out


def widen_wanting(
    places: list[Placement],
    pieces: list[list[float]],
    fixed: list[list[float] | None],
    texts: list[str] | None = None,
) -> list[Placement]:
    """Each line placed on the detector's pieces widened over the ``pieces`` no line
    took (nor a ``fixed`` box: the word-placed lines) beside it in its band of writing,
    nearest first (:data:`WANT_GAP`, :data:`WANT_TALL`, :data:`WANT_OVERLAP`, no other
    line's box in between, not from the margin column left of the writing), while the
    box holds fewer pieces than the line (``texts``) has words and stays within
    :data:`WANT_MAX` of the width its length predicts (``Placement.want``): the rest of
    a written line whose words stand far apart (an amount at a tab stop in a list, the
    first words of a line of a writer who leaves wide gaps), which the alignment left
    over because one line may span only close pieces. Widened lines are not sure."""
    from dataclasses import replace

    from .assign import _union

    taken = [p.box for p in places if p.box is not None] + [b for b in fixed if b is not None]
    left = [q for q in pieces if not any(_covered(q, b) for b in taken)]
    margin = _body_left([(0, q) for q in pieces]) or 0.0
    words = [len(t.split()) for t in texts] if texts else [0] * len(places)
    out = list(places)
    for i, p in enumerate(places):
        if p.box is None or p.kind not in ("pair", "span") or p.want <= 0 or fixed[i]:
            continue
        box = list(p.box)
        while left:
            held = sum(_covered(q, box) for q in pieces)
            best: tuple[float, list[float]] | None = None
            for q in left:
                gap = _beside(box, q, margin, taken, p.box)
                if gap is None or max(box[2], q[2]) - min(box[0], q[0]) > WANT_MAX * p.want:
                    continue
                if held >= words[i]:
                    continue  # every word of the line has a piece already
                if best is None or gap < best[0]:
                    best = (gap, q)
            if best is None:
                break
            left.remove(best[1])
            box = _union([box, best[1]])
        if box != p.box:
            fit = abs(math.log((box[2] - box[0]) / p.want))
            out[i] = replace(p, box=box, sure=False, fit=round(fit, 3))
    return out


def widen_by_reading(
    places: list[Placement],
    pieces: list[list[float]],
    fixed: list[list[float] | None],
    texts: list[str],
    reads: list[str],
) -> list[Placement]:
    """Each line placed on the detector's pieces widened over a piece no line took
    beside it in its band of writing (the neighbours :func:`widen_wanting` looks at,
    also one reaching into the box by less than half its width, with no limit on
    pieces per word or width), nearest first, when the line's
    text is at least :data:`READ_WIDEN` more like the reading of its pieces with that
    piece than without (``reads``: per piece, :mod:`.read`): the first words of a line
    the detector cut off beyond a wide gap, a date's year standing apart. Widened lines
    are not sure."""
    from dataclasses import replace

    from . import read
    from .assign import _union

    if READ_WIDEN <= 0:
        return places
    said = {tuple(q): r for q, r in zip(pieces, reads, strict=True)}
    taken = [p.box for p in places if p.box is not None] + [b for b in fixed if b is not None]
    left = [q for q in pieces if not any(_covered(q, b) for b in taken) and said[tuple(q)]]
    margin = _body_left([(0, q) for q in pieces]) or 0.0

    def reading(box: list[float]) -> str:
        inside = sorted((q for q in pieces if _covered(q, box)), key=lambda q: q[0])
        return read.plain("".join(said[tuple(q)] for q in inside))

    out = list(places)
    for i, p in enumerate(places):
        if p.box is None or p.kind not in ("pair", "span") or fixed[i]:
            continue
        text = read.plain(texts[i])
        box = list(p.box)
        now = read.similarity(text, reading(box))
        while left:
            # beside the box, or reaching into it by less than half its own width (a
            # stroke across the page joins a word to its neighbour)
            near = [
                (gap, q)
                for q in left
                if (gap := _beside(box, q, margin, taken, p.box, reach=True)) is not None
            ]
            took = False
            for _, q in sorted(near, key=lambda g: g[0]):
                new = _union([box, q])
                got = read.similarity(text, reading(new))
                if got >= now + READ_WIDEN:
                    box, now, took = new, got, True
                    left.remove(q)
                    break
            if not took:
                break
        if box != p.box:
            fit = abs(math.log((box[2] - box[0]) / p.want)) if p.want > 0 else p.fit
            out[i] = replace(p, box=box, sure=False, fit=round(fit, 3))
    return out


def raise_low(
    places: list[Placement],
    pieces: list[list[float]],
    fixed: list[list[float] | None],
    high: float = math.inf,
) -> list[Placement]:
    """Each line placed on the detector's pieces (not ``fixed``) whose box is lower
    than :data:`LOW_LINE` of the page's writing height (the pieces' height, weighted by
    width) made that tall about its middle, within the page (``high``: its height)."""
    from dataclasses import replace

    from .assign import _weighted_median

    if not LOW_LINE or not pieces:
        return places
    body = _weighted_median(
        [max(1.0, q[3] - q[1]) for q in pieces], [max(1.0, q[2] - q[0]) for q in pieces]
    )
    out = list(places)
    for i, p in enumerate(places):
        if p.box is None or fixed[i] is not None or p.kind == "side":
            continue
        h = p.box[3] - p.box[1]
        if h >= p.box[2] - p.box[0] or h >= LOW_LINE * body:
            continue
        mid = (p.box[1] + p.box[3]) / 2
        half = LOW_LINE * body / 2
        top, low = max(0.0, mid - half), min(high, mid + half)
        out[i] = replace(p, box=[p.box[0], top, p.box[2], low])
    return out


def _beside(
    box: list[float],
    q: list[float],
    margin: float,
    taken: list[list[float]],
    own: list[float] | None,
    reach: bool = False,
) -> float | None:
    """The gap between ``box`` and piece ``q`` when ``q`` stands beside it in its band
    of writing (:data:`WANT_GAP`, :data:`WANT_TALL`, :data:`WANT_OVERLAP`, not left of
    the box in the margin column left of ``margin``, no box of ``taken`` but ``own`` in
    between), else None; ``reach``: ``q`` may reach into the box by less than half its
    own width (the gap is then negative)."""
    h = box[3] - box[1]
    start, end = ((q[0] + q[2]) / 2,) * 2 if reach else (q[0], q[2])
    right = start >= box[2]
    if not right and (end > box[0] or q[2] <= margin):
        return None  # overlapping, or left of the box in the margin column
    gap = q[0] - box[2] if right else box[0] - q[2]
    ov = (min(box[3], q[3]) - max(box[1], q[1])) / max(1.0, min(h, q[3] - q[1]))
    if gap > WANT_GAP * h or q[3] - q[1] > WANT_TALL * h or ov < WANT_OVERLAP:
        return None
    if any(b is not own and _between(b, box, q) for b in taken):
        return None
    return gap


def _between(b: list[float], box: list[float], q: list[float]) -> bool:
    """Does ``b`` stand in the gap between ``box`` and ``q`` (beside each other in one
    band), over half the band's height or its own?"""
    lo, hi = (box[2], q[0]) if q[0] >= box[2] else (q[2], box[0])
    band = (max(box[1], q[1]), min(box[3], q[3]))
    ov = min(b[3], band[1]) - max(b[1], band[0])
    return b[0] < hi and b[2] > lo and ov > 0.5 * min(band[1] - band[0], b[3] - b[1])


def _covered(piece: list[float], box: list[float]) -> bool:
    ix = max(0.0, min(piece[2], box[2]) - max(piece[0], box[0]))
    iy = max(0.0, min(piece[3], box[3]) - max(piece[1], box[1]))
    area = (piece[2] - piece[0]) * (piece[3] - piece[1])
    return area > 0 and ix * iy >= 0.5 * area


def anchors_for(
    boxes: list[list[float] | None], turn: int, size: tuple[int, int]
) -> list[list[float] | None]:
    """The word-aligned lines' boxes on the page turned ``turn`` degrees."""
    return [None if b is None else _turn_box(b, turn, size) for b in boxes]


def _without_stamps(
    texts: list[str],
    pieces: list[tuple[int, list[float]]],
    anchors: list[list[float] | None],
    places: list[Placement],
    image: Image.Image,
    turn: int,
    page_dark: np.ndarray | None = None,
    reads: list[str] | None = None,
) -> list[Placement]:
    """The placement again, with the pieces whose ink is mostly not the colour of the
    writing the lines were placed on (a purple stamp on a letter in brown ink) costing
    more to take and less to leave (:func:`.detect.off_colour_shares`,
    :data:`.assign.STAMP_COST`); unchanged when no piece has such ink. ``page_dark``:
    the ink mask of ``image`` as given (used when ``turn`` is 0)."""
    from . import detect

    placed = [p.box for p in places if p.box is not None and p.kind in ("pair", "span")]
    if not placed or image.mode not in ("RGB", "RGBA", "P", "CMYK"):
        return places
    seen = image.rotate(turn, expand=True) if turn else image
    dark = page_dark if page_dark is not None and not turn else detect.ink_mask(seen)
    shares = detect.off_colour_shares(seen, dark, [p for _, p in pieces], placed)
    if shares is None or max(shares) < detect.STAMP_MIN:
        return places
    # writing in a varying ink has some off-colour pixels: under STAMP_MIN, none
    shares = [v if v >= detect.STAMP_MIN else 0.0 for v in shares]
    again = place_on_pieces_scored(texts, pieces, anchors, shares, reads)[0]
    # Only the lines that sat on a stamp may move: when the others move too, the colour
    # taken for a stamp was the writing's background (tape over a page, a tinted band)
    # rather than a stamp, and the first placement stands.
    on_stamp = [
        p.box is not None
        and any(s > 0 and _cover_of(b, p.box) for (_, b), s in zip(pieces, shares, strict=True))
        for p in places
    ]
    for p, q, moved_ok in zip(places, again, on_stamp, strict=True):
        if not moved_ok and p.box != q.box:
            return places
    return [q if p.box != q.box else p for p, q in zip(places, again, strict=True)]


def _cover_of(piece: list[float], box: list[float]) -> bool:
    """Does ``box`` take in most of ``piece``?"""
    ix = max(0.0, min(piece[2], box[2]) - max(piece[0], box[0]))
    iy = max(0.0, min(piece[3], box[3]) - max(piece[1], box[1]))
    area = (piece[2] - piece[0]) * (piece[3] - piece[1])
    return area > 0 and ix * iy >= 0.5 * area


def _half_turn(lines: list[Any], size: tuple[int, int]) -> list[Any]:
    """Detected lines as they lie on the page turned half way round, in reading order."""
    from . import detect

    out = [
        detect.DetectedLine(
            _turn_box(d.box, 180, size),
            sorted((_turn_box(p, 180, size) for p in d.parts), key=lambda p: p[0]),
            d.score,
        )
        for d in lines
    ]
    out.sort(key=lambda ln: ((ln.box[1] + ln.box[3]) / 2, ln.box[0]))
    return out


def place_on_pieces(
    texts: list[str],
    pieces: list[tuple[int, list[float]]],
    anchors: list[list[float] | None],
) -> list[Placement]:
    """The model's lines on the detected pieces (row index, box; in reading order):
    :func:`.assign.assign_scored` for each order of :func:`_orders`, the cheapest."""
    return place_on_pieces_scored(texts, pieces, anchors)[0]


def place_on_pieces_scored(
    texts: list[str],
    pieces: list[tuple[int, list[float]]],
    anchors: list[list[float] | None],
    stamps: list[float] | None = None,
    reads: list[str] | None = None,
) -> tuple[list[Placement], float]:
    """:func:`place_on_pieces` and the alignment's cost; ``stamps``: per piece, the
    share of its ink not of the writing's colour; ``reads``: per piece, what a
    recogniser read in it (:mod:`.read`)."""
    from . import assign

    share = {id(p): s for (_, p), s in zip(pieces, stamps or [], strict=False)}
    said = {id(p): r for (_, p), r in zip(pieces, reads or [], strict=False)}
    best: tuple[float, list[assign.Placement]] | None = None
    for order in _orders(pieces):
        places, cost = assign.assign_scored(
            texts,
            [p for _, p in order],
            anchors=anchors,
            heights=[max(1.0, p[3] - p[1]) for _, p in order],
            rows=[r for r, _ in order],
            stamps=[share.get(id(p), 0.0) for _, p in order] if stamps else None,
            reads=[said.get(id(p), "") for _, p in order] if reads else None,
        )
        if best is None or cost < best[0]:
            best = (cost, places)
    if best is None:
        return [assign.Placement(None) for _ in texts], assign.SKIP_MODEL * len(texts)
    return best[1], best[0]


def _orders(pieces: list[tuple[int, list[float]]]) -> list[list[tuple[int, list[float]]]]:
    """Reading orders to try for the detected pieces: top to bottom; and, when some
    pieces lie wholly left of the body of the writing (notes in a margin column), the
    margin column first, then the body, and the body first, then the margin (a model
    transcribes a margin note before or after the text, rarely where it sits)."""
    if len(pieces) < 3:
        return [pieces]
    body_left = _body_left(pieces)
    assert body_left is not None
    margin = [rp for rp in pieces if rp[1][2] <= body_left]
    if not margin or len(margin) == len(pieces):
        return [pieces]
    body = [rp for rp in pieces if rp[1][2] > body_left]
    return [pieces, margin + body, body + margin]


def _body_left(pieces: list[tuple[int, list[float]]]) -> float | None:
    """The left edge most of the writing's width starts at (None: no pieces)."""
    if not pieces:
        return None
    widths = [p[2] - p[0] for _, p in pieces]
    lefts = sorted(zip((p[0] for _, p in pieces), widths, strict=True))
    half, acc = sum(widths) / 2, 0.0
    for x, w in lefts:
        acc += w
        if acc >= half:
            return x
    return lefts[-1][0]


def _plain_text(blocks: list[Block]) -> str:
    paras: list[list[str]] = []
    last: int | None = None
    for b in blocks:
        if not paras or b.paragraph != last:
            paras.append([])
        paras[-1].append(b.text)
        last = b.paragraph
    return "\n\n".join("\n".join(p) for p in paras)
