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

if TYPE_CHECKING:
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
    boxes: list[list[float] | None] = [m.bbox for m in matches]
    kinds: list[str | None] = ["words" if m.bbox is not None else None for m in matches]
    dark = None
    if image is not None and texts:
        from . import detect

        dark = detect.ink_mask(image)
        # the cpu engine's word boxes take in specks and noise next to the words
        boxes = [
            None if b is None else [round(v, 1) for v in detect.trim_to_ink(b, dark)] for b in boxes
        ]
        if any(b is None for b in boxes):
            boxes, kinds = _place_on_detected_lines(texts, boxes, kinds, image, info)
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


def _place_on_detected_lines(
    texts: list[str],
    boxes: list[list[float] | None],
    kinds: list[str | None],
    image: Image.Image,
    info: dict[str, Any],
) -> tuple[list[list[float] | None], list[str | None]]:
    """Boxes for the lines the cpu words did not place, from the page's detected text
    lines (the placed lines are anchors)."""
    from . import detect

    try:
        detected, how = detect.detect_lines(image)
    except Exception as e:  # boxes are a bonus; the model's text stands without them
        info["line_detector_error"] = f"{type(e).__name__}: {e}"
        return boxes, kinds
    info["line_detector"] = how
    info["detected_lines"] = len(detected)
    # the pieces of the rows, in reading order: a model line may take several of a row
    pieces = [(r, p) for r, d in enumerate(detected) for p in d.parts]
    places = place_on_pieces(texts, pieces, list(boxes))
    out_boxes, out_kinds = list(boxes), list(kinds)
    for i, p in enumerate(places):
        if out_boxes[i] is None and p.box is not None:
            out_boxes[i] = [round(v, 1) for v in p.box]
            out_kinds[i] = "line" if p.sure else "estimated"
    return out_boxes, out_kinds


def place_on_pieces(
    texts: list[str],
    pieces: list[tuple[int, list[float]]],
    anchors: list[list[float] | None],
) -> list[Placement]:
    """The model's lines on the detected pieces (row index, box; in reading order):
    :func:`.assign.assign_scored` for each order of :func:`_orders`, the cheapest."""
    from . import assign

    best: tuple[float, list[assign.Placement]] | None = None
    for order in _orders(pieces):
        places, cost = assign.assign_scored(
            texts,
            [p for _, p in order],
            anchors=anchors,
            heights=[max(1.0, p[3] - p[1]) for _, p in order],
            rows=[r for r, _ in order],
        )
        if best is None or cost < best[0]:
            best = (cost, places)
    return best[1] if best else [assign.Placement(None) for _ in texts]


def _orders(pieces: list[tuple[int, list[float]]]) -> list[list[tuple[int, list[float]]]]:
    """Reading orders to try for the detected pieces: top to bottom; and, when some
    pieces lie wholly left of the body of the writing (notes in a margin column), the
    margin column first, then the body, and the body first, then the margin (a model
    transcribes a margin note before or after the text, rarely where it sits)."""
    if len(pieces) < 3:
        return [pieces]
    widths = [p[2] - p[0] for _, p in pieces]
    lefts = sorted(zip((p[0] for _, p in pieces), widths, strict=True))
    half, acc, body_left = sum(widths) / 2, 0.0, lefts[-1][0]
    for x, w in lefts:  # the left edge most of the writing's width starts at
        acc += w
        if acc >= half:
            body_left = x
            break
    margin = [rp for rp in pieces if rp[1][2] <= body_left]
    if not margin or len(margin) == len(pieces):
        return [pieces]
    body = [rp for rp in pieces if rp[1][2] > body_left]
    return [pieces, margin + body, body + margin]


def _plain_text(blocks: list[Block]) -> str:
    paras: list[list[str]] = []
    last: int | None = None
    for b in blocks:
        if not paras or b.paragraph != last:
            paras.append([])
        paras[-1].append(b.text)
        last = b.paragraph
    return "\n\n".join("\n".join(p) for p in paras)
